"""cfn-lint over the session's synthesized templates (tests/compliance/test_cfn_lint.py), beside the tests.

A configuration's templates are handed to cfn-lint as soon as it is synthesized (tests/conftest.py), in the
background; the test of that configuration collects the findings. A template whose content an earlier
configuration already had (the same stack, or serving template, in two configurations) is linted once:
cfn-lint reads nothing but the content (and .cfnlintrc.yaml).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from tests.background import Background

ROOT = Path(__file__).resolve().parent.parent
CFN_LINT = [str(Path(sys.executable).parent / "cfn-lint"), "--config-file", str(ROOT / ".cfnlintrc.yaml")]
# cfn-lint's time, roughly: a second to start, and about four per megabyte of template.
STARTUP_SECONDS, SECONDS_PER_BYTE = 1.0, 4e-6


@dataclass(frozen=True)
class _Linted:
    """Where a template's content is linted: the file given to cfn-lint, and the run's result."""

    path: Path
    run: Future[subprocess.CompletedProcess[str]]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class TemplateLint:
    """Each distinct template content linted once per session, in the background."""

    def __init__(self, background: Background) -> None:
        self._background = background
        self._linted: dict[str, _Linted] = {}

    def start(self, templates: list[Path]) -> None:
        """cfn-lint over those of `templates` whose content is not linted yet, in one run."""
        new: dict[str, Path] = {}
        for path in templates:
            digest = _digest(path)
            if digest not in self._linted:
                new.setdefault(digest, path)
        if not new:
            return
        paths = sorted(new.values())
        run = self._background.run(
            [*CFN_LINT, "--format", "json", *map(str, paths)],
            cwd=ROOT,
            timeout=900,
            cost=STARTUP_SECONDS + SECONDS_PER_BYTE * sum(path.stat().st_size for path in paths),
        )
        for digest, path in new.items():
            self._linted[digest] = _Linted(path, run)

    def findings(self, templates: list[Path]) -> list[str]:
        """cfn-lint's findings (errors and warnings, .cfnlintrc.yaml's exceptions aside) in `templates`,
        as cfn-lint prints them; a run that failed without a finding is one too."""
        self.start(templates)
        wanted = {_digest(path): path for path in templates}
        runs: dict[int, tuple[Future[subprocess.CompletedProcess[str]], dict[str, Path]]] = {}
        for digest, path in wanted.items():
            linted = self._linted[digest]
            runs.setdefault(id(linted.run), (linted.run, {}))[1][str(linted.path)] = path
        findings: list[str] = []
        for run, linted_as in runs.values():
            result = self._background.result(run)
            try:
                reported = json.loads(result.stdout)
            except json.JSONDecodeError:
                reported = None
            if not isinstance(reported, list) or (result.returncode != 0 and not reported):
                findings.append(f"cfn-lint failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
                continue
            for finding in reported:
                filename = finding.get("Filename")
                if filename is not None and filename not in linted_as:
                    continue  # another configuration's template, linted in the same run
                start = finding["Location"]["Start"]
                where = linted_as.get(filename, filename) if filename else "(no file)"
                same = f" (linted as {filename}: the same content)" if filename and where != Path(filename) else ""
                findings.append(
                    f"{finding['Rule']['Id']} {finding['Message']}\n"
                    f"{where}:{start['LineNumber']}:{start['ColumnNumber']}{same}"
                )
        return findings
