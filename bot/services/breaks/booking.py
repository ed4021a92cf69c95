"""Audit breaks: a month off, granted automatically within the rules (Hull A.2-3)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.services.allocation.rules import add_months
from bot.services.authz import Decision, Permission, check
from bot.services.staff.people import holder_in_service, up_the_line
from bot.settings import Settings
from store.audit import record
from store.models import Allocation, AllocationState, AuditBreak, BreakState, Person, Role
from store.months import is_allocated, is_paused, month_row
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators


class BreakRefusal(StrEnum):
    """Why a break was not granted (wording in messages/break_decision.json.j2)."""

    TOO_LATE = "too_late"
    YEARLY_LIMIT = "yearly_limit"
    MONTH_FULL = "month_full"
    PAUSED = "paused"
    HAS_AUDITS = "has_audits"
    TOO_FAR = "too_far"
    ALLOCATED = "allocated"


#: How far ahead a break may be booked: up to the same month next year.
BOOK_AHEAD_MONTHS = 12


def furthest_bookable(today: dt.date) -> dt.date:
    """The last month a break may be booked for on ``today`` (a local date)."""
    return add_months(today.replace(day=1), BOOK_AHEAD_MONTHS)


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
    held: int = 0
    latest: dt.date | None = None

    def context(self) -> dict[str, object]:
        """What ``break_decision.json.j2`` needs."""
        return {
            "approved": self.approved,
            "already": self.already,
            "reason": self.reason.value if self.reason else None,
            "month": self.month.isoformat(),
            "limit": self.limit,
            "share": self.share_percent,
            "held": self.held,
            "latest": self.latest.isoformat() if self.latest else None,
        }


@dataclass(frozen=True)
class _RuleCheck:
    reason: BreakRefusal | None = None
    limit: int = 0
    held: int = 0


def _active_auditors(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(Person).where(Person.active.is_(True), Person.role_rows.any(role=Role.AUDITOR))
    ) or 0


def month_limit(session: Session, settings: Settings) -> int:
    """How many auditors may be on a break in one month."""
    return math.floor(_active_auditors(session) * settings.max_break_share + 1e-9)


def audits_held(session: Session, person: Person, month: dt.date) -> int:
    """How many audits ``person`` already holds in ``month`` (allocated or done, as either auditor)."""
    return session.scalar(
        select(func.count()).select_from(Allocation).where(
            Allocation.month_start == month,
            Allocation.state.in_([AllocationState.ALLOCATED, AllocationState.COMPLETED]),
            or_(Allocation.auditor_id == person.id, Allocation.second_auditor_id == person.id),
        )
    ) or 0


def breaks_taken(session: Session, month: dt.date) -> int:
    """How many auditors have a break booked in ``month``."""
    return session.scalar(
        select(func.count()).select_from(AuditBreak).where(AuditBreak.month == month, AuditBreak.state == BreakState.APPROVED)
    ) or 0


def notice_context(
    person: Person, month: dt.date, taken: int, limit: int, share: int, *, cancelled: bool = False,
    booked: AuditBreak | None = None,
) -> dict[str, object]:
    """What ``break_notice.json.j2`` needs: a break booked (or, ``cancelled``, given up) in ``month``.

    A booking's notice names the booking, so that one still queued when the break is cancelled is
    cancelled, not sent (``bot/delivery/relevance.py``)."""
    context: dict[str, object] = {
        "auditor": person_ref(person), "month": month.isoformat(), "taken": taken, "limit": limit, "share": share,
        "cap_reached": taken >= limit and not cancelled, "cancelled": cancelled,
    }
    if booked is not None:
        context["booking"] = {"id": booked.id, "at": booked.requested_at.isoformat()}
    return context


def _check_rules(
    session: Session, person: Person, month: dt.date, settings: Settings, *, today: dt.date, paused: bool
) -> _RuleCheck:
    """Whether the rules grant ``person`` a break in ``month`` now (nothing is written)."""
    if today >= month:
        return _RuleCheck(BreakRefusal.TOO_LATE)
    if month > furthest_bookable(today):
        return _RuleCheck(BreakRefusal.TOO_FAR)
    if paused:
        return _RuleCheck(BreakRefusal.PAUSED)
    held = audits_held(session, person, month)
    if held:  # a break would not take them off; an exemption would
        return _RuleCheck(BreakRefusal.HAS_AUDITS, held=held)
    if is_allocated(session, month):  # allocated early: nothing more will be allocated, to them or anyone
        return _RuleCheck(BreakRefusal.ALLOCATED)
    mine = set(
        session.scalars(
            select(AuditBreak.month).where(AuditBreak.person_id == person.id, AuditBreak.state == BreakState.APPROVED)
        )
    )
    for start in (add_months(month, k - 11) for k in range(12)):  # every 12-month window containing month
        window = {add_months(start, i) for i in range(12)}
        if len(mine & window) + 1 > settings.max_breaks_per_year:
            return _RuleCheck(BreakRefusal.YEARLY_LIMIT, settings.max_breaks_per_year)
    taken = breaks_taken(session, month)
    limit = month_limit(session, settings)
    return _RuleCheck(BreakRefusal.MONTH_FULL if taken + 1 > limit else None, limit)


def bookable_break_month(session: Session, person: Person, settings: Settings, *, today: dt.date) -> dt.date | None:
    """The month after ``today`` (a local date) if ``person`` could book a break in it now, else None.

    For the "Ask for a break" button: a message never offers a break the rules would refuse.
    """
    month = add_months(today.replace(day=1), 1)
    if not (person.active and person.has_role(Role.AUDITOR)):
        return None
    booked = session.scalar(
        select(AuditBreak.id).where(
            AuditBreak.person_id == person.id, AuditBreak.month == month, AuditBreak.state == BreakState.APPROVED
        )
    )
    if booked is not None:
        return None
    check = _check_rules(session, person, month, settings, today=today, paused=is_paused(session, month))
    return month if check.reason is None else None


def request_break(
    session: Session, person: Person | None, month: dt.date, settings: Settings, *, today: dt.date, now: dt.datetime,
    actor_ref: str,
) -> BreakOutcome:
    """Grant or refuse ``person`` a break in ``month`` (its first day), recording the decision."""
    decision = check(session, person, Permission.REQUEST_BREAK, now=now, actor_ref=actor_ref, subject_type="audit_break")
    share, latest = round(settings.max_break_share * 100), furthest_bookable(today)
    if not decision.allowed:
        return BreakOutcome(decision, month, latest=latest)
    assert person is not None
    far = BreakRefusal.TOO_FAR if month > latest else BreakRefusal.TOO_LATE if month < today.replace(day=1) else None
    if far is not None:  # refused before any month or break row is made for a far-off month, or one gone by
        record(
            session, now=now, action="break.request", outcome="refused", actor=person, actor_ref=actor_ref,
            subject_type="audit_break", detail={"month": month.isoformat(), "reason": far.value},
        )
        return BreakOutcome(decision, month, reason=far, share_percent=share, latest=latest)
    row = month_row(session, month)  # serialises concurrent requests for the month
    existing = session.scalar(select(AuditBreak).where(AuditBreak.person_id == person.id, AuditBreak.month == month))
    if existing is not None and existing.state == BreakState.APPROVED:
        return BreakOutcome(decision, month, approved=True, already=True, latest=latest)

    rules = _check_rules(session, person, month, settings, today=today, paused=row.paused)
    reason = rules.reason

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
    )
    if reason is None:
        _tell_heads_and_qa(session, existing, person, rules.limit, share, now=now)
    return BreakOutcome(
        decision, month, approved=reason is None, reason=reason, limit=rules.limit, share_percent=share, held=rules.held,
        latest=latest,
    )


def _head_of_service(session: Session, person: Person) -> Person | None:
    """The auditor's Head of Service: up their management line, else the one in their service."""
    return up_the_line(person, Role.HEAD_OF_SERVICE) or holder_in_service(session, Role.HEAD_OF_SERVICE, person.service_id)


def _tell_heads_and_qa(
    session: Session, booked: AuditBreak, person: Person, limit: int, share: int, *, now: dt.datetime
) -> None:
    """Hull A.2-3: the auditor's Head of Service and the QA team are told of a break; once the month
    reaches its cap, every Head of Service is told (their auditors can book no more)."""
    context = notice_context(person, booked.month, breaks_taken(session, booked.month), limit, share, booked=booked)
    told = {p.id: p for p in [_head_of_service(session, person), *qa_coordinators(session)] if p is not None}
    if context["cap_reached"]:
        heads = session.scalars(select(Person).where(Person.active.is_(True), Person.role_rows.any(role=Role.HEAD_OF_SERVICE)))
        told.update({p.id: p for p in heads})
    for recipient_id in sorted(told.keys() - {person.id}):
        enqueue(session, key=f"break:{booked.id}:{booked.requested_at.isoformat()}:notice:{recipient_id}",
                template=Template.BREAK_NOTICE, context=context, now=now, recipient_id=recipient_id)


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
