"""No test depends on the date it runs on: the scenario suites pass with the machine's clock
moved far into the past and the future (``--wall-clock``, see conftest.py).

The bot takes "now" from one injectable clock (``bot.clock``); a command or service that read
the real time instead would stamp its work with today's date while the test delivers at its
own fixed time, and these runs would find it.

The two runs take a couple of minutes, so they start in the background as soon as this test
is collected (conftest.py calls ``start``) and run one after the other beside the rest of the
suite, on the second core; the test itself waits for their verdicts.
"""

from __future__ import annotations

import os
import subprocess
import sys
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


def _run_all() -> None:
    scenarios = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_scenario_*.py"))
    env = {**os.environ, "AUDITBOT_TEST_POSTGRES_URL": ""}  # SQLite: a database server's clock cannot be moved
    env.pop("CI", None)
    for when in WALL_CLOCKS:
        if _stopping.is_set():
            return
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not postgresql",
             f"--wall-clock={when}", *scenarios],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        _current[:] = [proc]
        output, _ = proc.communicate(timeout=900)
        _results[when] = (proc.returncode, output)


def stop() -> None:
    """End a run still going (the suite stopped before this test waited for it)."""
    _stopping.set()
    for proc in _current:
        if proc.poll() is None:
            proc.kill()


def start() -> None:
    """Start the runs in the background (once)."""
    global _runner
    if _runner is None:
        _runner = threading.Thread(target=_run_all, name="wall-clock-runs", daemon=True)
        _runner.start()


@pytest.mark.timeout(1800)  # run alone, it waits for both runs from the start
def test_the_scenario_suites_pass_under_two_very_different_wall_clocks() -> None:
    start()  # already started when the suite was collected; here when run on its own
    assert _runner is not None
    _runner.join(timeout=1800)
    assert sorted(_results) == sorted(WALL_CLOCKS)
    failures = [
        f"--- wall clock {when} (exit {code}):\n{output[-4000:]}"
        for when, (code, output) in _results.items()
        # conftest.py refuses to run if the clock did not move; a run that ran nothing is a failure too
        if code != 0 or " passed" not in output
    ]
    assert not failures, "\n".join(failures)
