"""No test depends on the date it runs on: the scenario suites pass with the machine's clock
moved far into the past or the future (``--wall-clock``, see conftest.py): each scenario file
under one of two very different clocks, every file under one.

The bot takes "now" from one injectable clock (``bot.clock``); a command or service that read
the real time instead would stamp its work with today's date while the test delivers at its
own fixed time, and these runs would find it.

The two runs take a couple of minutes, so they start in the background as soon as this test
is collected (conftest.py calls ``start``) and run side by side, beside the rest of the suite;
the test itself waits for their verdicts. Under xdist the controller starts them once a
worker has collected the test, and writes each verdict to a folder named after the run, where
the test waits for them in whichever worker runs it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Very different wall clocks: before every fixed time the tests use, and years after.
WALL_CLOCKS = ("2026-01-01T03:00", "2031-06-30T12:00")

_results: dict[str, tuple[int, str]] = {}
_runner: threading.Thread | None = None
_current: list[subprocess.Popen[str]] = []
_stopping = threading.Event()


def shared_dir(testrunuid: str) -> Path:
    """Where an xdist run's verdicts are written, for whichever worker runs the test."""
    return Path(tempfile.gettempdir()) / f"auditbot-wall-clock-{testrunuid}"


def in_worker() -> bool:
    """True in an xdist worker (the controller starts the runs there, not the workers)."""
    return bool(os.environ.get("PYTEST_XDIST_WORKER"))


_shared: list[Path] = []
#: Held (exclusively) by the process running the wall-clock runs until their verdicts are written.
_locks: list[int] = []


def shares() -> dict[str, list[str]]:
    """The scenario files each wall clock runs: each file under one of them, largest first and
    alternating, so the two runs take about as long and the suite's CPU goes to one extra run, not two."""
    files = sorted((ROOT / "tests").glob("test_scenario_*.py"), key=lambda p: (-p.stat().st_size, p.name))
    return {when: [str(p.relative_to(ROOT)) for p in files[i :: len(WALL_CLOCKS)]] for i, when in enumerate(WALL_CLOCKS)}


def _run_all() -> None:
    """Both runs at once (each its own process), so they end with the rest of the suite, not after it."""
    files = shares()
    env = {**os.environ, "AUDITBOT_TEST_POSTGRES_URL": ""}  # SQLite: a database server's clock cannot be moved
    for name in ("CI", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)
    try:
        if not _stopping.is_set():
            _run_side_by_side(files, env)
    finally:
        for lock in _locks:  # the verdicts are written (or never will be): a waiting worker may read
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)


def _run_side_by_side(files: dict[str, list[str]], env: dict[str, str]) -> None:
    procs = {
        when: subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-k", "not postgresql",
             f"--wall-clock={when}", *files[when]],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for when in WALL_CLOCKS
    }
    _current[:] = list(procs.values())
    waiters = [threading.Thread(target=_collect, args=(when, proc), daemon=True) for when, proc in procs.items()]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()


def _collect(when: str, proc: subprocess.Popen[str]) -> None:
    output, _ = proc.communicate(timeout=900)
    _results[when] = (proc.returncode, output)
    for shared in _shared:
        (shared / f"{when}.json").write_text(json.dumps([proc.returncode, output[-8000:]]))


def stop() -> None:
    """End a run still going (the suite stopped before this test waited for it)."""
    _stopping.set()
    for proc in _current:
        if proc.poll() is None:
            proc.kill()


def start(shared: Path | None = None) -> None:
    """Start the runs in the background (once); with ``shared``, also write each verdict there."""
    global _runner
    if _runner is None:
        if shared is not None:
            shared.mkdir(exist_ok=True)
            _shared.append(shared)
            lock = os.open(shared / "running.lock", os.O_CREAT | os.O_RDWR)
            fcntl.flock(lock, fcntl.LOCK_EX)  # taken before any worker can ask for it
            _locks.append(lock)
        _runner = threading.Thread(target=_run_all, name="wall-clock-runs", daemon=True)
        _runner.start()


def _wait_for_shared(shared: Path) -> None:
    """Another process runs them: block on its lock until it has written the verdicts."""
    lock = os.open(shared / "running.lock", os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)
    finally:
        os.close(lock)
    for when in WALL_CLOCKS:
        path = shared / f"{when}.json"
        if path.exists():
            code, output = json.loads(path.read_text())
            _results[when] = (code, output)


@pytest.mark.timeout(1800)  # run alone, it waits for both runs from the start
def test_the_scenario_suites_pass_under_two_very_different_wall_clocks() -> None:
    uid = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    shared = shared_dir(uid) if uid else None
    if shared is None or not shared.exists():
        start()  # already started when the suite was collected; here when run on its own
        assert _runner is not None
        _runner.join(timeout=1800)
    else:
        _wait_for_shared(shared)
    assert sorted(_results) == sorted(WALL_CLOCKS)
    failures = [
        f"--- wall clock {when} (exit {code}):\n{output[-4000:]}"
        for when, (code, output) in _results.items()
        # conftest.py refuses to run if the clock did not move; a run that ran nothing is a failure too
        if code != 0 or " passed" not in output
    ]
    assert not failures, "\n".join(failures)


def test_every_scenario_file_runs_under_one_of_the_wall_clocks() -> None:
    shared = shares()
    every = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_scenario_*.py"))
    assert sorted(f for files in shared.values() for f in files) == every and len(every) >= 6
    assert all(shared[when] for when in WALL_CLOCKS)
