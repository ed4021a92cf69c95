"""Acting from a terminal: `auditbot workspace click/modal/submit` against the real app."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli import _register_all, cli
from bot.cli.workspace import readable
from bot.ids import Template
from bot.settings import load_settings
from bot.workspace.forms import FormInputError, find_clickable, input_values
from store.models import AlertRecipient, Allocation, ExemptionRequest, Person, SafeguardingAlert
from store.outbox import enqueue
from tests.simulation import Simulation
from tests.test_sender_files import booked_meeting

D = dt.date
TARA, WENDY, SID = "tara.teamlead@council.example", "wendy.a1@council.example", "sid.manager@council.example"
AMY, DEE = "amy.director@council.example", "dee.deputy@council.example"

BUTTONS = {"type": "actions", "block_id": "act", "elements": [
    {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "Acknowledge"}, "value": "7"},
    {"type": "static_select", "action_id": "pick", "placeholder": {"type": "plain_text", "text": "Choose an auditor"},
     "options": [{"text": {"type": "plain_text", "text": "Ann Smith"}, "value": "11"},
                 {"text": {"type": "plain_text", "text": "Bob Jones"}, "value": "12"}]},
]}
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
]}


def test_a_button_is_found_by_its_words_in_the_newest_message_that_has_it() -> None:
    messages = [{"ts": "1", "blocks": [BUTTONS]}, {"ts": "2", "blocks": [PLAIN]}, {"ts": "3", "blocks": [BUTTONS]}]
    found = find_clickable(messages, "acknowledge")
    assert (found.number, found.action_id, found.label, found.option) == (3, "ack", "Acknowledge", None)
    assert find_clickable(messages, "ack", number=1).number == 1
    menu = find_clickable(messages, "Choose an auditor", option="bob jones")
    assert (menu.action_id, menu.option) == ("pick", BUTTONS["elements"][1]["options"][1])
    guarded = {"type": "actions", "elements": [
        {"type": "button", "action_id": "done", "text": {"type": "plain_text", "text": "Done"},
         "confirm": {"title": {"type": "plain_text", "text": "Sure?"},
                     "text": {"type": "mrkdwn", "text": "It stops the reminders."},
                     "confirm": {"type": "plain_text", "text": "Yes"}, "deny": {"type": "plain_text", "text": "No"}}}]}
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
    assert input_values(MODAL, {"when": " 2026-12-04 "}, ids.get) == {"when": {"date": {"selected_date": "2026-12-04"}}}
    assert input_values(MODAL, {"when": ""}, ids.get) == {"when": {"date": {"selected_date": None}}}  # left empty
    values = input_values(MODAL, {"What do you need?": "Extension", "when": "2026-12-04", "who": "amy@council.example",
                                  "reason": "Off sick"}, ids.get)
    assert values == {
        "kind": {"kind_choice": {"selected_option": MODAL["blocks"][0]["element"]["options"][1]}},
        "when": {"date": {"selected_date": "2026-12-04"}},
        "who": {"user": {"selected_user": "UAMY"}},
        "why": {"reason": {"value": "Off sick"}},
    }
    for typed, problem in (
        ({"colour": "red"}, "the modal has no field 'colour'; its fields are kind (What do you need?), when"),
        # the values the modal takes are listed, with the words the person sees
        ({"kind": "holiday"}, "kind: no option 'holiday'; choose one of: exemption (Exemption), extension (Extension)"),
        ({"who": "nobody@council.example"}, "who: nobody with email 'nobody@council.example'"),
        ({"when": "04/12/2026"}, "when: not a date (YYYY-MM-DD)"),
        ({"when": "2026-02-30"}, "when: not a date (YYYY-MM-DD)"),
        ({"when": "2026-12-4"}, "when: not a date (YYYY-MM-DD)"),
        ({"when": "tomorrow"}, "when: not a date (YYYY-MM-DD)"),
    ):
        with pytest.raises(FormInputError) as caught:
            input_values(MODAL, typed, ids.get)
        assert problem in str(caught.value)


# --- through the CLI, against the real app ------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def commands() -> None:
    if "workspace" not in cli.commands:
        _register_all()


def run(sim: Simulation, *args: str, url: str | None = None) -> Result:
    env = {"AUDITBOT_DATABASE_URL": sim.runtime.settings.database_url}  # the bot's store, as `auditbot run` has it
    return CliRunner().invoke(cli, ["workspace", "--url", url or sim.workspace.root_url, *args], env=env)


def test_raising_and_acknowledging_an_alert_from_the_terminal(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    opened = run(sim, "command", "--user", TARA, "/audit", "concern", "CMS-100")
    assert opened.exit_code == 0, opened.output
    assert "Modal open for tara.teamlead@council.example: Safeguarding concern" in opened.output
    assert "  case  — Case reference; text; already filled in: CMS-100" in opened.output
    assert "  urgency  — How urgent?; one of: immediate (Immediate: act now) | same_day (Same day)" in opened.output
    assert "Please don't type the child's name" in opened.output

    wrong = run(sim, "submit", "--user", TARA, "case=CMS-999", "urgency=immediate", "note=Visit today")
    assert wrong.exit_code == 1, wrong.output  # a script sees that nothing was sent
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



# --- issue 12, item 10: what a new user trips over in the terminal -----------------------------


def test_a_modal_left_open_is_not_reprinted_and_can_be_closed(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    opened = run(sim, "command", "--user", TARA, "/audit", "concern", "CMS-100")
    assert "Modal open for tara.teamlead@council.example: Safeguarding concern" in opened.output

    later = run(sim, "command", "--user", TARA, "/audit", "help")
    assert later.exit_code == 0, later.output
    assert "Modal open for" not in later.output and "urgency  —" not in later.output
    assert ('(the modal "Safeguarding concern" is still open for tara.teamlead@council.example: '
            "`auditbot workspace modal` shows it, `submit` sends it, `close` closes it)") in later.output

    closed = run(sim, "close", "--user", TARA)
    assert (closed.exit_code, closed.output) == (
        0, "Closed tara.teamlead@council.example's modal \"Safeguarding concern\" without submitting it.\n"
    )  # the bot's modal does not ask to be told (no notify_on_close), so nothing is sent to it
    assert sim.workspace.view_stack(TARA) == []
    assert run(sim, "modal", "--user", TARA).output == "tara.teamlead@council.example has no modal open\n"
    after = run(sim, "command", "--user", TARA, "/audit", "help")
    assert "modal" not in after.output.lower()
    again = run(sim, "close", "--user", TARA)
    assert (again.exit_code, again.output) == (0, "tara.teamlead@council.example has no modal open\n")
    nothing = run(sim, "submit", "--user", TARA, "urgency=immediate", "note=Visit today")
    assert (nothing.exit_code, nothing.output) == (1, "Error: tara.teamlead@council.example has no modal open\n")
    with sim.sessions() as session:
        assert session.scalars(select(SafeguardingAlert)).all() == []
    assert "Close a person's open modal without submitting it" in run(sim, "close", "--help").output


def test_malformed_dates_and_options_are_refused_in_the_terminal_naming_the_field(sim: Simulation) -> None:
    sim.step(sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session:
        allocation = session.scalars(select(Allocation).order_by(Allocation.id)).first()
        assert allocation is not None
        auditor, reference = allocation.auditor.email, allocation.case.reference
    sim.at(D(2026, 12, 2), 10)
    assert run(sim, "command", "--user", auditor, "/audit", "exempt", reference).exit_code == 0
    for typed, problem in (
        ("new_date=31/12/2026", "Error: new_date: not a date (YYYY-MM-DD)\n"),
        ("new_date=2026-12-32", "Error: new_date: not a date (YYYY-MM-DD)\n"),
        ("kind=sick leave", "Error: kind: no option 'sick leave'; choose one of: exemption (Exemption: I can't do this "
                            "audit), extension (Extension: I need more time)\n"),
    ):
        fields = ["kind=extension", "reason=Covering a colleague's cases", typed]
        refused = run(sim, "submit", "--user", auditor, *fields)
        assert (refused.exit_code, refused.output) == (1, problem)
    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest)).all() == []
    assert len(sim.workspace.view_stack(auditor)) == 1  # still open, nothing was sent to the bot

    sent = run(sim, "submit", "--user", auditor, "kind=extension", "new_date=2027-01-08", "reason=Covering a colleague")
    assert sent.exit_code == 0 and "The modal closed." in sent.output, sent.output
    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest.new_due_date)).one() == D(2027, 1, 8)


def test_replies_in_the_terminal_show_names_not_raw_mentions(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False  # Amy may name her deputy
    sim.at(D(2026, 12, 1), 15)
    dee = sim.workspace.user_id(DEE)
    with sim.sessions() as session:  # Dee's Slack id is known, so the bot's reply mentions her
        session.scalars(select(Person).where(Person.email == DEE)).one().slack_user_id = dee
        session.commit()
    answer = run(sim, "command", "--user", AMY, "/audit", "delegate", f"<@{dee}|dee>", "2026-12-02", "2026-12-04")
    assert answer.exit_code == 0, answer.output
    assert answer.output.startswith(
        "Done: @Dee Deputy will decide exemption and extension requests for you from Wednesday 2 December 2026 to "
        "Friday 4 December 2026. They have been told.\n"
    )
    assert "<@" not in answer.output
    assert f"<@{dee}>" in sim.workspace.messages(user_email=AMY)[-1]["blocks"][0]["text"]["text"]  # Slack's own markup
    listed = run(sim, "messages", "--user", AMY)
    assert "Done: @Dee Deputy will decide" in listed.output and "<@" not in listed.output


def test_readable_shows_slack_markup_as_the_client_does() -> None:
    names = {"UDEE": "Dee Deputy"}
    assert readable("<@UDEE> and <@UDEE|dee>, <@UGONE|gone>, <#C1|audits>, <!here>, <https://x.example|the guide>, "
                    "<https://y.example>, a &lt;b&gt; &amp; c", names) == (
        "@Dee Deputy and @Dee Deputy, @gone, #audits, @here, the guide, https://y.example, a <b> & c"
    )


def test_url_pointing_at_the_bot_says_so_in_one_line(sim: Simulation) -> None:
    assert sim.runtime.server is not None
    bot = sim.runtime.server.url
    for args in (("messages", "--user", TARA), ("command", "--user", TARA, "/audit", "help"), ("users",)):
        answer = run(sim, *args, url=bot)
        assert answer.exit_code == 1
        assert answer.output == (f"Error: {bot} is the bot, not the local workspace; the workspace listens on port "
                                 f"{load_settings().local_workspace_port} (AUDITBOT_LOCAL_WORKSPACE_PORT)\n")


class _Elsewhere(BaseHTTPRequestHandler):
    """Something else on the port: a page for every path, and (``bot_behind_proxy``) a bot's health check."""

    bot_behind_proxy = False

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        health = self.path == "/healthz" and self.bot_behind_proxy
        data = b'{"ok": true}' if health else b"<html>Not here</html>"
        self.send_response(200 if health else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET


@pytest.mark.parametrize(("behind_proxy", "said"), [(True, "is the bot, not the local workspace"),
                                                    (False, "does not answer like the local workspace (HTTP 404)")])
def test_url_pointing_elsewhere_says_what_answered(sim: Simulation, behind_proxy: bool, said: str) -> None:
    handler = type("Handler", (_Elsewhere,), {"bot_behind_proxy": behind_proxy})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for args in (("messages", "--user", TARA), ("close", "--user", TARA)):
            answer = run(sim, *args, url=url)
            assert answer.exit_code == 1 and answer.output.startswith(f"Error: {url} {said}"), answer.output
            assert answer.output.count("\n") == 1
    finally:
        server.shutdown()
        server.server_close()


def test_messages_last_n_keeps_their_numbers(sim: Simulation) -> None:
    sim.at(D(2026, 12, 2), 10)
    for word in ("help", "mine", "nonsense"):
        run(sim, "command", "--user", TARA, "/audit", word)
    everything = run(sim, "messages", "--user", TARA).output
    assert [line[:3] for line in everything.splitlines() if line.startswith("#")] == ["#1 ", "#2 ", "#3 "]
    last = run(sim, "messages", "--user", TARA, "--last", "1")
    assert last.exit_code == 0, last.output
    heads = [line for line in last.output.splitlines() if line.startswith("#")]
    assert len(heads) == 1 and heads[0].startswith("#3 — ") and "I don't know `/audit nonsense`" in last.output
    assert last.output.startswith("(the last 1 of 3 messages)\n")
    assert "(the last" not in run(sim, "messages", "--user", TARA, "--last", "5").output
    as_json = json.loads(run(sim, "messages", "--user", TARA, "--last", "2", "--json").output)
    assert [m["number"] for m in as_json] == [2, 3]
    zero = run(sim, "messages", "--user", TARA, "--last", "0")
    assert zero.exit_code == 2 and "0 is not in the range x>=1" in zero.output
    assert "--last N Show only their newest N messages (each keeps its # for `click --message`)." in " ".join(
        run(sim, "messages", "--help").output.split())


def test_users_by_role(sim: Simulation) -> None:
    managers = run(sim, "users", "--role", "Team-Manager")
    assert managers.exit_code == 0, managers.output
    assert sorted(line.split()[1] for line in managers.output.splitlines()) == [
        "ben.teamlead@council.example", "tara.teamlead@council.example"
    ]
    assert managers.output.splitlines()[0].startswith(sim.workspace.user_id(managers.output.split()[1]) + "  ")
    qa = run(sim, "users", "--role", "qa_coordinator")
    assert [line.split()[1] for line in qa.output.splitlines()] == ["quinn.qa@council.example"]
    nobody = run(sim, "users", "--role", "iro")
    assert (nobody.exit_code, nobody.output) == (0, "nobody in the local workspace holds the role iro in the staff list\n")
    wrong = run(sim, "users", "--role", "wizard")
    assert wrong.exit_code == 2
    assert ("'wizard' is not a role; the roles are auditor, social_worker, team_manager, service_manager, "
            "group_manager, head_of_service, head_of_service_qa, assistant_director, strategic_lead, qa_coordinator, "
            "iro") in " ".join(wrong.output.split())
    everyone = run(sim, "users").output.splitlines()
    assert len(everyone) > len(managers.output.splitlines()) + 5
    assert "--role ROLE Only people who hold ROLE in the staff list: auditor, social_worker," in " ".join(
        run(sim, "users", "--help").output.split())


def test_a_calendar_invite_is_shown_and_saved_from_the_terminal(sim: Simulation, tmp_path) -> None:
    ics = "BEGIN:VCALENDAR\r\nLOCATION:Room 2 & 3 <Town Hall>\r\nEND:VCALENDAR\r\n"
    now = sim.at(D(2026, 12, 2), 10)
    with sim.sessions() as session, session.begin():
        tara = session.scalars(select(Person).where(Person.email == TARA)).one()
        meeting_id = booked_meeting(session, now, tara.id)
        enqueue(session, key="invite:7:0", template=Template.MEETING_INVITE, now=now, recipient_id=tara.id,
                context={"meeting_id": meeting_id, "sequence": 0, "method": "REQUEST", "reference": "CMS-100", "place": "Room 2",
                         "starts_at": "2026-12-08T10:00:00+00:00", "invite": {
                             "filename": "reflection-meeting-CMS-100.ics", "title": "Reflection meeting CMS-100 (invite 1)",
                             "content": ics}})
    sim.step(now)

    shown = run(sim, "messages", "--user", TARA)
    assert shown.exit_code == 0, shown.output
    [file_id] = [m["files"][0]["id"] for m in sim.workspace.messages(user_email=TARA) if m["files"]]
    lines = shown.output.splitlines()
    clip = next(n for n, line in enumerate(lines) if "📎" in line)
    assert lines[clip - 1:clip + 1] == [
        "  Calendar invite: the reflection meeting for case CMS-100, 10:00 on Tuesday 8 December 2026. "
        "Open the file to add it to your calendar.",
        f"  📎 reflection-meeting-CMS-100.ics — Reflection meeting CMS-100 (invite 1), {len(ics):,} bytes — "
        f"save it with: workspace file {file_id} --save PATH",
    ]
    printed = run(sim, "file", file_id)
    assert printed.exit_code == 0 and printed.stdout_bytes == ics.encode()
    saved = run(sim, "file", file_id, "--save", str(tmp_path / "invite.ics"))
    assert saved.exit_code == 0, saved.output
    assert saved.output == f"Saved reflection-meeting-CMS-100.ics ({len(ics)} bytes) to {tmp_path / 'invite.ics'}\n"
    assert (tmp_path / "invite.ics").read_bytes() == ics.encode()
    missing = run(sim, "file", "FNOSUCH")
    assert missing.exit_code == 1 and "no file with that id is in the local workspace" in missing.output
