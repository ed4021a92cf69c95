"""Safeguarding alerts when the chain has gaps: who is told instead, who leads, what is logged."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from bot.ids import ActionId, BlockId, Template
from bot.render import render
from store.models import (
    Allocation,
    AuditLog,
    ExemptionRequest,
    Person,
    RequestKind,
    RequestState,
    SafeguardingAlert,
)
from tests.simulation import Simulation
from tests.test_render import CONTEXTS
from tests.test_scenario_alerts import (  # noqa: F401 - fixtures used by name
    HANA,
    QUINN,
    REF,
    SID,
    TARA,
    WENDY,
    alert_message,
    hana_heads_assessment,
    raise_concern,
    settings,
    urgent,
)

D = dt.date


def logged(sim: Simulation, action: str) -> list[dict[str, object]]:
    with sim.sessions() as session:
        return [e.detail for e in session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


def safeguarding_texts(sim: Simulation, email: str) -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email) if "afeguarding" in m["text"]]


def test_someone_once_without_slack_is_tried_again(sim: Simulation) -> None:
    with sim.sessions() as session, session.begin():
        tara = session.scalars(select(Person).where(Person.email == TARA)).one()
        tara.slack_missing_since = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)  # before she joined Slack
    raise_concern(sim, WENDY)
    urgent(sim)

    assert alert_message(sim, TARA)["text"].startswith(f"Safeguarding concern: {REF}")
    with sim.sessions() as session:
        assert session.scalars(select(SafeguardingAlert)).one().lead.email == TARA
    assert sim.workspace.messages(user_email=QUINN) == []


def test_a_worker_without_slack_is_covered_by_the_team_manager_already_told(sim: Simulation, hana_heads_assessment: None) -> None:  # noqa: F811
    sim.workspace.remove_user(WENDY)
    raise_concern(sim, SID)
    urgent(sim)
    urgent(sim)

    assert [t.split(" (")[0] for t in safeguarding_texts(sim, TARA)] == [f"Safeguarding concern: {REF}"]
    assert safeguarding_texts(sim, HANA) == [], "the head of service is not pulled in for a missing worker"
    assert safeguarding_texts(sim, QUINN) == [
        f"Safeguarding concern {REF}: the social worker could not be told, Tara Teamlead was told instead."
    ]
    with sim.sessions() as session:
        assert session.scalars(select(SafeguardingAlert)).one().lead.email == TARA
    assert [d["to"] for d in logged(sim, "alert.undelivered")] == [WENDY]


def test_a_team_manager_who_raises_the_concern_is_not_chased(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, TARA)
    urgent(sim)
    own = alert_message(sim, TARA)
    actions = next(b for b in own["blocks"] if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [ActionId.CORRECTIVE_ACTION], "no Acknowledge for her own"
    assert ":white_check_mark: You raised this concern at 10:00 on Wednesday 2 December 2026." in json.dumps(own["blocks"])

    sim.step(sim.at(D(2026, 12, 2), 11))
    assert sorted(t.split(" (")[0] for t in safeguarding_texts(sim, TARA)) == [
        f"Please record the corrective action: safeguarding concern {REF}",
        f"Safeguarding concern: {REF}", f"Your safeguarding concern about {REF}: 3 told, 1 acknowledged.",
    ], "no 'Please acknowledge' reminder for her own concern; the corrective action is still owed (Hull 14)"
    assert not any(t.startswith("Escalated") for t in safeguarding_texts(sim, SID))


def test_with_no_head_of_service_the_qa_team_is_told_at_the_last_step(sim: Simulation) -> None:
    with sim.sessions() as session, session.begin():  # Sid manages no one above him, and no head of service is on record
        session.scalars(select(Person).where(Person.email == SID)).one().line_manager_id = None
    sim.at(D(2026, 12, 5), 22)
    raise_concern(sim, WENDY)
    urgent(sim)
    sim.step(sim.at(D(2026, 12, 5), 22, 30))
    assert safeguarding_texts(sim, QUINN) == []
    report = sim.step(sim.at(D(2026, 12, 5), 23, 0))
    assert report.alert_escalations == 0, "nobody to escalate to"

    assert safeguarding_texts(sim, QUINN) == [
        f"Safeguarding concern {REF}: the head of service could not be told, and nobody else in the chain could be reached."
    ]
    assert logged(sim, "alert.missing") == [{"role": "head_of_service", "missing": None, "instead": None}]
    assert logged(sim, "alert.escalation") == [{"level": 1}, {"level": 2}]
    sim.step(sim.at(D(2026, 12, 6), 9, 0))
    assert len(safeguarding_texts(sim, QUINN)) == 1, "told once"


def test_the_service_manager_told_is_the_team_managers_own_manager(sim: Simulation) -> None:
    """Not the first service manager on record in the case's service (Bradford §3: the chain)."""
    with sim.sessions() as session, session.begin():
        sid, tara, hana = (session.scalars(select(Person).where(Person.email == e)).one() for e in (SID, TARA, HANA))
        sue = session.scalars(select(Person).where(Person.email == "sue.manager@council.example")).one()
        sue.service_id = sid.service_id  # Sue also manages in the case's service (Sid is first on record) ...
        tara.line_manager_id = sue.id  # ... and Tara reports to Sue
        assert hana.id == sue.line_manager_id
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    assert safeguarding_texts(sim, "sue.manager@council.example")[0].startswith(f"Safeguarding concern: {REF}")
    assert safeguarding_texts(sim, SID) == []
    sim.step(sim.at(D(2026, 12, 2), 11, 0))  # 60 minutes unacknowledged: the head of service is Sue's own manager
    assert any(t.startswith("Escalated") for t in safeguarding_texts(sim, HANA))


def test_an_auditor_exempted_from_the_audit_can_still_raise_a_concern(sim: Simulation) -> None:
    sim.step(sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session, session.begin():
        allocation = session.scalars(select(Allocation).order_by(Allocation.id)).first()
        assert allocation is not None
        exempted, reference = allocation.auditor, allocation.case.reference
        other = session.scalars(select(Person).where(Person.email == HANA)).one()
        session.add(ExemptionRequest(
            allocation_id=allocation.id, auditor_id=exempted.id, kind=RequestKind.EXEMPTION, reason="conflict",
            due_date=allocation.due_date, state=RequestState.APPROVED, approver_id=other.id, routed_to_id=other.id,
            created_at=sim.clock.now, decided_at=sim.clock.now, decided_by_id=other.id, reallocated_to_id=other.id,
        ))
        allocation.auditor_id = other.id
        email = exempted.email

    answer = raise_concern(sim, email, reference=reference)
    assert answer["status"] == 200 and not answer["body"], answer["body"]
    with sim.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        assert (alert.raised_by.email, alert.case.reference) == (email, reference)


def test_every_delivery_is_in_the_audit_log(sim: Simulation, settings: object) -> None:  # noqa: F811
    raise_concern(sim, WENDY)
    urgent(sim)
    delivered = logged(sim, "alert.delivered")
    assert sorted((d["stage"], d["to"]) for d in delivered) == sorted([
        ("to", WENDY), ("to", TARA), ("to", SID), ("channel", settings.safeguarding_channel),  # type: ignore[attr-defined]
    ])
    assert all(d["ts"] for d in delivered)


def test_the_worker_and_team_manager_can_raise_from_their_allocation_messages() -> None:
    for template in (Template.ALLOCATION_WORKER, Template.ALLOCATION_TEAM_MANAGER):
        payload = render(template, CONTEXTS[template])
        [actions] = [b for b in payload["blocks"] if b["type"] == "actions"]
        assert actions["block_id"] == BlockId.CASE_ACTIONS
        [button] = [e for e in actions["elements"] if e["action_id"] == ActionId.RAISE_CONCERN]
        assert button["text"]["text"] == "Raise a safeguarding concern"
        assert button["value"] == CONTEXTS[template]["case"]["reference"]  # type: ignore[index]
        assert "CMS-" in json.dumps(button)


def test_a_click_on_an_alert_that_does_not_exist_is_refused_and_logged(sim: Simulation) -> None:
    from slack_sdk import WebClient

    from tests.support import TOKEN

    shared = sim.workspace.add_channel("old-alerts")
    blocks = [{"type": "actions", "block_id": BlockId.ALERT_ACTIONS, "elements": [
        {"type": "button", "action_id": ActionId.ACKNOWLEDGE_ALERT, "text": {"type": "plain_text", "text": "Acknowledge"},
         "value": "999"},
    ]}]
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(channel=shared, text="old", blocks=blocks)
    message = next(m for m in sim.workspace.messages(channel=shared) if m["ts"] == posted["ts"])
    sim.workspace.click(WENDY, message, ActionId.ACKNOWLEDGE_ALERT)

    refusal = [m for m in sim.workspace.messages(user_email=WENDY) if m["ephemeral"]][-1]
    assert refusal["text"].startswith("Only the people working on this case")
    with sim.sessions() as session:
        refused = [(e.action, e.subject_id) for e in session.scalars(select(AuditLog).where(AuditLog.outcome == "refused"))]
    assert refused == [("act_on_alert", 999)]


def test_an_acknowledged_concern_is_chased_until_the_corrective_action_is_recorded(sim: Simulation) -> None:
    """Hull 14: the team manager addresses the corrective action at once: acknowledging is not enough."""
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    sim.at(D(2026, 12, 2), 10, 5)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.ACKNOWLEDGE_ALERT)
    urgent(sim)
    sim.step(sim.at(D(2026, 12, 2), 10, 34))
    assert not any(t.startswith("Please record the corrective action") for t in safeguarding_texts(sim, TARA))
    sim.step(sim.at(D(2026, 12, 2), 10, 35))
    assert [t for t in safeguarding_texts(sim, TARA) if t.startswith("Please record the corrective action")] == [
        f"Please record the corrective action: safeguarding concern {REF} (IMMEDIATE), raised by Wendy A1. "
        "Please record the corrective action and confirm it here."
    ]
    told_sid = len(safeguarding_texts(sim, SID))
    sim.step(sim.at(D(2026, 12, 2), 11, 5))
    assert [t[:50] for t in safeguarding_texts(sim, SID)[told_sid:]] == ["Corrective action not yet recorded: safeguarding c"]
    assert logged(sim, "alert.corrective_chase") == [{"level": 1}, {"level": 2}]
    sim.step(sim.at(D(2026, 12, 2), 13, 0))
    assert logged(sim, "alert.corrective_chase") == [{"level": 1}, {"level": 2}], "chased once at each level"


def test_recording_the_corrective_action_stops_the_chase(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.ACKNOWLEDGE_ALERT)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.CORRECTIVE_ACTION)
    modal = sim.workspace.view_stack(TARA)[-1]
    sim.workspace.submit_view(TARA, modal, {"note": {"note": {"type": "plain_text_input", "value": "Oversight recorded."}}})
    urgent(sim)
    sim.step(sim.at(D(2026, 12, 2), 12, 0))
    assert logged(sim, "alert.corrective_chase") == []
    assert not any(t.startswith(("Please record", "Corrective action not yet"))
                   for t in safeguarding_texts(sim, TARA) + safeguarding_texts(sim, SID))
