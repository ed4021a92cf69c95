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

from sqlalchemy import select

from bot.ids import ActionId
from bot.services.replies.lifecycle import finalise
from store.models import Allocation, AuditType, Case, Notification, Person, Role, Service
from store.records import AuditAction, AuditRecord, CycleState, InadequateCycle
from tests.allocation_fixtures import Council
from tests.moderation_fixtures import stored_record
from tests.simulation import Simulation, emails, settings, sim, workspace  # noqa: F401
from tests.test_scenario_exemptions import with_button

D = dt.date
SID = "sid.manager@council.example"  # the team manager's line manager: the group manager
TARA = "tara.teamlead@council.example"
HELEN = "helen.head@council.example"  # Head of Service of Assessment and Intervention (added here)


def email(sim: Simulation, person_id: int) -> str:
    with sim.sessions() as session:
        return session.get_one(Person, person_id).email


def inadequate_final(sim: Simulation, day: dt.date = D(2026, 3, 10)) -> tuple[int, int]:
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
                                          due_date=D(2026, 4, 1), created_at=sim.clock.now))  # fmt: skip
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


def test_an_inadequate_final_opens_a_cycle_reminds_the_group_manager_and_allocates_the_reaudit_in_april(
    sim: Simulation,
) -> None:
    record_id, _ = inadequate_final(sim)
    sim.step(sim.at(D(2026, 3, 10), 12))

    [cycle] = cycles(sim)
    assert (cycle.number, cycle.state, cycle.review_due, cycle.reaudit_latest) == (
        1, CycleState.MEETING_DUE, D(2026, 4, 7), D(2026, 5, 10))  # fmt: skip
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
            AuditType.RE_AUDIT, D(2026, 4, 1), D(2026, 4, 30), cycle.id)  # fmt: skip
        assert reaudit.auditor_id != first.auditor_id
        auditor = reaudit.auditor.email
        told = session.scalars(select(Notification.idempotency_key).where(Notification.recipient_id == reaudit.auditor_id)).all()
        assert f"alloc:{reaudit.id}:auditor:{reaudit.auditor_id}" in told
    assert any("CMS-100" in t for t in texts(sim, auditor))

    # the review: reminded on the day, recorded by the team manager
    sim.step(sim.at(D(2026, 4, 7), 9))
    review = with_button(sim, TARA, ActionId.REVIEW_HELD, "is due today")
    sim.workspace.click(TARA, review, ActionId.REVIEW_HELD)
    assert cycles(sim)[0].state == CycleState.REAUDIT_DUE
