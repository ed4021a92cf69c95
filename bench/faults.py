"""Benchmark: one outbox sender fanning out through a faulty Slack.

Run: ``.venv/bin/python bench/faults.py [--database-url URL] [--messages 600] [--people 60]``.

Queues ``--messages`` DMs to ``--people`` people and runs one ``OutboxSender`` in the real
``DeliveryRunner`` loop (real clocks, real HTTP) against the local workspace injecting a
``--rate`` mix of faults: 429 with ``Retry-After``, 500, and hangs past the client's timeout —
where nothing is stored, and where the post takes effect a second after the client gave up.
Prints what arrived, every duplicate and why, the earliest retry after a 429 against its
``Retry-After``, the earliest re-post after a timed-out post against the client's timeout plus
the sender's margin, and Slack calls per message. Each figure stands beside its floor with
their ratio where it has one. Stops by itself (``--deadline``); nothing here is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import system_clock
from bot.delivery.runner import DeliveryRunner
from bot.delivery.sender import BULK_LANE, OutboxSender
from bot.runtime import sender_client, sync_workspace_users
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from bot.workspace.calls import CallRecord, retries_after_timeouts, retry_waits
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import Notification, NotificationState, Person, Priority
from store.outbox import enqueue

TOKEN = "xoxb-bench"
MARGIN = 2.0


def row(label: str, figure: str, floor: str = "", ratio: float | None = None) -> None:
    """One line: the figure, its floor and their ratio (when it has a floor)."""
    tail = f"floor {floor:<24} ratio {ratio:5.2f}" if ratio is not None else floor
    print(f"{label:<40} {figure:<32} {tail}")


def queue_fan_out(sessions: sessionmaker[Session], messages: int, people: int, now: dt.datetime) -> None:
    """``people`` active staff and ``messages`` DMs spread evenly across them."""
    with sessions() as session, session.begin():
        staff = [Person(email=f"person{n:03d}@council.example", display_name=f"Person {n}") for n in range(people)]
        session.add_all(staff)
        session.flush()
        for n in range(messages):
            enqueue(
                session,
                key=f"fanout:{n:04d}",
                template="error",
                context={"message": f"benchmark message {n}", "reference": None},
                now=now,
                recipient_id=staff[n % people].id,
                priority=Priority.BULK,
            )


def unsettled(sessions: sessionmaker[Session]) -> int:
    """Rows neither sent nor failed."""
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    Notification.state.in_([NotificationState.PENDING, NotificationState.SENDING])
                )
            )
            or 0
        )


def still_waiting(sessions: sessionmaker[Session]) -> list[tuple[int, dt.datetime]]:
    """Attempts and next due time of each row not settled (backoff doubles with each attempt)."""
    with sessions() as session:
        rows = session.execute(
            select(Notification.attempts, Notification.next_attempt_at).where(
                Notification.state.in_([NotificationState.PENDING, NotificationState.SENDING])
            )
        ).all()
    return [(int(attempts), due) for attempts, due in rows]


def run_until_settled(runner: DeliveryRunner, sessions: sessionmaker[Session], deadline: float) -> float:
    """Run the loop until every row is settled or ``deadline`` seconds pass; returns the seconds taken."""
    start = time.monotonic()
    runner.start()
    try:
        while time.monotonic() - start < deadline and unsettled(sessions):
            time.sleep(0.25)
    finally:
        runner.stop()
    return time.monotonic() - start


def post_key(record: CallRecord) -> str | None:
    """The idempotency key a post carries in its metadata."""
    metadata = record.params.get("metadata") or {}
    return (metadata.get("event_payload") or {}).get("key")


def report(workspace: LocalWorkspace, sessions: sessionmaker[Session], args: argparse.Namespace, took: float) -> None:
    """Print the figures."""
    log = workspace.call_log
    kept = [m for m in workspace.messages() if m["metadata"] and not m["ephemeral"]]
    copies = Counter(str(m["metadata"]["event_payload"]["key"]) for m in kept)
    report_delivery(copies, sessions, args.messages, took)
    report_duplicates(copies, log)
    report_waits(log, args.timeout)
    report_calls(log, args.messages, args.people)


def report_delivery(copies: Counter[str], sessions: sessionmaker[Session], messages: int, took: float) -> None:
    """Distinct messages in Slack against those queued, and what the outbox says."""
    with sessions() as session:
        states = Counter(s.value for s in session.scalars(select(Notification.state)))
    row("delivered (distinct messages)", f"{len(copies)} / {messages}", str(messages), len(copies) / messages)
    print(f"  outbox rows: {dict(sorted(states.items()))} after {took:.1f} s")
    for attempts, due in still_waiting(sessions):
        print(f"  still waiting at the deadline: a row after {attempts} attempt(s), next due {due:%H:%M:%S}")


def report_duplicates(copies: Counter[str], log: list[CallRecord]) -> None:
    """Messages in Slack more than once, each with why (a post whose outcome was unknowable, or not)."""
    unknowable = {post_key(r) for r in log if r.method == "chat.postMessage" and r.fault == "timeout_after_store"}
    duplicates = sorted(key for key, count in copies.items() if count > 1)
    unexplained = [key for key in duplicates if key not in unknowable]
    row("duplicates", f"{len(duplicates)} ({len(unexplained)} unexplained)", "each from an unknowable outcome")
    for key in duplicates[:10]:
        why = "a post of it timed out and took effect anyway (outcome unknowable)" if key in unknowable else "UNEXPLAINED"
        print(f"  {key} x{copies[key]}: {why}")


def report_waits(log: list[CallRecord], timeout: float) -> None:
    """The earliest retry after a 429 and the earliest re-post after a timeout, against their floors."""
    waits = [w for w in retry_waits(log) if w.ratio is not None]
    if waits:
        worst = min(waits, key=lambda w: w.ratio or 0.0)
        label = f"earliest retry after a 429 (of {len(waits)})"
        row(label, f"{worst.waited:.2f} s ({worst.limited.method})", f"Retry-After {worst.limited.retry_after} s",
            worst.ratio)
    else:
        row("earliest retry after a 429", "no 429 was retried")
    floor = 2 * timeout + MARGIN  # the failure comes a timeout after the post; then timeout + margin more
    timed_out = retries_after_timeouts(log)
    reposts = [r.waited for r in timed_out if r.waited is not None]
    if reposts:
        label = f"earliest re-post after a timeout ({len(reposts)}/{len(timed_out)})"
        row(label, f"{min(reposts):.2f} s after the post", f"2 x timeout + margin {floor:.1f} s", min(reposts) / floor)
    else:
        row("earliest re-post after a timeout", f"none of {len(timed_out)} was posted again")


def report_calls(log: list[CallRecord], messages: int, people: int) -> None:
    """Slack calls per message, beside what a fault-free run needs, and the faults met."""
    posts = sum(1 for r in log if r.method == "chat.postMessage")
    fault_free = (messages + 2 * people) / messages  # a post each; one lookup and one DM open a person
    row("Slack calls per message", f"{len(log) / messages:.2f} ({posts / messages:.2f} posts)",
        f"fault-free {fault_free:.2f}")
    faults = Counter(r.fault for r in log if r.fault)
    print(f"  faults met: {dict(sorted(faults.items()))} in {len(log)} calls ({sum(faults.values()) / len(log):.0%})")
    print(f"  calls: {dict(Counter(r.method for r in log).most_common())}")


def main() -> None:
    """Run the fan-out and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--rate", type=float, default=0.2, help="share of Slack calls that meet a fault")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After of an injected 429 (s)")
    parser.add_argument("--timeout", type=float, default=0.2, help="the sender's Slack client timeout (s)")
    parser.add_argument("--deadline", type=float, default=100.0, help="stop after this many seconds regardless")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp)}/faults.db")
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        queue_fan_out(sessions, args.messages, args.people, system_clock())
        workspace = LocalWorkspace(
            bot_token=TOKEN, signing_secret="s", timeout_hold_seconds=args.timeout + 1.0,
            landing_delay_seconds=args.timeout + 1.0,  # lands a second after the client gave up
        )
        workspace.start()
        try:
            sync_workspace_users(workspace, sessions)
            settings = load_settings(database_url=str(engine.url), slack_timeout_seconds=args.timeout)
            client = sender_client(settings, TOKEN, workspace.base_url)
            sender = OutboxSender(sessions, client, worker_id="bench", lane=BULK_LANE, timeout_margin=MARGIN)
            workspace.inject_faults(args.rate, kind="mix", seed=args.seed, retry_after=args.retry_after)
            print(f"fan-out: {args.messages} messages to {args.people} people, one sender, "
                  f"{args.rate:.0%} faults (429/500/timeout/timeout_after_store), seed {args.seed}, "
                  f"client timeout {args.timeout} s")
            runner = DeliveryRunner([sender], clock=system_clock, idle_seconds=0.1, database_retry_seconds=1.0)
            took = run_until_settled(runner, sessions, args.deadline)
            time.sleep(args.timeout + 1.0)  # let any post still in flight land before counting
            report(workspace, sessions, args, took)
        finally:
            workspace.stop()
            engine.dispose()


if __name__ == "__main__":
    main()
