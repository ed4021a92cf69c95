"""Recording an audit through the form, as an auditor does in Slack: the three steps filled in
by their words (or values) and submitted, from a message's "Record the audit" button."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.ids import ActionId
from bot.workspace.forms import input_values
from store.models import Allocation
from tests.simulation import Simulation

#: The first step's answer to "why no reflection meeting?", asked while none has been held (none is, in most tests).
NO_MEETING = {"no_meeting": "The worker is on long-term leave."}
#: A Bradford record that passes every rule: all sections Good, overall Good (and no meeting held).
BRADFORD_GRADES = {
    **{f"section:{k}": "good" for k in ("risk_and_need", "assessments", "plans_and_reviews", "voice_of_the_child",
                                        "family_engagement", "partner_collaboration", "management_oversight",
                                        "records", "impact")},
    "overall": "good", "good_practice": "Timely visits.", "rationale": "Plans are clear and reviewed.", **NO_MEETING,
}
FINDINGS = {"seen": "worker", "family_sought": "not_appropriate", "child_feedback": "no"}
NO_ACTIONS = {"no_actions": "The plan already covers what is needed."}


def submit(sim: Simulation, email: str, typed: dict[str, str]) -> dict[str, Any]:
    """Fill the person's modal on top with ``typed`` (field → words or value) and submit it."""
    stack = sim.workspace.view_stack(email)
    assert stack, f"{email} has no modal open"
    return sim.workspace.submit_view(email, stack[-1], input_values(stack[-1], typed, sim.workspace.member_id))


def record_audit(
    sim: Simulation, email: str, message: dict[str, Any], *, grades: dict[str, str] | None = None,
    findings: dict[str, str] | None = None, actions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Click "Record the audit" on ``message`` and submit the three steps; the last answer."""
    sim.workspace.click(email, message, ActionId.RECORD_AUDIT)
    for typed in (grades or BRADFORD_GRADES, findings or FINDINGS):
        answer = submit(sim, email, typed)
        assert answer["body"]["response_action"] == "push", answer["body"]
    return submit(sim, email, actions or NO_ACTIONS)


def reference_of(sim: Simulation, allocation_id: int) -> str:
    with sim.sessions() as session:
        return session.scalars(select(Allocation).where(Allocation.id == allocation_id)).one().case.reference
