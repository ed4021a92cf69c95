"""No test depends on the date it runs on: the scenario suites pass with the machine's clock
moved far into the past and the future (``--wall-clock``, see conftest.py).

The bot takes "now" from one injectable clock (``bot.clock``); a command or service that read
the real time instead would stamp its work with today's date while the test delivers at its
own fixed time, and these runs would find it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Very different wall clocks: before every fixed time the tests use, and years after.
WALL_CLOCKS = ("2026-01-01T03:00", "2031-06-30T12:00")


def test_the_scenario_suites_pass_under_two_very_different_wall_clocks() -> None:
    scenarios = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_scenario_*.py"))
    assert len(scenarios) >= 5
    env = {**os.environ, "AUDITBOT_TEST_POSTGRES_URL": ""}  # SQLite: a database server's clock cannot be moved
    env.pop("CI", None)
    runs = {
        when: subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not postgresql",
             f"--wall-clock={when}", *scenarios],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        for when in WALL_CLOCKS
    }
    failures = []
    for when, proc in runs.items():
        output, _ = proc.communicate(timeout=900)
        # conftest.py refuses to run if the clock did not move; a run that ran nothing is a failure too
        if proc.returncode != 0 or " passed" not in output:
            failures.append(f"--- wall clock {when} (exit {proc.returncode}):\n{output[-4000:]}")
    assert not failures, "\n".join(failures)
