"""Claiming and settling outbox rows. Short transactions; Slack is never called in here."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Integer, Select, Update, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from store.models import Notification, NotificationState

#: A claim ranks this many batches' worth of the lane's first due rows (see ``claim_due``).
CLAIM_WINDOW = 20


@dataclass(frozen=True)
class Lane:
    """A band of priorities served by one sender loop (urgent alerts get their own)."""

    name: str
    min_priority: int
    max_priority: int


def _due() -> ColumnElement[bool]:
    """A lane's due rows; bound: ``low``/``high`` (its priorities), ``now``, ``stale`` (now less the lease)."""
    return and_(
        Notification.priority.between(bindparam("low"), bindparam("high")),
        or_(
            and_(Notification.state == NotificationState.PENDING, Notification.next_attempt_at <= bindparam("now")),
            # A claim whose sender died before settling it: take it over after the lease.
            and_(Notification.state == NotificationState.SENDING, Notification.claimed_at < bindparam("stale")),
        ),
    )


def _candidates() -> Select[int]:
    """The ``limit`` rows to claim, in the order Slack can take them (see ``claim_due``); bound as ``_due``, and
    ``window`` (due rows ranked), ``burst``, ``limit``."""
    window = (
        select(Notification.id, Notification.priority, Notification.recipient_id, Notification.channel)
        .where(_due()).order_by(Notification.priority, Notification.id).limit(bindparam("window")).subquery()
    )
    destination = (window.c.recipient_id, window.c.channel)
    nth = func.row_number().over(partition_by=destination, order_by=window.c.id)
    burst = bindparam("burst", type_=Integer)
    ranked = select(
        window.c.id, window.c.priority,
        case((nth > burst, nth - burst), else_=0).label("round"),
        func.count().over(partition_by=destination).label("busy"),
    ).subquery()
    order = (ranked.c.priority, ranked.c.round, ranked.c.busy.desc(), ranked.c.id)
    return select(ranked.c.id).order_by(*order).limit(bindparam("limit"))


def _claiming(target: ColumnElement[bool]) -> Update:
    """Mark the rows of ``target`` that are still due as sent by ``worker`` from ``now``, an attempt more."""
    return (
        update(Notification)
        .where(target, _due())
        .values(
            state=NotificationState.SENDING,
            claimed_by=bindparam("worker"),
            claimed_at=bindparam("now"),
            attempts=Notification.attempts + 1,
        )
        .returning(Notification.id, Notification.priority, Notification.recipient_id, Notification.channel)
        .execution_options(synchronize_session=False)
    )


#: Built once: a claim runs whenever a sender looks for work (every tick in tests, on every wake in the bot).
#: PostgreSQL locks the candidates ``FOR UPDATE SKIP LOCKED`` first, then claims exactly those (``ids``).
_LOCK_CANDIDATES = (
    select(Notification.id).where(Notification.id.in_(_candidates().scalar_subquery())).with_for_update(skip_locked=True)
)
_CLAIM_LOCKED = _claiming(Notification.id.in_(bindparam("ids", expanding=True)))
#: SQLite: the write lock taken by ``BEGIN IMMEDIATE`` serialises claimers, and the update re-checks the due condition.
_CLAIM_CANDIDATES = _claiming(Notification.id.in_(_candidates().scalar_subquery()))


def next_due(session: Session, lane: Lane) -> dt.datetime | None:
    """When the lane's earliest pending row falls due (a paused channel's rows, a backoff), if any."""
    return session.scalar(
        select(func.min(Notification.next_attempt_at)).where(
            Notification.priority.between(lane.min_priority, lane.max_priority),
            Notification.state == NotificationState.PENDING,
        )
    )


def claim_due(
    session: Session, *, now: dt.datetime, lane: Lane, worker_id: str, limit: int, lease: dt.timedelta, burst: int = 1
) -> list[int]:
    """Mark up to ``limit`` due rows of ``lane`` as being sent by ``worker_id``; return their ids.

    In the order Slack can take them: among the lane's first ``limit * CLAIM_WINDOW`` due rows (by
    priority, then age), each person's or channel's first ``burst`` rows, then each one's next row, and
    so on (Slack takes about one message a second per channel, after a short burst); within each round,
    the busiest destinations first, since a fan-out lasts as long as its busiest recipient's share. A
    destination's own rows keep their order.

    PostgreSQL: the candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent senders
    take disjoint rows. SQLite: the write lock taken by ``BEGIN IMMEDIATE`` serialises
    claimers, and the ``UPDATE ... RETURNING`` re-checks the due condition.
    """
    params = {
        "low": lane.min_priority, "high": lane.max_priority, "now": now, "stale": now - lease, "worker": worker_id,
        "window": limit * CLAIM_WINDOW, "burst": burst, "limit": limit,
    }
    if session.get_bind().dialect.name == "postgresql":
        # Lock exactly these rows first: a LIMIT subquery inside UPDATE ... IN (...) may be
        # re-run by the planner and claim more (or other) rows than it locked.
        ids = list(session.scalars(_LOCK_CANDIDATES, params))
        if not ids:
            return []
        rows = session.execute(_CLAIM_LOCKED, {**params, "ids": ids}).all()
    else:
        rows = session.execute(_CLAIM_CANDIDATES, params).all()
    busiest = Counter((r.recipient_id, r.channel) for r in rows)
    rows = sorted(rows, key=lambda r: (r.priority, -busiest[r.recipient_id, r.channel], r.id))
    return [r.id for r in rows]


def _owned(session: Session, notification_id: int, worker_id: str) -> Notification | None:
    row = session.get(Notification, notification_id, with_for_update=True)
    if row is None or row.state != NotificationState.SENDING or row.claimed_by != worker_id:
        return None  # someone else took it over after our lease ran out
    return row


def owned_rows(session: Session, ids: list[int], worker_id: str) -> dict[int, Notification]:
    """The rows of ``ids`` still claimed by ``worker_id``, locked, in one query (a batch's settling)."""
    query = select(Notification).where(
        Notification.id.in_(ids), Notification.state == NotificationState.SENDING, Notification.claimed_by == worker_id
    )
    return {row.id: row for row in session.scalars(query.order_by(Notification.id).with_for_update())}


def mark_sent(
    session: Session, notification_id: int, *, worker_id: str, now: dt.datetime, channel: str, ts: str
) -> bool:
    """Record a delivered message and its Slack ``ts``."""
    row = _owned(session, notification_id, worker_id)
    if row is None:
        return False
    set_sent(row, now=now, channel=channel, ts=ts)
    return True


def set_sent(row: Notification, *, now: dt.datetime, channel: str, ts: str) -> None:
    """``mark_sent`` on a row already known to be owned and locked."""
    row.state = NotificationState.SENT
    row.sent_at = now
    row.slack_channel = channel
    row.slack_ts = ts
    row.last_error = None


def release(
    session: Session,
    notification_id: int,
    *,
    worker_id: str,
    retry_at: dt.datetime,
    error: str | None,
    count_attempt: bool,
) -> bool:
    """Put a claimed row back to pending until ``retry_at``.

    ``count_attempt`` is False when Slack never looked at the message (rate limited, halted),
    so it does not use up one of the row's attempts.
    """
    row = _owned(session, notification_id, worker_id)
    if row is None:
        return False
    set_released(row, retry_at=retry_at, error=error, count_attempt=count_attempt)
    return True


def set_released(row: Notification, *, retry_at: dt.datetime, error: str | None, count_attempt: bool) -> None:
    """``release`` on a row already known to be owned and locked."""
    row.state = NotificationState.PENDING
    row.next_attempt_at = retry_at
    row.claimed_by = None
    if not count_attempt:
        row.attempts = max(0, row.attempts - 1)
    if error is not None:
        row.last_error = error


def _finish(session: Session, notification_id: int, worker_id: str, state: NotificationState, why: str) -> bool:
    row = _owned(session, notification_id, worker_id)
    if row is None:
        return False
    row.state = state
    row.last_error = why
    return True


def mark_cancelled(session: Session, notification_id: int, *, worker_id: str, reason: str) -> bool:
    """Drop a row that is no longer true (listed by ``auditbot outbox --cancelled``, with why)."""
    return _finish(session, notification_id, worker_id, NotificationState.CANCELLED, reason)


def mark_failed(session: Session, notification_id: int, *, worker_id: str, error: str) -> bool:
    """Give up on a row; it is listed by ``auditbot outbox --failed``."""
    return _finish(session, notification_id, worker_id, NotificationState.FAILED, error)
