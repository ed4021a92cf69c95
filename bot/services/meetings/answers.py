"""Answering proposed times, booking, and escalating silence (Hull A.8, A.12).

Each invitee chooses a time or says none works (perhaps suggesting another). The worker's choice
books the meeting (the auditor's when the worker proposed; anyone's when the worker is left out):
every proposal message is edited to say so, and everyone gets the booking and a calendar invite.
The proposer may book a time the worker suggested. After two unanswered proposals the auditor
may escalate to the group manager, once per person, who says they will resolve it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.meetings.arrange import MeetingOutcome, late_context, read_time, when_field
from bot.services.meetings.context import (
    asked,
    attending,
    auditors_of,
    edit_sent,
    invite_rows,
    key_people,
    meeting_context,
    tell,
)
from bot.services.staff.people import group_manager_of
from bot.settings import Settings
from store.audit import record as audit_log
from store.meetings import AnswerKind, MeetingAnswer, MeetingInvitee, MeetingProposal, MeetingState, ReflectionMeeting
from store.models import Person, Priority
from store.outbox import enqueue, person_ref

MAX_NOTE = 300
#: Who an escalation went to when no group manager was found (named in a late click's answer).
NO_GROUP_MANAGER = {"id": 0, "name": "nobody (no group manager was found)"}


def _locked(session: Session, meeting_id: int) -> ReflectionMeeting | None:
    query = select(ReflectionMeeting).where(ReflectionMeeting.id == meeting_id)
    return session.scalar(query.with_for_update().execution_options(populate_existing=True))


def _answerable(
    session: Session, proposal_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str
) -> tuple[MeetingOutcome, ReflectionMeeting | None, MeetingProposal | None]:
    """The proposal's meeting, locked, if this person was asked and it still waits for answers."""
    proposal = session.get(MeetingProposal, proposal_id)
    meeting = _locked(session, proposal.meeting_id) if proposal is not None else None
    if proposal is None or meeting is None:
        decision = refuse(session, person, Permission.ANSWER_MEETING, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                          subject_type="meeting_proposal", subject_id=proposal_id, told=RefusalCode.NOT_INVITED)
        return MeetingOutcome(decision), None, None
    decision = check(session, person, Permission.ANSWER_MEETING, now=now, actor_ref=actor_ref, subject_type="meeting",
                     subject_id=meeting.id, deciders={i.person_id for i in asked(meeting)})
    if not decision.allowed:
        return MeetingOutcome(decision), None, None
    assert person is not None
    if meeting.state != MeetingState.PROPOSED:
        return MeetingOutcome(decision, late=late_context(meeting, meeting.state.value)), None, None
    if proposal.round != meeting.round:
        return MeetingOutcome(decision, late=late_context(meeting, "replaced")), None, None
    answered = _answer_of(meeting, person.id)
    if answered is not None and answered.kind != AnswerKind.NO_ANSWER:
        return MeetingOutcome(decision, late={**late_context(meeting, "answered"), "at": answered.at.isoformat()}), None, None
    return MeetingOutcome(decision), meeting, proposal


#: The two kinds of row a meeting decision is taken on.
_Row = TypeVar("_Row", MeetingAnswer, MeetingInvitee)


def _lookup(
    session: Session, model: type[_Row], row_id: int, person: Person | None,
    permission: Permission, told: RefusalCode, deciders: Callable[[Any, ReflectionMeeting], set[int]], *,
    now: dt.datetime, actor_ref: str, on_row: bool = False,
) -> tuple[Any, ReflectionMeeting | None, MeetingOutcome | None]:
    """A meeting's answer or invitee and its meeting (locked), if ``person`` is one of its ``deciders``;
    else the refusal (logged against the row with ``on_row``, else the meeting; a made-up id as itself)."""
    row = session.get(model, row_id)
    meeting = _locked(session, row.meeting_id) if row is not None else None
    if row is None or meeting is None:
        decision = refuse(session, person, permission, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                          subject_type=model.__tablename__, subject_id=row_id, told=told)
        return None, None, MeetingOutcome(decision)
    subject = ("meeting_invitee", row.id) if on_row else ("meeting", meeting.id)
    decision = check(session, person, permission, now=now, actor_ref=actor_ref, subject_type=subject[0], subject_id=subject[1],
                     deciders=deciders(row, meeting))
    if not decision.allowed:
        return None, None, MeetingOutcome(decision)
    return row, meeting, None


def _answer_of(meeting: ReflectionMeeting, person_id: int) -> MeetingAnswer | None:
    return next((a for a in meeting.answers if a.round == meeting.round and a.person_id == person_id), None)


def _store_answer(session: Session, meeting: ReflectionMeeting, person: Person, kind: AnswerKind, *, now: dt.datetime,
                  proposal_id: int | None = None, suggested_at: dt.datetime | None = None,
                  note: str | None = None) -> None:
    """Record this round's answer (a late answer replaces the attempt its silence counted)."""
    row = _answer_of(meeting, person.id)
    if row is None:
        row = MeetingAnswer(meeting_id=meeting.id, round=meeting.round, person_id=person.id, kind=kind, at=now)
        session.add(row)
    row.kind, row.proposal_id, row.suggested_at, row.note, row.at = kind, proposal_id, suggested_at, note, now
    session.flush()
    session.refresh(meeting)


def choose_time(
    session: Session, proposal_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> MeetingOutcome:
    """An invitee chooses a time; the key person's choice books it."""
    outcome, meeting, proposal = _answerable(session, proposal_id, person, now=now, actor_ref=actor_ref)
    if meeting is None or proposal is None:
        return outcome
    assert person is not None
    if proposal.starts_at <= now:
        outcome.late = late_context(meeting, "passed")
        return outcome
    _store_answer(session, meeting, person, AnswerKind.ACCEPTED, now=now, proposal_id=proposal.id)
    audit_log(session, now=now, action="meeting.answered", actor=person, actor_ref=actor_ref, subject_type="meeting",
              subject_id=meeting.id, detail={"round": meeting.round, "answer": "accepted"})
    if person.id in key_people(meeting):
        book(session, meeting, proposal.starts_at, person, calendar, now=now, actor_ref=actor_ref)
    else:
        edit_sent(session, meeting, Template.MEETING_PROPOSAL, suffix=f"answered{meeting.round}", calendar=calendar, now=now,
                  key=f"meeting:{meeting.id}:r{meeting.round}:ask:{person.id}")
    return outcome


def book(session: Session, meeting: ReflectionMeeting, starts_at: dt.datetime, by: Person, calendar: WorkingCalendar, *,
         now: dt.datetime, actor_ref: str) -> None:
    """Book the meeting: proposals edited, the booking and the invite to everyone in it."""
    meeting.state, meeting.starts_at, meeting.booked_at, meeting.booked_by_id = MeetingState.BOOKED, starts_at, now, by.id
    session.flush()
    audit_log(session, now=now, action="meeting.booked", actor=by, actor_ref=actor_ref, subject_type="meeting",
              subject_id=meeting.id)
    edit_sent(session, meeting, Template.MEETING_PROPOSAL, suffix="booked", calendar=calendar, now=now,
              prefix=f"meeting:{meeting.id}:")
    edit_sent(session, meeting, Template.MEETING_NOTICE, suffix="booked", calendar=calendar, now=now,
              prefix=f"meeting:{meeting.id}:unanswered:", extra={"settled": True})
    facts = meeting_context(meeting, calendar)
    organisers = {p.id for p in auditors_of(meeting.allocation)} | {meeting.proposed_by_id}
    for invitee in attending(meeting):
        enqueue(session, key=f"meeting:{meeting.id}:confirmed:{invitee.person_id}", template=Template.MEETING_CONFIRMED,
                context={**facts, "open": True, "to": person_ref(invitee.person), "booked_by": person_ref(by),
                         "organiser_view": invitee.person_id in organisers},
                now=now, recipient_id=invitee.person_id, priority=Priority.NORMAL,
                not_before=calendar.next_working_moment(now))
    invite_rows(session, meeting, calendar, now=now)


def open_decline(
    session: Session, proposal_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> MeetingOutcome:
    """The None of these work… form, if they may still answer."""
    outcome, meeting, proposal = _answerable(session, proposal_id, person, now=now, actor_ref=actor_ref)
    if meeting is not None and proposal is not None:
        start, end = calendar.working_hours
        latest = (dt.datetime.combine(dt.date.today(), end) - dt.timedelta(minutes=meeting.minutes)).time()
        outcome.form = {**meeting_context(meeting, calendar), "proposal_id": proposal.id, "earliest": start.strftime("%H:%M"),
                        "latest": latest.strftime("%H:%M")}
    return outcome


def decline(
    session: Session, proposal_id: int, person: Person | None, values: Mapping[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> MeetingOutcome:
    """None of these work: recorded, and the proposer told (with the suggested time, if any)."""
    outcome, meeting, proposal = _answerable(session, proposal_id, person, now=now, actor_ref=actor_ref)
    if meeting is None or proposal is None:
        return outcome
    assert person is not None
    errors: dict[str, str] = {}
    suggested, problem = read_time(values, 1, calendar, settings, now=now)
    if problem is not None:
        errors[when_field(1, problem.part)] = problem.words
    note = " ".join(str(values.get("note") or "").split())
    if len(note) > MAX_NOTE:
        errors["note"] = f"The note can be at most {MAX_NOTE} characters."
    elif note:
        unsafe = check_text(session, note, today=calendar.local_date(now), level=settings.privacy_guardrail)
        if unsafe:
            errors["note"] = unsafe
    if errors:
        outcome.errors = errors
        return outcome
    _store_answer(session, meeting, person, AnswerKind.NONE_WORK, now=now, suggested_at=suggested, note=note or None)
    answer = _answer_of(meeting, person.id)
    assert answer is not None
    audit_log(session, now=now, action="meeting.answered", actor=person, actor_ref=actor_ref, subject_type="meeting",
              subject_id=meeting.id,
              detail={"round": meeting.round, "answer": "none_work", "suggested": suggested is not None})
    edit_sent(session, meeting, Template.MEETING_PROPOSAL, suffix=f"answered{meeting.round}", calendar=calendar, now=now,
              key=f"meeting:{meeting.id}:r{meeting.round}:ask:{person.id}")
    bookable = suggested is not None and person.id in key_people(meeting)
    tell(session, meeting, [meeting.proposed_by], kind="none_work", key=f"r{meeting.round}:none:{person.id}", calendar=calendar,
         now=now, extra={"from": person_ref(person), "suggested_at": suggested.isoformat() if suggested else None,
                         "note": note or None, "answer_id": answer.id if bookable else None})
    return outcome


def book_suggestion(
    session: Session, answer_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> MeetingOutcome:
    """The proposer books the time the key person suggested instead."""
    answer, meeting, refused = _lookup(session, MeetingAnswer, answer_id, person, Permission.ARRANGE_MEETING,
                                       RefusalCode.NOT_IN_MEETING, lambda _, m: {m.proposed_by_id}, now=now,
                                       actor_ref=actor_ref)
    if refused is not None:
        return refused
    assert meeting is not None
    decision = Decision(True)
    assert person is not None
    if meeting.state != MeetingState.PROPOSED:
        return MeetingOutcome(decision, late=late_context(meeting, meeting.state.value))
    if answer.round != meeting.round:
        return MeetingOutcome(decision, late=late_context(meeting, "replaced"))
    if answer.suggested_at is None or answer.suggested_at <= now:
        return MeetingOutcome(decision, late=late_context(meeting, "passed"))
    book(session, meeting, answer.suggested_at, person, calendar, now=now, actor_ref=actor_ref)
    return MeetingOutcome(decision)


def escalate(
    session: Session, invitee_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, actor_ref: str,
) -> MeetingOutcome:
    """Escalate someone's unanswered requests to the group manager (Hull A.12), once."""
    invitee, meeting, refused = _lookup(session, MeetingInvitee, invitee_id, person, Permission.ARRANGE_MEETING,
                                        RefusalCode.NOT_IN_MEETING, lambda _, m: {p.id for p in auditors_of(m.allocation)},
                                        now=now, actor_ref=actor_ref)
    if refused is not None:
        return refused
    assert meeting is not None
    decision = Decision(True)
    assert person is not None
    session.refresh(invitee, with_for_update=True)
    if invitee.escalated_at is not None:
        by = session.scalar(select(Person).where(Person.id == invitee.escalated_to_id)) if invitee.escalated_to_id else None
        return MeetingOutcome(decision, late={**late_context(meeting, "escalated"), "at": invitee.escalated_at.isoformat(),
                                              "resolver": person_ref(by) or NO_GROUP_MANAGER})
    if meeting.state != MeetingState.PROPOSED:  # booked, held or cancelled since the offer
        return MeetingOutcome(decision, late=late_context(meeting, meeting.state.value))
    if unanswered(meeting, invitee.person_id) < settings.meeting_attempts:
        return MeetingOutcome(decision, late={**late_context(meeting, "answered_since"), "about": person_ref(invitee.person)})
    manager = group_manager_of(session, meeting.allocation.case)
    invitee.escalated_at, invitee.escalated_to_id = now, manager.id if manager else None
    session.flush()
    audit_log(session, now=now, action="meeting.escalated", actor=person, actor_ref=actor_ref, subject_type="meeting_invitee",
              subject_id=invitee.id, detail={"to": manager.id if manager else None})
    attempts = unanswered(meeting, invitee.person_id)
    extra = {"about": person_ref(invitee.person), "about_role": invitee.role.value, "attempts": attempts,
             "invitee_id": invitee.id, "by": person_ref(person), "open": True}
    if manager is not None:
        facts = meeting_context(meeting, calendar)
        enqueue(session, key=f"meeting:{meeting.id}:escalation:{invitee.id}", template=Template.MEETING_ESCALATION,
                context={**facts, **extra, "to": person_ref(manager)}, now=now, recipient_id=manager.id,
                priority=Priority.NORMAL, not_before=calendar.next_working_moment(now))
    edit_sent(session, meeting, Template.MEETING_NOTICE, suffix="escalated", calendar=calendar, now=now,
              prefix=f"meeting:{meeting.id}:unanswered:{invitee.person_id}:",
              extra={"escalated_to": person_ref(manager), "escalated": True})
    return MeetingOutcome(decision)


def resolve(
    session: Session, invitee_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> MeetingOutcome:
    """The group manager takes the escalation on: the auditor is told, the message edited."""
    invitee, meeting, refused = _lookup(session, MeetingInvitee, invitee_id, person, Permission.RESOLVE_MEETING,
                                        RefusalCode.NOT_ASKED_TO_RESOLVE, lambda i, _: {i.escalated_to_id} - {None}, now=now,
                                        actor_ref=actor_ref, on_row=True)
    if refused is not None:
        return refused
    assert meeting is not None
    decision = Decision(True)
    assert person is not None
    session.refresh(invitee, with_for_update=True)
    if invitee.resolving_at is not None:
        return MeetingOutcome(decision, late={**late_context(meeting, "resolving"), "at": invitee.resolving_at.isoformat(),
                                              "by": person_ref(person)})
    invitee.resolving_at = now
    session.flush()
    audit_log(session, now=now, action="meeting.resolving", actor=person, actor_ref=actor_ref, subject_type="meeting_invitee",
              subject_id=invitee.id)
    edit_sent(session, meeting, Template.MEETING_ESCALATION, suffix="resolving", calendar=calendar, now=now,
              key=f"meeting:{meeting.id}:escalation:{invitee.id}", extra={"resolving_at": now.isoformat()})
    tell(session, meeting, auditors_of(meeting.allocation), kind="resolving", key=f"resolving:{invitee.id}", calendar=calendar,
         now=now, extra={"about": person_ref(invitee.person), "by": person_ref(person)})
    return MeetingOutcome(decision)


def unanswered(meeting: ReflectionMeeting, person_id: int) -> int:
    """How many of the meeting's proposals this person left unanswered (attempts, Hull A.12)."""
    return sum(1 for a in meeting.answers if a.person_id == person_id and a.kind == AnswerKind.NO_ANSWER)
