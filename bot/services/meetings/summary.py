"""The month's reflection meetings, counted for the report (shared/domain.md step 12): never a
name, a case reference or an answer's text.

Counted over the allocations of the month: meetings booked (ever: booked, held, or cancelled
after booking), held, and cancelled; invitees escalated to a group manager (Hull A.12); audits
recorded without a meeting (with the auditor's reason); reflection sheets answered, and how many
answered each question.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.services.meetings.reflection import questions
from store.meetings import MeetingInvitee, MeetingState, ReflectionMeeting, ReflectionSheet
from store.models import Allocation
from store.records import AuditRecord


@dataclass(frozen=True)
class MeetingSummary:
    """Counts for the allocations of ``month``."""

    month: dt.date
    allocations: int
    booked: int
    held: int
    cancelled: int
    escalated: int
    without_meeting: int
    sheets: int
    #: Question key → how many sheets answered it: the current questions in order, then any key
    #: only old sheets have (a question since removed).
    answered: dict[str, int]


def month_summary(session: Session, month: dt.date) -> MeetingSummary:
    """The counts for the allocations of ``month`` (any day of it)."""
    month = month.replace(day=1)
    of_month = select(Allocation.id).where(Allocation.month_start == month)
    allocations = session.scalar(select(func.count()).select_from(of_month.subquery())) or 0
    meetings = session.execute(
        select(ReflectionMeeting.state, ReflectionMeeting.booked_at).where(ReflectionMeeting.allocation_id.in_(of_month))
    ).all()
    escalated = session.scalar(
        select(func.count(MeetingInvitee.id))
        .join(ReflectionMeeting, ReflectionMeeting.id == MeetingInvitee.meeting_id)
        .where(ReflectionMeeting.allocation_id.in_(of_month), MeetingInvitee.escalated_at.is_not(None))
    ) or 0
    without = session.scalar(
        select(func.count(AuditRecord.id))
        .where(AuditRecord.allocation_id.in_(of_month), AuditRecord.no_meeting_reason.is_not(None))
    ) or 0
    sheets = session.scalars(select(ReflectionSheet.answers).where(ReflectionSheet.allocation_id.in_(of_month))).all()
    answered = {q.key: 0 for q in questions()}
    for answers in sheets:
        for key, text in sorted((answers or {}).items()):
            if isinstance(text, str) and text.strip():
                answered[key] = answered.get(key, 0) + 1
    return MeetingSummary(
        month=month, allocations=allocations,
        booked=sum(1 for _, booked_at in meetings if booked_at is not None),
        held=sum(1 for state, _ in meetings if state == MeetingState.HELD),
        cancelled=sum(1 for state, _ in meetings if state == MeetingState.CANCELLED),
        escalated=escalated, without_meeting=without, sheets=len(sheets), answered=answered,
    )
