"""The reflection meeting's planners a tick runs: count unanswered proposals as attempts (Hull
A.12) and tell the auditor, offering escalation after the last; nudge the auditor and worker when
nothing is arranged some working days after allocation (Hull A.10-11); remind everyone the working
day before; and once a booked meeting has ended, mark it held and send the reflection sheet.

Keys carry the attempt's number, the meeting's SEQUENCE or the allocation, so a tick that runs
twice, or late, plans each message once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, String, cast, exists, literal, select
from sqlalchemy.orm import QueryableAttribute, Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.meetings.answers import unanswered
from bot.services.meetings.changes import call_off
from bot.services.meetings.context import CHASED, asked, attending, auditors_of, tell
from bot.services.meetings.reflection import send_sheet
from bot.services.planning import Planner, TickContext, When
from bot.settings import Settings
from store.meetings import AnswerKind, InviteeRole, MeetingAnswer, MeetingProposal, MeetingState, ReflectionMeeting
from store.models import Allocation, AllocationState, AuditMonth, Case, Notification, Priority
from store.outbox import enqueue, person_ref


def answer_deadline(meeting: ReflectionMeeting, settings: Settings, calendar: WorkingCalendar) -> dt.datetime:
    """The end of working hours on the last working day to answer the current round."""
    last = calendar.add_working_days(calendar.local_date(meeting.round_sent_at), settings.meeting_answer_working_days)
    return calendar.utc(last, calendar.working_hours[1])


def plan_unanswered(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Record each silence past the deadline as an attempt and tell the auditor(s), offering escalation after
    the last (Hull A.12); when the worker proposed and the auditor is silent, remind the auditor and tell the worker."""
    written = 0
    proposed = session.scalars(
        select(ReflectionMeeting).join(Allocation, Allocation.id == ReflectionMeeting.allocation_id)
        .where(ReflectionMeeting.state == MeetingState.PROPOSED, Allocation.state == AllocationState.ALLOCATED)
    ).all()
    for meeting in proposed:
        if now < answer_deadline(meeting, settings, calendar):
            continue
        answered = {a.person_id for a in meeting.answers if a.round == meeting.round}
        for invitee in asked(meeting):
            if invitee.person_id in answered or (invitee.role not in CHASED and invitee.role != InviteeRole.AUDITOR):
                continue
            session.add(MeetingAnswer(meeting_id=meeting.id, round=meeting.round, person_id=invitee.person_id,
                                      kind=AnswerKind.NO_ANSWER, at=now))
            session.flush()
            session.refresh(meeting)
            attempts = unanswered(meeting, invitee.person_id)
            about = {"about": person_ref(invitee.person), "about_role": invitee.role.value, "attempts": attempts, "open": True}
            key = f"unanswered:{invitee.person_id}:{attempts}"
            if invitee.role == InviteeRole.AUDITOR:  # the worker proposed (Hull A.11)
                written += tell(session, meeting, [invitee.person], kind="answer_due", key=key, calendar=calendar, now=now,
                                extra=about)
                written += tell(session, meeting, [meeting.proposed_by], kind="auditor_silent", key=key, calendar=calendar,
                                now=now, extra=about)
                continue
            offer = attempts >= settings.meeting_attempts and invitee.escalated_at is None
            written += tell(session, meeting, auditors_of(meeting.allocation), kind="unanswered", key=key, calendar=calendar,
                            now=now, extra={**about, "needed": settings.meeting_attempts,
                                            "invitee_id": invitee.id if offer else None})
    return written


#: A nudge's idempotency key: this, then ``<allocation id>:<person id>``.
NUDGE_KEY = "meeting:nudge:"


def _nudged(person_id: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """The allocation's nudge to ``person_id`` is queued (its key as ``plan_nudges`` writes it)."""
    key = literal(NUDGE_KEY) + cast(Allocation.id, String) + literal(":") + cast(person_id, String)
    return exists().where(Notification.idempotency_key == key)


def plan_nudges(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Nothing arranged N working days after allocation: nudge the auditor, tell the worker they may get in touch."""
    today = calendar.local_date(now)
    # booked or held; or proposed with a time still to come (a proposal whose times all passed arranges nothing)
    booked = exists().where(ReflectionMeeting.allocation_id == Allocation.id,
                            ReflectionMeeting.state.in_((MeetingState.BOOKED, MeetingState.HELD)))
    pending = (
        exists().where(ReflectionMeeting.allocation_id == Allocation.id, ReflectionMeeting.state == MeetingState.PROPOSED,
                       MeetingProposal.meeting_id == ReflectionMeeting.id, MeetingProposal.round == ReflectionMeeting.round,
                       MeetingProposal.starts_at > now)
    )
    arranged = booked | pending
    # everyone it names now was nudged already: not loaded again on every tick (a new co-auditor or worker still is)
    nudged = (
        _nudged(Allocation.auditor_id)
        & (Allocation.second_auditor_id.is_(None) | _nudged(Allocation.second_auditor_id))
        & (Case.allocated_worker_id.is_(None) | _nudged(Case.allocated_worker_id))
    )
    due = session.scalars(
        select(Allocation)
        .join(AuditMonth, AuditMonth.id == Allocation.month_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(Allocation.state == AllocationState.ALLOCATED, Allocation.due_date >= today, AuditMonth.paused.is_(False),
               Allocation.created_at <= now - dt.timedelta(days=settings.meeting_nudge_working_days), ~arranged, ~nudged)
    ).all()
    written = 0
    for allocation in due:
        if calendar.add_working_days(calendar.local_date(allocation.created_at), settings.meeting_nudge_working_days) > today:
            continue
        case = allocation.case
        facts = {"allocation_id": allocation.id, "reference": case.reference, "team": case.team.name,
                 "audit_type": allocation.audit_type.value, "due_date": allocation.due_date.isoformat(),
                 "worker": person_ref(case.allocated_worker), "auditor": person_ref(allocation.auditor),
                 "days": settings.meeting_nudge_working_days, "open": True}
        people = [("nudge_auditor", p) for p in auditors_of(allocation)]
        if case.allocated_worker is not None and case.allocated_worker.active:
            people.append(("nudge_worker", case.allocated_worker))
        for kind, person in people:
            written += enqueue(session, key=f"{NUDGE_KEY}{allocation.id}:{person.id}", template=Template.MEETING_NOTICE,
                               context={**facts, "kind": kind, "to": person_ref(person)}, now=now, recipient_id=person.id,
                               priority=Priority.NORMAL, not_before=calendar.next_working_moment(now))
    return written


def plan_reminders(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """The working day before a booked meeting, everyone in it is reminded (unless it was booked that day or later)."""
    today = calendar.local_date(now)
    written = 0
    booked = session.scalars(
        select(ReflectionMeeting).where(ReflectionMeeting.state == MeetingState.BOOKED, ReflectionMeeting.starts_at > now)
    ).all()
    for meeting in booked:
        assert meeting.starts_at is not None and meeting.booked_at is not None
        day = calendar.local_date(meeting.starts_at)
        remind_on = calendar.add_working_days(day, -1)
        if remind_on <= today < day and calendar.local_date(meeting.booked_at) < remind_on:
            written += tell(session, meeting, [i.person for i in attending(meeting)], kind="reminder",
                            key=f"reminder:s{meeting.sequence}", calendar=calendar, now=now, extra={"open": True})
    return written


def plan_held(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """A booked meeting whose end has passed is held: the worker (and the auditor) get the reflection sheet."""
    written = 0
    ended = session.scalars(
        select(ReflectionMeeting).where(ReflectionMeeting.state == MeetingState.BOOKED, ReflectionMeeting.starts_at <= now)
    ).all()
    for meeting in ended:
        assert meeting.ends_at is not None
        if meeting.ends_at > now:
            continue
        meeting.state, meeting.held_at = MeetingState.HELD, meeting.ends_at
        session.flush()
        written += send_sheet(session, meeting, calendar, now=now)
    return written


def plan_stale(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Call off the meetings whose audit went to another auditor, or was exempted or cancelled."""
    stale = session.scalars(
        select(ReflectionMeeting).join(Allocation, Allocation.id == ReflectionMeeting.allocation_id).where(
            ReflectionMeeting.state.in_((MeetingState.PROPOSED, MeetingState.BOOKED)),
            (Allocation.state.in_((AllocationState.EXEMPTED, AllocationState.CANCELLED)))
            | ((ReflectionMeeting.organiser_id != Allocation.auditor_id)
               & ((Allocation.second_auditor_id.is_(None)) | (ReflectionMeeting.organiser_id != Allocation.second_auditor_id))),
        ).with_for_update(of=ReflectionMeeting)
    ).all()
    for meeting in stale:
        call_off(session, meeting, None, calendar, now=now, actor_ref="scheduler")
    return len(stale)


def _stale(session: Session, ctx: TickContext) -> int:
    return plan_stale(session, ctx.settings, ctx.calendar, now=ctx.now)


def _unanswered(session: Session, ctx: TickContext) -> int:
    return plan_unanswered(session, ctx.settings, ctx.calendar, now=ctx.now)


def _nudges(session: Session, ctx: TickContext) -> int:
    return plan_nudges(session, ctx.settings, ctx.calendar, now=ctx.now)


def _reminders(session: Session, ctx: TickContext) -> int:
    return plan_reminders(session, ctx.settings, ctx.calendar, now=ctx.now)


def _held(session: Session, ctx: TickContext) -> int:
    return plan_held(session, ctx.settings, ctx.calendar, now=ctx.now)


PLANNERS = (
    Planner("stale meetings", _stale, "reminders", When.WORKING_HOURS),
    Planner("meeting answers", _unanswered, "reminders", When.WORKING_HOURS),
    Planner("meeting nudges", _nudges, "reminders", When.CYCLE),
    Planner("meeting reminders", _reminders, "reminders", When.WORKING_HOURS),
    Planner("meetings held", _held, "reminders", When.WORKING_HOURS),
)
