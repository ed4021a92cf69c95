"""The kinds of waiting work added to the App Home after the first ones (issue 17's follow-up):
through the real app and the local workspace, each reaches the person its direct message asks,
with the message's button (same action id and value); clicking it on Home does what the
message's button does; the item is gone from the republished Home; nobody else sees it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import ActionId
from bot.services.home import waiting_for
from bot.services.staff.people import group_manager_of
from store.followup import AssuranceCheck, AssuranceState, CycleState, InadequateCycle
from store.meetings import AnswerKind, MeetingAnswer, MeetingInvitee, MeetingState, ReflectionMeeting, ReflectionSheet
from store.models import Allocation, Person
from store.records import AuditQaCheck, AuditRecord, AuditReply, QaCheckState, RecordState
from tests.moderation_fixtures import stored_record
from tests.qa_fixtures import returned_check
from tests.simulation import Simulation
from tests.test_home_waiting import HANA
from tests.test_scenario_exemptions import QUINN, D, allocate_december, with_button
from tests.test_scenario_home import buttons, home, opened, republish, words
from tests.test_scenario_meetings import propose


@dataclass
class Case:
    """One kind's setting: who must act, on what, with which button; and what the click changed."""

    doer: str
    outsider: str
    words: str
    action: str
    value: int
    #: True once the store shows the click's effect.
    done: Callable[[Session], bool]
    #: For buttons that open a modal: what submitting it would store, done straight in the store.
    finish: Callable[[Session], None] | None = None


def _final(session: Session, allocation: Allocation, now: dt.datetime, **columns: object) -> AuditRecord:
    record = stored_record(session, allocation, now=now)
    record.state, record.finalised_at = RecordState.FINALISED, now
    for name, value in columns.items():
        setattr(record, name, value)
    session.flush()
    return record


def _email(session: Session, person_id: int | None) -> str:
    assert person_id is not None
    return session.get_one(Person, person_id).email


def _pending(sim: Simulation, allocation: Allocation, now: dt.datetime,
             make: Callable[[int], AuditQaCheck | AssuranceCheck]) -> tuple[int, str]:
    """A QA decision pending on ``allocation``'s finalised audit: its id, and the auditor's address."""
    with sim.sessions() as session, session.begin():
        row = make(_final(session, session.get_one(Allocation, allocation.id), now).id)
        session.add(row)
        session.flush()
        return row.id, _email(session, allocation.auditor_id)


def qa_check(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    check_id, auditor = _pending(sim, allocation, now,
                                 lambda rid: AuditQaCheck(record_id=rid, state=QaCheckState.PENDING, created_at=now))
    return Case(QUINN, auditor, "QA check: accept or return the audit", ActionId.ACCEPT_AUDIT, check_id,
                lambda s: s.get_one(AuditQaCheck, check_id).state == QaCheckState.ACCEPTED)


def qa_amend(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    with sim.sessions() as session, session.begin():
        check = returned_check(session, session.get_one(Allocation, allocation.id), now=now, amend_due=D(2026, 12, 15))
        check_id, auditor = check.id, _email(session, allocation.auditor_id)

    def amended(s: Session) -> None:
        found = s.get_one(AuditQaCheck, check_id)
        found.state, found.amended_at, found.record.state = QaCheckState.AMENDED, now, RecordState.FINALISED

    return Case(auditor, QUINN, "Audit returned by QA: amend it", ActionId.AMEND_AUDIT, check_id,
                lambda s: bool(sim.workspace.view_stack(auditor)), amended)


def assurance(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    check_id, auditor = _pending(sim, allocation, now, lambda rid: AssuranceCheck(
        month=D(2026, 12, 1), record_id=rid, seed=7, state=AssuranceState.PENDING, created_at=now))
    return Case(QUINN, auditor, "Assurance sample: were the signed-off actions done?", ActionId.ASSURANCE_VERIFIED, check_id,
                lambda s: s.get_one(AssuranceCheck, check_id).state == AssuranceState.VERIFIED)


def reply(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    with sim.sessions() as session, session.begin():
        record = stored_record(session, session.get_one(Allocation, allocation.id), now=now)
        record.reply_closes_on = D(2026, 12, 17)
        record_id, case = record.id, session.get_one(Allocation, allocation.id).case
        worker, auditor = _email(session, case.allocated_worker_id), _email(session, allocation.auditor_id)
    return Case(worker, auditor, "Audit findings: agree, comment or challenge", ActionId.REPLY_AGREE, record_id,
                lambda s: s.scalars(select(AuditReply).where(AuditReply.record_id == record_id)).first() is not None)


def supervision(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    with sim.sessions() as session, session.begin():
        record = _final(session, session.get_one(Allocation, allocation.id), now, oversight_due=D(2026, 12, 24))
        record_id, case = record.id, record.allocation.case
        tm, worker = _email(session, case.team_manager_id), _email(session, case.allocated_worker_id)
    return Case(tm, worker, "Findings to discuss in supervision", ActionId.SUPERVISION_DISCUSSED, record_id,
                lambda s: s.get_one(AuditRecord, record_id).supervision_at is not None)


def _cycle(sim: Simulation, allocation: Allocation, now: dt.datetime, **columns: object) -> tuple[int, str, str, str]:
    """An open Inadequate cycle on ``allocation``'s audit: its id, the group manager's, team manager's and worker's addresses."""
    with sim.sessions() as session, session.begin():
        record = _final(session, session.get_one(Allocation, allocation.id), now)
        case = record.allocation.case
        manager = group_manager_of(session, case)
        assert manager is not None
        cycle = InadequateCycle(case_id=case.id, record_id=record.id, number=1, state=CycleState.MEETING_DUE, opened_at=now,
                                group_manager_id=manager.id, review_due=D(2027, 1, 7), reaudit_latest=D(2027, 2, 10))
        for name, value in columns.items():
            setattr(cycle, name, value)
        session.add(cycle)
        session.flush()
        return cycle.id, manager.email, _email(session, case.team_manager_id), _email(session, case.allocated_worker_id)


def inadequate_meeting(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    cycle_id, manager, tm, _ = _cycle(sim, allocation, now)
    return Case(manager, tm, "Inadequate audit: record the meeting", ActionId.MEETING_HELD, cycle_id,
                lambda s: s.get_one(InadequateCycle, cycle_id).meeting_held_at is not None)


def inadequate_review(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    cycle_id, _, tm, worker = _cycle(sim, allocation, now, state=CycleState.REVIEW_DUE, meeting_held_at=now,
                                     review_due=D(2026, 12, 15))
    return Case(tm, worker, "Inadequate audit: record the four-week review", ActionId.REVIEW_HELD, cycle_id,
                lambda s: s.get_one(InadequateCycle, cycle_id).review_held_at is not None)


def inadequate_hos(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    with sim.sessions() as session:
        hana = session.scalars(select(Person.id).where(Person.email == HANA)).one()
    cycle_id, manager, _, _ = _cycle(sim, allocation, now, number=2, head_of_service_id=hana, meeting_held_at=now)
    return Case(HANA, manager, "Inadequate again: record your meeting (Head of Service)", ActionId.HEAD_OF_SERVICE_MEETING_HELD,
                cycle_id, lambda s: s.get_one(InadequateCycle, cycle_id).head_of_service_meeting_at is not None)


def _proposed(sim: Simulation, allocation: Allocation) -> tuple[int, str, str]:
    """The auditor proposes two times (the real flow): the meeting, the auditor's and the worker's addresses."""
    with sim.sessions() as session:
        auditor = _email(session, allocation.auditor_id)
        worker = _email(session, session.get_one(Allocation, allocation.id).case.allocated_worker_id)
    propose(sim, auditor, with_button(sim, auditor, ActionId.ARRANGE_MEETING), [("2026-12-14", "10:00"), ("2026-12-15", "14:00")])
    sim.step(sim.clock.now)
    with sim.sessions() as session:
        meeting_id = session.scalars(select(ReflectionMeeting.id).where(ReflectionMeeting.allocation_id == allocation.id)).one()
    return meeting_id, auditor, worker


def meeting_book(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    meeting_id, auditor, worker = _proposed(sim, allocation)
    with sim.sessions() as session, session.begin():
        meeting = session.get_one(ReflectionMeeting, meeting_id)
        worker_id = session.scalars(select(Person.id).where(Person.email == worker)).one()
        answer = MeetingAnswer(meeting_id=meeting_id, round=meeting.round, person_id=worker_id, kind=AnswerKind.NONE_WORK,
                               at=sim.clock.now, suggested_at=sim.at(D(2026, 12, 16), 11))
        session.add(answer)
        session.flush()
        answer_id = answer.id
    sim.clock.now = now
    return Case(auditor, worker, "Suggested meeting time to book", ActionId.BOOK_SUGGESTION, answer_id,
                lambda s: s.get_one(ReflectionMeeting, meeting_id).state == MeetingState.BOOKED)


def meeting_resolve(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    meeting_id, auditor, worker = _proposed(sim, allocation)
    with sim.sessions() as session, session.begin():
        hana = session.scalars(select(Person).where(Person.email == HANA)).one()
        invitee = session.scalars(select(MeetingInvitee).join(Person, Person.id == MeetingInvitee.person_id)
                                  .where(MeetingInvitee.meeting_id == meeting_id, Person.email == worker)).one()
        invitee.escalated_at, invitee.escalated_to_id = sim.clock.now, hana.id
        invitee_id = invitee.id
    sim.clock.now = now
    return Case(HANA, auditor, "Unanswered meeting requests to resolve", ActionId.RESOLVE_MEETING, invitee_id,
                lambda s: s.get_one(MeetingInvitee, invitee_id).resolving_at is not None)


def reflection(sim: Simulation, allocation: Allocation, now: dt.datetime) -> Case:
    meeting_id, _, worker = _proposed(sim, allocation)
    with sim.sessions() as session, session.begin():
        meeting = session.get_one(ReflectionMeeting, meeting_id)
        held = sim.at(D(2026, 12, 8), 11)
        meeting.state, meeting.starts_at, meeting.held_at = MeetingState.HELD, held - dt.timedelta(hours=1), held
        tm = _email(session, meeting.allocation.case.team_manager_id)
    sim.clock.now = now

    def answered(s: Session) -> None:
        by = s.scalars(select(Person.id).where(Person.email == worker)).one()
        s.add(ReflectionSheet(allocation_id=allocation.id, meeting_id=meeting_id, answers={"q": "a"}, answered_by_id=by,
                              answered_at=now))

    return Case(worker, tm, "Reflection sheet to fill in", ActionId.ANSWER_REFLECTION, allocation.id,
                lambda s: bool(sim.workspace.view_stack(worker)), answered)


KINDS = [qa_check, qa_amend, assurance, reply, supervision, inadequate_meeting, inadequate_review, inadequate_hos, meeting_book,
         meeting_resolve, reflection]


@pytest.mark.parametrize("setup", KINDS, ids=[k.__name__ for k in KINDS])
def test_each_kind_is_on_the_home_of_the_person_asked_and_goes_once_done_from_there(
    sim: Simulation, setup: Callable[[Simulation, Allocation, dt.datetime], Case]
) -> None:
    allocation = allocate_december(sim)[0]
    sim.at(D(2026, 12, 1), 10)
    now = sim.at(D(2026, 12, 10), 10)
    case = setup(sim, allocation, now)
    button = (case.action, str(case.value))

    view = opened(sim, case.doer)
    assert case.words in words(view)
    assert button in buttons(view), f"the message's button: {button}"
    assert button not in buttons(opened(sim, case.outsider)), "nobody outside the circle"
    assert case.words not in words(home(sim, case.outsider))

    sim.clock.now += dt.timedelta(minutes=5)
    assert sim.workspace.click_view(case.doer, view, case.action, value=str(case.value))["status"] == 200
    with sim.sessions() as session:
        assert case.done(session), "the same handler as the message's button"
    if case.finish is not None:
        with sim.sessions() as session, session.begin():
            case.finish(session)
    republish(sim)
    after = home(sim, case.doer)
    assert button not in buttons(after)
    assert case.words not in words(after)


def _listed(sim: Simulation, email: str, kind: str, now: dt.datetime, *, day_over: bool = False) -> list[int]:
    with sim.sessions() as session:
        who = session.scalars(select(Person).where(Person.email == email)).one()
        return [i.id for i in waiting_for(session, who, now=now, today=now.date(), day_over=day_over) if i.kind == kind]


def test_what_the_handlers_would_refuse_is_not_listed(sim: Simulation) -> None:
    """Never an item whose click would be refused or answered "already done"."""
    allocations = allocate_december(sim)
    sim.at(D(2026, 12, 1), 10)
    now = sim.at(D(2026, 12, 10), 10)

    # QA never checks an audit they did themself.
    check = qa_check(sim, allocations[0], now)
    assert _listed(sim, QUINN, "qa_check", now) == [check.value]
    with sim.sessions() as session, session.begin():
        quinn = session.scalars(select(Person.id).where(Person.email == QUINN)).one()
        session.get_one(Allocation, allocations[0].id).second_auditor_id = quinn
    assert _listed(sim, QUINN, "qa_check", now) == []

    # The reply window closes at the end of working hours on its last day.
    answer = reply(sim, allocations[1], now)
    closes = D(2026, 12, 17)
    assert _listed(sim, answer.doer, "reply", sim.at(closes, 10)) == [answer.value]
    assert _listed(sim, answer.doer, "reply", sim.at(closes, 18), day_over=True) == []
    assert _listed(sim, answer.doer, "reply", sim.at(D(2026, 12, 18), 9)) == []

    # A suggestion from someone whose choice does not book the meeting, or already past, has no Book button.
    sim.clock.now = now
    book = meeting_book(sim, allocations[2], now)
    assert _listed(sim, book.doer, "meeting_book", now) == [book.value]
    assert _listed(sim, book.doer, "meeting_book", sim.at(D(2026, 12, 16), 12)) == []
    sim.clock.now = now
    with sim.sessions() as session, session.begin():
        row = session.get_one(MeetingAnswer, book.value)
        row.person_id = session.get_one(Allocation, allocations[2].id).case.team_manager_id
    assert _listed(sim, book.doer, "meeting_book", now) == []

    # An escalation about a meeting since booked is over.
    resolve = meeting_resolve(sim, allocations[3], now)
    assert _listed(sim, HANA, "meeting_resolve", now) == [resolve.value]
    with sim.sessions() as session, session.begin():
        session.get_one(MeetingInvitee, resolve.value).meeting.state = MeetingState.BOOKED
    assert _listed(sim, HANA, "meeting_resolve", now) == []
