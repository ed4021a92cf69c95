"""Inadequate follow-up (issue 15; Hull 25-26): an Inadequate final on Tue 10 Mar 2026 opens a
cycle: the group manager, team manager and worker are told to meet (the group manager reminded
every five working days until **Meeting held**); the review is due Tue 7 Apr (**Review held**,
noticed beforehand and reminded on the day); the re-audit is allocated in the April allocation,
due by 30 Apr (no later than 10 May), to another auditor. The re-audit's form asks whether each
of the previous audit's actions worked. Graded Requires Improvement, it closes the cycle; graded
Inadequate, it opens cycle 2 with the Head of Service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from bot.ids import ActionId
from bot.services.replies.lifecycle import finalise
from store.followup import CycleState, InadequateCycle
from store.models import Allocation, AuditType, Case, Notification, Person, Role, Service
from store.records import AuditAction, AuditRecord
from tests.allocation_fixtures import Council
from tests.moderation_fixtures import stored_record
from tests.recording import BRADFORD_GRADES, NO_ACTIONS, record_audit, submit
from tests.simulation import WEEKS, Simulation
from tests.test_scenario_exemptions import with_button

D = dt.date
SID = "sid.manager@council.example"  # the team manager's line manager: the group manager
TARA = "tara.teamlead@council.example"
HELEN = "helen.head@council.example"  # Head of Service of Assessment and Intervention (added here)


def email(sim: Simulation, person_id: int) -> str:
    with sim.sessions() as session:
        return session.get_one(Person, person_id).email


FINAL_ON = D(2026, 3, 10)


def inadequate_final(sim: Simulation, day: dt.date = FINAL_ON) -> tuple[int, int]:
    """CMS-100 audited in March by Sue Manager, Inadequate with one action, final on ``day`` at 11:00;
    a Head of Service for its service. The record's and the action's ids."""
    sim.at(day, 11)
    sim.workspace.add_user(HELEN, "Helen Head")
    with sim.sessions() as session, session.begin():
        council = Council(session)
        ai = session.scalars(select(Service).where(Service.name == "Assessment and Intervention")).one()
        council.person("Helen Head", Role.HEAD_OF_SERVICE, service=ai)
        case = session.scalars(select(Case).where(Case.reference == "CMS-100")).one()
        sue = session.scalars(select(Person).where(Person.display_name == "Sue Manager")).one()
        allocation = council.allocation(case, sue, day)
        record = stored_record(session, allocation, now=sim.clock.now, overall="inadequate")
        record.actions.append(AuditAction(text="Update the chronology", owner_id=case.allocated_worker_id,
                                          due_date=D(2026, 4, 1), created_at=sim.clock.now))
        session.flush()
        finalise(session, record, sim.runtime.settings, sim.calendar, now=sim.clock.now)
        return record.id, record.actions[0].id


def cycles(sim: Simulation) -> list[InadequateCycle]:
    with sim.sessions() as session:
        return list(session.scalars(select(InadequateCycle).order_by(InadequateCycle.id)))


def texts(sim: Simulation, address: str, start: str = "") -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=address) if m["text"].startswith(start) and not m["ephemeral"]]


def current(sim: Simulation, address: str, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in sim.workspace.messages(user_email=address) if m["ts"] == message["ts"])


@WEEKS
def test_an_inadequate_final_opens_a_cycle_reminds_the_group_manager_and_allocates_the_reaudit_in_april(
    sim: Simulation,
) -> None:
    record_id, _ = inadequate_final(sim)
    sim.step(sim.at(D(2026, 3, 10), 12))

    [cycle] = cycles(sim)
    assert (cycle.number, cycle.state, cycle.review_due, cycle.reaudit_latest) == (
        1, CycleState.MEETING_DUE, D(2026, 4, 7), D(2026, 5, 10))
    assert cycle.head_of_service_id is None
    with sim.sessions() as session:
        worker = session.get_one(AuditRecord, record_id).allocation.case.allocated_worker.email
    for address in (SID, TARA, worker):
        assert texts(sim, address, "Inadequate follow-up: case CMS-100 was audited as Inadequate") != []
    assert texts(sim, HELEN) == []
    opening = with_button(sim, SID, ActionId.MEETING_HELD)

    # reminded every five working days until the meeting is recorded: Tue 17 and Tue 24 March
    sim.run(D(2026, 3, 11), D(2026, 3, 26), every=dt.timedelta(hours=3))
    reminders = [r.day for r in sim.received if r.email == SID and r.kind.startswith("Reminder: record the meeting")]
    assert reminders == [D(2026, 3, 17), D(2026, 3, 24)]
    sim.at(D(2026, 3, 26), 10)
    sim.workspace.click(SID, opening, ActionId.MEETING_HELD)
    sim.workspace.click(SID, opening, ActionId.MEETING_HELD)  # a double click, before the message is edited
    assert texts(sim, SID)[-1] != ""
    late = [m["text"] for m in sim.workspace.messages(user_email=SID) if m["ephemeral"]]
    assert late and late[-1].startswith("The meeting after the Inadequate audit of CMS-100 was already recorded by Sid Manager")
    sim.step(sim.clock.now)
    edited = current(sim, SID, opening)
    assert "Meeting held, recorded by" in str(edited["blocks"]) and ActionId.MEETING_HELD not in str(edited["blocks"])
    assert cycles(sim)[0].state == CycleState.REVIEW_DUE
    assert cycles(sim)[0].meeting_held_at == sim.calendar.utc(D(2026, 3, 26), dt.time(10, 0))

    # no more meeting reminders; the review is noticed 5 working days before (Good Friday and
    # Easter Monday fall between); the April allocation on Wed 1 April takes the re-audit
    sim.run(D(2026, 3, 26), D(2026, 4, 2), every=dt.timedelta(hours=3))
    assert [r.day for r in sim.received if r.email == SID and r.kind.startswith("Reminder: record the meeting")] == reminders
    assert [r.day for r in sim.received if r.email == TARA and r.kind.startswith("The four-week review")] == [D(2026, 3, 27)]
    [cycle] = cycles(sim)
    with sim.sessions() as session:
        reaudit = session.get_one(Allocation, cycle.reaudit_allocation_id)
        first = session.get_one(AuditRecord, record_id).allocation
        assert (reaudit.audit_type, reaudit.month_start, reaudit.due_date, reaudit.cycle_id) == (
            AuditType.RE_AUDIT, D(2026, 4, 1), D(2026, 4, 30), cycle.id)
        assert reaudit.auditor_id != first.auditor_id
        auditor = reaudit.auditor.email
        told = session.scalars(select(Notification.idempotency_key).where(Notification.recipient_id == reaudit.auditor_id)).all()
        assert f"alloc:{reaudit.id}:auditor:{reaudit.auditor_id}" in told
    assert any("CMS-100" in t for t in texts(sim, auditor))
    assert "Re-audit allocated to" in str(current(sim, SID, opening)["blocks"])  # the follow-up message says so

    # the review: reminded on the day, recorded by the team manager
    sim.step(sim.at(D(2026, 4, 7), 9))
    review = with_button(sim, TARA, ActionId.REVIEW_HELD, "is due today")
    sim.workspace.click(TARA, review, ActionId.REVIEW_HELD)
    assert cycles(sim)[0].state == CycleState.REAUDIT_DUE


def reaudited(sim: Simulation, overall: str) -> tuple[int, int, str]:
    """The Inadequate final on 10 March, its re-audit allocated on 1 April and recorded on 20 April
    through the form (graded ``overall``; the previous action judged partly fixed), and final on
    5 May. The first cycle's id, the previous action's id and the re-auditor's email."""
    _, action_id = inadequate_final(sim)
    sim.step(sim.at(D(2026, 3, 10), 12))
    sim.step(sim.at(D(2026, 4, 1), 9))
    [cycle] = cycles(sim)
    with sim.sessions() as session:
        auditor = session.get_one(Allocation, cycle.reaudit_allocation_id).auditor.email
    sim.at(D(2026, 4, 20), 10)
    grades = {**BRADFORD_GRADES, "overall": overall}
    answer = record_audit(sim, auditor, with_button(sim, auditor, ActionId.RECORD_AUDIT, "CMS-100"), grades=grades,
                          actions=NO_ACTIONS)
    assert answer["body"]["response_action"] == "errors"  # the previous action is not judged yet
    assert answer["body"]["errors"] == {f"outcome:{action_id}": "Say whether this action fixed what it was for."}
    assert submit(sim, auditor, {**NO_ACTIONS, f"outcome:{action_id}": "partly"})["body"] == {"response_action": "clear"}
    sim.at(D(2026, 5, 5), 10)
    with sim.sessions() as session, session.begin():
        record = session.scalars(select(AuditRecord).where(AuditRecord.allocation_id == cycle.reaudit_allocation_id)).one()
        finalise(session, record, sim.runtime.settings, sim.calendar, now=sim.clock.now)
    sim.step(sim.at(D(2026, 5, 5), 11))
    return cycle.id, action_id, auditor


def test_the_reaudit_form_asks_whether_each_action_worked_and_requires_improvement_closes_the_cycle(sim: Simulation) -> None:
    cycle_id, action_id, auditor = reaudited(sim, "requires_improvement")

    [cycle] = cycles(sim)
    assert (cycle.id, cycle.state) == (cycle_id, CycleState.CLOSED)
    with sim.sessions() as session:
        action = session.get_one(AuditAction, action_id)
        reaudit = session.scalars(select(AuditRecord).where(AuditRecord.allocation_id == cycle.reaudit_allocation_id)).one()
        assert (action.outcome, action.outcome_record_id) == ("partly", reaudit.id)
        assert action.outcome_at == sim.calendar.utc(D(2026, 4, 20), dt.time(10, 0))
        worker = reaudit.allocation.case.allocated_worker.email
    for address in (SID, TARA, worker, auditor):
        assert texts(sim, address, "Inadequate follow-up closed: the re-audit of case CMS-100 is no longer Inadequate.") != []


def test_an_inadequate_reaudit_brings_in_the_head_of_service_and_opens_cycle_2(sim: Simulation) -> None:
    cycle_id, _, _ = reaudited(sim, "inadequate")

    first, second = cycles(sim)
    assert (first.id, first.state) == (cycle_id, CycleState.CONTINUED)
    assert (second.number, second.state, second.review_due, second.reaudit_latest) == (
        2, CycleState.MEETING_DUE, D(2026, 6, 2), D(2026, 7, 5))
    with sim.sessions() as session:
        assert session.get_one(Person, second.head_of_service_id).email == HELEN
    assert texts(sim, HELEN, "Inadequate follow-up: case CMS-100 is Inadequate again") != []
    assert texts(sim, SID, "Inadequate follow-up: case CMS-100 is Inadequate again") != []
    meeting = with_button(sim, HELEN, ActionId.HEAD_OF_SERVICE_MEETING_HELD)
    sim.workspace.click(HELEN, meeting, ActionId.HEAD_OF_SERVICE_MEETING_HELD)
    assert cycles(sim)[1].head_of_service_meeting_at == sim.clock.now
    sim.step(sim.clock.now)
    assert ActionId.HEAD_OF_SERVICE_MEETING_HELD not in str(current(sim, HELEN, meeting)["blocks"])

    # cycle 2's re-audit goes into June's allocation (the month after the re-audit was final)
    sim.step(sim.at(D(2026, 6, 1), 9))
    with sim.sessions() as session:
        reaudit = session.get_one(Allocation, cycles(sim)[1].reaudit_allocation_id)
        assert (reaudit.month_start, reaudit.due_date, reaudit.audit_type) == (D(2026, 6, 1), D(2026, 6, 30), AuditType.RE_AUDIT)


def test_a_final_that_is_not_inadequate_opens_nothing(sim: Simulation) -> None:
    sim.at(FINAL_ON, 11)
    with sim.sessions() as session, session.begin():
        case = session.scalars(select(Case).where(Case.reference == "CMS-100")).one()
        sue = session.scalars(select(Person).where(Person.display_name == "Sue Manager")).one()
        record = stored_record(session, Council(session).allocation(case, sue, FINAL_ON), now=sim.clock.now,
                               overall="requires_improvement")
        finalise(session, record, sim.runtime.settings, sim.calendar, now=sim.clock.now)
    sim.step(sim.at(FINAL_ON, 12))
    sim.step(sim.at(D(2026, 4, 1), 9))
    assert cycles(sim) == []
    assert texts(sim, SID, "Inadequate follow-up") == []


def test_a_reaudit_nobody_may_do_is_told_to_the_qa_team_once_and_logged_once(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.services.allocation import reaudit
    from store.models import AuditLog

    monkeypatch.setattr(reaudit, "choose_reauditor", lambda *args, **kwargs: None)
    inadequate_final(sim)
    sim.step(sim.at(D(2026, 3, 10), 12))
    for hour in (9, 10, 11):  # April's first working day: tried at every tick
        sim.step(sim.at(D(2026, 4, 1), hour))
    sim.step(sim.at(D(2026, 4, 2), 9))
    told = [t for t in texts(sim, "quinn.qa@council.example")
            if t.startswith("The re-audit of case CMS-100 could not be allocated")]
    assert told == ["The re-audit of case CMS-100 could not be allocated for April 2026: no auditor may audit it."]
    with sim.sessions() as session:
        logged = session.scalars(select(AuditLog).where(AuditLog.action == "allocation.reaudit")).all()
        assert [e.outcome for e in logged] == ["no_auditor"]
