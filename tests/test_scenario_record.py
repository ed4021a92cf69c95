"""Recording the audit in chat (issue 13): the three-step form from the allocation message or
``/audit record``, the scheme's rules as field errors, the draft kept when the form is closed,
and on submission the audit done on time, the chasers stopped and the findings sent to the
worker, team manager and IRO — never to a channel."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from bot.ids import ActionId
from bot.workspace.forms import input_values
from store.models import Allocation, AllocationState, Notification, Person
from store.records import AuditDraft, AuditRecord, GradeStage
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, deliver, email_of, with_button

BRADFORD_SECTIONS = ("risk_and_need", "assessments", "plans_and_reviews", "voice_of_the_child", "family_engagement",
                     "partner_collaboration", "management_oversight", "records", "impact")  # fmt: skip


def top(sim: Simulation, email: str) -> dict[str, Any]:
    stack = sim.workspace.view_stack(email)
    assert stack, f"{email} has no modal open"
    return stack[-1]


def submit(sim: Simulation, email: str, typed: dict[str, str]) -> dict[str, Any]:
    """Fill the modal on top with ``typed`` (field → words or value) and submit it."""
    view = top(sim, email)
    return sim.workspace.submit_view(email, view, input_values(view, typed, sim.workspace.member_id))


def open_form(sim: Simulation, allocation: Allocation) -> str:
    x = email_of(sim, allocation.auditor_id)
    sim.workspace.click(x, with_button(sim, x, ActionId.RECORD_AUDIT), ActionId.RECORD_AUDIT)
    return x


def grades(sections: dict[str, str], overall: str, **more: str) -> dict[str, str]:
    return {**{f"section:{k}": v for k, v in sections.items()}, "overall": overall, "rationale": "Plans are clear.", **more}


FINDINGS = {"seen": "worker, team_manager", "family_sought": "yes", "family_by": "parent", "family_view": "mixed",
            "child_feedback": "yes", "flags": "organisational_learning"}  # fmt: skip


def owner_id(sim: Simulation, email: str) -> str:
    with sim.sessions() as session:
        return str(session.scalars(select(Person.id).where(Person.email == email)).one())


def record_id(sim: Simulation, allocation: Allocation) -> AuditRecord | None:
    with sim.sessions() as session:
        return session.scalar(select(AuditRecord).where(AuditRecord.allocation_id == allocation.id))


def case_people(sim: Simulation, allocation: Allocation) -> dict[str, str]:
    with sim.sessions() as session:
        row = session.get(Allocation, allocation.id)
        assert row is not None
        return {"worker": row.case.allocated_worker.email, "tm": row.case.team_manager.email, "ref": row.case.reference}


def test_bradford_rule_of_thumb_needs_a_reason_and_a_good_overall_is_accepted(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    assert top(sim, x)["title"]["text"] == "Record the audit (1/3)"
    eight_good = {k: "Good" for k in BRADFORD_SECTIONS[:8]} | {"impact": "Requires Improvement"}

    answer = submit(sim, x, grades(eight_good, "Outstanding", good_practice="Direct work with the family."))
    assert answer["body"]["response_action"] == "errors"
    assert answer["body"]["errors"] == {"reason": (
        "Outstanding is more than 1 grade above the lowest section (Requires Improvement): an overall grade is not "
        "usually that far above it. Say why, or change the grade.")}
    assert len(sim.workspace.view_stack(x)) == 1, "the form stays on the grades"

    answer = submit(sim, x, grades(eight_good, "Good", good_practice="Direct work with the family."))
    assert answer["body"]["response_action"] == "push"
    assert top(sim, x)["title"]["text"] == "Record the audit (2/3)"


def test_bradford_one_inadequate_section_with_overall_ri_is_accepted_and_recorded(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    sections = {k: "good" for k in BRADFORD_SECTIONS[1:]} | {"risk_and_need": "inadequate"}
    assert submit(sim, x, grades(sections, "requires_improvement", good_practice="Timely visits."))["body"]["response_action"] == "push"
    assert submit(sim, x, FINDINGS)["body"]["response_action"] == "push"
    actions = {"action_1_what": "Update the risk assessment", "action_1_owner": owner_id(sim, people["worker"]),
               "action_1_due": "2027-01-15"}  # fmt: skip
    answer = submit(sim, x, actions)
    assert answer["body"] == {"response_action": "clear"} and sim.workspace.view_stack(x) == []

    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        assert (record.scheme, record.scheme_version, record.overall_grade) == ("bradford", 1, "requires_improvement")
        assert {s.section_key: s.grade for s in record.sections}["risk_and_need"] == "inadequate"
        assert [(g.stage, g.grade) for g in record.grades] == [(GradeStage.SUBMITTED, "requires_improvement")]
        assert [(a.text, a.owner.email, a.due_date) for a in record.actions] == [
            ("Update the risk assessment", people["worker"], dt.date(2027, 1, 15))]
        assert record.family_views == {"sought": "yes", "by_role": ["parent"], "view": "mixed", "child_feedback": True}
        assert record.seen_roles == ["worker", "team_manager"] and record.flags == ["organisational_learning"]
        allocation = session.get(Allocation, first.id)
        assert allocation is not None and allocation.state == AllocationState.COMPLETED
        assert allocation.completed_at == sim.clock.now
        assert session.scalars(select(AuditDraft)).all() == []

    deliver(sim)
    for email in (people["worker"], people["tm"]):
        findings = sim.workspace.messages(user_email=email)[-1]
        assert findings["text"].startswith(f"Audit findings for case {people['ref']}: overall Requires Improvement")
        body = json.dumps(findings["blocks"])
        assert "Risk and need" in body and "Inadequate" in body and "Update the risk assessment" in body
    summary = sim.workspace.messages(user_email=x)[-1]
    assert summary["text"] == f"Audit of case {people['ref']} recorded: overall Requires Improvement."
    assert "on time, the reminders have stopped" in json.dumps(summary["blocks"])
    with sim.sessions() as session:
        sent = session.scalars(select(Notification).where(Notification.template.in_(["audit_findings", "audit_recorded"])))
        assert sorted((n.channel, n.recipient.email) for n in sent) == sorted(
            (None, e) for e in (people["worker"], people["tm"], x)), "direct messages only: grades never go to a channel"


def test_hull_ri_with_elements_needs_the_elements_named(sim: Simulation) -> None:
    sim.runtime.settings.grading_scheme = "hull"
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    view = top(sim, x)
    assert [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"][0].startswith("KSS 1")
    domains = {f"section:{b['block_id'].split(':')[1]}": "Met" for b in view["blocks"] if b["block_id"].startswith("section:")}

    answer = submit(sim, x, {**domains, "overall": "Requires Improvement with elements of good practice", "rationale": "Mixed."})
    assert answer["body"]["errors"] == {
        "elements": 'Name the elements of good practice: "Requires Improvement with elements of good practice" needs them.'}

    answer = submit(sim, x, {**domains, "overall": "requires_improvement_with_elements", "rationale": "Mixed.",
                             "elements": "Good direct work."})  # fmt: skip
    assert answer["body"]["response_action"] == "push"
