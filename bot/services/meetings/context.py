"""What a reflection meeting's messages show, who is in it, and the invites and edits it sends.

Shared by proposing, answering, booking and the planners. Messages carry the case reference,
team and audit type, never a child's details; the place and notes are shown only to the people
in the meeting (the case's circle).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.meetings.invite import Attendee, InviteFacts, build_invite
from bot.services.notices import recent_worker_change
from store.meetings import AnswerKind, InviteeRole, MeetingInvitee, MeetingState, ReflectionMeeting
from store.models import Allocation, Notification, Person, Priority
from store.outbox import enqueue, person_ref

#: The roles whose silence counts as an attempt (Hull A.12: the worker, team manager or IRO).
CHASED = frozenset({InviteeRole.WORKER, InviteeRole.PREVIOUS_WORKER, InviteeRole.TEAM_MANAGER, InviteeRole.IRO})


def auditors_of(allocation: Allocation) -> list[Person]:
    """The allocation's auditor(s), active ones only."""
    return [p for p in (allocation.auditor, allocation.second_auditor) if p is not None and p.active]


def candidates(allocation: Allocation) -> list[tuple[InviteeRole, Person]]:
    """Everyone the meeting is for (Hull A.10; Bradford §2 adds a previous worker), active, once each."""
    case = allocation.case
    found: list[tuple[InviteeRole, Person | None]] = [(InviteeRole.AUDITOR, p) for p in auditors_of(allocation)]
    found.append((InviteeRole.WORKER, case.allocated_worker))
    if recent_worker_change(allocation):
        found.append((InviteeRole.PREVIOUS_WORKER, case.previous_worker))
    found += [(InviteeRole.TEAM_MANAGER, case.team_manager), (InviteeRole.IRO, case.iro)]
    seen: set[int] = set()
    people: list[tuple[InviteeRole, Person]] = []
    for role, person in found:
        if person is not None and person.active and person.id not in seen:
            seen.add(person.id)
            people.append((role, person))
    return people


def attending(meeting: ReflectionMeeting) -> list[MeetingInvitee]:
    """Everyone in the meeting: the proposer and every invitee not left out."""
    return [i for i in meeting.invitees if i.asked and i.person.active]


def asked(meeting: ReflectionMeeting) -> list[MeetingInvitee]:
    """The invitees the times were sent to (everyone attending but the proposer)."""
    return [i for i in attending(meeting) if i.person_id != meeting.proposed_by_id]


def key_people(meeting: ReflectionMeeting) -> set[int]:
    """Whose choice books the meeting: the worker's (Hull A.8), or the auditor's when the worker
    proposed; when the worker is left out (absent), anyone's."""
    proposer = next((i for i in meeting.invitees if i.person_id == meeting.proposed_by_id), None)
    invited = asked(meeting)
    if proposer is not None and proposer.role == InviteeRole.WORKER:
        return {i.person_id for i in invited if i.role == InviteeRole.AUDITOR}
    workers = {i.person_id for i in invited if i.role == InviteeRole.WORKER}
    return workers or {i.person_id for i in invited}


def meeting_context(meeting: ReflectionMeeting, calendar: WorkingCalendar) -> dict[str, Any]:
    """The facts every meeting message shows."""
    allocation = meeting.allocation
    case = allocation.case
    answers = {a.person_id: a for a in meeting.answers if a.round == meeting.round}
    return {
        "meeting_id": meeting.id,
        "allocation_id": allocation.id,
        "reference": case.reference,
        "team": case.team.name,
        "audit_type": allocation.audit_type.value,
        "due_date": allocation.due_date.isoformat(),
        "state": meeting.state.value,
        "round": meeting.round,
        "sequence": meeting.sequence,
        "place": meeting.place,
        "minutes": meeting.minutes,
        "starts_at": meeting.starts_at.isoformat() if meeting.starts_at else None,
        "proposed_by": person_ref(meeting.proposed_by),
        "organiser": person_ref(meeting.organiser),
        "times": [{"id": p.id, "at": p.starts_at.isoformat()} for p in meeting.current_proposals()],
        "people": [
            {"person": person_ref(i.person), "role": i.role.value, "left_out": i.left_out_reason,
             "answer": _answer_words(answers.get(i.person_id), meeting), "proposer": i.person_id == meeting.proposed_by_id}
            for i in meeting.invitees
        ],
    }


def _answer_words(answer: Any, meeting: ReflectionMeeting) -> dict[str, Any] | None:
    """An invitee's answer this round: its kind and the time chosen or suggested."""
    if answer is None:
        return None
    chosen = next((p.starts_at for p in meeting.proposals if p.id == answer.proposal_id), None)
    at = chosen if answer.kind == AnswerKind.ACCEPTED else answer.suggested_at
    return {"kind": answer.kind.value, "at": at.isoformat() if at else None}


def invite_rows(session: Session, meeting: ReflectionMeeting, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """The calendar invite (or its cancellation) to everyone in the meeting, once per sequence."""
    allocation = meeting.allocation
    case = allocation.case
    assert meeting.starts_at is not None
    accepted = {meeting.booked_by_id} if meeting.booked_by_id is not None else set()
    if meeting.sequence == 0:  # the booked time is one of this round's: those who chose it, and the proposer
        chosen = {p.id for p in meeting.current_proposals() if p.starts_at == meeting.starts_at}
        accepted |= {a.person_id for a in meeting.answers
                     if a.round == meeting.round and a.kind == AnswerKind.ACCEPTED and a.proposal_id in chosen}
        accepted.add(meeting.proposed_by_id)
    people = attending(meeting)
    cancelled = meeting.state == MeetingState.CANCELLED
    facts = InviteFacts(
        uid=meeting.uid, sequence=meeting.sequence, reference=case.reference, team=case.team.name,
        audit_type=allocation.audit_type.value.replace("_", "-"), starts_at=meeting.starts_at, minutes=meeting.minutes,
        place=meeting.place, organiser=Attendee(meeting.organiser.email, meeting.organiser.display_name), stamp=now,
        attendees=tuple(Attendee(i.person.email, i.person.display_name, i.person_id in accepted) for i in people),
        cancelled=cancelled,
    )
    content = build_invite(facts, calendar.tz)
    label = "cancelled" if cancelled else (f"update {meeting.sequence}" if meeting.sequence else "invite")
    written = 0
    for invitee in people:
        context = {
            "meeting_id": meeting.id, "sequence": meeting.sequence, "method": "CANCEL" if cancelled else "REQUEST",
            "reference": case.reference, "starts_at": meeting.starts_at.isoformat(), "place": meeting.place,
            "invite": {"filename": f"reflection-meeting-{_safe(case.reference)}.ics",
                       "title": f"Reflection meeting {case.reference} (meeting {meeting.id}, {label})", "content": content},
        }
        written += enqueue(session, key=f"meeting:{meeting.id}:invite:s{meeting.sequence}:{invitee.person_id}",
                           template=Template.MEETING_INVITE, context=context, now=now, recipient_id=invitee.person_id,
                           priority=Priority.NORMAL, not_before=calendar.next_working_moment(now))
    return written


def _safe(reference: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in reference)


def tell(
    session: Session, meeting: ReflectionMeeting, people: Iterable[Person | None], *, kind: str, key: str,
    calendar: WorkingCalendar, now: dt.datetime, extra: dict[str, Any] | None = None,
) -> int:
    """A ``MEETING_NOTICE`` of ``kind`` to each person (once per ``key``), in working hours."""
    facts = meeting_context(meeting, calendar)
    written = 0
    for person in people:
        if person is None or not person.active:
            continue
        written += enqueue(session, key=f"meeting:{meeting.id}:{key}:{person.id}", template=Template.MEETING_NOTICE,
                           context={**facts, **(extra or {}), "kind": kind, "to": person_ref(person)}, now=now,
                           recipient_id=person.id, priority=Priority.NORMAL,
                           not_before=calendar.next_working_moment(now))
    return written


def edit_sent(
    session: Session, meeting: ReflectionMeeting, template: Template, *, suffix: str, calendar: WorkingCalendar,
    now: dt.datetime, prefix: str | None = None, key: str | None = None, extra: dict[str, Any] | None = None,
) -> int:
    """Edit in place the messages of ``template`` sent about the meeting (originals, not edits): the one
    sent under ``key``, or every one whose key starts with ``prefix`` (which ends with ``:``, so person 1's
    prefix is never person 10's)."""
    start = prefix or f"meeting:{meeting.id}:"
    assert start.endswith(":"), "a prefix ends with ':'"
    which = Notification.idempotency_key == key if key else Notification.idempotency_key.startswith(start, autoescape=True)
    facts = meeting_context(meeting, calendar)
    sent = session.scalars(
        select(Notification).where(which, Notification.template == template.value, Notification.replaces_key.is_(None))
    ).all()
    return sum(
        enqueue(session, key=f"{row.idempotency_key}:{suffix}", template=template,
                context={**row.context, **facts, **(extra or {}), "open": False}, now=now, recipient_id=row.recipient_id,
                replaces_key=row.idempotency_key)
        for row in sent
    )


def open_meeting(session: Session, allocation_id: int, *, lock: bool = False) -> ReflectionMeeting | None:
    """The allocation's meeting that is not cancelled (proposed, booked or held), if any."""
    query = select(ReflectionMeeting).where(
        ReflectionMeeting.allocation_id == allocation_id, ReflectionMeeting.state != MeetingState.CANCELLED
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query.order_by(ReflectionMeeting.id.desc())).first()
