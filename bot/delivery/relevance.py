"""Is a queued notice still true when its turn comes? The sender asks just before sending, so a
reminder or overdue notice held back (behind a rate limit, or until working hours) for an audit
completed, exempted, reallocated or extended meanwhile is cancelled, not sent; so is the notice of
an audit break cancelled before it went out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from store.meetings import MeetingAnswer, MeetingState, ReflectionMeeting
from store.models import Allocation, AllocationState, AuditBreak, AuditMonth, BreakState

#: Notices that chase an audit still owed by the auditor named, with the deadline named.
CHASERS = frozenset({Template.REMINDER_AUDITOR, Template.REMINDER_MANAGER, Template.OVERDUE_AUDITOR,
                     Template.OVERDUE_MANAGER})


#: A reflection meeting's messages that ask or tell something that may stop being true.
MEETING_NOTICES = frozenset({Template.MEETING_PROPOSAL, Template.MEETING_INVITE, Template.MEETING_NOTICE,
                             Template.MEETING_ESCALATION})


#: Notices about a round's silences, and every notice that asks about a round's times.
SILENCES = frozenset({"unanswered", "answer_due", "auditor_silent"})
ASKING = SILENCES | {"none_work"}


def why_not_true(session: Session, template: str, context: dict[str, Any]) -> str | None:
    """Why the notice is no longer true (to cancel it), or None to send it."""
    if template == Template.BREAK_NOTICE:
        return _break_not_booked(session, context)
    if template in MEETING_NOTICES:
        return _meeting_moved_on(session, template, context)
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


def _meeting_moved_on(session: Session, template: str, context: dict[str, Any]) -> str | None:
    """Times replaced or booked, an invite superseded by a move, a nudge after all, a reminder for another time.

    Edits (``open`` false) always go: they correct what was sent."""
    if context.get("open") is False:
        return None
    if context.get("kind") in ("nudge_auditor", "nudge_worker"):
        allocation = session.get(Allocation, context.get("allocation_id"))
        arranged = session.scalar(select(ReflectionMeeting.id).where(
            ReflectionMeeting.allocation_id == context.get("allocation_id"), ReflectionMeeting.state != MeetingState.CANCELLED))
        if allocation is None or allocation.state != AllocationState.ALLOCATED or arranged is not None:
            return "the meeting was arranged, or the audit is no longer open"
        return None
    meeting = session.get(ReflectionMeeting, context.get("meeting_id"))
    if meeting is None:
        return "the meeting is gone"
    if template == Template.MEETING_INVITE:
        return None if meeting.sequence == context.get("sequence") else "the meeting moved or was cancelled since"
    if template == Template.MEETING_ESCALATION:
        return None if meeting.state == MeetingState.PROPOSED else "the meeting was booked or cancelled since"
    if template == Template.MEETING_PROPOSAL or context.get("kind") in ASKING:
        if meeting.state != MeetingState.PROPOSED or meeting.round != context.get("round"):
            return "the times were answered, replaced or cancelled"
        if context.get("kind") in SILENCES:
            about = (context.get("about") or {}).get("id")
            answer = session.scalar(select(MeetingAnswer.kind).where(
                MeetingAnswer.meeting_id == meeting.id, MeetingAnswer.round == meeting.round, MeetingAnswer.person_id == about))
            if answer is not None and answer != "no_answer":
                return "they have answered since"
        return None
    moved = meeting.state != MeetingState.BOOKED or meeting.sequence != context.get("sequence")
    if context.get("kind") == "reminder" and moved:
        return "the meeting moved or was cancelled since"
    return None
