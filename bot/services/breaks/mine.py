"""An auditor's own audit breaks: ``/audit breaks`` lists them, and a Cancel button gives one up.

A break can be cancelled by the auditor whose break it is, until its month's audits are
allocated: after that, cancelling would give them no audits (nothing more is allocated in the
month), so it is refused and they are pointed to the QA team. Each Cancel button names the
booking it was shown for, so a replayed or late click never cancels a later booking of the
same month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.services.allocation.rules import add_months
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.breaks.booking import breaks_taken, furthest_bookable, month_limit, notice_context
from bot.settings import Settings
from store.audit import record
from store.models import AuditBreak, BreakState, Notification, Person, Role
from store.months import allocated_months, is_allocated, month_row
from store.outbox import enqueue

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class CancelOutcome(StrEnum):
    """What a click on Cancel did (wording in messages/my_breaks.json.j2)."""

    CANCELLED = "cancelled"
    ALREADY = "already"  # cancelled before: a double click or a replay
    REBOOKED = "rebooked"  # cancelled before, and booked again since: this button was for the old booking
    ALLOCATED = "allocated"  # the month's audits are allocated: refused
    OVER = "over"  # the month has ended: refused


@dataclass(frozen=True)
class BreakRef:
    """What a Cancel button carries: the break and the booking it was shown for."""

    break_id: int
    booked: int  # the booking's requested_at, in microseconds since 1970

    @classmethod
    def of(cls, row: AuditBreak) -> BreakRef:
        return cls(row.id, (row.requested_at - _EPOCH) // dt.timedelta(microseconds=1))

    @property
    def value(self) -> str:
        return f"{self.break_id}:{self.booked}"


def _listing(session: Session, person: Person, settings: Settings, *, today: dt.date) -> dict[str, object]:
    """What ``my_breaks.json.j2`` shows: breaks from this month on (booked or cancelled), each booked
    one with a Cancel button unless its month is allocated, and the breaks of the last 12 months."""
    this_month = today.replace(day=1)
    rows = session.scalars(
        select(AuditBreak)
        .where(
            AuditBreak.person_id == person.id,
            AuditBreak.month >= add_months(this_month, -12),
            AuditBreak.state.in_([BreakState.APPROVED, BreakState.CANCELLED]),
        )
        .order_by(AuditBreak.month)
    ).all()
    upcoming = [r for r in rows if r.month >= this_month]
    allocated = allocated_months(session, {r.month for r in upcoming if r.state == BreakState.APPROVED})
    return {
        "name": person.display_name,
        "auditor": person.has_role(Role.AUDITOR),
        "upcoming": [
            {
                "month": r.month.isoformat(),
                "state": r.state.value,
                "allocated": r.month in allocated,
                "cancel": BreakRef.of(r).value if r.state == BreakState.APPROVED and r.month not in allocated else None,
            }
            for r in upcoming
        ],
        "recent": [r.month.isoformat() for r in reversed(rows) if r.month < this_month and r.state == BreakState.APPROVED],
        "per_year": settings.max_breaks_per_year,
        "latest": furthest_bookable(today).isoformat(),
        "notice": None,
    }


def my_breaks(
    session: Session, person: Person | None, settings: Settings, *, today: dt.date, now: dt.datetime, actor_ref: str
) -> tuple[Decision, dict[str, object]]:
    """``person``'s own breaks as a ``my_breaks.json.j2`` context (anyone in the programme may look)."""
    decision = check(session, person, Permission.VIEW_OWN_BREAKS, now=now, actor_ref=actor_ref, subject_type="audit_break")
    if not decision.allowed:
        return decision, {}
    assert person is not None
    return decision, _listing(session, person, settings, today=today)


def cancel_break(
    session: Session, person: Person | None, ref: BreakRef, settings: Settings, *, today: dt.date, now: dt.datetime,
    actor_ref: str,
) -> tuple[Decision, dict[str, object]]:
    """Cancel the booking ``ref`` names, if ``person`` may; the listing afterwards, saying what happened.

    Idempotent: a second click (or a replay) changes nothing and is told the break was already
    cancelled. Cancelling tells whoever was told of the break, by editing that notice in place.
    """
    row = session.get(AuditBreak, ref.break_id)
    if row is None:  # the bot never showed this id: logged as such, told as for someone else's break
        decision = refuse(session, person, Permission.CANCEL_BREAK, RefusalCode.NO_SUCH_BREAK, now=now, actor_ref=actor_ref,
                          subject_type="audit_break", told=RefusalCode.NOT_YOUR_BREAK)
        return decision, {}
    decision = check(session, person, Permission.CANCEL_BREAK, now=now, actor_ref=actor_ref, subject_type="audit_break",
                     subject_id=row.id, break_owner_id=row.person_id)
    if not decision.allowed:
        return decision, {}
    assert person is not None
    month_row(session, row.month)  # serialises with requests, allocation and a second click
    session.refresh(row)
    outcome = _cancel(session, person, row, ref, settings, today=today, now=now, actor_ref=actor_ref)
    context = _listing(session, person, settings, today=today)
    context["notice"] = {"kind": outcome.value, "month": row.month.isoformat()}
    return decision, context


def _cancel(
    session: Session, person: Person, row: AuditBreak, ref: BreakRef, settings: Settings, *, today: dt.date,
    now: dt.datetime, actor_ref: str,
) -> CancelOutcome:
    """Cancel ``row`` (locked) if the booking ``ref`` names is still current and its month still open."""
    if row.state != BreakState.APPROVED:
        return CancelOutcome.ALREADY
    if BreakRef.of(row) != ref:
        return CancelOutcome.REBOOKED
    if today >= add_months(row.month, 1):
        outcome = CancelOutcome.OVER
    elif is_allocated(session, row.month):
        outcome = CancelOutcome.ALLOCATED
    else:
        outcome = CancelOutcome.CANCELLED
        row.state = BreakState.CANCELLED
    record(
        session, now=now, action="break.cancel", outcome="ok" if outcome == CancelOutcome.CANCELLED else "refused",
        actor=person, actor_ref=actor_ref, subject_type="audit_break", subject_id=row.id,
        detail={"month": row.month.isoformat(), "reason": None if outcome == CancelOutcome.CANCELLED else outcome.value},
    )
    if outcome == CancelOutcome.CANCELLED:
        _edit_notices(session, row, person, settings, now=now)
    return outcome


def _edit_notices(session: Session, row: AuditBreak, person: Person, settings: Settings, *, now: dt.datetime) -> None:
    """Edit each notice of this break (Head of Service, QA team, every Head of Service at the cap) to
    say it was cancelled; one sent for an earlier booking already says so (same key: nothing new)."""
    told = session.scalars(
        select(Notification).where(
            Notification.idempotency_key.like(f"break:{row.id}:%"),
            Notification.template == Template.BREAK_NOTICE.value,
            Notification.replaces_key.is_(None),
        )
    ).all()
    if not told:
        return
    share = round(settings.max_break_share * 100)
    context = notice_context(person, row.month, breaks_taken(session, row.month), month_limit(session, settings), share,
                             cancelled=True)
    for notice in told:
        enqueue(session, key=f"{notice.idempotency_key}:cancelled", template=Template.BREAK_NOTICE, context=context,
                now=now, recipient_id=notice.recipient_id, replaces_key=notice.idempotency_key)
