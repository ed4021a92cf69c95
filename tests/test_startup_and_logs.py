"""Start-up binds its port before any work, and the logs never carry a message body or a typed note."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from bot.cli import _register_all, cli
from bot.ids import ActionId
from bot.logs import PARAMETER_LOGGERS, PAYLOAD_LOGGERS, configure
from bot.runtime import StartupError, start_runtime
from bot.settings import load_settings
from bot.web import serve_in_thread
from bot.workspace import LocalWorkspace
from store.models import Allocation, Notification
from tests.simulation import Simulation
from tests.support import FakeTime

REF = "CMS-100"  # Assessment Team North: worker Wendy A1, team manager Tara
WENDY, TARA = "wendy.a1@council.example", "tara.teamlead@council.example"
NOTE = "Visit today ZXQ-UNIQUE: the stepfather is back at the address"


@pytest.fixture(scope="module", autouse=True)
def commands() -> None:
    if "run" not in cli.commands:
        _register_all()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other program is already listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """Put the root logger and the libraries' levels back as they were."""
    root = logging.getLogger()
    names = (*PAYLOAD_LOGGERS, *PARAMETER_LOGGERS)
    levels, handlers = {n: logging.getLogger(n).level for n in names}, list(root.handlers)
    root_level = root.level
    yield
    root.setLevel(root_level)
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# --- bind first, then start work -----------------------------------------------------------------


def test_a_port_in_use_stops_start_up_before_any_work(
    engine: Engine, emails: dict[str, str], workspace: LocalWorkspace, tmp_path: Path, taken_port: int
) -> None:
    settings = load_settings(
        data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4,
        port=taken_port,
    )
    allocation_day = FakeTime(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))  # a tick now would allocate December
    running = set(threading.enumerate())

    with pytest.raises(StartupError) as refused:
        start_runtime(settings, engine=engine, clock=allocation_day, workspace=workspace)

    assert str(refused.value) == f"port {taken_port} is already in use (AUDITBOT_PORT)"
    # (waitress starts its idle worker threads before it binds; nothing else may be left running)
    started = [t.name for t in threading.enumerate() if t not in running and not t.name.startswith("waitress-")]
    assert started == [], "no scheduler tick, outbox sender or server left running"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Notification)) == 0, "nothing queued"
        assert conn.scalar(select(func.count()).select_from(Allocation)) == 0, "no tick ran"


def test_run_with_its_port_in_use_is_one_line_and_seeds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"AUDITBOT_PORT": str(taken_port), "AUDITBOT_LOCAL_WORKSPACE_PORT": "0"}  # local mode: no Slack credentials
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert (result.exit_code, result.output) == (1, f"Error: port {taken_port} is already in use (AUDITBOT_PORT)\n")
    assert not (tmp_path / "data" / "demo").exists(), "the demo council was not generated, nothing allocated"


@pytest.mark.parametrize("command", ["run", "worker"])
def test_an_unknown_log_level_is_one_line(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [command, "--log-level", "bogus"])
    assert (result.exit_code, result.output) == (1, "Error: --log-level: choose DEBUG, INFO, WARNING, ERROR\n")


def test_the_log_level_is_taken_in_any_case_and_payload_loggers_stay_at_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logging_restored: None
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["worker", "--log-level", "debug"])
    assert result.output.startswith("Error: auditbot worker needs Slack credentials"), "past the option, to the command"
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    loggers = ("slack_bolt", "slack_sdk", "bot.bolt", "sqlalchemy")
    assert {name: logging.getLogger(name).getEffectiveLevel() for name in loggers} == {
        "slack_bolt": logging.INFO, "slack_sdk": logging.INFO, "bot.bolt": logging.INFO, "sqlalchemy": logging.WARNING,
    }


# --- logs never carry message bodies -------------------------------------------------------------


def test_a_safeguarding_concern_leaves_no_note_or_message_text_in_the_log_at_debug(
    sim: Simulation, caplog: pytest.LogCaptureFixture, logging_restored: None
) -> None:
    configure("DEBUG")
    sim.at(dt.date(2026, 12, 2), 10)
    sim.workspace.slash_command(WENDY, "/audit", f"concern {REF}")
    view = sim.workspace.view_stack(WENDY)[-1]
    answer = sim.workspace.submit_view(WENDY, view, {
        "case": {"case": {"type": "plain_text_input", "value": REF}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "immediate"}}},
        "note": {"note": {"type": "plain_text_input", "value": NOTE}},
    })
    assert answer["status"] == 200 and not answer["body"]
    assert sim.runtime.senders["urgent"].drain(sim.clock.now).sent == 4  # worker, team manager, service manager, status
    alert = next(m for m in sim.workspace.messages(user_email=TARA) if m["text"].startswith("Safeguarding concern"))
    sim.workspace.click(TARA, alert, ActionId.ACKNOWLEDGE_ALERT)  # answered in place through the response URL
    sim.runtime.senders["urgent"].drain(sim.clock.now)

    delivered = [m for email in (WENDY, TARA) for m in sim.workspace.messages(user_email=email)]
    assert NOTE in json.dumps(alert["blocks"]), "the note did reach the people it is for"
    secrets = [NOTE, "ZXQ-UNIQUE", *(m["text"] for m in delivered)]
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "the log really was at DEBUG"
    leaks = [
        (record.name, secret)
        for record in caplog.records
        for secret in secrets
        if secret in record.getMessage() or secret in repr(record.args) or secret in (record.exc_text or "")
    ]
    assert leaks == []


def test_stopping_the_server_closes_an_open_keep_alive_connection_and_ends_its_thread_at_once() -> None:
    def hello(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    server = serve_in_thread(hello)
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    client.request("GET", "/")
    assert client.getresponse().read() == b"ok"  # the connection stays open (HTTP/1.1 keep-alive)

    server.stop()

    assert not server._thread.is_alive(), "the server's loop ended (it kept running for the open connection)"
    server.stop()  # a second stop is harmless
