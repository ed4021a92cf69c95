"""Receipts of Slack requests already acted on: one effect per submission, click or command."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import RequestReceipt

#: How long a receipt is kept: far longer than Slack's 5-minute signature window and its retries.
KEEP = dt.timedelta(days=1)


#: The insert-unless-seen, per dialect; built once (every Slack request runs it before its listener).
_FIRST = {
    name: insert(RequestReceipt).values(key=bindparam("key"), received_at=bindparam("received_at"))
    .on_conflict_do_nothing(index_elements=["key"]).returning(RequestReceipt.id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}  # fmt: skip


def first_receipt(session: Session, key: str, *, now: dt.datetime) -> bool:
    """Record ``key``, committed at once on its own; True if this is the first time it is seen (the caller may
    act on it). ``session`` must not have begun: the insert runs in autocommit, one round trip with no
    BEGIN or COMMIT around it (every Slack request runs it before its listener)."""
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    stmt = _FIRST["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    return connection.execute(stmt, {"key": key, "received_at": now}).first() is not None


def forget_receipt(session: Session, key: str) -> None:
    """Drop ``key`` (its request failed and changed nothing, so trying again must be possible)."""
    session.execute(delete(RequestReceipt).where(RequestReceipt.key == key))


def prune_receipts(session: Session, *, now: dt.datetime) -> int:
    """Delete receipts older than ``KEEP``; returns how many."""
    result = session.execute(delete(RequestReceipt).where(RequestReceipt.received_at < now - KEEP))
    return int(getattr(result, "rowcount", 0) or 0)
