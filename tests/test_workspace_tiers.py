"""The local workspace limits each Web API method as Slack's tiers do, and stays lean in memory.

Driven over HTTP by a real slack_sdk WebClient (no retries) on a fake clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.workspace import LocalWorkspace
from bot.workspace.state import RESPONSE_URL_MAX_USES, RESPONSE_URL_TTL_SECONDS, TRIGGER_TTL_SECONDS
from tests.support import TOKEN, FakeClock, post_json, running_workspace

ALICE = "alice.auditor@council.gov.uk"
BOB = "bob.worker@council.gov.uk"
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Audit"},
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hello"}}]}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def ws(clock: FakeClock) -> Iterator[LocalWorkspace]:
    with running_workspace(clock=clock, wall_clock=FakeClock(1_700_000_000.0)) as workspace:
        workspace.add_user(ALICE, "Alice Auditor")
        workspace.add_user(BOB, "Bob Worker")
        yield workspace


def client(ws: LocalWorkspace) -> WebClient:
    return WebClient(token=TOKEN, base_url=ws.base_url, retry_handlers=[])


def limited(call: Any, **kwargs: Any) -> int:
    """Make a call Slack should refuse as rate limited; its Retry-After."""
    with pytest.raises(SlackApiError) as caught:
        call(**kwargs)
    assert (caught.value.response.status_code, caught.value.response["error"]) == (429, "ratelimited")
    return int(caught.value.response.headers["Retry-After"])


# --- tiers ---------------------------------------------------------------------------------------


def test_a_tier_3_method_allows_a_minutes_burst_then_answers_429_until_the_clock_moves_on(
    ws: LocalWorkspace, clock: FakeClock
) -> None:
    web = client(ws)
    for _ in range(50):
        assert web.users_lookupByEmail(email=ALICE)["ok"] is True
    wait = limited(web.users_lookupByEmail, email=ALICE)
    assert wait == 2  # 50 a minute: a token every 1.2 s, in whole seconds
    assert ws.call_log[-1].limited_by == "tier"
    clock.advance(wait)
    assert web.users_lookupByEmail(email=ALICE)["user"]["id"] == ws.user_id(ALICE)
    assert limited(web.users_lookupByEmail, email=ALICE) >= 1  # one token came back, and it is spent
    clock.advance(60)
    for _ in range(50):
        assert web.users_lookupByEmail(email=BOB)["ok"] is True  # a quiet minute refills the whole burst


def test_the_21st_users_list_in_a_minute_is_limited(ws: LocalWorkspace, clock: FakeClock) -> None:
    web = client(ws)
    for _ in range(20):
        assert len(web.users_list()["members"]) == 3
    assert limited(web.users_list) == 3  # 20 a minute: a token every 3 s
    clock.advance(2.9)
    assert limited(web.users_list) == 1
    clock.advance(0.2)
    assert web.users_list()["ok"] is True


def test_each_method_has_its_own_bucket(ws: LocalWorkspace) -> None:
    web = client(ws)
    for _ in range(50):
        web.users_lookupByEmail(email=ALICE)
    limited(web.users_lookupByEmail, email=ALICE)
    for _ in range(50):  # conversations.open is Tier 3 too, with a bucket of its own
        assert web.conversations_open(users=ws.user_id(ALICE))["channel"]["id"] == ws.dm_channel(ALICE)
    limited(web.conversations_open, users=ws.user_id(ALICE))
    for _ in range(100):  # Tier 4
        assert web.users_info(user=ws.user_id(BOB))["ok"] is True
    limited(web.users_info, user=ws.user_id(BOB))
    assert web.auth_test()["ok"] is True
    assert [r.limited_by for r in ws.call_log if r.status == 429] == ["tier"] * 3


def test_chat_post_message_is_limited_per_channel_not_by_a_tier(ws: LocalWorkspace) -> None:
    web = client(ws)
    people = [ws.add_user(f"person{n}@council.gov.uk", f"Person {n}") for n in range(120)]
    for person in people:
        assert web.chat_postMessage(channel=person, text="Your audits for December")["ok"] is True
    for _ in range(4):
        web.chat_postMessage(channel=ws.user_id(ALICE), text="again")
    web.chat_postMessage(channel=ws.user_id(ALICE), text="again")
    assert limited(web.chat_postMessage, channel=ws.user_id(ALICE), text="a sixth in one second") == 1
    assert ws.call_log[-1].limited_by == "channel"
    assert len(ws.messages()) == 125


def test_the_workspace_write_ceiling_is_named_when_it_limits(ws: LocalWorkspace) -> None:
    ws.set_rate_limits(channel_rate_per_sec=None, workspace_rate_per_sec=1.0, workspace_burst=2)
    web = client(ws)
    web.chat_postMessage(channel=ws.user_id(ALICE), text="1")
    web.chat_postMessage(channel=ws.user_id(BOB), text="2")
    limited(web.chat_postMessage, channel=ws.user_id(ALICE), text="3")
    assert ws.call_log[-1].limited_by == "workspace"


def test_tiers_off_is_unlimited_and_a_scale_changes_the_allowance(ws: LocalWorkspace, clock: FakeClock) -> None:
    web = client(ws)
    ws.set_rate_limits(tiers=False)
    for _ in range(300):
        assert web.users_lookupByEmail(email=ALICE)["ok"] is True
    assert all(r.status == 200 for r in ws.call_log)
    ws.set_rate_limits(tier_scale=0.1)  # 5 a minute for Tier 3
    for _ in range(5):
        web.conversations_open(users=ws.user_id(BOB))
    assert limited(web.conversations_open, users=ws.user_id(BOB)) == 12
    with pytest.raises(ValueError):
        ws.set_rate_limits(tier_scale=0)


def test_tiers_are_on_unless_turned_off_when_the_workspace_is_made(clock: FakeClock) -> None:
    with running_workspace(clock=clock, tiers=False) as off:
        off.add_user(ALICE, "Alice Auditor")
        web = client(off)
        for _ in range(25):
            assert web.users_list()["ok"] is True
    with running_workspace(clock=clock, tier_scale=2.0) as doubled:
        web = client(doubled)
        for _ in range(40):
            assert web.users_list()["ok"] is True
        limited(web.users_list)


# --- memory ----------------------------------------------------------------------------------------


def test_call_history_keeps_the_newest_calls_only(clock: FakeClock) -> None:
    with running_workspace(clock=clock, call_history=5, channel_rate_per_sec=None) as ws:
        ws.add_user(ALICE, "Alice Auditor")
        web = client(ws)
        for n in range(8):
            web.chat_postMessage(channel=ws.user_id(ALICE), text=f"post {n}")
        assert [p["text"] for _, p in ws.calls] == [f"post {n}" for n in range(3, 8)]
        assert [r.params["text"] for r in ws.call_log] == [f"post {n}" for n in range(3, 8)]
        assert len(ws.messages()) == 8  # the messages themselves are kept, as Slack keeps them
        ws.set_call_history(2)
        web.users_list()
        assert [m for m, _ in ws.calls] == ["chat.postMessage", "users.list"]
        assert len(ws.call_log) == 2


def test_recorded_params_and_stored_messages_are_copies(ws: LocalWorkspace) -> None:
    web = client(ws)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Please audit case C-1"}}]
    posted = web.chat_postMessage(channel=ws.user_id(ALICE), text="Audit", blocks=blocks,
                                  metadata={"event_type": "audit", "event_payload": {"key": "k1"}})
    assert posted["message"]["blocks"] == blocks
    _, params = ws.calls[-1]
    params["blocks"][0]["text"]["text"] = "changed"
    [message] = ws.messages(user_email=ALICE)
    message["blocks"].clear()
    assert ws.calls[-1][1]["blocks"] == blocks
    assert ws.messages(user_email=ALICE)[0]["blocks"] == blocks
    assert ws.messages(user_email=ALICE)[0]["metadata"] == {"event_type": "audit", "event_payload": {"key": "k1"}}
    history = web.conversations_history(channel=ws.dm_channel(ALICE), include_all_metadata=True)
    assert history["messages"][0]["blocks"] == blocks
    assert history["messages"][0]["metadata"]["event_payload"] == {"key": "k1"}


def _response_url(ws: LocalWorkspace) -> tuple[str, str]:
    with ws.state.lock:
        token = ws.state.issue_response_url(ws.user_id(ALICE), ws.dm_channel(ALICE), None)
    return token, f"{ws.root_url}_local/response/{token}"


def test_a_used_up_response_url_is_forgotten_and_answers_expired_url(ws: LocalWorkspace) -> None:
    token, url = _response_url(ws)
    for n in range(RESPONSE_URL_MAX_USES):
        assert post_json(url, {"text": f"reply {n}"})[0] == 200
    assert token not in ws.state.responses
    assert post_json(url, {"text": "one too many"}) == (404, {"ok": False, "error": "expired_url"})
    assert post_json(f"{ws.root_url}_local/response/1.{'0' * 24}", {"text": "x"})[1]["error"] == "not_found"
    assert len(ws.messages(user_email=ALICE)) == RESPONSE_URL_MAX_USES


def test_expired_response_urls_and_triggers_are_forgotten_and_answer_as_expired(
    ws: LocalWorkspace, clock: FakeClock
) -> None:
    old_token, old_url = _response_url(ws)
    old_trigger = ws.issue_trigger(ALICE)
    clock.advance(RESPONSE_URL_TTL_SECONDS + 1)
    _, new_url = _response_url(ws)
    new_trigger = ws.issue_trigger(ALICE)
    assert old_token not in ws.state.responses and old_trigger not in ws.state.triggers
    assert len(ws.state.responses) == 1 and len(ws.state.triggers) == 1
    assert post_json(old_url, {"text": "late"}) == (404, {"ok": False, "error": "expired_url"})
    assert post_json(new_url, {"text": "on time"})[0] == 200
    web = client(ws)
    with pytest.raises(SlackApiError) as expired:
        web.views_open(trigger_id=old_trigger, view=MODAL)
    assert expired.value.response["error"] == "expired_trigger_id"
    assert web.views_open(trigger_id=new_trigger, view=MODAL)["ok"] is True
    clock.advance(TRIGGER_TTL_SECONDS)
    ws.issue_trigger(BOB)
    assert new_trigger not in ws.state.triggers
    assert [m["text"] for m in ws.messages(user_email=ALICE)] == ["on time"]
