"""The local workspace's Socket Mode (bot/workspace/socket.py), met by slack_sdk's own Socket Mode client: the
app-level token, hello, envelopes and their acknowledgements, retries of what is not acknowledged, and Slack's
requests to disconnect, which the client survives by connecting again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.workspace import LocalWorkspace
from bot.workspace.socket import NotAcknowledged
from tests.support import TOKEN

APP_TOKEN = "xapp-1-ALOCAL-1-local"


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    with LocalWorkspace(bot_token=TOKEN, signing_secret="s", app_token=APP_TOKEN, tiers=False, ack_timeout_seconds=1.0) as ws:
        yield ws


class App:
    """A Socket Mode app that records what reached it and acknowledges as told."""

    def __init__(self, workspace: LocalWorkspace, *, answer: dict[str, Any] | None = None, ignore_first: int = 0) -> None:
        self.received: list[tuple[str, dict[str, Any], int | None]] = []
        self.answer, self.ignore = answer, ignore_first
        self.client = SocketModeClient(app_token=APP_TOKEN, web_client=WebClient(token=TOKEN, base_url=workspace.base_url),
                                       auto_reconnect_enabled=True, ping_interval=1)
        self.client.socket_mode_request_listeners.append(self.handle)

    def close(self, workspace: LocalWorkspace) -> None:
        """Close from the workspace's side first, so the client stops reading at once rather than at its timeout."""
        self.client.auto_reconnect_enabled = False
        workspace.socket.close_all()
        self.client.close()

    def handle(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.received.append((request.type, request.payload, request.retry_attempt))
        if len(self.received) <= self.ignore:
            return  # as a bot that stopped before acknowledging
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=self.answer))


@pytest.fixture
def app(workspace: LocalWorkspace) -> Iterator[App]:
    connected = App(workspace, answer={"text": "Your audits"})
    connected.client.connect()
    assert workspace.socket.wait_connected(5)
    yield connected
    connected.close(workspace)


def test_a_connection_is_greeted_and_an_envelope_is_answered_through_its_acknowledgement(workspace, app) -> None:
    answer = workspace.socket.deliver("slash_commands", {"command": "/audit", "text": "mine"}, accepts_response_payload=True)

    assert answer == {"text": "Your audits"}
    assert app.received == [("slash_commands", {"command": "/audit", "text": "mine"}, None)]  # no retry fields on a command
    assert [kind for kind, *_ in workspace.socket.log] == ["hello", "envelope", "ack"]


def test_an_envelope_not_acknowledged_is_sent_again_and_acted_on_once_acknowledged(workspace) -> None:
    slow = App(workspace, ignore_first=1)
    slow.client.connect()
    try:
        assert workspace.socket.wait_connected(5)
        workspace.socket.deliver("events_api", {"event": {"type": "app_home_opened"}}, accepts_response_payload=False)
    finally:
        slow.close(workspace)
    assert [(kind, attempt) for kind, _, attempt in slow.received][:2] == [("events_api", 0), ("events_api", 1)]


def test_an_event_nobody_acknowledges_is_given_up_after_the_retries_and_an_interaction_is_sent_once(workspace) -> None:
    silent = App(workspace, ignore_first=99)
    silent.client.connect()
    try:
        assert workspace.socket.wait_connected(5)
        workspace.socket.retries = 2
        with pytest.raises(NotAcknowledged):
            workspace.socket.deliver("events_api", {"event": {"type": "app_home_opened"}}, accepts_response_payload=False)
        with pytest.raises(NotAcknowledged):
            workspace.socket.deliver("interactive", {"type": "block_actions"}, accepts_response_payload=False)
    finally:
        silent.close(workspace)
    assert [(kind, attempt) for kind, _, attempt in silent.received] == [
        ("events_api", 0), ("events_api", 1), ("events_api", 2), ("interactive", None)]


def test_the_client_survives_a_request_to_disconnect_and_the_next_envelope_goes_to_its_new_connection(workspace, app) -> None:
    first = workspace.socket.newest()
    workspace.socket.retries = 10  # the client starts reading its new connection a moment after opening it

    assert workspace.socket.request_disconnect() == 1
    assert workspace.socket.wait_connected(10, newer_than=first), "the client connected again"
    workspace.socket.deliver("events_api", {"event": {"type": "app_home_opened"}}, accepts_response_payload=False)

    assert [number for kind, number, _ in workspace.socket.log if kind == "ack"] == [workspace.socket.newest()]
    assert workspace.socket.newest() > first
    assert {kind for kind, *_ in app.received} == {"events_api"}  # as often as it was sent: the bot dedupes


def test_only_the_app_level_token_opens_a_connection_and_each_url_serves_once(workspace) -> None:
    for token, said in ((TOKEN, "not_allowed_token_type"), ("xapp-1-someone-else", "invalid_auth")):
        with pytest.raises(SlackApiError) as refused:
            WebClient(token=token, base_url=workspace.base_url).apps_connections_open(app_token=token)
        assert refused.value.response["error"] == said
    opened = WebClient(token=APP_TOKEN, base_url=workspace.base_url).apps_connections_open(app_token=APP_TOKEN)
    assert opened["url"].startswith("ws://127.0.0.1:")
    assert workspace.socket.take_ticket(opened["url"].split("ticket=")[1]) is True
    assert workspace.socket.take_ticket(opened["url"].split("ticket=")[1]) is False, "a URL serves one connection"


def test_the_workspace_asks_for_a_new_connection_every_so_often_and_the_client_follows() -> None:
    with LocalWorkspace(bot_token=TOKEN, signing_secret="s", app_token=APP_TOKEN, tiers=False,
                        disconnect_every_seconds=0.5) as ws:
        app = App(ws, answer={"text": "ok"})
        app.client.connect()
        try:
            assert ws.socket.wait_connected(5)
            assert ws.socket.wait_connected(10, newer_than=2), "asked twice, connected three times"
        finally:
            app.close(ws)
    asked = [kind for kind, *_ in ws.socket.log if kind == "disconnect"]
    assert len(asked) >= 2

