"""Acting from a terminal: `auditbot workspace click/modal/submit` against the real app."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli import _register_all, cli
from bot.workspace.forms import FormInputError, find_clickable, input_values
from store.models import AlertRecipient, SafeguardingAlert
from tests.simulation import Simulation

D = dt.date
TARA, WENDY, SID = "tara.teamlead@council.example", "wendy.a1@council.example", "sid.manager@council.example"

BUTTONS = {"type": "actions", "block_id": "act", "elements": [
    {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Acknowledge"}, "value": "7"},
    {"type": "static_select", "action_id": "pick", "placeholder": {"type": "plain_text", "text": "Choose an auditor"},
     "options": [{"text": {"type": "plain_text", "text": "Ann Smith"}, "value": "11"},
                 {"text": {"type": "plain_text", "text": "Bob Jones"}, "value": "12"}]},
]}  # fmt: skip
PLAIN = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
MODAL = {"type": "modal", "blocks": [
    {"type": "input", "block_id": "kind", "label": {"type": "plain_text", "text": "What do you need?"},
     "element": {"type": "radio_buttons", "action_id": "kind_choice", "options": [
         {"text": {"type": "plain_text", "text": "Exemption"}, "value": "exemption"},
         {"text": {"type": "plain_text", "text": "Extension"}, "value": "extension"}]}},
    {"type": "input", "block_id": "when", "label": {"type": "plain_text", "text": "New deadline"},
     "element": {"type": "datepicker", "action_id": "date"}},
    {"type": "input", "block_id": "who", "label": {"type": "plain_text", "text": "Who"},
     "element": {"type": "users_select", "action_id": "user"}},
    {"type": "input", "block_id": "why", "label": {"type": "plain_text", "text": "Why?"},
     "element": {"type": "plain_text_input", "action_id": "reason"}},
]}  # fmt: skip


def test_a_button_is_found_by_its_words_in_the_newest_message_that_has_it() -> None:
    messages = [{"ts": "1", "blocks": [BUTTONS]}, {"ts": "2", "blocks": [PLAIN]}, {"ts": "3", "blocks": [BUTTONS]}]
    found = find_clickable(messages, "acknowledge")
    assert (found.number, found.action_id, found.label, found.option) == (3, "ack", "Acknowledge", None)
    assert find_clickable(messages, "ack", number=1).number == 1
    menu = find_clickable(messages, "Choose an auditor", option="bob jones")
    assert (menu.action_id, menu.option) == ("pick", BUTTONS["elements"][1]["options"][1])
    guarded = {"type": "actions", "elements": [{"type": "button", "action_id": "done", "text": {"type": "plain_text", "text": "Done"},
               "confirm": {"title": {"type": "plain_text", "text": "Sure?"}, "text": {"type": "mrkdwn", "text": "It stops the reminders."},
                           "confirm": {"type": "plain_text", "text": "Yes"}, "deny": {"type": "plain_text", "text": "No"}}}]}  # fmt: skip
    assert find_clickable([{"ts": "4", "blocks": [guarded]}], "done").confirm == "Sure? It stops the reminders."


@pytest.mark.parametrize(
    ("wanted", "number", "option", "problem"),
    [
        ("Approve", None, None, "no message of theirs has a button 'Approve'"),
        ("Approve", 3, None, "message #3 has no button 'Approve'; it has 'Acknowledge', 'Choose an auditor'"),
        ("Acknowledge", 2, None, "message #2 has no button 'Acknowledge'; it has no buttons"),
        ("Acknowledge", 9, None, "there is no message #9; this person has 3 message(s)"),
        ("Choose an auditor", None, None, "is a menu: say which option with --option ('Ann Smith', 'Bob Jones')"),
        ("pick", None, "Cy", "has no option 'Cy'; its options are 'Ann Smith', 'Bob Jones'"),
    ],
)
def test_a_button_that_is_not_there_is_named_with_what_is(wanted: str, number: int | None, option: str | None,
                                                          problem: str) -> None:
    messages = [{"ts": "1", "blocks": [BUTTONS]}, {"ts": "2", "blocks": [PLAIN]}, {"ts": "3", "blocks": [BUTTONS]}]
    with pytest.raises(FormInputError) as caught:
        find_clickable(messages, wanted, number=number, option=option)
    assert problem in str(caught.value)


def test_typed_fields_become_the_state_slack_would_send() -> None:
    ids = {"amy@council.example": "UAMY"}
    values = input_values(MODAL, {"What do you need?": "Extension", "when": "2026-12-04", "who": "amy@council.example",
                                  "reason": "Off sick"}, ids.get)  # fmt: skip
    assert values == {
        "kind": {"kind_choice": {"selected_option": MODAL["blocks"][0]["element"]["options"][1]}},
        "when": {"date": {"selected_date": "2026-12-04"}},
        "who": {"user": {"selected_user": "UAMY"}},
        "why": {"reason": {"value": "Off sick"}},
    }
    for typed, problem in (
        ({"colour": "red"}, "the modal has no field 'colour'; its fields are kind (What do you need?), when"),
        ({"kind": "holiday"}, "field 'kind' has no option 'holiday'"),
        ({"who": "nobody@council.example"}, "nobody with email 'nobody@council.example'"),
    ):
        with pytest.raises(FormInputError) as caught:
            input_values(MODAL, typed, ids.get)
        assert problem in str(caught.value)


# --- through the CLI, against the real app ------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def commands() -> None:
    if "workspace" not in cli.commands:
        _register_all()


def run(sim: Simulation, *args: str) -> Result:
    return CliRunner().invoke(cli, ["workspace", "--url", sim.workspace.root_url, *args])


def test_raising_and_acknowledging_an_alert_from_the_terminal(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    opened = run(sim, "command", "--user", TARA, "/audit", "concern", "CMS-100")
    assert opened.exit_code == 0, opened.output
    assert "Modal open for tara.teamlead@council.example: Safeguarding concern" in opened.output
    assert "  case  — Case reference; text; already filled in: CMS-100" in opened.output
    assert "  urgency  — How urgent?; one of: immediate (Immediate: act now) | same_day (Same day)" in opened.output
    assert "Please don't type the child's name" in opened.output

    wrong = run(sim, "submit", "--user", TARA, "case=CMS-999", "urgency=immediate", "note=Visit today")
    assert wrong.exit_code == 0, wrong.output
    assert wrong.output == (
        "The modal stays open with these problems:\n"
        "  case: Only the people working on this case, its auditors and the QA team can see or act on its "
        "safeguarding concerns. If a child may be unsafe, follow the council's safeguarding procedure now.\n"
    )  # outside a case (none is CMS-999), "no such case" reads as "not your case"
    unknown = run(sim, "submit", "--user", TARA, "colour=red")
    assert unknown.exit_code == 1 and "the modal has no field 'colour'" in unknown.output
    with sim.sessions() as session:
        assert session.scalars(select(SafeguardingAlert)).all() == []

    # The case reference was filled in when the modal opened: left alone, it is submitted as it was.
    sent = run(sim, "submit", "--user", TARA, "urgency=Immediate: act now", "note=Visit today")
    assert sent.exit_code == 0 and "The modal closed." in sent.output
    with sim.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        assert (alert.case.reference, alert.note) == ("CMS-100", "Visit today")
    assert run(sim, "modal", "--user", TARA).output == "tara.teamlead@council.example has no modal open\n"
    sim.runtime.senders["urgent"].drain(sim.clock.now)

    wendys = sim.workspace.messages(user_email=WENDY)
    number = "#" + str(next(n for n, m in enumerate(wendys, 1) if m["text"].startswith("Safeguarding concern: CMS-100")))
    assert f"{number} — " in run(sim, "messages", "--user", WENDY).output
    acked = run(sim, "click", "--user", WENDY, "acknowledge", "--message", number.lstrip("#"))
    assert acked.exit_code == 0, acked.output
    assert f"wendy.a1@council.example clicked [Acknowledge] in message {number}" in acked.output
    assert f"{number} — " in acked.output and "(updated)" in acked.output
    assert ":white_check_mark: You acknowledged this at 10:00 on Wednesday 2 December 2026." in acked.output
    with sim.sessions() as session:
        [wendy] = [r for r in session.scalars(select(AlertRecipient)) if r.person.email == WENDY]
        assert wendy.acknowledged_at is not None

    again = run(sim, "click", "--user", WENDY, "Acknowledge", "--message", number.lstrip("#"))
    assert again.exit_code == 1
    assert f"Error: message {number} has no button 'Acknowledge'" in again.output


def test_a_menu_click_and_refusals_from_the_terminal(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    run(sim, "command", "--user", TARA, "/audit", "concern", "CMS-100")
    run(sim, "submit", "--user", TARA, "urgency=same_day", "note=Check today")
    sim.runtime.senders["urgent"].drain(sim.clock.now)
    assert run(sim, "click", "--user", "nobody@council.example", "Acknowledge").output == (
        "Error: nobody with that email is in the local workspace\n"
    )
    nothing = run(sim, "submit", "--user", SID, "note=x")
    assert (nothing.exit_code, nothing.output) == (1, "Error: sid.manager@council.example has no modal open\n")
    bad = run(sim, "submit", "--user", SID, "no-equals-sign")
    assert bad.exit_code == 2 and "'no-equals-sign' is not field=value" in bad.output
    corrective = run(sim, "click", "--user", TARA, "Corrective action recorded")
    assert corrective.exit_code == 0, corrective.output
    assert "Modal open for tara.teamlead@council.example: Corrective action" in corrective.output
    assert "  note  — Short note (optional); text" in corrective.output
    done = run(sim, "submit", "--user", TARA, "note=Oversight entry made")
    assert "The modal closed." in done.output
    with sim.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        assert alert.corrective_note == "Oversight entry made"

