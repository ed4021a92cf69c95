"""Claiming and settling outbox rows. Short transactions; Slack is never called in here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from store.models import Notification, NotificationState


@dataclass(frozen=True)
class Lane:
    """A band of priorities served by one sender loop (urgent alerts get their own)."""

    name: str
    min_priority: int
    max_priority: int


def _due(now: dt.datetime, lane: Lane, lease: dt.timedelta) -> ColumnElement[bool]:
    return and_(
        Notification.priority.between(lane.min_priority, lane.max_priority),
        or_(
            and_(Notification.state == NotificationState.PENDING, Notification.next_attempt_at <= now),
            # A claim whose sender died before settling it: take it over after the lease.
            and_(Notification.state == NotificationState.SENDING, Notification.claimed_at < now - lease),
        ),
    )


def next_due(session: Session, lane: Lane) -> dt.datetime | None:
    """When the lane's earliest pending row falls due (a paused channel's rows, a backoff), if any."""
    return session.scalar(
        select(func.min(Notification.next_attempt_at)).where(
            Notification.priority.between(lane.min_priority, lane.max_priority),
            Notification.state == NotificationState.PENDING,
        )
    )


def claim_due(
    session: Session, *, now: dt.datetime, lane: Lane, worker_id: str, limit: int, lease: dt.timedelta
) -> list[int]:
    """Mark up to ``limit`` due rows of ``lane`` as being sent by ``worker_id``; return their ids.

    PostgreSQL: the candidate rows are locked ``FOR UPDATE SKIP LOCKED`` so concurrent senders
    take disjoint rows. SQLite: the write lock taken by ``BEGIN IMMEDIATE`` serialises
    claimers, and the ``UPDATE ... RETURNING`` re-checks the due condition.
    """
    due = _due(now, lane, lease)
    candidates = select(Notification.id).where(due).order_by(Notification.priority, Notification.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Lock exactly these rows first: a LIMIT subquery inside UPDATE ... IN (...) may be
        # re-run by the planner and claim more (or other) rows than it locked.
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if not ids:
            return []
        target = Notification.id.in_(ids)
    else:
        target = Notification.id.in_(candidates.scalar_subquery())
    stmt = (
        update(Notification)
        .where(target, due)
        .values(
            state=NotificationState.SENDING,
            claimed_by=worker_id,
            claimed_at=now,
            attempts=Notification.attempts + 1,
        )
        .returning(Notification.id, Notification.priority)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(stmt).all()
    rows.sort(key=lambda r: (r.priority, r.id))
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
