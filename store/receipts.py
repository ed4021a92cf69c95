"""Receipts of Slack requests already acted on: one effect per submission, click or command.

A click acknowledged before its listener runs (``bot/delivery/clicks.py``) has a *pending* receipt. Its unit
of work runs inside ``acting_on(key)``, and the first commit in there clears the receipt in the same
transaction (``settle_on_commit``): a receipt still pending long after means that no effect was committed.
``claim_unfinished`` hands such receipts over, once, for their people to be told.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, event, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from store.db import changed
from store.models import RequestReceipt

#: How long a receipt is kept: far longer than Slack's 5-minute signature window and its retries.
KEEP = dt.timedelta(days=1)
#: A click's receipt still pending this long after its answer was never acted on (the process stopped between
#: answer and commit): housekeeping tells whoever clicked (``bot/scheduler/housekeeping.py``).
UNFINISHED_AFTER = dt.timedelta(minutes=5)


#: The insert-unless-seen, per dialect; built once (every Slack request runs it before its listener).
_FIRST = {
    name: insert(RequestReceipt).values(key=bindparam("key"), received_at=bindparam("received_at"),
                                        pending=bindparam("pending"), slack_user_id=bindparam("slack_user_id"))
    .on_conflict_do_nothing(index_elements=["key"]).returning(RequestReceipt.id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def first_receipt(
    session: Session, key: str, *, now: dt.datetime, pending: bool = False, slack_user_id: str | None = None
) -> bool:
    """Record ``key``, committed at once on its own; True if this is the first time it is seen (the caller may
    act on it). ``session`` must not have begun: the insert runs in autocommit, one round trip with no
    BEGIN or COMMIT around it (every Slack request runs it before its listener). ``pending``: a click
    acknowledged before it is acted on, by ``slack_user_id``."""
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    stmt = _FIRST["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    values = {"key": key, "received_at": now, "pending": pending, "slack_user_id": slack_user_id}
    return connection.execute(stmt, values).first() is not None


# --- a click acted on after its acknowledgement ------------------------------------------------------------------


class ReceiptLapsed(RuntimeError):
    """A pending click's receipt was handed over as unfinished (its person told nothing changed) before its
    unit of work committed: that commit is refused, so what the person was told stays true."""


@dataclass
class _Unit:
    key: str
    #: The receipt's clearing has committed (or the receipt was dropped): nothing more to do.
    settled: bool = False
    #: The session whose open transaction holds the clearing, until it commits or rolls back.
    holder: Session | None = None


_acting: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar("receipt_acting_on", default=None)
_SETTLE = update(RequestReceipt).where(RequestReceipt.key == bindparam("k"), RequestReceipt.pending.is_(True)).values(
    pending=False).returning(RequestReceipt.id)


@contextmanager
def acting_on(key: str) -> Iterator[None]:
    """Run a pending click's unit of work: its first commit clears the receipt (see ``settle_on_commit``)."""
    token = _acting.set(_Unit(key))
    try:
        yield
    finally:
        _acting.reset(token)


def taken_here(key: str) -> bool:
    """True inside ``acting_on(key)``: the receipt was written before the request was answered."""
    unit = _acting.get()
    return unit is not None and unit.key == key


def settled_here() -> bool:
    """True inside ``acting_on`` once the receipt has been cleared by a commit."""
    unit = _acting.get()
    return unit is not None and unit.settled


def _settle_in_commit(session: Session) -> None:
    unit = _acting.get()
    if unit is None or unit.settled or unit.holder is not None or session.in_nested_transaction():
        return  # not a click's unit; done; already in a transaction under way; a savepoint, not the commit
    if session.execute(_SETTLE, {"k": unit.key}).first() is None:
        raise ReceiptLapsed(f"receipt {unit.key} was handed over as unfinished")
    unit.holder = session


def _committed(session: Session) -> None:
    unit = _acting.get()
    if unit is not None and unit.holder is session:
        unit.settled, unit.holder = True, None


def _rolled_back(session: Session) -> None:
    unit = _acting.get()
    if unit is not None and unit.holder is session:
        unit.holder = None  # the clearing went with the rest: the next commit clears it again


def settle_on_commit(sessions: sessionmaker[Session]) -> None:
    """Have the first commit of ``sessions`` inside ``acting_on`` clear that receipt in the same transaction
    (idempotent). Only a real commit counts: a savepoint's release does not, and a rolled-back one is undone."""
    for name, listener in (("before_commit", _settle_in_commit), ("after_commit", _committed),
                           ("after_rollback", _rolled_back)):
        if not event.contains(sessions, name, listener):
            event.listen(sessions, name, listener)


def settle(session: Session, key: str) -> bool:
    """Clear a pending receipt whose unit committed nothing (a refusal read, a form opened), in autocommit;
    False if it had been handed over as unfinished already."""
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return connection.execute(_SETTLE, {"k": key}).first() is not None


@dataclass(frozen=True)
class Unfinished:
    """A click acknowledged and never acted on."""

    key: str
    received_at: dt.datetime
    slack_user_id: str | None


def claim_unfinished(session: Session, *, before: dt.datetime, since: dt.datetime | None = None) -> list[Unfinished]:
    """Hand over, once, the clicks received before ``before`` (and from ``since``) that are still pending:
    each is no longer pending when this returns (a conditional UPDATE, so two processes never both take one)."""
    stmt = update(RequestReceipt).where(RequestReceipt.pending.is_(True), RequestReceipt.received_at < before)
    if since is not None:
        stmt = stmt.where(RequestReceipt.received_at >= since)
    rows = session.execute(stmt.values(pending=False).returning(
        RequestReceipt.key, RequestReceipt.received_at, RequestReceipt.slack_user_id))
    return sorted((Unfinished(*row) for row in rows), key=lambda u: (u.received_at, u.key))


def pending_receipts(session: Session) -> list[str]:
    """The keys of receipts still pending (for tests and operators)."""
    return list(session.scalars(select(RequestReceipt.key).where(RequestReceipt.pending.is_(True))))


def forget_receipt(session: Session, key: str) -> None:
    """Drop ``key`` (its request failed and changed nothing, so trying again must be possible)."""
    unit = _acting.get()
    if unit is not None and unit.key == key:
        unit.settled = True  # nothing left to clear: the receipt goes in this transaction
    session.execute(delete(RequestReceipt).where(RequestReceipt.key == key))


def prune_receipts(session: Session, *, now: dt.datetime) -> int:
    """Delete receipts older than ``KEEP``, except clicks still pending (``claim_unfinished`` takes those); returns
    how many."""
    result = session.execute(
        delete(RequestReceipt).where(RequestReceipt.received_at < now - KEEP, RequestReceipt.pending.is_(False))
    )
    return changed(result)
