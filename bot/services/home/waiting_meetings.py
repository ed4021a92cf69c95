"""What waits for someone about a reflection meeting, besides answering proposed times: an
escalation to resolve (the group manager), a suggested time to book (the proposer), and the
reflection sheet after a held meeting (the worker or an auditor).

Each kind is one query filtered on the person, and lists exactly what the direct message's
handler would still accept.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.services.home.items import WaitingItem, required
from store.meetings import (
    AnswerKind,
    InviteeRole,
    MeetingAnswer,
    MeetingInvitee,
    MeetingState,
    ReflectionMeeting,
    ReflectionSheet,
)
from store.models import Allocation, Case, Person


def escalations(session: Session, person_id: int) -> list[WaitingItem]:
    """Unanswered meeting requests escalated to the person (a group manager) that they have not
    taken on yet, while the meeting is still to be arranged."""
    about = aliased(Person)
    rows = session.execute(
        select(MeetingInvitee.id, MeetingInvitee.escalated_at, Case.reference, about.display_name)
        .join(ReflectionMeeting, ReflectionMeeting.id == MeetingInvitee.meeting_id)
        .join(Allocation, Allocation.id == ReflectionMeeting.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(about, about.id == MeetingInvitee.person_id)
        .where(MeetingInvitee.escalated_to_id == person_id, MeetingInvitee.resolving_at.is_(None),
               MeetingInvitee.escalated_at.is_not(None), ReflectionMeeting.state == MeetingState.PROPOSED)
    ).all()
    return [WaitingItem("meeting_resolve", iid, required(at), ref, f"{name} has not answered") for iid, at, ref, name in rows]


def suggestions(session: Session, person_id: int, now: dt.datetime) -> list[WaitingItem]:
    """Times suggested instead (None of these work) to the person who proposed this round, still
    ahead, from a key person whose choice books the meeting (``meetings.context.key_people``): the
    auditor when the worker proposed; else the worker, or anyone asked when no worker is."""
    answerer, proposer, worker = aliased(MeetingInvitee), aliased(MeetingInvitee), aliased(MeetingInvitee)
    worker_asked = exists().where(worker.meeting_id == ReflectionMeeting.id, worker.role == InviteeRole.WORKER,
                                  worker.left_out_reason.is_(None),
                                  worker.person_id != ReflectionMeeting.proposed_by_id)
    by_worker = proposer.role == InviteeRole.WORKER
    key = or_(and_(by_worker, answerer.role == InviteeRole.AUDITOR),
              and_(or_(proposer.id.is_(None), ~by_worker), or_(answerer.role == InviteeRole.WORKER, ~worker_asked)))
    rows = session.execute(
        select(MeetingAnswer.id, MeetingAnswer.at, MeetingAnswer.suggested_at, Case.reference, Person.display_name)
        .join(ReflectionMeeting, ReflectionMeeting.id == MeetingAnswer.meeting_id)
        .join(answerer, and_(answerer.meeting_id == ReflectionMeeting.id, answerer.person_id == MeetingAnswer.person_id))
        .outerjoin(proposer, and_(proposer.meeting_id == ReflectionMeeting.id,
                                  proposer.person_id == ReflectionMeeting.proposed_by_id))
        .join(Allocation, Allocation.id == ReflectionMeeting.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(Person, Person.id == MeetingAnswer.person_id)
        .where(ReflectionMeeting.proposed_by_id == person_id, ReflectionMeeting.state == MeetingState.PROPOSED,
               MeetingAnswer.round == ReflectionMeeting.round, MeetingAnswer.kind == AnswerKind.NONE_WORK,
               MeetingAnswer.suggested_at > now, answerer.left_out_reason.is_(None), key)
    ).all()
    return [WaitingItem("meeting_book", aid, at, ref, name, suggested=suggested)
            for aid, at, suggested, ref, name in rows]


def reflection_sheets(session: Session, person_id: int) -> list[WaitingItem]:
    """Allocations with a held reflection meeting and no sheet answered yet, for the case's worker
    and the allocation's auditors (``authz`` REFLECT)."""
    answered = exists().where(ReflectionSheet.allocation_id == Allocation.id)
    rows = session.execute(
        select(Allocation.id, func.max(ReflectionMeeting.held_at), Case.reference)
        .join(ReflectionMeeting, ReflectionMeeting.allocation_id == Allocation.id)
        .join(Case, Case.id == Allocation.case_id)
        .where(ReflectionMeeting.state == MeetingState.HELD, ~answered,
               or_(Case.allocated_worker_id == person_id, Allocation.auditor_id == person_id,
                   Allocation.second_auditor_id == person_id))
        .group_by(Allocation.id, Case.reference)
    ).all()
    return [WaitingItem("reflection", aid, held or dt.datetime.min.replace(tzinfo=dt.UTC), ref) for aid, held, ref in rows]
