"""The suite's own machinery: commands run beside the tests (tests/background.py) and cfn-lint by template
content (tests/template_lint.py). A harness that lost a failure would make every test relying on it pass."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.background import Background
from tests.template_lint import TemplateLint

PYTHON = sys.executable


def test_a_command_runs_and_its_output_and_exit_code_come_back(tmp_path: Path) -> None:
    jobs = Background(cores=2)
    try:
        run = jobs.run(
            [PYTHON, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"],
            cwd=tmp_path,
            timeout=60,
            cost=1,
        )
        result = jobs.result(run)
    finally:
        jobs.close()
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_commands_start_costliest_first_and_a_waited_one_jumps_the_queue(tmp_path: Path) -> None:
    jobs = Background(cores=1)  # one slot: the commands run one after the other
    log = tmp_path / "order"
    blocker = tmp_path / "go"

    def command(name: str) -> list[str]:
        # Each writes its name as it starts; the first then waits for `blocker`, the others queue behind it.
        return [
            PYTHON,
            "-c",
            "import pathlib, time\n"
            f"open({str(log)!r}, 'a').write({name!r} + '\\n')\n"
            f"while {name == 'first'!r} and not pathlib.Path({str(blocker)!r}).exists(): time.sleep(0.01)\n",
        ]

    try:
        first = jobs.run(command("first"), cwd=tmp_path, timeout=60, cost=1)
        cheap = jobs.run(command("cheap"), cwd=tmp_path, timeout=60, cost=1)
        costly = jobs.run(command("costly"), cwd=tmp_path, timeout=60, cost=10)
        waited = jobs.run(command("waited"), cwd=tmp_path, timeout=60, cost=0)
        _wait_for(lambda: log.exists() and log.read_text() == "first\n")
        # The test process lends its core to the one it waits for: it runs while the first still blocks.
        assert jobs.result(waited).returncode == 0
        blocker.touch()
        for run in (first, cheap, costly):
            assert jobs.result(run).returncode == 0
    finally:
        jobs.close()
    # Then, one at a time again, the costliest of those queued first.
    assert log.read_text().split() == ["first", "waited", "costly", "cheap"]


def test_a_command_past_its_timeout_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child"
    jobs = Background(cores=2)
    child = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([{PYTHON!r}, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)"
    )
    try:
        run = jobs.run([PYTHON, "-c", child], cwd=tmp_path, timeout=2, cost=1)
        with pytest.raises(subprocess.TimeoutExpired):
            jobs.result(run)
    finally:
        jobs.close()
    _assert_gone(int(pid_file.read_text()))


def test_closing_stops_running_commands_and_cancels_waiting_ones(tmp_path: Path) -> None:
    jobs = Background(cores=1)
    started = tmp_path / "started"
    running = jobs.run(
        [
            PYTHON,
            "-c",
            "import os, time\n"
            f"open({str(started)!r} + '.tmp', 'w').write(str(os.getpid()))\n"
            f"os.rename({str(started)!r} + '.tmp', {str(started)!r})\n"
            "time.sleep(60)",
        ],
        cwd=tmp_path,
        timeout=120,
        cost=1,
    )
    waiting = jobs.run([PYTHON, "-c", "pass"], cwd=tmp_path, timeout=60, cost=1)
    _wait_for(started.exists)
    jobs.close()
    assert waiting.cancelled()
    _assert_gone(int(started.read_text()))
    with pytest.raises(RuntimeError, match="over"):
        jobs.run([PYTHON, "-c", "pass"], cwd=tmp_path, timeout=60, cost=1)
    assert running.done()


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return
        if "State:\tZ" in status:  # stopped, not yet reaped by its (stopped) parent
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} is still running")


BAD_TEMPLATE = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"NoSuchProperty": "x"}}}}
GOOD_TEMPLATE = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}


def test_template_lint_reports_each_finding_where_the_template_is_even_when_linted_as_another(
    tmp_path: Path,
) -> None:
    bad, same, good = tmp_path / "bad.template.json", tmp_path / "same.template.json", tmp_path / "good.template.json"
    bad.write_text(json.dumps(BAD_TEMPLATE))
    same.write_text(json.dumps(BAD_TEMPLATE))
    good.write_text(json.dumps(GOOD_TEMPLATE))
    jobs = Background(cores=2)
    try:
        lint = TemplateLint(jobs)
        lint.start([bad, good])
        assert lint.findings([good]) == []
        findings = lint.findings([same])  # the same content as bad: not linted again
        other_run = lint.findings([tmp_path / "bad.template.json"])
    finally:
        jobs.close()
    assert len(findings) == 1
    assert "NoSuchProperty" in findings[0]
    assert str(same) in findings[0]
    assert "linted as" in findings[0]
    assert str(bad) in findings[0]
    assert len(other_run) == 1
    assert str(bad) in other_run[0]


def test_template_lint_reports_a_run_that_failed_without_findings(tmp_path: Path) -> None:
    broken = tmp_path / "broken.template.json"
    broken.write_text("{ not json")
    jobs = Background(cores=2)
    try:
        findings = TemplateLint(jobs).findings([broken])
    finally:
        jobs.close()
    assert findings, "a template cfn-lint cannot read is a finding"
