"""The edge, tried as an attacker and as a flaky network would: forged, stale and malformed
requests are refused before anything reads or answers them; signed but malformed input is a 4xx
or a clear ephemeral, never a 500; a replayed, doubled or retried request has one effect; and
when the database is out of reach every kind of request is still answered."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot import web
from bot.handlers import receipts
from bot.ids import ActionId
from bot.scheduler.tick import tick
from bot.workspace.actor import sign
from store.models import Notification, RequestReceipt, SafeguardingAlert
from tests.simulation import Simulation
from tests.test_scenario_alerts import NOTE, REF, TARA, WENDY, alert_message, raise_concern, urgent

Wire = list[tuple[bytes, dict[str, str]]]


@pytest.fixture
def wire(sim: Simulation) -> Wire:
    """Every request the workspace sends the bot, as (body, headers), so a test can replay it."""
    sent: Wire = []
    actor = sim.workspace.actor
    original = actor.send_raw

    def recording(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        sent.append((body, dict(headers)))
        return original(body, headers)

    actor.send_raw = recording  # type: ignore[method-assign]
    return sent


@pytest.fixture
def attacker() -> Iterator[list[str]]:
    """A server that records every request made to it (an attacker's response_url)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's name
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hits.append(f"http://127.0.0.1:{server.server_port}/hook")  # hits[0] is the URL itself
    yield hits
    server.shutdown()
    server.server_close()


def send(sim: Simulation, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    return sim.workspace.actor.send_raw(body, headers)


def signed(sim: Simulation, body: bytes, **extra: str) -> dict[str, str]:
    return {**sim.workspace.actor.signed_headers(body), **extra}


def click_body(sim: Simulation, wire: Wire) -> dict[str, Any]:
    """Tara's click on Acknowledge, as the payload Slack sent."""
    sim.at(dt.date(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.ACKNOWLEDGE_ALERT)
    body, _ = wire[-1]
    return json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])


def as_form(payload: Any) -> bytes:
    return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()


# --- 1. nothing unverified is read or answered --------------------------------------------------


def test_a_bad_or_stale_timestamp_is_401_with_no_outbound_call(sim, wire, attacker) -> None:
    payload = click_body(sim, wire)
    payload["response_url"] = attacker[0]
    payload["actions"][0]["value"] = "not-a-number"  # would make the handler fail and answer
    body = as_form(payload)
    calls_before = len(sim.workspace.calls)
    stale = int(sim.workspace.actor.signed_headers(body)["X-Slack-Request-Timestamp"]) - 301
    for timestamp in ["abc", "1e3", "", " 1700000000", "-1", "1700000000.5", "0", "99999999999", str(stale)]:
        signed_at = int(timestamp) if timestamp.strip().lstrip("-").isdigit() else 0
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": timestamp,
                   "X-Slack-Signature": sign(sim.workspace.signing_secret, signed_at, body)}
        assert send(sim, body, headers)[0] == 401, timestamp
    assert attacker[1:] == [], "the unverified response_url was never called"
    assert len(sim.workspace.calls) == calls_before, "no Slack API call either"


def test_forged_commands_modals_and_payloads_are_401_and_change_nothing(sim, wire) -> None:
    sim.workspace.slash_command(TARA, "/audit", "mine")
    command, command_headers = wire[-1]
    sim.workspace.slash_command(WENDY, "/audit", f"concern {REF}")
    raise_concern(sim, WENDY)
    view, view_headers = wire[-1]
    with sim.sessions() as session:
        alerts = session.scalar(select(func.count(SafeguardingAlert.id)))
    timestamp = int(view_headers["X-Slack-Request-Timestamp"])
    forged = [
        (command, {**command_headers, "X-Slack-Request-Timestamp": "abc"}),
        (view, {**view_headers, "X-Slack-Request-Timestamp": "1e3"}),
        (view, {**view_headers, "X-Slack-Signature": sign("not-the-secret", timestamp, view)}),
        (view + b"&x=1", view_headers),
        (view, {k: v for k, v in view_headers.items() if k != "X-Slack-Signature"}),
        (urllib.parse.urlencode({"payload": "[1, 2]"}).encode(), {"Content-Type": "application/x-www-form-urlencoded"}),
        (urllib.parse.urlencode({"payload": '"hello"'}).encode(), {"Content-Type": "application/x-www-form-urlencoded"}),
    ]
    for body, headers in forged:
        assert send(sim, body, headers)[0] == 401, headers
    with sim.sessions() as session:
        assert session.scalar(select(func.count(SafeguardingAlert.id))) == alerts == 1


def test_an_oversized_body_is_refused_unread(sim) -> None:
    body = b"payload=" + b"x" * 1_100_000
    assert send(sim, body, signed(sim, body))[0] == 413


# --- 3. signed but malformed: a 4xx or words, never a 500 -------------------------------------------


def test_signed_bodies_that_are_not_what_slack_sends_are_400(sim) -> None:
    for payload in ([1, 2], "a string", {"no": "type"}, 7):
        body = as_form(payload)
        assert send(sim, body, signed(sim, body))[0] == 400, payload
    for body in (b"payload=%FF%FE", b"\xff\xfe\x00", b"a=1&&b", b"payload=%7B"):
        assert send(sim, body, signed(sim, body))[0] == 400, body


UNREADABLE = "Sorry, I couldn't read that request, so nothing was changed. Please use the buttons and forms as they are."


@pytest.mark.parametrize("container", ["a string", 7, ["list"], None])
def test_a_click_whose_container_is_not_an_object_is_not_a_500(sim, wire, container: Any) -> None:
    payload = click_body(sim, wire)
    payload["container"] = container
    payload["actions"][0]["action_ts"] = "5.000005"
    body = as_form(payload)
    status, _ = send(sim, body, signed(sim, body))
    assert status in (200, 400)


def test_a_button_value_or_user_that_is_not_what_the_bot_sent_gets_words_not_a_500(sim, wire, caplog) -> None:
    payload = click_body(sim, wire)
    values = ["abc", "1.5", "7" * 200_000, "1\x00", str(2**31), str(2**63), "-3", "0", "١٢"]
    users = ["U" + "A" * 70, "UÄÖÜ123", "u-lower", "", "U1\x00"]
    cases = [("value", v) for v in values] + [("user", u) for u in users]
    for n, (field, bad) in enumerate(cases):
        changed = json.loads(json.dumps(payload))
        if field == "value":
            changed["actions"][0]["value"] = bad
        else:
            changed["user"]["id"] = bad
        changed["actions"][0]["action_ts"] = f"{n + 1}.000001"  # each a click of its own ...
        user = sim.workspace.state.user_by_email(TARA)
        token = sim.workspace.state.issue_response_url(user.id, user.im_channel, None)
        changed["response_url"] = f"{sim.workspace.root_url}_local/response/{token}"  # ... with its own response_url
        body = as_form(changed)
        before = len(sim.workspace.messages(user_email=TARA))
        caplog.clear()
        with caplog.at_level(logging.INFO):
            status, _ = send(sim, body, signed(sim, body))
        assert status == 200, (field, bad[:20])
        said = sim.workspace.messages(user_email=TARA)[before:]
        assert [(m["text"], m["ephemeral"]) for m in said] == [(UNREADABLE, True)], (field, bad[:20])
        assert max(len(r.getMessage()) for r in caplog.records) < 400, "log lines quote only a short prefix"
    with sim.sessions() as session:
        acknowledged = session.scalars(select(SafeguardingAlert.lead_acknowledged_at)).all()
    assert len(acknowledged) == 1, "the one real click acknowledged; none of the bad ones changed anything"


# --- 2. one effect per submission, click or command --------------------------------------------


@pytest.mark.parametrize("how", ["replay", "slack-retry"])
def test_a_concern_submitted_three_times_raises_one_alert_and_pages_once(sim, wire, how: str) -> None:
    sim.at(dt.date(2026, 12, 2), 10)
    assert raise_concern(sim, WENDY)["status"] == 200
    body, headers = wire[-1]
    with sim.sessions() as session:
        first = (session.scalar(select(func.count(SafeguardingAlert.id))), session.scalar(select(func.count(Notification.id))))
    for attempt in (1, 2):
        extra = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"} if how == "slack-retry" else {}
        status, answer = send(sim, body, {**headers, **extra})
        assert status == 200 and answer in ("", "{}"), answer
    with sim.sessions() as session:
        again = (session.scalar(select(func.count(SafeguardingAlert.id))), session.scalar(select(func.count(Notification.id))))
        note = session.scalar(select(SafeguardingAlert.note))
    assert first == again == (1, first[1]) and note == NOTE
    urgent(sim)
    assert sum(1 for m in sim.workspace.messages(user_email=TARA) if m["text"].startswith("Safeguarding concern")) == 1


def test_a_replayed_click_opens_no_second_modal(sim, wire) -> None:
    sim.at(dt.date(2026, 12, 2), 10)
    raise_concern(sim, WENDY)
    urgent(sim)
    sim.workspace.click(TARA, alert_message(sim, TARA), ActionId.CORRECTIVE_ACTION)
    body, headers = wire[-1]
    opened = [m for m, _ in sim.workspace.calls].count("views.open")
    assert send(sim, body, headers)[0] == 200
    assert [m for m, _ in sim.workspace.calls].count("views.open") == opened


def test_a_replayed_slash_command_is_answered_once(sim, wire) -> None:
    sim.workspace.slash_command(TARA, "/audit", f"concern {REF}")
    body, headers = wire[-1]
    opened = [m for m, _ in sim.workspace.calls].count("views.open")
    assert send(sim, body, headers) == (200, "")
    assert [m for m, _ in sim.workspace.calls].count("views.open") == opened


def test_a_corrected_resubmission_after_field_errors_is_acted_on(sim) -> None:
    sim.at(dt.date(2026, 12, 2), 10)
    refused = raise_concern(sim, WENDY, urgency=None)  # no urgency chosen: a field error, nothing created
    assert refused["status"] == 200 and refused["body"]["response_action"] == "errors"
    view = sim.workspace.view_stack(WENDY)[-1]
    accepted = sim.workspace.submit_view(WENDY, view, {
        "case": {"case": {"type": "plain_text_input", "value": REF}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "immediate"}}},
        "note": {"note": {"type": "plain_text_input", "value": NOTE}},
    })
    assert accepted["status"] == 200
    with sim.sessions() as session:
        assert session.scalar(select(func.count(SafeguardingAlert.id))) == 1


def test_receipts_are_pruned_after_a_day(sim) -> None:
    sim.workspace.slash_command(TARA, "/audit", "mine")
    with sim.sessions() as session:
        assert session.scalar(select(func.count(RequestReceipt.id))) == 1
    tick(sim.sessions, sim.runtime.settings, sim.calendar, sim.clock.now + dt.timedelta(hours=23))
    with sim.sessions() as session:
        assert session.scalar(select(func.count(RequestReceipt.id))) == 1
    tick(sim.sessions, sim.runtime.settings, sim.calendar, sim.clock.now + dt.timedelta(hours=25))
    with sim.sessions() as session:
        assert session.scalar(select(func.count(RequestReceipt.id))) == 0


# --- 8. the database out of reach: every kind of request is still answered -------------------------


UNAVAILABLE = "Sorry, I can't reach my records just now, so nothing was changed. Please try again in a few minutes."


def test_with_the_database_down_a_click_is_200_with_words(sim, wire, monkeypatch) -> None:
    payload = click_body(sim, wire)
    payload["actions"][0]["action_ts"] = "3.000003"
    body = as_form(payload)
    before = len(sim.workspace.messages(user_email=TARA))
    monkeypatch.setattr(web, "first_receipt", _refuse)  # a click's receipt is written before it is answered
    status, _ = send(sim, body, signed(sim, body))
    assert status == 200
    assert [m["text"] for m in sim.workspace.messages(user_email=TARA)[before:]] == [UNAVAILABLE]


def test_with_the_database_down_a_command_and_a_modal_are_answered(sim, wire, monkeypatch) -> None:
    sim.workspace.slash_command(WENDY, "/audit", f"concern {REF}")
    view = sim.workspace.view_stack(WENDY)[-1]
    monkeypatch.setattr(receipts, "first_receipt", _refuse)
    command = sim.workspace.slash_command(TARA, "/audit", "mine")
    assert command["status"] == 200 and command["body"]["text"] == UNAVAILABLE
    submitted = sim.workspace.submit_view(WENDY, view, {
        "case": {"case": {"type": "plain_text_input", "value": REF}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "immediate"}}},
        "note": {"note": {"type": "plain_text_input", "value": NOTE}},
    })
    assert submitted["status"] == 200 and submitted["body"]["response_action"] == "update"
    assert UNAVAILABLE in json.dumps(submitted["body"]["view"])
    with sim.sessions() as session:
        assert session.scalar(select(func.count(SafeguardingAlert.id))) == 0


def _refuse(*args: Any, **kwargs: Any) -> bool:
    raise OperationalError("INSERT INTO request_receipts", {}, ConnectionRefusedError("connection refused"))
