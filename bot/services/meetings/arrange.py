"""Proposing times for the reflection meeting (Hull A.10-A.11), moving and cancelling it.

The auditor proposes two or three times to the worker, team manager and IRO (and a previous
worker after a recent change of worker, Bradford §2), each of whom may be left out with a reason;
the worker may propose instead. Times are on working days, in working hours, not on bank holidays
and not past. Proposing again starts a new round on the same meeting (the old times are edited
away). Moving and cancelling a meeting are in ``changes.py``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.meetings.context import (
    asked,
    auditors_of,
    candidates,
    edit_sent,
    meeting_context,
    open_meeting,
)
from bot.settings import Settings
from store.audit import record as audit_log
from store.meetings import InviteeRole, MeetingInvitee, MeetingProposal, MeetingState, ReflectionMeeting
from store.models import Allocation, AllocationState, Person, Priority
from store.outbox import enqueue, person_ref

#: Two or three times (Hull gives no number; the issue asks for two or three).
MIN_TIMES, MAX_TIMES = 2, 3
MAX_PLACE = 200
#: Why someone asked in an earlier round is not asked again (they left, or the case changed hands).
NO_LONGER_ON_THE_CASE = "no longer on the case"
MAX_REASON = 200


def when_field(n: int, part: str) -> str:
    """The block id of the n-th time's ``day`` or ``time`` picker."""
    return f"{part}_{n}"


def leave_out_field(role: InviteeRole) -> str:
    """The block id of the reason for leaving someone out."""
    return f"leave_out_{role.value}"


#: Every input block id of the propose, move and decline forms beyond ``FormBlock`` (for checks).
FORM_FIELDS = frozenset(
    {when_field(n, part) for n in range(1, MAX_TIMES + 1) for part in ("day", "time")}
    | {leave_out_field(role) for role in InviteeRole if role != InviteeRole.AUDITOR}
)


@dataclass
class MeetingOutcome:
    """Refused; already done (``late``: what to tell); field errors; or done (``form`` for a modal to open)."""

    decision: Decision
    late: dict[str, Any] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    form: dict[str, Any] | None = None


def _allocation(session: Session, allocation_id: int, *, lock: bool) -> Allocation | None:
    query = select(Allocation).where(Allocation.id == allocation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalar(query)


def arrangers(allocation: Allocation) -> set[int]:
    """Who may arrange the meeting: the auditor(s) and the case's worker (Hull A.10-11)."""
    ids = {p.id for p in auditors_of(allocation)}
    if allocation.case.allocated_worker_id is not None:
        ids.add(allocation.case.allocated_worker_id)
    return ids


def late_context(meeting: ReflectionMeeting, why: str, **extra: Any) -> dict[str, Any]:
    """What a late click is told about the meeting."""
    at = meeting.cancelled_at if why == "cancelled" else None
    by = meeting.cancelled_by_id if why == "cancelled" else None
    return {"what": "meeting", "why": why, "reference": meeting.allocation.case.reference,
            "starts_at": meeting.starts_at.isoformat() if meeting.starts_at else None,
            "at": at.isoformat() if at else None, "by": {"id": by, "name": ""} if by else None, **extra}


def _closed(allocation: Allocation) -> dict[str, Any]:
    return {"what": "meeting", "why": "closed", "reference": allocation.case.reference, "at": None}


def _start(
    session: Session, allocation_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str, lock: bool
) -> tuple[MeetingOutcome, Allocation | None]:
    """Who may arrange, and whether there is still a meeting to arrange."""
    allocation = _allocation(session, allocation_id, lock=lock)
    if allocation is None:
        decision = refuse(session, person, Permission.ARRANGE_MEETING, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                          subject_type="allocation", subject_id=allocation_id, told=RefusalCode.NOT_IN_MEETING)
        return MeetingOutcome(decision), None
    decision = check(session, person, Permission.ARRANGE_MEETING, now=now, actor_ref=actor_ref, subject_type="allocation",
                     subject_id=allocation.id, deciders=arrangers(allocation))
    if not decision.allowed:
        return MeetingOutcome(decision), None
    if allocation.state != AllocationState.ALLOCATED:
        return MeetingOutcome(decision, late=_closed(allocation)), None
    return MeetingOutcome(decision), allocation


def open_form(
    session: Session, allocation_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, actor_ref: str,
) -> MeetingOutcome:
    """The propose form for this person, unless refused or the meeting is already booked."""
    outcome, allocation = _start(session, allocation_id, person, now=now, actor_ref=actor_ref, lock=False)
    if allocation is None:
        return outcome
    assert person is not None
    meeting = open_meeting(session, allocation.id)
    if meeting is not None and meeting.state != MeetingState.PROPOSED:
        outcome.late = late_context(meeting, meeting.state.value)
        return outcome
    outcome.form = _form_context(allocation, person, settings, calendar, meeting=meeting)
    return outcome


def _form_context(allocation: Allocation, person: Person, settings: Settings, calendar: WorkingCalendar, *,
                  meeting: ReflectionMeeting | None) -> dict[str, Any]:
    start, end = calendar.working_hours
    latest = (dt.datetime.combine(dt.date.today(), end) - dt.timedelta(minutes=settings.meeting_minutes)).time()
    others = [(role, p) for role, p in candidates(allocation) if p.id != person.id]
    kept = {i.person_id: i.left_out_reason for i in meeting.invitees} if meeting else {}
    return {
        "mode": "propose", "allocation_id": allocation.id, "reference": allocation.case.reference,
        "team": allocation.case.team.name, "audit_type": allocation.audit_type.value, "due_date": allocation.due_date.isoformat(),
        "minutes": settings.meeting_minutes, "earliest": start.strftime("%H:%M"), "latest": latest.strftime("%H:%M"),
        "round": meeting.round if meeting else 0, "place": meeting.place if meeting else "",
        "invitees": [{"role": role.value, "person": person_ref(p), "field": leave_out_field(role),
                      "may_leave_out": role != InviteeRole.AUDITOR, "reason": kept.get(p.id) or ""} for role, p in others],
    }


@dataclass(frozen=True)
class TimeProblem:
    """Why a proposed time cannot be used, and which picker (``day`` or ``time``) to say it under."""

    part: str
    words: str


def check_time(
    day: dt.date | None, at: str, calendar: WorkingCalendar, settings: Settings, *, now: dt.datetime
) -> tuple[dt.datetime | None, TimeProblem | None]:
    """A proposed local date and ``HH:MM`` as UTC, or why it cannot be proposed."""
    if day is None or not at:
        return None, TimeProblem("day" if day is None else "time", "Give a date and a time.")
    try:
        local = dt.time.fromisoformat(at)
    except ValueError:
        return None, TimeProblem("time", "Give the time as HH:MM.")
    holiday = calendar.holiday_name(day)
    if holiday is not None and not calendar.is_working_day(day):
        return None, TimeProblem("day", f"{day:%A} {day.day} {day:%B %Y} is {holiday}, a bank holiday: choose a working day.")
    if not calendar.is_working_day(day):
        return None, TimeProblem("day", f"{day:%A} {day.day} {day:%B %Y} is not a working day.")
    start, end = calendar.working_hours
    finish = (dt.datetime.combine(day, local) + dt.timedelta(minutes=settings.meeting_minutes)).time()
    if local < start or finish > end or finish < local:
        latest = (dt.datetime.combine(day, end) - dt.timedelta(minutes=settings.meeting_minutes)).time()
        return None, TimeProblem("time", f"Choose a time in working hours, between {start:%H:%M} and {latest:%H:%M} "
                                         f"(the meeting lasts {settings.meeting_minutes} minutes).")
    moment = calendar.utc(day, local)
    if moment <= now:
        return None, TimeProblem("time", "That time has passed: choose a later one.")
    return moment, None


def read_time(
    values: Mapping[str, Any], n: int, calendar: WorkingCalendar, settings: Settings, *, now: dt.datetime
) -> tuple[dt.datetime | None, TimeProblem | None]:
    """The n-th date and time picked in a form (None, None when both were left empty)."""
    day_text, at = str(values.get(when_field(n, "day")) or ""), str(values.get(when_field(n, "time")) or "")
    if not day_text and not at:
        return None, None
    try:
        day = dt.date.fromisoformat(day_text) if day_text else None
    except ValueError:
        day = None
    return check_time(day, at, calendar, settings, now=now)


def _times(values: Mapping[str, Any], calendar: WorkingCalendar, settings: Settings, now: dt.datetime,
           errors: dict[str, str]) -> list[dt.datetime]:
    chosen: list[dt.datetime] = []
    for n in range(1, MAX_TIMES + 1):
        moment, problem = read_time(values, n, calendar, settings, now=now)
        if problem is not None:
            errors[when_field(n, problem.part)] = problem.words
        elif moment is None:
            if n <= MIN_TIMES:
                errors[when_field(n, "day")] = f"Propose at least {MIN_TIMES} times."
        elif moment in chosen:
            errors[when_field(n, "time")] = "This is the same as another time: propose different times."
        else:
            chosen.append(moment)
    return chosen


def typed_text(session: Session, text: str, limit: int, what: str, settings: Settings, today: dt.date) -> tuple[str, str | None]:
    text = " ".join(text.split())
    if len(text) > limit:
        return text, f"{what} can be at most {limit} characters."
    return text, (check_text(session, text, today=today, level=settings.privacy_guardrail) if text else None)


def propose(
    session: Session, allocation_id: int, person: Person | None, values: Mapping[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str, expected_round: int | None = None,
) -> MeetingOutcome:
    """Propose two or three times (a new meeting, or a new round of the open one) to the others.

    ``expected_round``: the round the form was opened on (0: no meeting yet); someone else's times
    proposed meanwhile are not silently replaced."""
    outcome, allocation = _start(session, allocation_id, person, now=now, actor_ref=actor_ref, lock=True)
    if allocation is None:
        return outcome
    assert person is not None
    meeting = open_meeting(session, allocation.id, lock=True)
    if meeting is not None and meeting.state != MeetingState.PROPOSED:
        outcome.late = late_context(meeting, meeting.state.value)
        return outcome
    if meeting is not None and expected_round is not None and meeting.round != expected_round:
        outcome.late = {**late_context(meeting, "raced"), "by": person_ref(meeting.proposed_by)}
        return outcome
    today = calendar.local_date(now)
    errors: dict[str, str] = {}
    times = _times(values, calendar, settings, now, errors)
    place, problem = typed_text(session, str(values.get("place") or ""), MAX_PLACE, "The place", settings, today)
    if not place:
        errors["place"] = "Say where: a room, or a call link."
    elif problem:
        errors["place"] = problem
    left_out: dict[int, str] = {}
    people = [(role, p) for role, p in candidates(allocation) if p.id != person.id]
    for role, invitee in people:
        if role == InviteeRole.AUDITOR:
            continue
        reason, problem = typed_text(session, str(values.get(leave_out_field(role)) or ""), MAX_REASON, "The reason",
                                     settings, today)
        if problem:
            errors[leave_out_field(role)] = problem
        elif reason:
            left_out[invitee.id] = reason
    if not people:
        errors["place"] = "There is nobody else on this case to meet: tell the QA team the case's worker and team manager."
    elif all(p.id in left_out for _, p in people):
        errors[leave_out_field(people[0][0])] = "Invite at least one person."
    if errors:
        outcome.errors = errors
        return outcome
    proposer_role = next((role for role, p in candidates(allocation) if p.id == person.id), InviteeRole.WORKER)
    if meeting is None:
        meeting = ReflectionMeeting(
            allocation_id=allocation.id, uid=f"{uuid.uuid4()}@auditbot", sequence=0, state=MeetingState.PROPOSED,
            proposed_by_id=person.id, organiser_id=(auditors_of(allocation) or [allocation.auditor])[0].id, place=place,
            minutes=settings.meeting_minutes, round=1, round_sent_at=now, created_at=now,
        )
        session.add(meeting)
        session.flush()
    else:
        edit_sent(session, meeting, Template.MEETING_PROPOSAL, suffix=f"replaced{meeting.round + 1}", calendar=calendar,
                  now=now, prefix=f"meeting:{meeting.id}:r{meeting.round}:")
        meeting.round += 1
        meeting.round_sent_at, meeting.place, meeting.proposed_by_id = now, place, person.id
    _set_invitees(session, meeting, [(proposer_role, person), *people], left_out)
    for moment in times:
        session.add(MeetingProposal(meeting_id=meeting.id, round=meeting.round, starts_at=moment))
    session.flush()
    session.refresh(meeting)
    audit_log(session, now=now, action="meeting.proposed", actor=person, actor_ref=actor_ref, subject_type="meeting",
              subject_id=meeting.id, detail={"round": meeting.round, "times": len(times), "left_out": len(left_out)})
    _ask(session, meeting, calendar, now=now)
    return outcome


def _set_invitees(session: Session, meeting: ReflectionMeeting, people: list[tuple[InviteeRole, Person]],
                  left_out: dict[int, str]) -> None:
    """The people of this round: asked, or left out with a reason; anyone no longer on the case is left out."""
    current = {i.person_id: i for i in meeting.invitees}
    for role, person in people:
        row = current.pop(person.id, None)
        if row is None:
            session.add(MeetingInvitee(meeting_id=meeting.id, person_id=person.id, role=role,
                                       left_out_reason=left_out.get(person.id)))
        else:
            row.role, row.left_out_reason = role, left_out.get(person.id)
    for gone in current.values():
        gone.left_out_reason = NO_LONGER_ON_THE_CASE
    session.flush()


def _ask(session: Session, meeting: ReflectionMeeting, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """The times to each invitee: one button per time and None of these work…."""
    facts = meeting_context(meeting, calendar)
    written = 0
    for invitee in asked(meeting):
        written += enqueue(session, key=f"meeting:{meeting.id}:r{meeting.round}:ask:{invitee.person_id}",
                           template=Template.MEETING_PROPOSAL, context={**facts, "open": True, "to": person_ref(invitee.person),
                                                                          "role": invitee.role.value},
                           now=now, recipient_id=invitee.person_id, priority=Priority.NORMAL,
                           not_before=calendar.next_working_moment(now))
    return written
