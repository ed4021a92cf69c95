"""Benchmark: the bot's resident memory at council scale, across repeated monthly fan-outs.

Run: ``.venv/bin/python bench/memory.py [--database-url URL] [--months 4] [--control 1000]`` (the URL
names an empty database; without one, a SQLite file in a temporary folder).

Starts the bot as ``auditbot run`` does, on a council of 9,902 staff and 100,000
cases (``bench/council.py``), with a standing control sample of ``--control`` cases. Then, for each
month from December 2026, the scheduler's tick on the month's first working day allocates the month
and the outbox sends every message it planned (both lanes, as the runtime's loops do). Prints the
bot's resident set size (VmRSS) after start and after each month beside the goal of 200 MiB, as
a ratio (goal ÷ RSS: 1.00 or more is within it), and the growth from the first month to the last.

``--workspace own-process`` (the default): the bot runs with Slack settings against the local workspace
served from a process of its own (``WorkspaceProcess``), as a council's bot runs against Slack and as local
mode runs it; the workspace's own RSS (every message it keeps) is printed beside, not counted.
``--workspace in-process``: the tests' arrangement, the workspace in the bot's process, its messages counted.
The workspace's rate limits are off: this measures memory, not the pace Slack allows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from council import populate_council  # bench/ is the script's folder

from bot.calendar import WorkingCalendar
from bot.runtime import start_runtime, sync_workspace_users
from bot.scheduler.tick import tick
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from bot.workspace.process import WorkspaceProcess, rss_mib
from store.db import make_engine, make_sessionmaker, upgrade

GOAL_MIB = 200.0
MONTHS = (dt.date(2026, 12, 1), dt.date(2027, 1, 4), dt.date(2027, 2, 1), dt.date(2027, 3, 1), dt.date(2027, 4, 1),
          dt.date(2027, 5, 4))


class Clock:
    """The bot's clock, moved by the benchmark."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def row(label: str, mib: float, tail: str = "") -> None:
    """One line: RSS beside the goal and their ratio."""
    print(f"{label:<52} {mib:8.1f} MiB   goal {GOAL_MIB:.0f} MiB   ratio {GOAL_MIB / mib:5.2f}{tail}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--months", type=int, default=4)
    parser.add_argument("--control", type=int, default=1000)
    parser.add_argument("--staff", type=int, default=9_902)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--workspace", choices=("own-process", "in-process"), default="own-process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        council = populate_council(make_sessionmaker(engine), staff=args.staff, cases=args.cases)
        print(f"council: {council.staff:,} staff, {council.cases:,} cases ({time.perf_counter() - started:.1f} s)")
        options = {"bot_token": "xoxb-bench", "signing_secret": "bench", "channel_rate_per_sec": None, "tiers": False}
        own = args.workspace == "own-process"
        workspace: LocalWorkspace | WorkspaceProcess = WorkspaceProcess(**options) if own else LocalWorkspace(**options)
        workspace.start()
        slack = {"slack_bot_token": "xoxb-bench", "slack_signing_secret": "bench", "slack_api_url": workspace.base_url}
        settings = load_settings(database_url=url, data_dir=Path(tmp), control_sample_size=args.control, **(slack if own else {}))
        calendar = WorkingCalendar.from_settings(settings)
        clock = Clock(calendar.utc(MONTHS[0] - dt.timedelta(days=1), dt.time(9, 0)))
        if isinstance(workspace, WorkspaceProcess):  # a council's Slack already has everyone's account
            sync_workspace_users(workspace, make_sessionmaker(engine))
        local = workspace if isinstance(workspace, LocalWorkspace) else None
        runtime = start_runtime(settings, engine=engine, clock=clock, background=False, workspace=local, http_port=0)
        beside = (lambda: f"   (workspace process: {workspace.rss_mib():.0f} MiB)") if own else (lambda: "")
        try:
            row(f"bot started (store, app, {'' if own else 'local workspace, '}directory)", rss_mib(), beside())
            first = None
            for month in MONTHS[: args.months]:
                clock.now = calendar.utc(month, dt.time(9, 0))
                began = time.perf_counter()
                report = tick(runtime.sessions, runtime.settings, calendar, clock.now)
                sent = 0
                while True:
                    done = sum(sender.drain(clock.now).sent for sender in runtime.senders.values())
                    if runtime.homes is not None:
                        runtime.homes.flush()
                    sent += done
                    if not done:
                        break
                mib = rss_mib()
                first = first or mib
                row(f"{month:%B %Y}: {report.planned:,} planned, {sent:,} sent ({time.perf_counter() - began:.0f} s)", mib,
                    beside())
            if first is not None:
                print(f"growth from the first month to the last: {rss_mib() - first:+.1f} MiB (floor 0)")
        finally:
            runtime.stop()
            workspace.stop()


if __name__ == "__main__":
    main()
