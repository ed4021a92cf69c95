"""Queries on audit months."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import AuditMonth


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
