"""Immediate safeguarding alerts end to end: urgent delivery, acknowledgement, escalation."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from slack_sdk import WebClient
from sqlalchemy import Engine, select

from bot.cli import Context, cli
from bot.cli import alerts as alerts_cli
from bot.ids import ActionId, Template
from bot.settings import Settings, load_settings
from bot.workspace import LocalWorkspace
from store.models import (
    AlertRecipient,
    AuditLog,
    Case,
    Notification,
    NotificationState,
    Person,
    Priority,
    SafeguardingAlert,
    Service,
)
from store.outbox import enqueue
from tests.simulation import Simulation
from tests.support import TOKEN

D = dt.date
REF = "CMS-100"  # Assessment Team North: worker Wendy A1, team manager Tara, service manager Sid
NOTE = "Home visit today: check who is now living at the address."
WENDY, TARA, SID, HANA, QUINN = (
    "wendy.a1@council.example", "tara.teamlead@council.example", "sid.manager@council.example",
    "hana.head@council.example", "quinn.qa@council.example",
)


@pytest.fixture
def settings(engine: Engine, tmp_path: Path, workspace: LocalWorkspace) -> Settings:
    return load_settings(
        data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4,
        safeguarding_channel=workspace.add_channel("safeguarding"),
    )


@pytest.fixture
def hana_heads_assessment(sim: Simulation) -> None:
    with sim.sessions() as session, session.begin():
        hana = session.scalars(select(Person).where(Person.email == HANA)).one()
        hana.service_id = session.scalars(select(Service).where(Service.name == "Assessment and Intervention")).one().id


def raise_concern(sim: Simulation, email: str, reference: str = REF, urgency: str | None = "immediate",
                  note: str = NOTE) -> dict[str, Any]:
    sim.workspace.slash_command(email, "/audit", f"concern {reference}")
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == "alert_raise"
    return sim.workspace.submit_view(email, view, {
        "case": {"case": {"type": "plain_text_input", "value": reference}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": urgency} if urgency else None}},
        "note": {"note": {"type": "plain_text_input", "value": note}},
    })


def urgent(sim: Simulation) -> int:
    return sim.runtime.senders["urgent"].drain(sim.clock.now).sent


def alert_message(sim: Simulation, email: str) -> dict[str, Any]:
    """The newest alert sent to ``email`` as a recipient (not their own status message)."""
    kinds = ("Safeguarding concern:", "Please acknowledge:", "Escalated:", "You now lead on")
    return next(m for m in reversed(sim.workspace.messages(user_email=email)) if m["text"].startswith(kinds))


def test_an_alert_overtakes_a_thousand_message_fan_out(sim: Simulation, emails: dict[str, str]) -> None:
    now = sim.at(D(2026, 12, 2), 10)
    people = list(emails.values())
    with sim.sessions() as session, session.begin():
        ids = list(session.scalars(select(Person.id).where(Person.email.in_(people))))
        for n in range(1000):
            enqueue(session, key=f"fanout:{n}", template=Template.ERROR, context={"message": f"bulk {n}", "reference": None},
                    now=now, recipient_id=ids[n % len(ids)], priority=Priority.NORMAL)
    under_way = sim.runtime.senders["normal"].send_due(now)  # the fan-out is under way
    assert under_way.claimed == sim.runtime.settings.outbox_batch_size and 0 < under_way.sent < 1000

    answer = raise_concern(sim, TARA)
    assert answer["status"] == 200 and not answer["body"]
    assert urgent(sim) == 5  # worker, team manager, service manager, the raiser's status, the channel

    for email in (WENDY, TARA, SID):
        assert alert_message(sim, email)["text"].startswith(f"Safeguarding concern: {REF} (IMMEDIATE), raised by Tara Teamlead.")
    with sim.sessions() as session:
        pending = session.scalars(select(Notification).where(Notification.state == NotificationState.PENDING)).all()
        assert len(pending) == 1000 - under_way.sent and all(n.idempotency_key.startswith("fanout:") for n in pending)


def test_the_channel_post_never_contains_the_note(sim: Simulation, settings: Settings) -> None:
    raise_concern(sim, WENDY)
    urgent(sim)
    (post,) = sim.workspace.messages(channel=settings.safeguarding_channel)
    assert REF in post["text"] and "Wendy A1" in post["text"]
    assert "Home visit" not in json.dumps(post) and "address" not in json.dumps(post)
    worker = alert_message(sim, TARA)
    assert "Home visit today: check who is now living at the address." in json.dumps(worker["blocks"])


def test_acknowledging_updates_the_raisers_status_and_is_harmless_twice(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, SID)
    urgent(sim)
    status = next(m for m in sim.workspace.messages(user_email=SID) if m["text"].startswith("Your safeguarding concern"))
    assert status["text"] == f"Your safeguarding concern about {REF}: 3 told, 1 acknowledged.", "Sid raised it: he knows"

    sim.at(D(2026, 12, 2), 10, 7)
    original = alert_message(sim, WENDY)
    shared = sim.workspace.add_channel("team-north")  # Wendy also has a copy someone shared with her
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=shared, text=original["text"], blocks=original["blocks"]
    )
    copy = next(m for m in sim.workspace.messages(channel=shared) if m["ts"] == posted["ts"])
    sim.workspace.click(WENDY, original, ActionId.ACKNOWLEDGE_ALERT)
    sim.at(D(2026, 12, 2), 10, 9)
    sim.workspace.click(WENDY, copy, ActionId.ACKNOWLEDGE_ALERT)  # acknowledging again changes nothing
    urgent(sim)

    updated = next(m for m in sim.workspace.messages(user_email=SID) if m["ts"] == status["ts"])
    assert updated["edited"] and updated["text"] == f"Your safeguarding concern about {REF}: 3 told, 2 acknowledged."
    assert "acknowledged at 10:07 on Wednesday 2 December 2026" in json.dumps(updated["blocks"])
    mine = next(m for m in sim.workspace.messages(user_email=WENDY) if m["ts"] == original["ts"])
    assert all(b["type"] != "actions" for b in mine["blocks"]), "the Acknowledge button gives way to a note"
    with sim.sessions() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "alert.acknowledge")).all()
        assert len(rows) == 1 and rows[0].detail == {"after_seconds": 420}


def test_escalation_fires_at_thirty_minutes_and_stops_when_the_team_manager_acknowledges(
    sim: Simulation, hana_heads_assessment: None
) -> None:
    sim.at(D(2026, 12, 5), 22)  # a Saturday night: alerts ignore working hours
    raise_concern(sim, WENDY)
    urgent(sim)
    assert sim.step(sim.at(D(2026, 12, 5), 22, 29)).alert_escalations == 0
    report = sim.step(sim.at(D(2026, 12, 5), 22, 30))
    assert report.alert_escalations == 2 and not report.working_hours

    assert [m["text"].split(" (")[0] for m in sim.workspace.messages(user_email=TARA)] == [
        f"Safeguarding concern: {REF}", f"Please acknowledge: safeguarding concern {REF}"
    ]
    assert sim.workspace.messages(user_email=SID)[-1]["text"].startswith(f"Escalated: unacknowledged safeguarding concern {REF}")
    assert [m for m in sim.workspace.messages(user_email=HANA) if "afeguarding" in m["text"]] == []

    sim.at(D(2026, 12, 5), 22, 40)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.ACKNOWLEDGE_ALERT)
    assert sim.step(sim.at(D(2026, 12, 5), 23, 0)).alert_escalations == 0
    assert [m for m in sim.workspace.messages(user_email=HANA) if "afeguarding" in m["text"]] == []

    raise_concern(sim, WENDY, note="Second concern")  # nobody answers this one
    sim.step(sim.clock.now)
    sim.step(sim.at(D(2026, 12, 5), 23, 30))
    sim.step(sim.at(D(2026, 12, 6), 0, 0))
    assert [m["text"].split(" (")[0] for m in sim.workspace.messages(user_email=HANA)] == [
        f"Escalated: unacknowledged safeguarding concern {REF}"
    ]
    with sim.sessions() as session:
        levels = [a.escalation_level for a in session.scalars(select(SafeguardingAlert).order_by(SafeguardingAlert.id))]
        assert levels == [1, 2]
        steps = [
            (e.subject_id, e.detail)
            for e in session.scalars(select(AuditLog).where(AuditLog.action == "alert.escalation").order_by(AuditLog.id))
        ]
        assert steps == [(1, {"level": 1}), (2, {"level": 1}), (2, {"level": 2})]


def test_a_missing_team_manager_goes_straight_to_the_next_person(sim: Simulation, hana_heads_assessment: None) -> None:
    with sim.sessions() as session, session.begin():
        session.scalars(select(Case).where(Case.reference == REF)).one().team_manager_id = None
    raise_concern(sim, WENDY)
    urgent(sim)

    with sim.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        told = [(r.person.email, r.role, r.why) for r in session.scalars(select(AlertRecipient).order_by(AlertRecipient.id))]
        assert alert.lead.email == SID
    assert told == [(WENDY, "worker", "recipient"), (SID, "service_manager", "substitute")]
    qa = [m["text"] for m in sim.workspace.messages(user_email=QUINN)]
    assert qa == [f"Safeguarding concern {REF}: the team manager could not be told, Sid Manager was told instead."]
    assert "Corrective action recorded" in json.dumps(alert_message(sim, SID)["blocks"]), "the stand-in acts as team manager"


def test_a_team_manager_without_slack_is_replaced_at_once(sim: Simulation, hana_heads_assessment: None) -> None:
    sim.workspace.remove_user(TARA)
    raise_concern(sim, WENDY)
    urgent(sim)
    urgent(sim)  # what Tara's failed delivery queued

    with sim.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        assert alert.lead.email == SID, "the next rung, already told, now leads (as when Tara is missing at raise time)"
        tara = next(r for r in alert.recipients if r.person.email == TARA)
        assert tara.why == "unreachable"
        logged = [(e.action, e.detail.get("to")) for e in session.scalars(select(AuditLog).order_by(AuditLog.id))
                  if e.action in ("alert.undelivered", "alert.missing")]
        assert logged == [("alert.undelivered", TARA), ("alert.missing", None)]
    lead = alert_message(sim, SID)
    assert lead["text"].startswith(f"You now lead on safeguarding concern {REF}")
    assert "Corrective action recorded" in json.dumps(lead["blocks"])
    assert [m for m in sim.workspace.messages(user_email=HANA) if "afeguarding" in m["text"]] == []
    assert any("the team manager could not be told, Sid Manager was told instead" in m["text"]
               for m in sim.workspace.messages(user_email=QUINN))
    status = [m for m in sim.workspace.messages(user_email=WENDY) if m["text"].startswith("Your safeguarding concern")]
    assert [m["text"] for m in status] == [f"Your safeguarding concern about {REF}: 2 told, 1 acknowledged."]
    assert "Tara Teamlead (team manager): could not be reached (no Slack account)" in json.dumps(status[0]["blocks"])


def test_only_the_circle_can_act_and_unknown_cases_are_field_errors(sim: Simulation, emails: dict[str, str]) -> None:
    stranger = emails["Will B1"]  # a worker in another team
    answer = raise_concern(sim, stranger)
    assert answer["body"]["response_action"] == "errors"
    assert answer["body"]["errors"]["case"].startswith("Only the people working on this case")
    # Outside a case, "no such case" reads exactly as "not your case"; the QA team is told it does not exist.
    assert raise_concern(sim, WENDY, reference="CMS-999")["body"] == answer["body"]
    assert raise_concern(sim, QUINN, reference="CMS-999")["body"] == {
        "response_action": "errors",
        "errors": {"case": "There is no case 'CMS-999'. Check the reference in the case record."},
    }

    raise_concern(sim, WENDY)
    urgent(sim)
    message = alert_message(sim, TARA)
    shared = sim.workspace.add_channel("forwarded")
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=shared, text=message["text"], blocks=message["blocks"]
    )
    copy = next(m for m in sim.workspace.messages(channel=shared) if m["ts"] == posted["ts"])
    sim.workspace.click(stranger, copy, ActionId.ACKNOWLEDGE_ALERT)
    refusal = [m for m in sim.workspace.messages(user_email=stranger) if m["ephemeral"]][-1]
    assert refusal["text"].startswith("Only the people working on this case, its auditors and the QA team")
    with sim.sessions() as session:
        refused = [(e.action, e.outcome) for e in session.scalars(select(AuditLog).where(AuditLog.outcome == "refused"))]
        assert refused == [("raise_alert", "refused"), ("raise_alert", "refused"), ("act_on_alert", "refused")]
        acknowledged = session.scalars(select(AlertRecipient).where(AlertRecipient.acknowledged_at.is_not(None))).all()
        assert [r.person.email for r in acknowledged] == [WENDY], "only the raiser's own copy, never the stranger"


def test_corrective_action_and_the_monthly_list(sim: Simulation, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    sim.at(D(2026, 12, 2), 9, 41)
    raise_concern(sim, WENDY)
    urgent(sim)
    sim.at(D(2026, 12, 2), 10, 3)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.CORRECTIVE_ACTION)
    modal = sim.workspace.view_stack(TARA)[-1]
    assert sim.workspace.submit_view(TARA, modal, {
        "note": {"note": {"type": "plain_text_input", "value": "Oversight recorded."}},
    })["status"] == 200
    urgent(sim)
    status = next(m for m in sim.workspace.messages(user_email=WENDY) if m["text"].startswith("Your safeguarding concern"))
    assert ("Corrective action recorded* by" in json.dumps(status["blocks"])
            and "Oversight recorded." in json.dumps(status["blocks"]))

    group = type(cli)(name="auditbot")
    alerts_cli.register(group)
    result = CliRunner().invoke(group, ["alerts", "--month", "2026-12"],
                                obj=Context(settings, _engine=engine, clock=lambda: sim.clock.now))
    assert result.exit_code == 0
    assert result.output == (
        f"2026-12-02 09:41  {REF}  immediate  raised by Wendy A1  lead Tara Teamlead: acknowledged after 0h 22m, "
        "corrective action recorded\n"
    )
