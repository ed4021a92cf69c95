"""Slack is answered before any outbound call (bot/delivery/followups.py), and a busy bot sheds load at once
(bot/web.py): the order things reach Slack, what the person sees, and what the store holds."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from sqlalchemy import select

from bot.delivery.followups import Call, DeferringClient, DeferringRespond, FollowUps, scope
from bot.ids import ActionId, BlockId, Template
from bot.render import render
from bot.web import SLACK_PATH, Gate, make_wsgi, serve_in_thread
from bot.workspace.payloads import error
from store.models import Allocation, AllocationState
from tests.simulation import Simulation
from tests.support import TOKEN, FakeClock, running_workspace
from tests.test_scenario_exemptions import _ref, allocate_december, email_of

BUSY = render(Template.BUSY, {})["text"]
EXPIRED = render(Template.FORM_EXPIRED, {})["text"]


def mark_complete_button(sim: Simulation, allocation_id: int) -> dict[str, Any]:
    """A message carrying "Mark audit complete" for ``allocation_id`` (as sent before audits were recorded in chat)."""
    channel = sim.workspace.add_channel("audits")
    blocks = [{"type": "actions", "block_id": BlockId.AUDIT_ACTIONS, "elements": [{
        "type": "button", "action_id": ActionId.MARK_COMPLETE, "text": {"type": "plain_text", "text": "Mark audit complete"},
        "value": str(allocation_id)}]}]
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(channel=channel, text="fwd", blocks=blocks)
    return next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])


def state_of(sim: Simulation, allocation_id: int) -> AllocationState:
    with sim.sessions() as session:
        return session.scalars(select(Allocation.state).where(Allocation.id == allocation_id)).one()


def test_a_click_is_answered_before_its_respond_which_still_arrives(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)
    sim.workspace.set_api_latency(0.05)  # every Web API and response_url call now takes a round trip
    sim.workspace.arrivals.clear()

    answer = sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE)

    assert answer["status"] == 200
    assert sim.workspace.arrivals == ["answer", "response_url"], "Slack had its answer before the respond() was posted"
    replaced = next(m for m in sim.workspace.messages(channel=message["channel"]) if m["ts"] == message["ts"])
    assert replaced["text"] != "fwd" and _ref(sim, first) in replaced["text"], "the message was replaced"
    assert state_of(sim, first.id) == AllocationState.COMPLETED


def test_a_respond_refused_with_a_500_is_retried_and_arrives(sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)
    assert sim.runtime.followups is not None
    sim.runtime.followups.retry_delays = (0.0, 0.0)  # the test does not wait out the backoff
    real, refused = sim.workspace.api.respond, []

    def respond_once_failing(token: str, body: Any) -> Any:
        if not refused:
            refused.append(token)
            return error("internal_error", status=500)
        return real(token, body)

    monkeypatch.setattr(sim.workspace.api, "respond", respond_once_failing)
    sim.workspace.arrivals.clear()

    sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE)

    # the order of the answer and the first post is the latency test's to show (with no latency the
    # workspace may note the post before its client thread notes the answer): here, both posts arrived
    assert refused and sorted(sim.workspace.arrivals) == ["answer", "response_url", "response_url"]
    replaced = next(m for m in sim.workspace.messages(channel=message["channel"]) if m["ts"] == message["ts"])
    assert _ref(sim, first) in replaced["text"]


@pytest.fixture
def shedding(sim: Simulation) -> Iterator[Simulation]:
    """The bot behind a gate that is always full: every Slack request is shed."""
    assert sim.runtime.followups is not None
    secret = sim.runtime.settings.slack_signing_secret
    assert secret is not None
    wsgi = make_wsgi(sim.runtime.app, sim.sessions, signing_secret=secret.get_secret_value(),
                     followups=sim.runtime.followups, gate=Gate(size=0, wait=0.0, view_wait=0.0))
    server = serve_in_thread(wsgi)
    before, sim.workspace.bot_endpoint = sim.workspace.bot_endpoint, server.url + SLACK_PATH
    yield sim
    sim.workspace.bot_endpoint = before
    server.stop()


def test_a_shed_click_is_told_busy_and_nothing_is_changed(shedding: Simulation) -> None:
    sim = shedding
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)

    answer = sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE)

    assert answer["status"] == 200
    assert [m["text"] for m in sim.workspace.messages(user_email=auditor) if m["ephemeral"]][-1:] == [BUSY]
    assert state_of(sim, first.id) == AllocationState.ALLOCATED
    command = sim.workspace.slash_command(auditor, "/audit", f"complete {_ref(sim, first)}")
    assert command["status"] == 200 and command["body"]["text"] == BUSY
    assert state_of(sim, first.id) == AllocationState.ALLOCATED


def test_a_shed_modal_submission_or_event_is_a_503(shedding: Simulation) -> None:
    ws = shedding.workspace
    uid = ws.add_user("someone@council.example", "Someone")
    submission = {"type": "view_submission", "user": {"id": uid}, "team": {"id": ws.team_id},
                  "view": {"id": "V1", "hash": "h", "callback_id": "x", "state": {"values": {}}}}
    body = ("payload=" + json.dumps(submission)).encode()
    assert ws.send_raw(body, ws.actor.signed_headers(body))[0] == 503
    event = json.dumps({"type": "event_callback", "event": {"type": "app_home_opened", "user": uid}}).encode()
    headers = {**ws.actor.signed_headers(event), "Content-Type": "application/json"}
    assert ws.send_raw(event, headers)[0] == 503


def test_a_form_whose_trigger_expired_is_answered_please_click_again() -> None:
    clock = FakeClock()
    with running_workspace(clock=clock) as ws:
        email = "auditor@council.example"
        uid = ws.add_user(email, "An Auditor")
        trigger = ws.issue_trigger(email)
        with ws.state.lock:
            token = ws.state.issue_response_url(uid, ws.state.users[uid].im_channel, None)
        respond = Respond(response_url=f"{ws.root_url}_local/response/{token}")
        followups = FollowUps(threads=2).start()
        view = {"type": "modal", "title": {"type": "plain_text", "text": "Form"}, "blocks": []}
        with scope("block_actions") as collected:
            DeferringRespond(respond)  # the request's respond, as the middleware installs it
            DeferringClient(WebClient(token=TOKEN, base_url=ws.base_url)).views_open(trigger_id=trigger, view=view)
        assert ws.views(email) == [] and collected.calls, "nothing is called inside the scope"
        clock.advance(4)  # Slack took longer than a trigger's 3 s
        followups.submit(collected)
        assert followups.wait_idle()
        followups.stop()
        assert ws.views(email) == []
        assert [m["text"] for m in ws.messages(user_email=email) if m["ephemeral"]] == [EXPIRED]


def test_a_form_dequeued_too_late_is_not_opened_and_is_answered() -> None:
    times = itertools.chain([0.0, 10.0], itertools.repeat(12.6))  # arrives; handed over; a thread takes it 2.6 s later
    told: list[dict[str, Any]] = []
    opened: list[str] = []
    followups = FollowUps(threads=1, trigger_deadline=2.5, clock=lambda: next(times))  # not started: inline
    with scope("block_actions", clock=lambda: next(times)) as collected:
        collected.respond = lambda **kwargs: told.append(kwargs)
        collected.calls.append(Call("views_open", lambda: opened.append("opened")))
    followups.submit(collected)
    assert opened == []
    assert [t["text"] for t in told] == [EXPIRED] and told[0]["response_type"] == "ephemeral"
