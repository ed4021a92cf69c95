"""Is a queued notice still true when its turn comes? The sender asks just before sending, so a
reminder or overdue notice held back (behind a rate limit, or until working hours) for an audit
completed, exempted, reallocated or extended meanwhile is cancelled, not sent; so is the notice of
an audit break cancelled before it went out."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.ids import Template
from store.models import Allocation, AllocationState, AuditBreak, AuditMonth, BreakState

#: Notices that chase an audit still owed by the auditor named, with the deadline named.
CHASERS = frozenset({Template.REMINDER_AUDITOR, Template.REMINDER_MANAGER, Template.OVERDUE_AUDITOR,
                     Template.OVERDUE_MANAGER})  # fmt: skip


def why_not_true(session: Session, template: str, context: dict[str, Any]) -> str | None:
    """Why the notice is no longer true (to cancel it), or None to send it."""
    if template == Template.BREAK_NOTICE:
        return _break_not_booked(session, context)
    if template not in CHASERS:
        return None
    allocation = session.get(Allocation, context.get("allocation_id"))
    if allocation is None or allocation.state != AllocationState.ALLOCATED:
        return f"the audit is {allocation.state.value if allocation else 'gone'}"
    if allocation.due_date.isoformat() != (context.get("audit") or {}).get("due_date"):
        return f"the deadline moved to {allocation.due_date.isoformat()}"
    auditor = (context.get("auditor") or {}).get("id")
    if auditor not in (allocation.auditor_id, allocation.second_auditor_id):
        return "the audit went to another auditor"
    month = session.get(AuditMonth, allocation.month_id)
    if month is not None and month.paused:
        return "the programme is paused for the month"
    return None


def _break_not_booked(session: Session, context: dict[str, Any]) -> str | None:
    """A booking's notice is untrue once that booking is cancelled (a re-booking is another one)."""
    booking = context.get("booking")
    if context.get("cancelled") or not isinstance(booking, dict):
        return None
    row = session.get(AuditBreak, booking.get("id"))
    if row is None or row.state != BreakState.APPROVED or row.requested_at.isoformat() != booking.get("at"):
        return "the break was cancelled"
    return None
