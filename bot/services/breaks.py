"""Audit breaks: a month off, granted automatically within the rules (Hull A.2-3)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.services.allocation_rules import add_months
from bot.services.authz import Decision, Permission, check
from bot.settings import Settings
from store.audit import record
from store.models import AuditBreak, BreakState, Person, Role
from store.months import month_row
from store.outbox import person_ref


class BreakRefusal(StrEnum):
    """Why a break was not granted (wording in messages/break_decision.json.j2)."""

    TOO_LATE = "too_late"
    YEARLY_LIMIT = "yearly_limit"
    MONTH_FULL = "month_full"
    PAUSED = "paused"


@dataclass(frozen=True)
class BreakOutcome:
    """The answer to a break request."""

    decision: Decision
    month: dt.date
    approved: bool = False
    already: bool = False
    reason: BreakRefusal | None = None
    limit: int = 0
    share_percent: int = 0

    def context(self) -> dict[str, object]:
        """What ``break_decision.json.j2`` needs."""
        return {
            "approved": self.approved,
            "already": self.already,
            "reason": self.reason.value if self.reason else None,
            "month": self.month.isoformat(),
            "limit": self.limit,
            "share": self.share_percent,
        }


def _active_auditors(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(Person).where(Person.active.is_(True), Person.role_rows.any(role=Role.AUDITOR))
    ) or 0


def month_limit(session: Session, settings: Settings) -> int:
    """How many auditors may be on a break in one month."""
    return math.floor(_active_auditors(session) * settings.max_break_share + 1e-9)


def request_break(
    session: Session, person: Person | None, month: dt.date, settings: Settings, *, today: dt.date, now: dt.datetime, actor_ref: str
) -> BreakOutcome:
    """Grant or refuse ``person`` a break in ``month`` (its first day), recording the decision."""
    decision = check(session, person, Permission.REQUEST_BREAK, now=now, actor_ref=actor_ref, subject_type="audit_break")
    share = round(settings.max_break_share * 100)
    if not decision.allowed:
        return BreakOutcome(decision, month)
    assert person is not None
    row = month_row(session, month)  # serialises concurrent requests for the month
    existing = session.scalar(select(AuditBreak).where(AuditBreak.person_id == person.id, AuditBreak.month == month))
    if existing is not None and existing.state == BreakState.APPROVED:
        return BreakOutcome(decision, month, approved=True, already=True)

    limit = 0
    reason: BreakRefusal | None = None
    if today >= month:
        reason = BreakRefusal.TOO_LATE
    elif row.paused:
        reason = BreakRefusal.PAUSED
    else:
        mine = set(
            session.scalars(
                select(AuditBreak.month).where(AuditBreak.person_id == person.id, AuditBreak.state == BreakState.APPROVED)
            )
        )
        for start in (add_months(month, k - 11) for k in range(12)):  # every 12-month window containing month
            window = {add_months(start, i) for i in range(12)}
            if len(mine & window) + 1 > settings.max_breaks_per_year:
                reason, limit = BreakRefusal.YEARLY_LIMIT, settings.max_breaks_per_year
                break
        if reason is None:
            taken = session.scalar(
                select(func.count()).select_from(AuditBreak).where(
                    AuditBreak.month == month, AuditBreak.state == BreakState.APPROVED
                )
            ) or 0
            limit = month_limit(session, settings)
            if taken + 1 > limit:
                reason = BreakRefusal.MONTH_FULL

    state = BreakState.REFUSED if reason else BreakState.APPROVED
    if existing is None:
        existing = AuditBreak(person_id=person.id, month=month, requested_at=now, state=state)
        session.add(existing)
    existing.state, existing.reason, existing.requested_at = state, reason.value if reason else "", now
    session.flush()
    record(
        session, now=now, action="break.request", outcome="refused" if reason else "ok", actor=person, actor_ref=actor_ref,
        subject_type="audit_break", subject_id=existing.id,
        detail={"month": month.isoformat(), "reason": reason.value if reason else None},
    )  # fmt: skip
    return BreakOutcome(decision, month, approved=reason is None, reason=reason, limit=limit, share_percent=share)


def month_breaks(
    session: Session, person: Person | None, month: dt.date, settings: Settings, *, now: dt.datetime, actor_ref: str
) -> tuple[Decision, dict[str, object]]:
    """Who is on a break in ``month`` (QA coordinators only), as a template context."""
    decision = check(session, person, Permission.VIEW_BREAKS, now=now, actor_ref=actor_ref, subject_type="audit_break")
    if not decision.allowed:
        return decision, {}
    people = session.scalars(
        select(Person)
        .join(AuditBreak, AuditBreak.person_id == Person.id)
        .where(AuditBreak.month == month, AuditBreak.state == BreakState.APPROVED)
        .order_by(func.lower(Person.display_name))
    ).all()
    return decision, {
        "month": month.isoformat(),
        "people": [person_ref(p) for p in people],
        "auditors": _active_auditors(session),
        "limit": month_limit(session, settings),
    }
