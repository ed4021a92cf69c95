"""Moving a booked reflection meeting to one new time (the same calendar UID, SEQUENCE + 1) and
cancelling it (METHOD:CANCEL): everyone in it gets the updated invite and their booking edited.
The auditor(s) or whoever proposed the times may do either; the bot calls a meeting off when its
audit goes to another auditor or closes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Permission, RefusalCode, check, refuse
from bot.services.meetings.arrange import MAX_PLACE, MeetingOutcome, late_context, read_time, typed_text, when_field
from bot.services.meetings.context import asked, auditors_of, edit_sent, invite_rows, meeting_context, tell
from bot.settings import Settings
from store.audit import record as audit_log
from store.meetings import MeetingState, ReflectionMeeting
from store.models import Person
from store.outbox import person_ref


def _booked_meeting(
    session: Session, meeting_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str
) -> tuple[MeetingOutcome, ReflectionMeeting | None]:
    """A meeting the person may move or cancel (its auditor(s) or proposer), locked."""
    query = select(ReflectionMeeting).where(ReflectionMeeting.id == meeting_id)
    meeting = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    if meeting is None:
        decision = refuse(session, person, Permission.ARRANGE_MEETING, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                          subject_type="meeting", subject_id=meeting_id, told=RefusalCode.NOT_IN_MEETING)
        return MeetingOutcome(decision), None
    deciders = {p.id for p in auditors_of(meeting.allocation)} | {meeting.proposed_by_id}
    decision = check(session, person, Permission.ARRANGE_MEETING, now=now, actor_ref=actor_ref, subject_type="meeting",
                     subject_id=meeting.id, deciders=deciders)
    if not decision.allowed:
        return MeetingOutcome(decision), None
    if meeting.state == MeetingState.CANCELLED:
        return MeetingOutcome(decision, late=late_context(meeting, "cancelled")), None
    if meeting.state == MeetingState.HELD or (meeting.starts_at is not None and meeting.starts_at <= now):
        return MeetingOutcome(decision, late=late_context(meeting, "held")), None
    return MeetingOutcome(decision), meeting


def open_move_form(
    session: Session, meeting_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, actor_ref: str,
) -> MeetingOutcome:
    """The move form: one new time and the place."""
    outcome, meeting = _booked_meeting(session, meeting_id, person, now=now, actor_ref=actor_ref)
    if meeting is None:
        return outcome
    start, end = calendar.working_hours
    latest = (dt.datetime.combine(dt.date.today(), end) - dt.timedelta(minutes=meeting.minutes)).time()
    outcome.form = {**meeting_context(meeting, calendar), "mode": "move", "earliest": start.strftime("%H:%M"),
                    "latest": latest.strftime("%H:%M"), "invitees": []}
    return outcome


def move(
    session: Session, meeting_id: int, person: Person | None, values: Mapping[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> MeetingOutcome:
    """Move a booked meeting to one new time: same UID, SEQUENCE + 1, everyone's booking edited and re-invited."""
    outcome, meeting = _booked_meeting(session, meeting_id, person, now=now, actor_ref=actor_ref)
    if meeting is None:
        return outcome
    assert person is not None
    if meeting.state != MeetingState.BOOKED:  # still proposed: propose other times instead
        outcome.late = late_context(meeting, "replaced")
        return outcome
    errors: dict[str, str] = {}
    moment, problem = read_time(values, 1, calendar, settings, now=now)
    if problem is not None:
        errors[when_field(1, problem.part)] = problem.words
    elif moment is None:
        errors[when_field(1, "day")] = "Give a date and a time."
    elif moment == meeting.starts_at:
        errors[when_field(1, "time")] = "The meeting is already at this time."
    place, unsafe = typed_text(session, str(values.get("place") or meeting.place), MAX_PLACE, "The place", settings,
                               calendar.local_date(now))
    if unsafe or not place:
        errors["place"] = unsafe or "Say where: a room, or a call link."
    if errors:
        outcome.errors = errors
        return outcome
    assert moment is not None
    meeting.starts_at, meeting.place, meeting.sequence = moment, place, meeting.sequence + 1
    meeting.booked_at, meeting.booked_by_id = now, person.id
    session.flush()
    audit_log(session, now=now, action="meeting.moved", actor=person, actor_ref=actor_ref, subject_type="meeting",
              subject_id=meeting.id, detail={"sequence": meeting.sequence})
    edit_sent(session, meeting, Template.MEETING_CONFIRMED, suffix=f"s{meeting.sequence}", calendar=calendar, now=now,
              prefix=f"meeting:{meeting.id}:confirmed:")
    invite_rows(session, meeting, calendar, now=now)
    return outcome


def cancel(
    session: Session, meeting_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> MeetingOutcome:
    """Cancel the meeting (its auditor or proposer)."""
    outcome, meeting = _booked_meeting(session, meeting_id, person, now=now, actor_ref=actor_ref)
    if meeting is None:
        return outcome
    assert person is not None
    call_off(session, meeting, person, calendar, now=now, actor_ref=actor_ref)
    return outcome


def call_off(session: Session, meeting: ReflectionMeeting, person: Person | None, calendar: WorkingCalendar, *,
             now: dt.datetime, actor_ref: str) -> None:
    """Proposals edited away, bookings edited, a METHOD:CANCEL invite to everyone once booked.

    ``person`` None: the bot calls it off, because the audit went to another auditor or closed."""
    was_booked = meeting.state == MeetingState.BOOKED
    meeting.state, meeting.cancelled_at, meeting.cancelled_by_id = MeetingState.CANCELLED, now, person.id if person else None
    if was_booked:
        meeting.sequence += 1
    session.flush()
    audit_log(session, now=now, action="meeting.cancelled", actor=person, actor_ref=actor_ref, subject_type="meeting",
              subject_id=meeting.id)
    extra = {"cancelled_by": person_ref(person)}
    edit_sent(session, meeting, Template.MEETING_PROPOSAL, suffix="cancelled", calendar=calendar, now=now,
              prefix=f"meeting:{meeting.id}:", extra=extra)
    if was_booked:
        edit_sent(session, meeting, Template.MEETING_CONFIRMED, suffix="cancelled", calendar=calendar, now=now,
                  prefix=f"meeting:{meeting.id}:confirmed:", extra=extra)
        invite_rows(session, meeting, calendar, now=now)
    else:
        tell(session, meeting, [i.person for i in asked(meeting)], kind="withdrawn", key="withdrawn", calendar=calendar,
             now=now, extra=extra)
