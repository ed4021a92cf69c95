"""Who may do what, decided from the store in one place. Every refusal is audit-logged.

Refusals carry a ``RefusalCode``; the words shown to the person live in
``messages/refusal.json.j2``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from store.audit import record
from store.models import Person


class Permission(StrEnum):
    """Actions that need a decision about the person asking."""

    VIEW_OWN_AUDITS = "view_own_audits"


class RefusalCode(StrEnum):
    """Why a request was refused (each has wording in messages/refusal.json.j2)."""

    UNKNOWN_PERSON = "unknown_person"
    INACTIVE_PERSON = "inactive_person"


@dataclass(frozen=True)
class Decision:
    """The outcome of a permission check."""

    allowed: bool
    code: RefusalCode | None = None


def decide(person: Person | None, permission: Permission) -> Decision:
    """Decide whether ``person`` may do ``permission`` (pure: reads only the objects given)."""
    if person is None:
        return Decision(False, RefusalCode.UNKNOWN_PERSON)
    if not person.active:
        return Decision(False, RefusalCode.INACTIVE_PERSON)
    match permission:
        case Permission.VIEW_OWN_AUDITS:
            return Decision(True)


def check(
    session: Session,
    person: Person | None,
    permission: Permission,
    *,
    now: dt.datetime,
    actor_ref: str,
    subject_type: str = "",
    subject_id: int | None = None,
) -> Decision:
    """Decide, and audit-log a refusal in the caller's transaction (which must then commit)."""
    decision = decide(person, permission)
    if not decision.allowed:
        assert decision.code is not None
        record(
            session,
            now=now,
            action=str(permission),
            outcome="refused",
            actor=person,
            actor_ref=actor_ref,
            subject_type=subject_type,
            subject_id=subject_id,
            detail={"reason": decision.code.value},
        )
    return decision
