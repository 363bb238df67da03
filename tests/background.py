"""Commands run beside the tests: the session starts them early (tests/conftest.py), the tests collect them.

While the test process runs tests it keeps one core; the commands share the others, the costliest first.
While the test process waits for one of them, its core is lent to them too. Every command is a process
group of its own: whatever is still running when the session ends is stopped, never left behind.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(order=True)
class _Queued:
    priority: float
    order: int
    command: Sequence[str] = field(compare=False)
    cwd: Path = field(compare=False)
    env: Mapping[str, str] | None = field(compare=False)
    timeout: float = field(compare=False)
    future: Future[subprocess.CompletedProcess[str]] = field(compare=False)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Background:
    """Commands, run as many at once as there are cores the test process leaves free (at least one)."""

    def __init__(self, cores: int | None = None) -> None:
        self._cores = cores or _cores()
        self._queue: list[_Queued] = []
        self._order = itertools.count()
        self._running: set[subprocess.Popen[str]] = set()
        self._busy = 0
        self._lent = 0
        self._closed = False
        self._condition = threading.Condition()

    def run(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        timeout: float,
        cost: float,
    ) -> Future[subprocess.CompletedProcess[str]]:
        """`subprocess.run(command, capture_output=True, text=True, timeout=timeout)`, started when a core
        is free, before the commands of a lower `cost` (seconds, roughly) that are still waiting."""
        future: Future[subprocess.CompletedProcess[str]] = Future()
        with self._condition:
            if self._closed:
                raise RuntimeError("the session's background work is over")
            heapq.heappush(self._queue, _Queued(-cost, next(self._order), command, cwd, env, timeout, future))
            self._dispatch()
        return future

    def result(self, future: Future[subprocess.CompletedProcess[str]]) -> subprocess.CompletedProcess[str]:
        """The command's result; while the test process waits for it, its core runs it (if it is still
        waiting) or the others."""
        if future.done():
            return future.result()
        with self._condition:
            self._lent += 1
            waiting = [queued for queued in self._queue if queued.future is future]
            if waiting:
                self._queue.remove(waiting[0])
                heapq.heapify(self._queue)
                self._start(waiting[0])
            self._dispatch()
        try:
            return future.result()
        finally:
            with self._condition:
                self._lent -= 1

    def close(self) -> None:
        """Stop what is still waiting or running (a session cut short, e.g. by -x or ^C)."""
        with self._condition:
            self._closed = True
            for queued in self._queue:
                queued.future.cancel()
            self._queue.clear()
            running = list(self._running)
        for process in running:
            _stop(process)

    def _slots(self) -> int:
        return max(1, self._cores - 1) + (1 if self._lent else 0)

    def _dispatch(self) -> None:  # with the condition held
        while self._queue and self._busy < self._slots():
            self._start(heapq.heappop(self._queue))

    def _start(self, queued: _Queued) -> None:  # with the condition held
        if queued.future.set_running_or_notify_cancel():
            self._busy += 1
            threading.Thread(target=self._run, args=(queued,), name="background", daemon=True).start()

    def _run(self, queued: _Queued) -> None:
        try:
            queued.future.set_result(self._execute(queued))
        except BaseException as error:  # handed to the test that collects the result
            queued.future.set_exception(error)
        finally:
            with self._condition:
                self._busy -= 1
                self._dispatch()

    def _execute(self, queued: _Queued) -> subprocess.CompletedProcess[str]:
        with self._condition:
            if self._closed:
                raise RuntimeError("the session ended before this command ran")
            process = subprocess.Popen(  # noqa: S603 - the tests' own commands
                list(queued.command),
                cwd=queued.cwd,
                env=queued.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            self._running.add(process)
        try:
            stdout, stderr = process.communicate(timeout=queued.timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(process.args, queued.timeout, stdout, stderr) from None
        finally:
            with self._condition:
                self._running.discard(process)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@dataclass(frozen=True)
class Start:
    """What a start function (tests/conftest.py: `background(start=...)`) starts its work with."""

    background: Background
    session: pytest.Session
    tmp_path_factory: pytest.TempPathFactory

    def selected(self, test: str, **params: object) -> bool:
        return selected(self.session, test, **params)


def selected(session: pytest.Session, test: str, **params: object) -> bool:
    """Whether the session runs `test` (by function name), with these parameters if any."""
    return any(
        isinstance(item, pytest.Function)
        and item.originalname == test
        and all(item.callspec.params.get(name) == value for name, value in params.items())
        for item in session.items
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """The command and whatever it started (its process group)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
