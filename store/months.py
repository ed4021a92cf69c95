"""Queries on audit months."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import Allocation, AllocationState, AuditMonth


def month_row(session: Session, month: dt.date, *, lock: bool = True) -> AuditMonth:
    """Get or create the row for ``month`` (its first day), locked against concurrent changes.

    PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING`` then ``SELECT ... FOR UPDATE``. SQLite
    transactions already hold the database write lock (``BEGIN IMMEDIATE``, store/db.py).
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(AuditMonth).values(month=month, paused=False).on_conflict_do_nothing(index_elements=["month"]))
    query = select(AuditMonth).where(AuditMonth.month == month).execution_options(populate_existing=True)
    return session.scalars(query.with_for_update() if lock else query).one()


def is_paused(session: Session, month: dt.date) -> bool:
    """True if the programme is paused for ``month`` (no row means not paused)."""
    return bool(session.scalar(select(AuditMonth.paused).where(AuditMonth.month == month)))


def allocated_months(session: Session, months: set[dt.date]) -> set[dt.date]:
    """Which of ``months`` are already allocated: the scheduled allocation ran, or audits were
    committed by hand with no prepared request waiting (the scheduler then adds none to the month,
    bot/services/allocation/schedule.py), so nothing more will be allocated in it. Two queries, however many."""
    if not months:
        return set()
    rows = session.execute(
        select(AuditMonth.id, AuditMonth.month, AuditMonth.auto_allocated_at, AuditMonth.prepared_request).where(
            AuditMonth.month.in_(months)
        )
    ).all()
    done = {r.month for r in rows if r.auto_allocated_at is not None}
    open_ids = {r.id: r.month for r in rows if r.auto_allocated_at is None and not r.prepared_request}
    if open_ids:
        by_hand = session.scalars(
            select(Allocation.month_id)
            .where(Allocation.month_id.in_(open_ids), Allocation.state != AllocationState.CANCELLED)
            .distinct()
        )
        done |= {open_ids[month_id] for month_id in by_hand}
    return done


def is_allocated(session: Session, month: dt.date) -> bool:
    """True once ``month`` (its first day) is allocated (see ``allocated_months``)."""
    return month in allocated_months(session, {month})
