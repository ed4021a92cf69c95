"""``/audit complete CASE-REF``: the auditor or the QA team records an audit as done from chat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from store.models import Allocation, AllocationState, AuditLog, Person
from tests.simulation import Simulation

D = dt.date
QUINN, STRANGER = "quinn.qa@council.example", "will.b1@council.example"


def command(sim: Simulation, email: str, text: str) -> str:
    answer = sim.workspace.slash_command(email, "/audit", text)
    assert answer["status"] == 200 and answer["body"]["response_type"] == "ephemeral"
    return str(answer["body"]["text"])


def test_the_qa_team_completes_an_audit_by_case_reference(sim: Simulation) -> None:
    sim.step(sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session:
        allocation = session.scalars(select(Allocation).order_by(Allocation.id)).first()
        assert allocation is not None
        allocation_id, reference, auditor = allocation.id, allocation.case.reference, allocation.auditor.email
    sim.at(D(2027, 1, 5), 10)

    assert command(sim, QUINN, f"complete {reference.lower()}") == f"Audit of case {reference} marked complete by Quinn Qa."
    with sim.sessions() as session:
        done = session.get(Allocation, allocation_id)
        assert done is not None and done.state == AllocationState.COMPLETED
        assert session.get(Person, done.completed_by_id).email == QUINN  # type: ignore[union-attr]
    again = sim.workspace.slash_command(auditor, "/audit", f"complete {reference}")["body"]
    assert "It had already been marked complete." in str(again["blocks"])
    assert "5 days after the deadline" in str(again["blocks"])


def test_strangers_and_unknown_cases_get_a_clear_answer(sim: Simulation) -> None:
    sim.step(sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session:
        allocation = session.scalars(select(Allocation).order_by(Allocation.id)).first()
        assert allocation is not None
        allocation_id, reference = allocation.id, allocation.case.reference
        assert STRANGER not in (allocation.auditor.email, allocation.case.allocated_worker.email)

    refused = command(sim, STRANGER, f"complete {reference}")
    assert refused.startswith("Only ")
    assert command(sim, QUINN, "complete CMS-999").startswith("I can't find an audit of that case.")
    assert command(sim, QUINN, "complete").startswith("I can't find an audit of that case.")
    with sim.sessions() as session:
        allocation = session.get(Allocation, allocation_id)
        assert allocation is not None and allocation.state == AllocationState.ALLOCATED
        refused = session.scalars(select(AuditLog).where(AuditLog.outcome == "refused").order_by(AuditLog.id))
        assert [(e.action, e.detail["reason"]) for e in refused] == [
            ("complete_audit", "not_your_audit"), ("complete_audit", "no_such_audit"), ("complete_audit", "no_such_audit")
        ]
