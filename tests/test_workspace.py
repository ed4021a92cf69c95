"""The local workspace, driven by a real slack_sdk WebClient and a stand-in bot over HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier

from bot.blockkit import BlockKitError
from bot.workspace import ActionNotFoundError, LocalWorkspace
from bot.workspace.process import WorkspaceProcess
from bot.workspace.state import user_id_for
from tests.support import FakeClock, post_json

TOKEN = "xoxb-local-test"
SECRET = "local-signing-secret"
WALL_START = 1_700_000_000.0
ALICE = "alice.auditor@council.gov.uk"
BOB = "bob.worker@council.gov.uk"


class FakeBot:
    """A tiny stdlib HTTP server standing in for the bot: verifies signatures, records requests."""

    def __init__(self, wall: FakeClock) -> None:
        wall_clock = wall

        class _VerifierClock(SignatureClock):
            def now(self) -> float:
                return wall_clock()

        self.verifier = SignatureVerifier(SECRET, clock=_VerifierClock())
        self.requests: list[dict[str, Any]] = []
        self.reply: Callable[[dict[str, Any]], tuple[int, str]] = lambda request: (200, "")
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                valid = bot.verifier.is_valid_request(body, headers)
                form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                payload = json.loads(form["payload"]) if "payload" in form else None
                request = {"headers": headers, "body": body, "form": form, "payload": payload, "valid": valid}
                bot.requests.append(request)
                status, text = (401, "invalid signature") if not valid else bot.reply(request)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if text.startswith("{") else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(WALL_START)


@pytest.fixture
def bot(wall: FakeClock) -> Iterator[FakeBot]:
    fake = FakeBot(wall)
    yield fake
    fake.stop()


@pytest.fixture
def make_ws(clock: FakeClock, wall: FakeClock) -> Iterator[Callable[..., LocalWorkspace]]:
    started: list[LocalWorkspace] = []

    def make(**kwargs: Any) -> LocalWorkspace:
        ws = LocalWorkspace(bot_token=TOKEN, signing_secret=SECRET, clock=clock, wall_clock=wall, **kwargs)
        ws.start()
        ws.add_user(ALICE, "Alice Auditor")
        ws.add_user(BOB, "Bob Worker")
        started.append(ws)
        return ws

    yield make
    for ws in started:
        ws.stop()


@pytest.fixture
def ws(make_ws: Callable[..., LocalWorkspace]) -> LocalWorkspace:
    return make_ws(channel_rate_per_sec=None)


def client(ws: LocalWorkspace, **kwargs: Any) -> WebClient:
    return WebClient(token=kwargs.pop("token", TOKEN), base_url=ws.base_url, retry_handlers=[], **kwargs)


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


SECTION = {"type": "section", "block_id": "s", "text": {"type": "mrkdwn", "text": "Please audit case C-1"}}
ACTIONS = {
    "type": "actions",
    "block_id": "choices",
    "elements": [
        {"type": "button", "action_id": "accept", "text": {"type": "plain_text", "text": "Accept"}, "value": "audit-7"},
        {"type": "static_select", "action_id": "reason", "placeholder": {"type": "plain_text", "text": "Why"},
         "options": [{"text": {"type": "plain_text", "text": "On leave"}, "value": "leave"}]},
    ],
}
MODAL = {
    "type": "modal",
    "callback_id": "exemption",
    "private_metadata": "audit-7",
    "title": {"type": "plain_text", "text": "Ask for exemption"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
         "element": {"type": "plain_text_input", "action_id": "text"}},
        {"type": "input", "block_id": "until", "optional": True, "label": {"type": "plain_text", "text": "Until"},
         "element": {"type": "datepicker", "action_id": "date"}},
    ],
}


# --- users and conversations -------------------------------------------------------------------


def test_lookup_by_email_found_and_not_found(ws: LocalWorkspace) -> None:
    web = client(ws)
    user = web.users_lookupByEmail(email="Alice.Auditor@Council.gov.uk")["user"]
    assert user["id"] == ws.user_id(ALICE) == user_id_for(ALICE)
    assert user["id"].startswith("U") and len(user["id"]) == 11 and user["id"] == user["id"].upper()
    assert user["profile"] == {"email": ALICE, "real_name": "Alice Auditor", "display_name": "Alice Auditor"}
    assert (user["deleted"], user["is_bot"], user["real_name"]) == (False, False, "Alice Auditor")
    assert ws.add_user(ALICE, "Someone Else") == user["id"]
    with pytest.raises(SlackApiError) as caught:
        web.users_lookupByEmail(email="nobody@council.gov.uk")
    assert caught.value.response["error"] == "users_not_found"


def test_removed_user_is_not_found_but_info_shows_deleted(ws: LocalWorkspace) -> None:
    web = client(ws)
    ws.remove_user(BOB)
    with pytest.raises(SlackApiError) as caught:
        web.users_lookupByEmail(email=BOB)
    assert caught.value.response["error"] == "users_not_found"
    assert web.users_info(user=ws.user_id(BOB))["user"]["deleted"] is True
    with pytest.raises(SlackApiError) as caught_info:
        web.users_info(user="UNOBODY0000")
    assert caught_info.value.response["error"] == "user_not_found"


def test_conversations_open_is_stable(ws: LocalWorkspace) -> None:
    web = client(ws)
    alice = ws.user_id(ALICE)
    first = web.conversations_open(users=alice)["channel"]["id"]
    assert first.startswith("D") and first == web.conversations_open(users=alice)["channel"]["id"]
    assert first == ws.dm_channel(ALICE) != ws.dm_channel(BOB)
    with pytest.raises(SlackApiError) as caught:
        web.conversations_open(users="UNOBODY0000")
    assert caught.value.response["error"] == "user_not_found"


def test_auth_test_and_invalid_token(ws: LocalWorkspace) -> None:
    me = client(ws).auth_test()
    assert (me["user_id"], me["team_id"], me["team"]) == (ws.bot_user_id, "TLOCAL", "Local council")
    assert me["bot_id"].startswith("B")
    with pytest.raises(SlackApiError) as caught:
        client(ws, token="xoxb-wrong").chat_postMessage(channel=ws.user_id(ALICE), text="hi")
    assert caught.value.response["error"] == "invalid_auth"
    assert ws.messages() == []
    with pytest.raises(SlackApiError) as unknown:
        client(ws).api_call("chat.scheduleMessage", json={"channel": "C1"})
    assert unknown.value.response["error"] == "unknown_method"


# --- messages ----------------------------------------------------------------------------------


def test_post_message_is_stored_and_readable_per_user(ws: LocalWorkspace, wall: FakeClock) -> None:
    web = client(ws)
    dm = web.conversations_open(users=ws.user_id(ALICE))["channel"]["id"]
    metadata = {"event_type": "audit_allocated", "event_payload": {"audit_id": 7}}
    first = web.chat_postMessage(channel=dm, text="Audit C-1", blocks=[SECTION, ACTIONS], metadata=metadata)
    second = web.chat_postMessage(channel=ws.user_id(ALICE), text="Second", blocks=json.dumps([SECTION]))
    assert (first["channel"], second["channel"]) == (dm, dm)
    assert first["ts"] == "1700000000.000000" and second["ts"] == "1700000000.000001"
    wall.advance(2.5)
    bob = web.chat_postMessage(channel=ws.user_id(BOB), text="For Bob")
    assert bob["ts"] == "1700000002.500000"

    mine = ws.messages(user_email=ALICE)
    assert [m["text"] for m in mine] == ["Audit C-1", "Second"]
    assert mine[0] == {
        "channel": dm, "ts": first["ts"], "user": ws.bot_user_id, "text": "Audit C-1", "blocks": [SECTION, ACTIONS],
        "metadata": metadata, "ephemeral": False, "visible_to": None, "thread_ts": None, "edited": False, "files": None,
    }
    assert [m["text"] for m in ws.messages(user_email=BOB)] == ["For Bob"]
    assert [m["text"] for m in ws.messages(channel=dm)] == ["Audit C-1", "Second"]

    history = web.conversations_history(channel=dm, limit=10, include_all_metadata=True)["messages"]
    assert [m["ts"] for m in history] == [second["ts"], first["ts"]]
    assert history[1]["metadata"] == metadata
    assert "metadata" not in web.conversations_history(channel=dm)["messages"][1]


def test_channels_ephemerals_and_unknown_channel(ws: LocalWorkspace) -> None:
    web = client(ws)
    general = ws.add_channel("audit-leads")
    assert general.startswith("C") and ws.add_channel("#audit-leads") == general
    web.chat_postMessage(channel=general, text="Monthly allocation done")
    eph = web.chat_postEphemeral(channel=general, user=ws.user_id(ALICE), text="Only for Alice")
    assert [m["text"] for m in ws.messages(user_email=ALICE)] == ["Only for Alice"]
    assert ws.messages(user_email=BOB) == []
    in_channel = ws.messages(channel=general)
    assert [(m["text"], m["ephemeral"], m["visible_to"]) for m in in_channel] == [
        ("Monthly allocation done", False, None), ("Only for Alice", True, ws.user_id(ALICE)),
    ]
    assert in_channel[1]["ts"] == eph["message_ts"]
    assert [m["text"] for m in web.conversations_history(channel=general)["messages"]] == ["Monthly allocation done"]
    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel="CNOSUCHONE1", text="hi")
    assert caught.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as wrong_dm:
        web.chat_postEphemeral(channel=ws.dm_channel(BOB), user=ws.user_id(ALICE), text="x")
    assert wrong_dm.value.response["error"] == "user_not_in_channel"


def test_chat_update_marks_edited(ws: LocalWorkspace) -> None:
    web = client(ws)
    posted = web.chat_postMessage(channel=ws.user_id(ALICE), text="Audit C-1", blocks=[SECTION, ACTIONS])
    updated = web.chat_update(channel=posted["channel"], ts=posted["ts"], text="Accepted")
    assert updated["ts"] == posted["ts"]
    [message] = ws.messages(user_email=ALICE)
    assert (message["text"], message["blocks"], message["edited"]) == ("Accepted", [SECTION, ACTIONS], True)
    web.chat_update(channel=posted["channel"], ts=posted["ts"], text="Cleared", blocks=[])
    assert ws.messages(user_email=ALICE)[0]["blocks"] == []
    with pytest.raises(SlackApiError) as caught:
        web.chat_update(channel=posted["channel"], ts="1.000001", text="x")
    assert caught.value.response["error"] == "message_not_found"


def test_invalid_blocks_are_rejected_and_not_stored(ws: LocalWorkspace) -> None:
    web = client(ws)
    with pytest.raises(SlackApiError) as too_many:
        web.chat_postMessage(channel=ws.user_id(ALICE), text="x", blocks=[{"type": "divider"}] * 51)
    assert too_many.value.response["error"] == "invalid_blocks"
    assert too_many.value.response["response_metadata"]["messages"] == ["blocks: 51 blocks, Slack allows 50"]

    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    with pytest.raises(SlackApiError) as too_long:
        web.chat_postMessage(channel=ws.user_id(ALICE), text="x", blocks=[SECTION, long_section])
    assert too_long.value.response["error"] == "invalid_blocks"
    assert too_long.value.response["response_metadata"]["messages"] == [
        "blocks[1].text.text: 3001 characters, Slack allows 3000"
    ]
    with pytest.raises(SlackApiError) as no_fallback, pytest.warns(UserWarning, match="`text` argument is missing"):
        web.chat_postMessage(channel=ws.user_id(ALICE), blocks=[SECTION])
    assert no_fallback.value.response["response_metadata"]["messages"] == ["text: a plain-text fallback is required"]
    assert ws.messages() == []


def test_msg_too_long_and_no_text(ws: LocalWorkspace) -> None:
    web = client(ws)
    with pytest.raises(SlackApiError) as too_long:
        web.chat_postMessage(channel=ws.user_id(ALICE), text="x" * 40_001)
    assert too_long.value.response["error"] == "msg_too_long"
    with pytest.raises(SlackApiError) as empty:
        web.api_call("chat.postMessage", json={"channel": ws.user_id(ALICE)})
    assert empty.value.response["error"] == "no_text"
    assert web.chat_postMessage(channel=ws.user_id(ALICE), text="x" * 40_000)["ok"] is True
    assert len(ws.messages()) == 1


# --- rate limits and faults ----------------------------------------------------------------------


def test_per_channel_rate_limit(make_ws: Callable[..., LocalWorkspace], clock: FakeClock) -> None:
    ws = make_ws(channel_rate_per_sec=0.5, channel_burst=2)
    web = client(ws)
    alice, bob = ws.user_id(ALICE), ws.user_id(BOB)
    web.chat_postMessage(channel=alice, text="1")
    web.chat_postMessage(channel=ws.dm_channel(ALICE), text="2")
    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel=alice, text="3")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    retry_after = int(caught.value.response.headers["Retry-After"])
    assert retry_after == 2
    assert web.chat_postMessage(channel=bob, text="to another channel")["ok"] is True
    clock.advance(retry_after - 0.5)
    with pytest.raises(SlackApiError) as still:
        web.chat_postMessage(channel=alice, text="3")
    assert int(still.value.response.headers["Retry-After"]) == 1
    clock.advance(0.5)
    assert web.chat_postMessage(channel=alice, text="3")["ok"] is True
    assert [m["text"] for m in ws.messages(user_email=ALICE)] == ["1", "2", "3"]


def test_workspace_wide_write_ceiling(make_ws: Callable[..., LocalWorkspace], clock: FakeClock) -> None:
    ws = make_ws(channel_rate_per_sec=None, workspace_rate_per_sec=1.0, workspace_burst=3)
    web = client(ws)
    first = web.chat_postMessage(channel=ws.user_id(ALICE), text="1")
    web.chat_postMessage(channel=ws.user_id(BOB), text="2")
    web.chat_update(channel=first["channel"], ts=first["ts"], text="1b")
    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel=ws.add_channel("leads"), text="3")
    assert (caught.value.response.status_code, caught.value.response.headers["Retry-After"]) == (429, "1")
    assert web.users_lookupByEmail(email=ALICE)["ok"] is True  # reads are not limited
    clock.advance(1.0)
    assert web.chat_postMessage(channel=ws.add_channel("leads"), text="3")["ok"] is True
    ws.set_rate_limits(channel_rate_per_sec=None, workspace_rate_per_sec=None)
    for i in range(10):
        web.chat_postMessage(channel=ws.user_id(BOB), text=f"bulk {i}")
    assert len(ws.messages(user_email=BOB)) == 11


def test_injected_faults_store_nothing(ws: LocalWorkspace) -> None:
    web = client(ws)
    ws.fail_next(1)
    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel=ws.user_id(ALICE), text="lost")
    assert (caught.value.response.status_code, caught.value.response["error"]) == (500, "internal_error")
    ws.fail_next(1, kind="503")
    with pytest.raises(SlackApiError) as unavailable:
        web.chat_postMessage(channel=ws.user_id(ALICE), text="lost")
    assert unavailable.value.response.status_code == 503
    assert ws.messages() == []
    assert web.chat_postMessage(channel=ws.user_id(ALICE), text="kept")["ok"] is True
    assert [m["text"] for m in ws.messages()] == ["kept"]
    assert [method for method, _ in ws.calls] == ["chat.postMessage"] * 3


def test_fault_rate_is_deterministic_for_a_seed(make_ws: Callable[..., LocalWorkspace]) -> None:
    def outcomes(ws: LocalWorkspace) -> list[int]:
        web, result = client(ws), []
        for _ in range(20):
            try:
                result.append(web.auth_test().status_code)
            except SlackApiError as exc:
                result.append(exc.response.status_code)
        return result

    first = outcomes(make_ws(fault_rate=0.5, fault_seed=7))
    assert first == outcomes(make_ws(fault_rate=0.5, fault_seed=7))
    assert set(first) == {200, 500}
    ws = make_ws(fault_seed=7)
    assert set(outcomes(ws)) == {200}
    ws.inject_faults(0.5)
    assert outcomes(ws) == first


def test_timeout_fault_outlasts_client_timeout(make_ws: Callable[..., LocalWorkspace]) -> None:
    ws = make_ws(channel_rate_per_sec=None, timeout_hold_seconds=0.5)
    ws.fail_next(1, kind="timeout")
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        client(ws, timeout=0.2).chat_postMessage(channel=ws.user_id(ALICE), text="lost")
    assert ws.messages() == []
    ws.fail_next(1, kind="timeout_after_store")
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        client(ws, timeout=0.2).chat_postMessage(channel=ws.user_id(ALICE), text="landed")
    assert [m["text"] for m in ws.messages()] == ["landed"]
    assert client(ws).chat_postMessage(channel=ws.user_id(ALICE), text="kept")["ok"] is True
    assert [m["text"] for m in ws.messages()] == ["landed", "kept"]


# --- views -----------------------------------------------------------------------------------------


def test_views_open_checks_trigger(ws: LocalWorkspace, clock: FakeClock) -> None:
    web = client(ws)
    trigger = ws.issue_trigger(ALICE)
    clock.advance(3.0)
    with pytest.raises(SlackApiError) as expired:
        web.views_open(trigger_id=trigger, view=MODAL)
    assert expired.value.response["error"] == "expired_trigger_id"
    with pytest.raises(SlackApiError) as invalid:
        web.views_open(trigger_id="123.456.deadbeef", view=MODAL)
    assert invalid.value.response["error"] == "invalid_trigger_id"

    fresh = ws.issue_trigger(ALICE)
    clock.advance(2.9)
    opened = web.views_open(trigger_id=fresh, view=MODAL)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "exemption"
    assert opened["private_metadata"] == "audit-7" and opened["hash"]
    assert [v["id"] for v in ws.views(ALICE)] == [opened["id"]] and ws.views(BOB) == []
    with pytest.raises(SlackApiError) as reused:
        web.views_open(trigger_id=fresh, view=MODAL)
    assert reused.value.response["error"] == "exchanged_trigger_id"

    with pytest.raises(SlackApiError) as stale:
        web.views_update(view_id=opened["id"], hash="1.stale", view=MODAL)
    assert stale.value.response["error"] == "hash_conflict"
    changed = dict(MODAL, title={"type": "plain_text", "text": "Exemption sent"})
    updated = web.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)["view"]
    assert updated["hash"] != opened["hash"]
    assert ws.views(ALICE)[0]["title"]["text"] == "Exemption sent"


def test_invalid_view_is_rejected(ws: LocalWorkspace) -> None:
    bad = dict(MODAL, title={"type": "plain_text", "text": "A title that is far too long"})
    with pytest.raises(SlackApiError) as caught:
        client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=bad)
    assert caught.value.response["error"] == "invalid_arguments"
    assert caught.value.response["response_metadata"]["messages"] == ["title.text: 28 characters, Slack allows 24"]
    assert ws.views(ALICE) == []


def test_views_publish_home(ws: LocalWorkspace) -> None:
    web = client(ws)
    home = {"type": "home", "blocks": [SECTION]}
    first = web.views_publish(user_id=ws.user_id(BOB), view=home)["view"]
    second = web.views_publish(user_id=ws.user_id(BOB), view=dict(home, blocks=[SECTION, ACTIONS]))["view"]
    assert first["id"] == second["id"] and first["hash"] != second["hash"]
    assert [len(v["blocks"]) for v in ws.views(BOB)] == [2]


# --- read API --------------------------------------------------------------------------------------


def test_read_api_over_http(ws: LocalWorkspace) -> None:
    client(ws).chat_postMessage(channel=ws.user_id(ALICE), text="Hello Alice")
    root = ws.root_url
    assert ws.base_url == root + "api/"
    assert get_json(root + "_local/healthz") == (200, {"ok": True})
    status, users = get_json(root + "_local/users")
    assert status == 200
    assert {"id": ws.user_id(ALICE), "email": ALICE, "name": "Alice Auditor", "is_bot": False,
            "deleted": False} in users
    status, messages = get_json(root + f"_local/messages?user={ALICE}")
    assert status == 200 and [m["text"] for m in messages] == ["Hello Alice"]
    assert messages == ws.messages(user_email=ALICE)
    assert get_json(root + f"_local/messages?channel={ws.dm_channel(BOB)}") == (200, [])
    assert get_json(root + "_local/messages?user=nobody@x.gov.uk") == (404, {"ok": False, "error": "users_not_found"})
    assert get_json(root + "_local/messages?channel=CNOPE") == (404, {"ok": False, "error": "channel_not_found"})
    with pytest.raises(KeyError):
        ws.messages(user_email="nobody@x.gov.uk")


# --- acting as a user ------------------------------------------------------------------------------


def test_slash_command_is_signed_and_ack_shown_as_ephemeral(make_ws: Callable[..., LocalWorkspace],
                                                            bot: FakeBot) -> None:
    ws = make_ws(bot_endpoint=bot.url)
    bot.reply = lambda request: (200, json.dumps({"text": "Fetching your audits…"}))
    result = ws.slash_command(ALICE, "/audit", "mine")
    assert result["status"] == 200 and result["body"] == {"text": "Fetching your audits…"}
    [request] = bot.requests
    assert request["valid"] is True
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert request["headers"]["X-Slack-Request-Timestamp"] == str(int(WALL_START))
    form = request["form"]
    assert {k: form[k] for k in ("command", "text", "user_id", "channel_id", "channel_name", "team_id")} == {
        "command": "/audit", "text": "mine", "user_id": ws.user_id(ALICE), "channel_id": ws.dm_channel(ALICE),
        "channel_name": "directmessage", "team_id": "TLOCAL",
    }
    assert form["trigger_id"] == result["trigger_id"]
    assert form["response_url"].startswith(ws.root_url + "_local/response/")
    assert {"token", "team_domain", "user_name", "api_app_id"} <= set(form)

    [ack] = ws.messages(user_email=ALICE)
    assert (ack["text"], ack["ephemeral"], ack["visible_to"]) == ("Fetching your audits…", True, ws.user_id(ALICE))
    assert ws.messages(user_email=BOB) == []

    status, _ = post_json(form["response_url"], {"text": "You have 2 audits", "response_type": "in_channel"})
    assert status == 200
    assert [(m["text"], m["ephemeral"]) for m in ws.messages(user_email=ALICE)] == [
        ("Fetching your audits…", True), ("You have 2 audits", False),
    ]
    # The trigger from the command can open a modal within 3 seconds.
    opened = client(ws).views_open(trigger_id=result["trigger_id"], view=MODAL)
    assert opened["view"]["id"] == ws.view_stack(ALICE)[0]["id"]


def test_empty_ack_records_nothing_and_bad_signature_is_refused(make_ws: Callable[..., LocalWorkspace],
                                                                 bot: FakeBot) -> None:
    ws = make_ws(bot_endpoint=bot.url)
    assert ws.slash_command(BOB, "/audit", "help")["body"] == ""
    assert ws.messages(user_email=BOB) == []
    body = b"command=%2Faudit&text=help"
    headers = ws.actor.signed_headers(body)
    assert ws.send_raw(body, headers) == (200, "")
    tampered = dict(headers, **{"X-Slack-Signature": "v0=" + "0" * 64})
    assert ws.send_raw(body, tampered) == (401, "invalid signature")
    assert [r["valid"] for r in bot.requests] == [True, True, False]


def test_click_sends_block_actions_and_response_url_replaces(make_ws: Callable[..., LocalWorkspace],
                                                              bot: FakeBot) -> None:
    ws = make_ws(bot_endpoint=bot.url, channel_rate_per_sec=None)
    web = client(ws)
    posted = web.chat_postMessage(channel=ws.user_id(ALICE), text="Audit C-1", blocks=[SECTION, ACTIONS])
    [message] = ws.messages(user_email=ALICE)
    result = ws.click(ALICE, message, "accept")
    assert result["status"] == 200
    [request] = bot.requests
    payload = request["payload"]
    assert request["valid"] is True
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == ws.user_id(ALICE) and payload["user"]["team_id"] == "TLOCAL"
    assert payload["container"] == {"type": "message", "message_ts": posted["ts"], "channel_id": posted["channel"],
                                    "is_ephemeral": False}
    assert payload["channel"]["id"] == posted["channel"]
    assert payload["message"]["ts"] == posted["ts"] and payload["message"]["blocks"] == [SECTION, ACTIONS]
    [action] = payload["actions"]
    assert {k: action[k] for k in ("type", "action_id", "block_id", "value")} == {
        "type": "button", "action_id": "accept", "block_id": "choices", "value": "audit-7",
    }
    assert payload["trigger_id"] == result["trigger_id"]

    ws.click(ALICE, message, "reason", selected_option="leave")
    select = bot.requests[-1]["payload"]["actions"][0]
    assert select["type"] == "static_select" and select["selected_option"]["value"] == "leave"
    with pytest.raises(ActionNotFoundError):
        ws.click(ALICE, message, "no_such_action")
    with pytest.raises(PermissionError):
        ws.click(BOB, message, "accept")

    status, _ = post_json(payload["response_url"], {"replace_original": True, "text": "Accepted"})
    assert status == 200
    [replaced] = ws.messages(user_email=ALICE)
    assert (replaced["ts"], replaced["text"], replaced["blocks"], replaced["edited"]) == (
        posted["ts"], "Accepted", None, True,
    )
    status, body = post_json(payload["response_url"], {"text": "x", "blocks": [{"type": "nope"}]})
    assert (status, body["error"]) == (400, "invalid_blocks")


def test_home_opened_event_and_a_click_on_a_published_home_view_arrive_as_slack_sends_them(
    make_ws: Callable[..., LocalWorkspace], bot: FakeBot,
) -> None:
    ws = make_ws(bot_endpoint=bot.url)
    assert ws.home(ALICE) is None
    ws.open_home(ALICE)
    [opened] = bot.requests
    event = json.loads(opened["body"])
    assert opened["valid"] is True and opened["headers"]["Content-Type"] == "application/json"
    assert event["type"] == "event_callback" and event["event"]["type"] == "app_home_opened"
    assert (event["event"]["user"], event["event"]["tab"]) == (ws.user_id(ALICE), "home") and "view" not in event["event"]

    rows = [{"type": "actions", "block_id": f"home_item:x:{n}", "elements": [
        {"type": "button", "action_id": "accept", "text": {"type": "plain_text", "text": f"Time {n}"}, "value": str(n)}]}
        for n in (7, 8)]
    published = client(ws).views_publish(user_id=ws.user_id(ALICE), view={"type": "home", "blocks": [SECTION, *rows]})["view"]
    home = ws.home(ALICE)
    assert home is not None and home["id"] == published["id"] and home["type"] == "home"
    ws.open_home(ALICE)
    assert json.loads(bot.requests[-1]["body"])["event"]["view"]["id"] == home["id"]

    result = ws.click_view(ALICE, home, "accept", value="8")
    payload = bot.requests[-1]["payload"]
    assert result["status"] == 200 and bot.requests[-1]["valid"] is True
    assert payload["type"] == "block_actions" and payload["container"] == {"type": "view", "view_id": home["id"]}
    assert payload["view"]["id"] == home["id"] and payload["view"]["type"] == "home"
    assert "response_url" not in payload and "channel" not in payload and "message" not in payload
    assert payload["trigger_id"] == result["trigger_id"]
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == ("accept", "8", "home_item:x:8")
    with pytest.raises(PermissionError):
        ws.click_view(BOB, home, "accept")
    with pytest.raises(ActionNotFoundError):
        ws.click_view(ALICE, home, "accept", value="9")


def test_submit_view_errors_then_close(make_ws: Callable[..., LocalWorkspace], bot: FakeBot) -> None:
    ws = make_ws(bot_endpoint=bot.url)
    client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=MODAL)
    [view] = ws.view_stack(ALICE)
    bot.reply = lambda request: (200, json.dumps({"response_action": "errors",
                                                  "errors": {"reason": "Please give a reason"}}))
    result = ws.submit_view(ALICE, view, {"reason": {"text": {"value": ""}}})
    assert result["status"] == 200
    assert result["body"] == {"response_action": "errors", "errors": {"reason": "Please give a reason"}}
    payload = bot.requests[-1]["payload"]
    assert bot.requests[-1]["valid"] is True
    assert payload["type"] == "view_submission"
    assert (payload["view"]["id"], payload["view"]["callback_id"]) == (view["id"], "exemption")
    assert payload["view"]["private_metadata"] == "audit-7"
    assert payload["view"]["state"]["values"] == {
        "reason": {"text": {"type": "plain_text_input", "value": ""}},
        "until": {"date": {"type": "datepicker", "selected_date": None}},
    }
    assert [v["id"] for v in ws.view_stack(ALICE)] == [view["id"]]

    done = dict(MODAL, title={"type": "plain_text", "text": "Sent"}, blocks=[SECTION])
    del done["submit"]
    bot.reply = lambda request: (200, json.dumps({"response_action": "update", "view": done}))
    ws.submit_view(ALICE, view, {"reason": {"text": {"value": "On leave"}}})
    assert ws.view_stack(ALICE)[0]["title"]["text"] == "Sent"

    bot.reply = lambda request: (200, "")
    ws.submit_view(ALICE, ws.view_stack(ALICE)[0], {})
    assert ws.view_stack(ALICE) == []
    assert len(ws.views(ALICE)) == 1
    with pytest.raises(LookupError):
        ws.submit_view(ALICE, view, {})
    client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=MODAL)
    with pytest.raises(KeyError, match="no_such_block"):
        ws.submit_view(ALICE, ws.view_stack(ALICE)[0], {"no_such_block": {}})


def test_closing_a_modal_tells_the_bot_only_when_the_modal_asked(make_ws: Callable[..., LocalWorkspace],
                                                                 bot: FakeBot) -> None:
    ws = make_ws(bot_endpoint=bot.url)
    assert ws.close_modal(ALICE) is None
    client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=MODAL)
    closed = ws.close_modal(ALICE)
    assert closed is not None and (closed["notified"], closed["view"]["callback_id"]) == (False, "exemption")
    assert ws.view_stack(ALICE) == [] and bot.requests == []

    asks = dict(MODAL, notify_on_close=True)
    client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=asks)
    [view] = ws.view_stack(ALICE)
    closed = ws.close_modal(ALICE)
    assert closed is not None and (closed["notified"], closed["status"]) == (True, 200)
    [request] = bot.requests
    assert request["valid"] is True
    payload = request["payload"]
    assert (payload["type"], payload["view"]["id"], payload["view"]["callback_id"]) == ("view_closed", view["id"], "exemption")
    assert (payload["user"]["id"], payload["is_cleared"]) == (ws.user_id(ALICE), False)
    assert ws.view_stack(ALICE) == []

    client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=MODAL)
    client(ws).views_push(trigger_id=ws.issue_trigger(ALICE), view=asks)
    ws.close_modal(ALICE)  # the X on a pushed modal closes them all
    assert bot.requests[-1]["payload"]["is_cleared"] is True and ws.view_stack(ALICE) == []

    status, body = post_json(ws.root_url + "_local/act/close", {"user": ALICE})
    assert (status, body["error"]) == (404, "no_open_modal")


def test_invalid_view_in_response_action_raises(make_ws: Callable[..., LocalWorkspace], bot: FakeBot) -> None:
    ws = make_ws(bot_endpoint=bot.url)
    client(ws).views_open(trigger_id=ws.issue_trigger(ALICE), view=MODAL)
    bad = dict(MODAL, title={"type": "plain_text", "text": "t" * 30})
    bot.reply = lambda request: (200, json.dumps({"response_action": "push", "view": bad}))
    with pytest.raises(BlockKitError) as caught:
        ws.submit_view(ALICE, ws.view_stack(ALICE)[0], {})
    assert caught.value.problems == ["response_action push view: title.text: 30 characters, Slack allows 24"]
    assert len(ws.view_stack(ALICE)) == 1


# --- files -------------------------------------------------------------------------------------

ICS = "BEGIN:VCALENDAR\r\nLOCATION:Room 2 & 3 <Town Hall>\r\nEND:VCALENDAR\r\n"


def post_bytes(url: str, data: bytes) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def reserve(web: WebClient, data: bytes = ICS.encode(), *, upload: bytes | None = None) -> str:
    """A file id whose upload URL got ``upload`` (default: ``data``, as declared)."""
    answer = web.files_getUploadURLExternal(filename="invite.ics", length=len(data))
    assert post_bytes(answer["upload_url"], data if upload is None else upload) == (200, f"OK - {len(upload or data)}")
    return str(answer["file_id"])


def test_an_upload_is_shared_as_a_message_with_its_file(ws: LocalWorkspace) -> None:
    web = client(ws)
    shared = web.files_upload_v2(channel=ws.dm_channel(ALICE), content=ICS, filename="invite.ics", title="Invite 1",
                                 initial_comment="Calendar invite")["files"][0]
    [message] = ws.messages(user_email=ALICE)
    assert (message["text"], message["user"]) == ("Calendar invite", ws.bot_user_id)
    [listed] = message["files"]
    assert (listed["id"], listed["name"], listed["title"], listed["size"]) == (shared["id"], "invite.ics", "Invite 1", len(ICS))
    assert shared["shares"] == {"private": {ws.dm_channel(ALICE): [{"ts": message["ts"]}]}}
    assert ws.file(shared["id"])[1] == ICS.encode()
    [seen] = web.conversations_history(channel=ws.dm_channel(ALICE))["messages"]
    assert seen["files"][0]["title"] == "Invite 1"
    assert web.files_info(file=shared["id"])["file"]["shares"] == shared["shares"]
    public = web.files_upload_v2(channel=ws.add_channel("leads"), content="x", filename="a.txt")["files"][0]
    assert list(public["shares"]) == ["public"] and public["title"] == "a.txt"


def test_upload_urls_refuse_what_slack_refuses(ws: LocalWorkspace) -> None:
    web = client(ws)
    for params in ({"filename": "invite.ics"}, {"filename": "invite.ics", "length": 0},
                   {"filename": "invite.ics", "length": "ten"}, {"filename": "", "length": 10}, {"length": 10}):
        with pytest.raises(SlackApiError) as caught:
            web.api_call("files.getUploadURLExternal", params=params)
        assert caught.value.response["error"] == "invalid_arguments", params
    assert post_bytes(ws.root_url + "upload/v1/no-such-upload", b"x")[0] == 404


@pytest.mark.parametrize(
    ("files", "channel", "error"),
    [
        ("not json", None, "invalid_arguments"),
        ('{"id": "F1"}', None, "invalid_arguments"),
        ("[]", None, "invalid_arguments"),
        ('[{"id": "FNEVER"}]', None, "file_not_found"),
        ("uploaded", "CNOSUCH", "channel_not_found"),
        ("short", None, "file_not_found"),
        ("reserved", None, "file_not_found"),
    ],
)
def test_completion_refuses_what_slack_refuses(ws: LocalWorkspace, files: str, channel: str | None, error: str) -> None:
    web = client(ws)
    if files in ("uploaded", "short"):
        files = json.dumps([{"id": reserve(web, upload=b"BEGIN" if files == "short" else None)}])
    elif files == "reserved":  # never uploaded
        files = json.dumps([{"id": web.files_getUploadURLExternal(filename="a.ics", length=3)["file_id"]}])
    with pytest.raises(SlackApiError) as caught:
        web.api_call("files.completeUploadExternal", params={"files": files, "channel_id": channel})
    assert caught.value.response["error"] == error
    assert ws.messages() == []


def test_a_file_is_completed_once_and_without_a_channel_stays_private(ws: LocalWorkspace) -> None:
    web = client(ws)
    file_id = reserve(web)
    with pytest.raises(SlackApiError) as too_long:
        web.files_completeUploadExternal(files=[{"id": file_id}], channel_id=ws.dm_channel(ALICE), initial_comment="x" * 4001)
    assert too_long.value.response["error"] == "msg_too_long"
    done = web.files_completeUploadExternal(files=[{"id": file_id, "title": "Kept"}])["files"][0]
    assert (done["title"], done["shares"]) == ("Kept", {})
    assert ws.messages() == []
    with pytest.raises(SlackApiError) as again:
        web.files_completeUploadExternal(files=[{"id": file_id}], channel_id=ws.dm_channel(ALICE))
    assert again.value.response["error"] == "file_not_found"
    assert post_bytes(ws.root_url + "upload/v1/x", b"")[0] == 404
    with pytest.raises(SlackApiError) as unknown:
        web.files_info(file="FNOSUCH")
    assert unknown.value.response["error"] == "file_not_found"


def test_faults_and_the_write_limit_apply_to_completion(make_ws: Callable[..., LocalWorkspace], clock: FakeClock) -> None:
    ws = make_ws(channel_rate_per_sec=None, workspace_rate_per_sec=1.0, workspace_burst=1)
    web = client(ws)
    file_id = reserve(web)
    ws.fail_next(1, kind="500")
    with pytest.raises(SlackApiError) as failed:
        web.files_completeUploadExternal(files=[{"id": file_id}], channel_id=ws.dm_channel(ALICE))
    assert failed.value.response.status_code == 500
    web.chat_postMessage(channel=ws.dm_channel(BOB), text="spends the write budget")
    with pytest.raises(SlackApiError) as limited:
        web.files_completeUploadExternal(files=[{"id": file_id}], channel_id=ws.dm_channel(ALICE))
    assert (limited.value.response.status_code, limited.value.response.headers["Retry-After"]) == (429, "1")
    assert web.files_getUploadURLExternal(filename="b.ics", length=1)["ok"] is True  # not a write
    clock.advance(1.0)
    assert web.files_completeUploadExternal(files=[{"id": file_id}], channel_id=ws.dm_channel(ALICE))["ok"] is True
    assert [len(m["files"]) for m in ws.messages(user_email=ALICE)] == [1]


def test_the_workspace_served_from_a_process_of_its_own_answers_as_in_process_and_stops() -> None:
    workspace = WorkspaceProcess(bot_token="xoxb-own", signing_secret="s", tiers=False)
    with workspace:
        uid = workspace.add_user("auditor@council.example", "An Auditor")
        assert uid == user_id_for("auditor@council.example")
        web = WebClient(token="xoxb-own", base_url=workspace.base_url)
        web.chat_postMessage(channel=uid, text="You have a case file audit")
        with pytest.raises(SlackApiError):
            WebClient(token="xoxb-wrong", base_url=workspace.base_url).chat_postMessage(channel=uid, text="x")

        assert [m["text"] for m in workspace.messages()] == ["You have a case file audit"]
        assert ("chat.postMessage", 200) in workspace.call_log()
        assert {u["email"] for u in workspace.users()} >= {"auditor@council.example"}
        assert workspace.rss_mib() > 0
        click = workspace.click_context(uid)
        assert post_json(click["response_url"], {"text": "Marked complete"})[0] == 200
        assert workspace.arrivals("response_url") == 1
        assert [m["text"] for m in workspace.messages()][-1] == "Marked complete"
        process = workspace._process
    assert process is not None and not process.is_alive(), "the child ended with the workspace"
