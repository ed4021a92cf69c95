"""Writing to the notification outbox. Services call ``enqueue`` inside their transaction."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store.models import Notification, NotificationState, Priority


def enqueue(
    session: Session,
    *,
    key: str,
    template: str,
    context: dict[str, Any],
    now: dt.datetime,
    recipient_id: int | None = None,
    channel: str | None = None,
    priority: int = Priority.NORMAL,
    not_before: dt.datetime | None = None,
    replaces_key: str | None = None,
) -> bool:
    """Add a notification unless one with the same idempotency key exists.

    Returns True if a row was written. Exactly one of ``recipient_id`` (a DM) or ``channel``.
    ``context`` must be JSON-serialisable and self-contained; people inside it are written as
    ``{"id": person_id, "name": display_name}`` so the sender can mention them.
    With ``replaces_key`` the row is an edit: the message sent for that key is updated in place
    (or, if it could never be sent, this one is posted instead).
    """
    if (recipient_id is None) == (channel is None):
        raise ValueError("a notification goes to exactly one recipient or channel")
    values = {
        "idempotency_key": key,
        "recipient_id": recipient_id,
        "channel": channel,
        "replaces_key": replaces_key,
        "template": str(template),
        "context": context,
        "priority": priority,
        "state": NotificationState.PENDING,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
    }
    session.flush()  # as an ORM statement would (autoflush): rows it refers to are written first
    # RETURNING says exactly whether a row was written (rowcount is -1 here on PostgreSQL).
    return session.execute(_insert_once(session.get_bind().dialect.name), values).first() is not None


@functools.cache
def _insert_once(dialect: str) -> Any:
    """The INSERT ... ON CONFLICT DO NOTHING RETURNING id for ``dialect``, built once: the values are
    parameters, so a fan-out of thousands of rows compiles it once instead of building each."""
    table = cast(Table, Notification.__table__)  # a mapped class's __table__ is typed as any FromClause
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    return insert(table).returning(table.c.id)  # pragma: no cover - only SQLite and PostgreSQL are supported


def person_ref(person: Any) -> dict[str, Any] | None:
    """How a person appears inside a notification context."""
    if person is None:
        return None
    return {"id": person.id, "name": person.display_name}
