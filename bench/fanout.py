"""Benchmark: the outbox fanning out against the local workspace's own enforced limits.

Run: ``.venv/bin/python bench/fanout.py [--database-url URL] [--scenario allocation|binding|both] [--runs 3]``.

Scenario ``allocation``: a council (``bench/council.py``, smaller than the issue's by default) and a real
1,000-case allocation committed with ``allocate(...)``, whose messages (the auditors', the workers' and the
team managers' DMs) are the real templates. Scenario ``binding``: 600 messages to 12 people, where the
per-channel limit binds. Every recipient has a workspace account; as at the bot's start, their Slack ids come from
the directory (``sync_directory``: ``users.list``, Tier 2, 200 a page) before the outbox sends, and nobody has a
stored DM channel yet. The time from the sync's start to the first delivered message is printed beside its goal.

The workspace enforces chat.postMessage's per-channel limit (1/s, burst 5), as it does by default, and with
``--workspace-rate`` a workspace-wide write limit too (that many a second, burst ``--workspace-burst``). The floor
is the least time those limits allow for these messages: max over channels of (n - burst) / rate, and with a
workspace-wide limit (all - burst) / rate. Both lanes' real
senders run in the real ``DeliveryRunner`` with the runtime's settings (batch, concurrency, settling) until every
row is sent. Prints messages/s beside the floor's rate and their ratio, duplicates (messages in the workspace per
idempotency key > 1), 429s met and Slack calls per message, for each run. Nothing is asserted.

``--workspace own-process`` (the default) serves the workspace from a process of its own (``WorkspaceProcess``),
as Slack is to a real bot (and as local mode does): the senders then have this process's interpreter to themselves.
``in-process`` runs it on a thread beside them, as the tests do.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from pathlib import Path

from council import populate_council  # bench/council.py: this script's own folder is on the path
from slack_sdk import WebClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import system_clock
from bot.delivery.directory import sync_directory
from bot.delivery.runner import DeliveryRunner
from bot.runtime import make_senders, sync_workspace_users
from bot.services.allocation.service import allocate
from bot.services.allocation.types import AllocationRequest
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from bot.workspace.process import WorkspaceProcess
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import Notification, NotificationState, Person, Priority
from store.outbox import enqueue

TOKEN = "xoxb-bench"
CHANNEL_RATE, CHANNEL_BURST = 1.0, 5


def row(label: str, figure: str, floor: str = "", ratio: float | None = None) -> None:
    """One line: the figure, its floor and their ratio (when it has a floor)."""
    tail = f"floor {floor:<24} ratio {ratio:5.2f}" if ratio is not None else floor
    print(f"{label:<40} {figure:<32} {tail}")


def queue_allocation(sessions: sessionmaker[Session], args: argparse.Namespace) -> str:
    """A council and a committed allocation of ``args.cases`` audits: its real messages are queued."""
    council = populate_council(sessions, staff=args.staff, auditors=args.auditors, cases=args.council_cases)
    settings = load_settings(database_url="sqlite://")
    request = AllocationRequest(month=dt.date(2026, 12, 1), control=args.cases, seed=1)
    started = time.monotonic()
    _, result = allocate(sessions, request, settings, now=system_clock(), preview=False)
    assert result is not None
    return (f"a {council.staff:,}-staff council, {result.created:,} allocations committed with allocate() "
            f"in {time.monotonic() - started:.1f} s")


def queue_binding(sessions: sessionmaker[Session], messages: int, people: int) -> str:
    """``messages`` DMs spread evenly over ``people`` (each channel gets many: its limit binds)."""
    now = system_clock()
    with sessions() as session, session.begin():
        staff = [Person(email=f"person{n:03d}@council.example", display_name=f"Person {n}") for n in range(people)]
        session.add_all(staff)
        session.flush()
        for n in range(messages):
            enqueue(session, key=f"fanout:{n:04d}", template="error", now=now, recipient_id=staff[n % people].id,
                    context={"message": f"benchmark message {n}", "reference": None}, priority=Priority.BULK)
    return f"{messages} messages to {people} people"


def floor_seconds(sessions: sessionmaker[Session], workspace_rate: float | None, workspace_burst: int) -> tuple[float, int, int]:
    """The least time the enforced limits allow for the queued messages; the messages; the busiest channel's."""
    with sessions() as session:
        per_channel = [int(n) for (n,) in session.execute(
            select(func.count()).select_from(Notification).group_by(Notification.recipient_id, Notification.channel))]
    total = sum(per_channel)
    channel_floor = max((max(0, n - CHANNEL_BURST) / CHANNEL_RATE for n in per_channel), default=0.0)
    workspace_floor = max(0, total - workspace_burst) / workspace_rate if workspace_rate else 0.0
    return max(channel_floor, workspace_floor), total, max(per_channel, default=0)


def unsettled(sessions: sessionmaker[Session]) -> int:
    """Rows neither sent, failed nor cancelled."""
    states = [NotificationState.PENDING, NotificationState.SENDING]
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(Notification.state.in_(states))) or 0)


def run_once(args: argparse.Namespace, scenario: str, database_url: str | None, folder: Path) -> None:
    """Build the scenario in a fresh database, send everything, print the figures."""
    url = database_url or f"sqlite:///{folder}/fanout-{scenario}-{time.monotonic_ns()}.db"
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    options = {"bot_token": TOKEN, "signing_secret": "s", "channel_rate_per_sec": CHANNEL_RATE, "channel_burst": CHANNEL_BURST,
               "workspace_rate_per_sec": args.workspace_rate, "workspace_burst": args.workspace_burst}
    own = args.workspace == "own-process"
    workspace: LocalWorkspace | WorkspaceProcess = WorkspaceProcess(**options) if own else LocalWorkspace(**options)
    workspace.start()
    try:
        what = queue_allocation(sessions, args) if scenario == "allocation" else queue_binding(sessions, 600, 12)
        sync_workspace_users(workspace, sessions)  # the council's Slack: everyone has an account
        floor, messages, busiest = floor_seconds(sessions, args.workspace_rate, args.workspace_burst)
        settings = load_settings(database_url=url)
        senders = make_senders(settings, sessions, TOKEN, workspace.base_url)
        runner = DeliveryRunner(list(senders.values()), clock=system_clock)
        began = time.monotonic()  # as the bot starts: the directory first (Tier 2 users.list), then the outbox
        directory = sync_directory(WebClient(token=TOKEN, base_url=workspace.base_url), sessions, system_clock)
        synced = time.monotonic() - began
        print(f"\n{scenario}: {what}; workspace {args.workspace}; {messages:,} messages, busiest channel {busiest}; "
              f"Slack ids of {directory.matched:,} people from {directory.pages} users.list pages in {synced:.1f} s; "
              f"batch {settings.outbox_batch_size}, {settings.outbox_concurrency} threads, "
              f"settled {settings.outbox_settle_every} a transaction")
        started, first = time.monotonic(), None
        runner.start()
        try:
            while (left := unsettled(sessions)) and time.monotonic() - started < args.deadline:
                if first is None and left < messages:
                    first = time.monotonic() - began
                time.sleep(0.05)
        finally:
            took = time.monotonic() - started
            runner.stop()
        row("first message delivered after", f"{first if first is not None else took + synced:.1f} s from start", "60 s")
        report(workspace, sessions, messages, took, floor)
    finally:
        workspace.stop()
        engine.dispose()


def report(workspace: LocalWorkspace | WorkspaceProcess, sessions: sessionmaker[Session], messages: int, took: float,
           floor: float) -> None:
    """Print the figures for one run."""
    kept = [m for m in workspace.messages() if m["metadata"] and not m["ephemeral"]]
    copies = Counter(str(m["metadata"]["event_payload"]["key"]) for m in kept)
    with sessions() as session:
        states = Counter(s.value for s in session.scalars(select(Notification.state)))
    log = workspace.call_log() if isinstance(workspace, WorkspaceProcess) else [(r.method, r.status) for r in workspace.call_log]
    limited = sum(1 for _, status in log if status == 429)
    rate, floor_rate = len(copies) / took, messages / floor if floor else float("inf")
    row("messages/s", f"{rate:.0f}/s ({len(copies):,} in {took:.1f} s)", f"{floor_rate:.0f}/s ({floor:.1f} s)",
        rate / floor_rate)
    row("duplicates", str(sum(1 for n in copies.values() if n > 1)), "0")
    row("429s met", str(limited))
    calls = Counter(method for method, _ in log)
    row("Slack calls per message", f"{len(log) / messages:.3f}", f"{dict(calls.most_common())}")
    print(f"  outbox rows: {dict(sorted(states.items()))}")


def main() -> None:
    """Run each scenario ``--runs`` times and print the figures of each run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (its schema is recreated)")
    parser.add_argument("--scenario", choices=("allocation", "binding", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", type=int, default=1_000, help="audits allocated (scenario allocation)")
    parser.add_argument("--staff", type=int, default=3_000)
    parser.add_argument("--auditors", type=int, default=300)
    parser.add_argument("--council-cases", type=int, default=20_000)
    parser.add_argument("--workspace-rate", type=float, default=None,
                        help="a workspace-wide limit on writes per second (none by default, as the local workspace)")
    parser.add_argument("--workspace-burst", type=int, default=50)
    parser.add_argument("--workspace", choices=("own-process", "in-process"), default="own-process")
    parser.add_argument("--deadline", type=float, default=300.0, help="stop a run after this many seconds regardless")
    args = parser.parse_args()
    scenarios = ("allocation", "binding") if args.scenario == "both" else (args.scenario,)
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in scenarios:
            for _ in range(args.runs):
                run_once(args, scenario, args.database_url, Path(tmp))


if __name__ == "__main__":
    main()
