"""One sender batch: what it loads up front (in a few set-based queries) and how its results are settled.

``load_jobs`` reads, in one session, everything the sender needs to send the claimed rows: the
rows, their recipients' and named people's Slack ids, and the checks that used to be one query
per row (relevance, the row a chart waits for, the message an edit replaces, a newer edit).
A dependency claimed in the same batch is decided at its turn, from ``BatchState`` (what this
batch has already posted), because it is not settled in the database yet.

``Result`` is how one row ended; ``settle`` writes a list of them in the caller's transaction,
locking the rows still owned with one query.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.delivery.claims import owned_rows, set_released, set_sent
from bot.delivery.mentions import person_ids
from bot.delivery.relevance import CHASERS, why_not_true
from store.models import Allocation, AuditMonth, Notification, NotificationState, Person

Hook = Callable[[Session, Notification, dt.datetime], None]
#: A Person row's Slack fields: id, email, slack_user_id, slack_dm_channel, slack_missing_since.
PersonRow = tuple[int, str, str | None, str | None, dt.datetime | None]

#: What a dependency's (state) means for the row that waits on it.
WAITING_STATES = (NotificationState.PENDING, NotificationState.SENDING)


@dataclass
class Job:
    """One claimed row and what it needs to be sent, loaded with the batch."""

    id: int
    key: str
    template: str
    context: dict[str, Any]
    attempts: int
    recipient_id: int | None
    channel: str | None
    replaces: str | None
    #: The recipient's Slack fields (None for a channel message).
    recipient: PersonRow | None = None
    #: The people the message names: (id, email, slack_user_id, slack_missing_since).
    named: list[tuple[int, str, str | None, dt.datetime | None]] = field(default_factory=list)
    #: Cancel: why the notice is no longer true.
    untrue: str | None = None
    #: Defer this many seconds (a dependency still queued in another batch).
    wait: float | None = None
    #: A newer edit of the same message already went out.
    superseded: bool = False
    #: Where the message to edit is (channel, ts), when it was sent before this batch.
    target: tuple[str, str] | None = None
    #: The row this one follows (``after``) was claimed in this same batch: decided at this row's turn.
    after_in_batch: str | None = None
    #: The message this edits was claimed in this same batch: its channel and ts are known at this row's turn.
    edit_in_batch: bool = False
    #: Its turn at its destination was booked when it was handed back before (``ChannelPace``).
    booked: bool = False

    @property
    def destination(self) -> str:
        """Rows with the same destination go to one worker, in claim order (a person's DM, or the channel)."""
        return f"person:{self.recipient_id}" if self.recipient_id is not None else f"channel:{self.channel}"


@dataclass
class Result:
    """How one row of a batch ended, to be settled."""

    id: int
    #: sent | retry (release, maybe counted) | cancel | fail
    kind: str
    channel: str = ""
    ts: str = ""
    retry_at: dt.datetime | None = None
    error: str | None = None
    counted: bool = False
    #: A DM channel learnt from chat.postMessage's answer: (person id, D… id), stored with the row.
    dm: tuple[int, str] | None = None


class BatchState:
    """What the workers of one batch share: messages posted so far (by key), how rows ended, the stop."""

    def __init__(self, keys_in_batch: set[str]) -> None:
        self.lock = threading.Lock()
        self.keys = keys_in_batch
        self.posted: dict[str, tuple[str, str]] = {}
        self.ended: dict[str, str] = {}
        #: Set when the rest of the batch is handed back (a lane pause, a halt, a database error).
        self.stop = threading.Event()
        self.stop_until: dt.datetime | None = None
        #: Set with ``stop`` when Slack refuses the bot itself: raised once the batch is settled.
        self.halted: BaseException | None = None
        self.limited_channels: set[str] = set()

    def record(self, key: str, result: Result) -> None:
        with self.lock:
            self.ended[key] = result.kind
            if result.kind == "sent":
                self.posted[key] = (result.channel, result.ts)


def shares_of(jobs: list[Job], workers: int) -> list[list[Job]]:
    """Split a batch among at most ``workers``: each destination's rows to one worker, in claim order
    (so a channel's messages arrive in order and its 429 pause holds), destinations dealt round-robin."""
    worker_of: dict[str, int] = {}
    shares: list[list[Job]] = []
    for job in jobs:
        index = worker_of.setdefault(job.destination, len(worker_of) % workers)
        if index == len(shares):
            shares.append([])
        shares[index].append(job)
    return shares


def load_jobs(session: Session, ids: list[int]) -> list[Job]:
    """The claimed rows ``ids`` as jobs, in claim order, with what each needs (a few queries in all)."""
    rows = session.execute(
        select(
            Notification.id, Notification.idempotency_key, Notification.template, Notification.context,
            Notification.attempts, Notification.recipient_id, Notification.channel, Notification.replaces_key,
        ).where(Notification.id.in_(ids))
    ).all()
    order = {notification_id: n for n, notification_id in enumerate(ids)}
    jobs = sorted((Job(*row) for row in rows), key=lambda job: order[job.id])
    wanted = {job.recipient_id for job in jobs if job.recipient_id is not None}
    for job in jobs:
        wanted.update(person_ids(job.context))
    people: dict[int, PersonRow] = {
        row[0]: (row[0], row[1], row[2], row[3], row[4])
        for row in session.execute(
            select(Person.id, Person.email, Person.slack_user_id, Person.slack_dm_channel, Person.slack_missing_since)
            .where(Person.id.in_(wanted))
        )
    }
    in_batch = {job.key for job in jobs}
    _dependencies(session, jobs, in_batch)
    chased = {job.context.get("allocation_id") for job in jobs if job.template in CHASERS}
    # Held here while the checks run (the identity map keeps objects only while referenced): the
    # relevance checks below find a chaser's allocation and month there, without a query each.
    allocations = session.scalars(select(Allocation).where(Allocation.id.in_(chased))).all() if chased else []
    month_ids = {a.month_id for a in allocations}
    months = session.scalars(select(AuditMonth).where(AuditMonth.id.in_(month_ids))).all() if month_ids else []
    for job in jobs:
        job.recipient = people.get(job.recipient_id) if job.recipient_id is not None else None
        job.named = [(p[0], p[1], p[2], p[4]) for pid in sorted(set(person_ids(job.context))) if (p := people.get(pid))]
        if job.untrue is None and job.wait is None:
            job.untrue = why_not_true(session, job.template, job.context)
    del allocations, months
    return jobs


def _dependencies(session: Session, jobs: list[Job], in_batch: set[str]) -> None:
    """Charts waiting for their summary, edits waiting for (or superseded before) the message they edit."""
    after = {str(job.context["after"]) for job in jobs if job.context.get("after")}
    replaced = {job.replaces for job in jobs if job.replaces}
    if not after and not replaced:
        return
    keyed = session.execute(
        select(Notification.idempotency_key, Notification.state, Notification.slack_channel, Notification.slack_ts)
        .where(Notification.idempotency_key.in_(after | replaced))
    ).all()
    found = {key: (state, channel, ts) for key, state, channel, ts in keyed}
    newest_sent = dict(
        session.execute(
            select(Notification.replaces_key, func.max(Notification.id))
            .where(Notification.replaces_key.in_(replaced), Notification.state == NotificationState.SENT)
            .group_by(Notification.replaces_key)
        ).all()
    ) if replaced else {}
    for job in jobs:
        waits_for = str(job.context.get("after") or "")
        if waits_for:
            if waits_for in in_batch:
                job.after_in_batch = waits_for
            elif waits_for in found and found[waits_for][0] in WAITING_STATES:
                job.wait = 30.0
                continue
        if not job.replaces:
            continue
        if (newest_sent.get(job.replaces) or 0) > job.id:
            job.superseded = True
            continue
        if job.replaces in in_batch:
            job.edit_in_batch = True
            continue
        state, channel, ts = found.get(job.replaces, (None, None, None))
        if state is None or state == NotificationState.FAILED:
            continue  # never sent: post afresh
        if state == NotificationState.CANCELLED:
            job.untrue = "the message it edits was cancelled, never sent"
        elif state != NotificationState.SENT or not channel or not ts:
            job.wait = 30.0
        else:
            job.target = (channel, ts)


def settle(
    session: Session, results: list[Result], *, worker_id: str, now: dt.datetime, on_sent: Hook | None,
    on_failure: Hook | None,
) -> list[int]:
    """Write ``results`` in the caller's transaction; return the ids another sender had taken over (left alone)."""
    owned = owned_rows(session, [r.id for r in results], worker_id)
    dms = {r.dm[0]: r.dm[1] for r in results if r.dm is not None}
    if dms:
        session.execute(update(Person), [{"id": pid, "slack_dm_channel": dm} for pid, dm in dms.items()])
    lost: list[int] = []
    for result in results:
        row = owned.get(result.id)
        if row is None:
            lost.append(result.id)
            continue
        if result.kind == "sent":
            set_sent(row, now=now, channel=result.channel, ts=result.ts)
            if on_sent is not None:
                on_sent(session, row, now)
        elif result.kind == "retry":
            assert result.retry_at is not None
            set_released(row, retry_at=result.retry_at, error=result.error, count_attempt=result.counted)
        else:
            row.state = NotificationState.CANCELLED if result.kind == "cancel" else NotificationState.FAILED
            row.last_error = result.error
            if result.kind == "fail" and on_failure is not None:
                on_failure(session, row, now)
    session.flush()
    return lost
