"""The bot in Socket Mode, as councils behind a firewall run it: ``start_runtime`` with an app-level token opens a
connection to the local workspace (``apps.connections.open``), and members' commands, clicks and modal submissions
reach it as envelopes (bot/workspace/socket.py). The scenarios below are the HTTP mode's own tests, imported and run
again over the socket; then the workspace asks the bot to disconnect in the middle of a fan-out and of a modal
submission, and nothing is lost or done twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.calendar import WorkingCalendar
from bot.handlers import receipts
from bot.runtime import start_runtime
from bot.settings import Settings, load_settings
from bot.workspace import LocalWorkspace
from bot.workspace.actor import BotTimeoutError
from store.models import Notification, NotificationState, SafeguardingAlert
from tests.simulation import Simulation
from tests.support import TOKEN, FakeClock, FakeTime, running_workspace
from tests.test_scenario_alerts import (
    NOTE,
    REF,
    SID,
    TARA,
    WENDY,
    raise_concern,
    test_acknowledging_updates_the_raisers_status_and_is_harmless_twice,  # noqa: F401 - collected again here, over the socket
    urgent,
)
from tests.test_scenario_exemptions import (
    allocate_december,
    email_of,
    test_approved_exemption_is_reallocated_and_everyone_is_told,  # noqa: F401 - collected again here, over the socket
    test_invalid_modal_input_shows_field_errors_and_changes_nothing,  # noqa: F401 - collected again here, over the socket
)

APP_TOKEN = "xapp-1-ALOCAL-1-socket"


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    with running_workspace(clock=FakeClock(), channel_burst=1000, app_token=APP_TOKEN) as ws:
        ws.socket.ack_timeout = 10.0  # Slack's is 3 s; a loaded CI machine gets more before an envelope is sent again
        yield ws


@pytest.fixture
def settings(engine: Engine, tmp_path: Path, workspace: LocalWorkspace) -> Settings:
    return load_settings(
        data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4,
        slack_channel_burst=1000, form_trigger_seconds=60,
        slack_bot_token=TOKEN, slack_app_token=APP_TOKEN, slack_api_url=workspace.base_url,  # Socket Mode, not local mode
    )


@pytest.fixture
def sim(engine: Engine, settings: Settings, emails: dict[str, str], workspace: LocalWorkspace) -> Iterator[Simulation]:
    clock = FakeTime(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    runtime = start_runtime(settings, engine=engine, clock=clock, background=False, workspace=workspace, http_port=0)
    try:
        assert runtime.socket_handler is not None and workspace.socket.wait_connected(10), "the bot connected"
        yield Simulation(runtime, workspace, WorkingCalendar.from_settings(settings), clock)
    finally:
        if runtime.socket_handler is not None:  # the workspace closes first: the client stops reading at once
            runtime.socket_handler.client.auto_reconnect_enabled = False
            workspace.socket.close_all()
        runtime.stop()


def test_the_bot_answers_over_the_socket_and_nothing_reaches_its_http_url(sim: Simulation) -> None:
    sim.workspace.bot_endpoint = "http://127.0.0.1:9/nowhere"  # a request sent over HTTP would fail
    mine = sim.workspace.slash_command(TARA, "/audit", "help")

    assert mine["status"] == 200 and "/audit" in mine["body"]["text"]
    kinds = [kind for kind, *_ in sim.workspace.socket.log]
    assert kinds[:1] == ["hello"] and kinds.count("envelope") == kinds.count("ack") == 1


@pytest.mark.parametrize("how", ["asked to go", "dropped"])
def test_a_disconnect_in_the_middle_of_a_modal_submission_loses_nothing_and_doubles_nothing(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    sim.at(dt.date(2026, 12, 2), 10)
    sim.workspace.socket.ack_timeout = 2.0
    real, asked = receipts.first_receipt, []

    def disconnect_first(session: Any, key: str, **kwargs: Any) -> bool:
        if not asked and key.startswith("view_submission:"):  # while the bot handles the submission, Slack ...
            if how == "dropped":  # ... loses the connection: the acknowledgement cannot reach it
                asked.append(sim.workspace.socket.close_all())
            else:  # ... asks the bot to go (the old connection still takes an acknowledgement meanwhile)
                asked.append(sim.workspace.socket.request_disconnect())
        return real(session, key, **kwargs)

    monkeypatch.setattr(receipts, "first_receipt", disconnect_first)
    try:
        answer = raise_concern(sim, TARA)
        assert how == "asked to go", "a dropped connection cannot carry the acknowledgement"
    except BotTimeoutError:  # the acknowledgement went with the connection: Slack shows an error, the form stays
        assert sim.workspace.socket.wait_connected(10, newer_than=1), "the bot connected again"
        sim.workspace.socket.ack_timeout = 10.0
        view = sim.workspace.view_stack(TARA)[-1]
        answer = sim.workspace.submit_view(TARA, view, {  # ... and the person submits it again
            "case": {"case": {"type": "plain_text_input", "value": REF}},
            "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "immediate"}}},
            "note": {"note": {"type": "plain_text_input", "value": NOTE}},
        })
    assert asked == [1] and answer["status"] == 200 and not answer["body"], "the modal closed"
    assert sim.workspace.view_stack(TARA) == []
    sends = [kind for kind, *_ in sim.workspace.socket.log if kind == "envelope"]
    assert len(sends) in (2, 3), "the command, the submission (and the person's second try): none sent again by Slack"
    assert urgent(sim) == 4  # worker, team manager, service manager, the raiser's status: once each
    with sim.sessions() as session:
        assert session.scalar(select(func.count(SafeguardingAlert.id))) == 1
    for email in (WENDY, SID):
        told = [m for m in sim.workspace.messages(user_email=email) if m["text"].startswith(f"Safeguarding concern: {REF}")]
        assert len(told) == 1


def test_a_disconnect_in_the_middle_of_a_fan_out_loses_nothing_and_doubles_nothing(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, posted = sim.workspace.api, []
    real = api.call

    def counting(method: str, params: Any, token: str | None) -> Any:
        if method == "chat.postMessage":
            posted.append(method)
            if len(posted) == 5:  # five messages into the fan-out, Slack asks the bot to go
                sim.workspace.socket.request_disconnect()
        return real(method, params, token)

    monkeypatch.setattr(api, "call", counting)
    sim.at(dt.date(2026, 12, 1), 9)
    report = sim.step(sim.clock.now)  # the allocation, and its messages sent
    assert sim.workspace.socket.wait_connected(10, newer_than=1), "the bot connected again"
    assert [kind for kind, *_ in sim.workspace.socket.log][:3] == ["hello", "disconnect", "hello"]
    sim.step(sim.clock.now)

    with sim.sessions() as session:
        counted = session.execute(select(Notification.state, func.count()).group_by(Notification.state))
        states = dict(counted.all())
    assert states == {NotificationState.SENT: report.allocation_messages}
    delivered = [m for m in sim.workspace.messages() if m["text"].startswith("You have a case file audit")]
    assert len(delivered) == len({(m["channel"], m["text"]) for m in delivered}), "no one's message twice"
    first = allocate_december(sim)[0]
    mine = sim.workspace.slash_command(email_of(sim, first.auditor_id), "/audit", "mine")
    assert mine["status"] == 200 and mine["body"], "the reconnected bot answers"
