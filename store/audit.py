"""The append-only audit log: every decision and refusal is recorded here."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import AuditLog, Person


def record(
    session: Session,
    *,
    now: dt.datetime,
    action: str,
    outcome: str = "ok",
    actor: Person | None = None,
    actor_ref: str = "",
    subject_type: str = "",
    subject_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Append one audit-log entry in the caller's transaction."""
    entry = AuditLog(
        at=now,
        actor_id=actor.id if actor is not None else None,
        actor_ref=actor_ref or (actor.email if actor is not None else ""),
        action=action,
        outcome=outcome,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
    )
    session.add(entry)
    return entry


def last_entry(session: Session, *, action: str, subject_type: str, subject_id: int) -> AuditLog | None:
    """The newest successful entry for ``action`` on a subject (who did it and when), or None."""
    return session.scalar(
        select(AuditLog)
        .where(AuditLog.action == action, AuditLog.outcome == "ok", AuditLog.subject_type == subject_type,
               AuditLog.subject_id == subject_id)
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
