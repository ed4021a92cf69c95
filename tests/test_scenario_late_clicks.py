"""Late clicks and submissions (issue 12, items 6 and 7): a button whose work is done leaves the
message, and a click on an old copy, or a modal submitted after the decision, says who did it
and when instead of failing quietly or as a field error."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from bot.ids import ActionId
from store.models import AuditLog, ExemptionRequest, Person, RequestState, SafeguardingAlert
from tests.recording import record_audit
from tests.simulation import Simulation
from tests.support import TOKEN
from tests.test_scenario_alerts import REF, SID, TARA, WENDY, alert_message, raise_concern, urgent
from tests.test_scenario_exemptions import (
    AMY,
    DEE,
    QUINN,
    D,
    _ref,
    allocate_december,
    ask,
    deliver,
    email_of,
    exempt_with_nobody_eligible,
    with_button,
)

COMMENT = {"comment": {"comment": {"type": "plain_text_input", "value": "Please do this one; ask QA for help."}}}


def ephemerals(sim: Simulation, email: str) -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email) if m["ephemeral"]]


def copy_in_channel(sim: Simulation, message: dict[str, Any], name: str) -> dict[str, Any]:
    """``message`` as someone pasted it into a channel: an old copy whose buttons still work."""
    channel = sim.workspace.add_channel(name)
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=channel, text=message["text"], blocks=message["blocks"]
    )
    return next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])


def decisions(sim: Simulation) -> list[tuple[str, str]]:
    with sim.sessions() as session:
        return [(e.action, e.outcome) for e in session.scalars(select(AuditLog).order_by(AuditLog.id))
                if e.action.startswith(("exemption.", "extension.")) and not e.action.endswith(".request")]


def test_a_decline_submitted_after_approving_closes_the_modal_and_says_so(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    requester = email_of(sim, first.auditor_id)
    sim.at(D(2026, 12, 2), 10)
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    ask_message = with_button(sim, AMY, ActionId.DECLINE_EXEMPTION)
    ref = _ref(sim, first)

    sim.workspace.click(AMY, ask_message, ActionId.DECLINE_EXEMPTION)  # "Decline…" opens the modal
    modal = sim.workspace.view_stack(AMY)[-1]
    sim.at(D(2026, 12, 2), 10, 5)
    sim.workspace.click(AMY, ask_message, ActionId.APPROVE_EXEMPTION)  # ...but she approves from the message
    sim.at(D(2026, 12, 2), 10, 6)
    answer = sim.workspace.submit_view(AMY, modal, COMMENT)

    assert answer["status"] == 200 and answer["body"] == {"response_action": "clear"}, "not a field error"
    assert sim.workspace.view_stack(AMY) == []
    deliver(sim)
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        assert request.state == RequestState.APPROVED and request.decision_comment is None
        name = request.auditor.display_name
    told = sim.workspace.messages(user_email=AMY)[-1]
    assert not told["ephemeral"] and told["text"] == (
        f"Your decline was not recorded: {name}'s exemption request for {ref} was already approved by Amy Director "
        "at 10:05 on Wednesday 2 December 2026."
    )
    assert "Conflict of interest" not in json.dumps(told), "the reason stays in the ask message"
    edited = next(m for m in sim.workspace.messages(user_email=AMY) if m["ts"] == ask_message["ts"])
    assert edited["edited"] and all(b["type"] != "actions" for b in edited["blocks"]), "Approve / Decline are gone"
    assert decisions(sim) == [("exemption.approved", "ok")]
    assert not [t for t in (m["text"] for m in sim.workspace.messages(user_email=requester)) if "declined" in t]


def test_a_decline_submitted_after_another_approver_decided_names_them(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False  # Dee is a Head of Service
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 1), 15)
    sim.workspace.slash_command(AMY, "/audit", f"delegate <@{sim.workspace.user_id(DEE)}|dee> 2026-12-01 2026-12-31")
    ask(sim, first, "extension", "Leave", "2027-01-08")
    deliver(sim)
    dee_message = with_button(sim, DEE, ActionId.DECLINE_EXEMPTION)
    sim.workspace.click(DEE, dee_message, ActionId.DECLINE_EXEMPTION)
    modal = sim.workspace.view_stack(DEE)[-1]

    sim.at(D(2026, 12, 1), 16, 30)  # Amy, the principal, declines from a copy shared with her
    sim.workspace.click(AMY, copy_in_channel(sim, dee_message, "approvers"), ActionId.DECLINE_EXEMPTION)
    sim.workspace.submit_view(AMY, sim.workspace.view_stack(AMY)[-1], COMMENT)
    sim.at(D(2026, 12, 1), 16, 45)
    empty = sim.workspace.submit_view(DEE, modal, {"comment": {"comment": {"type": "plain_text_input", "value": ""}}})

    assert empty["body"] == {"response_action": "clear"}, "no 'please say why' for a decision already taken"
    deliver(sim)
    told = sim.workspace.messages(user_email=DEE)[-1]["text"]
    assert told.startswith("Your decline was not recorded: ") and told.endswith(
        f"extension request for {_ref(sim, first)} was already declined by Amy Director at 16:30 on Tuesday 1 December 2026."
    )
    assert decisions(sim) == [("extension.declined", "ok")]


def test_a_decline_submitted_after_the_audit_was_completed_says_it_was_withdrawn(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    sim.workspace.click(AMY, with_button(sim, AMY, ActionId.DECLINE_EXEMPTION), ActionId.DECLINE_EXEMPTION)
    modal = sim.workspace.view_stack(AMY)[-1]
    sim.step(sim.at(D(2026, 12, 24), 9))
    x, ref = email_of(sim, first.auditor_id), _ref(sim, first)
    record_audit(sim, x, with_button(sim, x, ActionId.RECORD_AUDIT, ref))

    assert sim.workspace.submit_view(AMY, modal, COMMENT)["body"] == {"response_action": "clear"}
    deliver(sim)
    assert any(
        m["text"].startswith("Your decline was not recorded: ") and m["text"].endswith(
            f"exemption request for {ref} was withdrawn because the audit was completed, so there is nothing to decide."
        )
        for m in sim.workspace.messages(user_email=AMY)
    )
    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest)).one().state == RequestState.WITHDRAWN


def test_a_late_choice_from_an_old_copy_of_the_qa_menu_says_who_chose_whom(sim: Simulation) -> None:
    target, _ = exempt_with_nobody_eligible(sim)
    menu_message = sim.workspace.messages(user_email=QUINN)[-1]
    old_copy = copy_in_channel(sim, menu_message, "qa-team")
    options = menu_message["blocks"][0]["accessory"]["options"]
    sim.at(D(2026, 12, 3), 14, 20)
    sim.workspace.click(QUINN, menu_message, ActionId.CHOOSE_AUDITOR, selected_option=options[0])
    deliver(sim)
    edited = next(m for m in sim.workspace.messages(user_email=QUINN) if m["ts"] == menu_message["ts"])
    assert edited["edited"] and "accessory" not in edited["blocks"][0], "the menu leaves the message once used"

    sim.at(D(2026, 12, 3), 14, 25)
    sim.workspace.click(QUINN, old_copy, ActionId.CHOOSE_AUDITOR, selected_option=options[-1])
    chosen = options[0]["text"]["text"]
    assert ephemerals(sim, QUINN)[-1] == (
        f"The audit of {_ref(sim, target)} was already given to {chosen}, chosen by Quinn Qa at 14:20 on "
        "Thursday 3 December 2026. Nothing was changed."
    )
    with sim.sessions() as session:
        reallocations = session.scalars(select(AuditLog).where(AuditLog.action == "exemption.reallocate")).all()
        assert len(reallocations) == 1


# Safeguarding concerns ----------------------------------------------------------------------


def action_ids(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def now_showing(sim: Simulation, email: str, message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as it reads now in ``email``'s DMs (after any in-place edit)."""
    return next(m for m in sim.workspace.messages(user_email=email) if m["ts"] == message["ts"])


def test_acknowledging_from_one_message_removes_the_button_from_every_copy(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    first = alert_message(sim, TARA)
    stale = copy_in_channel(sim, first, "team-north")
    sim.step(sim.at(D(2026, 12, 2), 10, 30))  # not acknowledged: Tara is asked again
    again = alert_message(sim, TARA)
    assert again["ts"] != first["ts"] and action_ids(again) == [ActionId.ACKNOWLEDGE_ALERT, ActionId.CORRECTIVE_ACTION]

    sim.at(D(2026, 12, 2), 10, 40)
    sim.workspace.click(TARA, again, ActionId.ACKNOWLEDGE_ALERT)
    urgent(sim)
    for message in (first, again):
        shown = now_showing(sim, TARA, message)
        assert action_ids(shown) == [ActionId.CORRECTIVE_ACTION], "Acknowledge is gone; the corrective action is still to do"
        assert "You acknowledged this at 10:40 on Wednesday 2 December 2026" in json.dumps(shown["blocks"])
    assert now_showing(sim, TARA, first)["edited"], "the first message was edited in place, not re-sent"

    sim.at(D(2026, 12, 2), 11)
    sim.workspace.click(TARA, stale, ActionId.ACKNOWLEDGE_ALERT)
    assert ephemerals(sim, TARA)[-1] == (
        f"You already acknowledged the safeguarding concern about {REF} at 10:40 on Wednesday 2 December 2026. "
        "Nothing was changed."
    )
    with sim.sessions() as session:
        assert len(session.scalars(select(AuditLog).where(AuditLog.action == "alert.acknowledge")).all()) == 1


def test_corrective_action_submitted_twice_keeps_the_first_and_says_who_recorded_it(sim: Simulation) -> None:
    from bot.services.alerts.concerns import record_corrective_action

    sim.at(D(2026, 12, 2), 9, 41)
    raise_concern(sim, WENDY)
    urgent(sim)
    message = alert_message(sim, TARA)
    stale = copy_in_channel(sim, message, "team-north")
    sim.at(D(2026, 12, 2), 10)
    sim.workspace.click(TARA, message, ActionId.CORRECTIVE_ACTION)
    modal = sim.workspace.view_stack(TARA)[-1]

    sim.at(D(2026, 12, 2), 10, 3)  # meanwhile Tara confirms it from her phone
    with sim.sessions() as session, session.begin():
        alert = session.scalars(select(SafeguardingAlert)).one()
        tara = session.scalars(select(Person).where(Person.email == TARA)).one()
        done = record_corrective_action(session, alert.id, tara, "Oversight recorded.", now=sim.clock.now, actor_ref="phone")
        assert done.alert is not None and not done.already
    sim.at(D(2026, 12, 2), 10, 5)
    answer = sim.workspace.submit_view(TARA, modal, {"note": {"note": {"type": "plain_text_input", "value": "Police told."}}})

    assert answer["body"] == {"response_action": "clear"} and sim.workspace.view_stack(TARA) == []
    urgent(sim)
    assert sim.workspace.messages(user_email=TARA)[-1]["text"] == (
        f"The corrective action for the safeguarding concern about {REF} was already recorded by Tara Teamlead at 10:03 "
        "on Wednesday 2 December 2026. Your note was not saved: anything more belongs in the case record as "
        "management oversight."
    )
    with sim.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        assert (alert.corrective_note, alert.corrective_action_by.email) == ("Oversight recorded.", TARA)
        assert len(session.scalars(select(AuditLog).where(AuditLog.action == "alert.corrective_action")).all()) == 1

    shown = now_showing(sim, TARA, message)
    assert shown["edited"] and action_ids(shown) == [], "the corrective-action button left Tara's message"
    assert "Corrective action recorded." in json.dumps(shown["blocks"])
    assert action_ids(alert_message(sim, SID)) == [ActionId.ACKNOWLEDGE_ALERT], "Sid still has to acknowledge"

    sim.at(D(2026, 12, 2), 10, 30)
    sim.workspace.click(TARA, stale, ActionId.CORRECTIVE_ACTION)  # an old copy of the message
    assert sim.workspace.view_stack(TARA) == [], "no modal for work already done"
    assert ephemerals(sim, TARA)[-1] == (
        f"The corrective action for the safeguarding concern about {REF} was already recorded by Tara Teamlead at 10:03 "
        "on Wednesday 2 December 2026. Nothing was changed."
    )


# Two concerns open on one case (issue 12, item 12) ------------------------------------------


def concern_modal(sim: Simulation, email: str, reference: str = REF) -> dict[str, Any]:
    sim.workspace.slash_command(email, "/audit", f"concern {reference}")
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == "alert_raise"
    return view


def already_open(view: dict[str, Any]) -> str | None:
    block = next((b for b in view["blocks"] if b.get("block_id") == "already_open"), None)
    return block["elements"][0]["text"] if block is not None else None


def test_a_second_raiser_is_told_who_raised_the_concern_already_open_and_may_still_raise(
    sim: Simulation, emails: dict[str, str]
) -> None:
    assert already_open(concern_modal(sim, TARA)) is None, "nothing open yet"
    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    wendy = f"<@{sim.workspace.user_id(WENDY)}>"

    sim.at(D(2026, 12, 2), 10, 20)
    view = concern_modal(sim, TARA)
    assert already_open(view) == (
        f":warning: A safeguarding concern about *{REF}* is already open (no corrective action recorded yet): raised by "
        f"{wendy} at 10:00 on Wednesday 2 December 2026. You can still raise this one: the same people will be told, "
        "and they will see each concern."
    )
    assert "Home visit" not in json.dumps(view), "the first concern's note is not shown"
    assert already_open(concern_modal(sim, emails["Will B1"])) is None, "outside the case's circle nothing is shown"
    assert already_open(concern_modal(sim, WENDY)).startswith(  # type: ignore[union-attr]
        f":warning: A safeguarding concern about *{REF}* is already open (no corrective action recorded yet): "
        "raised by you at 10:00"
    )

    answer = raise_concern(sim, TARA, note="Second worry: school reports absence.")
    assert answer["status"] == 200 and not answer["body"], "they may still raise it"
    urgent(sim)
    status = next(m for m in sim.workspace.messages(user_email=TARA) if m["text"].startswith("Your safeguarding concern"))
    assert status["text"] == (f"Your safeguarding concern about {REF}: 3 told, 1 acknowledged. "
                              "Another concern about this case is also open.")
    shown = json.dumps(status["blocks"])
    assert (
        "*Also open on this case* (raised before this one, no corrective action recorded yet): raised by "
        f"{wendy} at 10:00 on Wednesday 2 December 2026."
    ) in shown
    assert "Home visit" not in shown

    sim.at(D(2026, 12, 2), 10, 40)  # the first concern's corrective action is recorded: it is no longer open
    first = next(m for m in sim.workspace.messages(user_email=TARA) if m["text"].startswith(f"Safeguarding concern: {REF}"))
    sim.workspace.click(TARA, first, ActionId.CORRECTIVE_ACTION)
    sim.workspace.submit_view(TARA, sim.workspace.view_stack(TARA)[-1],
                              {"note": {"note": {"type": "plain_text_input", "value": ""}}})
    tara = f"<@{sim.workspace.user_id(TARA)}>"
    assert f"raised by {tara} at 10:20 on Wednesday 2 December 2026." in already_open(concern_modal(sim, SID))  # type: ignore[operator]
    assert "is already open" in already_open(concern_modal(sim, SID))  # type: ignore[operator]
