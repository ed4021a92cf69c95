"""Assembling a running bot: store, Slack client, Bolt app, HTTP server, outbox loops.

``start_runtime`` is what ``auditbot run`` calls; scenario tests call it too, with a fake clock
and ``background=False`` so they drive the outbox themselves.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from apscheduler.schedulers.background import BackgroundScheduler

from bot.app import create_app
from bot.calendar import WorkingCalendar
from bot.clock import Clock, system_clock
from bot.scheduler.timer import make_timer
from bot.services.alert_followups import on_delivered, on_delivery_failed
from bot.delivery.runner import DeliveryRunner
from bot.delivery.sender import BULK_LANE, URGENT_LANE, Lane, OutboxSender
from bot.handlers.deps import Deps
from bot.settings import Settings
from bot.web import SLACK_PATH, RunningServer, make_wsgi, serve_in_thread
from bot.workspace import LocalWorkspace
from store.db import check_migrated, make_engine, make_sessionmaker
from store.models import Person

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running bot holds, and how to stop it."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    client: WebClient
    senders: dict[str, OutboxSender]
    app: Any
    server: RunningServer | None
    workspace: LocalWorkspace | None = None
    runner: DeliveryRunner | None = None
    timer: BackgroundScheduler | None = None
    socket_handler: Any = None
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every part, newest first."""
        for stopper in reversed(self._stoppers):
            stopper()
        self._stoppers.clear()


def sender_client(settings: Settings, token: str, base_url: str | None) -> WebClient:
    """The outbox's client: no built-in retries (the outbox retries, with its own records)."""
    kwargs: dict[str, Any] = {"token": token, "timeout": settings.slack_timeout_seconds, "retry_handlers": []}
    if base_url:
        kwargs["base_url"] = base_url
    return WebClient(**kwargs)


def sync_workspace_users(workspace: LocalWorkspace, sessions: sessionmaker[Session]) -> int:
    """Give every active person in the store an account in the local workspace."""
    with sessions() as session:
        people = session.execute(select(Person.email, Person.display_name).where(Person.active.is_(True))).all()
    for email, name in people:
        workspace.add_user(email, name)
    return len(people)


def make_senders(
    settings: Settings, sessions: sessionmaker[Session], token: str, base_url: str | None
) -> dict[str, OutboxSender]:
    """One outbox sender per lane (urgent alerts never queue behind bulk sends)."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    lanes: tuple[Lane, ...] = (URGENT_LANE, BULK_LANE)
    return {
        lane.name: OutboxSender(
            sessions,
            sender_client(settings, token, base_url),
            worker_id=f"{worker}:{lane.name}",
            lane=lane,
            batch_size=settings.outbox_batch_size,
            max_attempts=settings.outbox_max_attempts,
            lease=dt.timedelta(seconds=settings.outbox_lease_seconds),
            on_failure=on_delivery_failed,
            on_sent=on_delivered,
        )
        for lane in lanes
    }


def start_background(
    settings: Settings,
    sessions: sessionmaker[Session],
    senders: dict[str, OutboxSender],
    clock: Clock,
    calendar: WorkingCalendar | None = None,
) -> tuple[DeliveryRunner, BackgroundScheduler]:
    """Start the outbox loops and the scheduler's timer (which wakes the loops after a tick)."""
    calendar = calendar or WorkingCalendar.from_settings(settings)  # a bad calendar fails before anything starts
    runner = DeliveryRunner(list(senders.values()), clock=clock)
    runner.start()
    timer = make_timer(sessions, settings, calendar, clock=clock, after_tick=runner.wake)
    timer.start()
    return runner, timer


def start_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    background: bool = True,
    workspace: LocalWorkspace | None = None,
    http_port: int | None = None,
) -> Runtime:
    """Start the bot described by ``settings``.

    With no Slack credentials, ``workspace`` (or a new local workspace on
    ``settings.local_workspace_port``) stands in for Slack and gets the signing secret and
    the bot's request URL. The database must already be migrated. Bad calendar settings raise
    CalendarError before anything is started.
    """
    calendar = WorkingCalendar.from_settings(settings)
    engine = engine or make_engine(settings.database_url)
    check_migrated(engine)
    sessions = make_sessionmaker(engine)
    stoppers: list[Callable[[], None]] = [engine.dispose]

    base_url: str | None = settings.slack_api_url
    if settings.local_mode:
        token = f"xoxb-local-{secrets.token_hex(8)}"
        secret = secrets.token_hex(16)
        if workspace is None:
            workspace = LocalWorkspace(
                bot_token=token, signing_secret=secret, state_file=settings.data_dir / "local-workspace.jsonl"
            )
            workspace.start(port=settings.local_workspace_port)
            stoppers.append(workspace.stop)
        else:
            token, secret = workspace.bot_token, workspace.signing_secret
        base_url = workspace.base_url
        settings = settings.model_copy(update={"slack_signing_secret": SecretStr(secret), "slack_bot_token": None})
        sync_workspace_users(workspace, sessions)
    else:
        assert settings.slack_bot_token is not None
        token = settings.slack_bot_token.get_secret_value()

    bolt_client = WebClient(token=token, base_url=base_url) if base_url else WebClient(token=token)
    senders = make_senders(settings, sessions, token, base_url)
    runner: DeliveryRunner | None = None
    timer: BackgroundScheduler | None = None
    if background:
        runner, timer = start_background(settings, sessions, senders, clock, calendar)
        stoppers.extend([runner.stop, lambda: timer.shutdown(wait=False)])  # type: ignore[union-attr]

    deps = Deps(sessions=sessions, settings=settings, clock=clock, wake_outbox=runner.wake if runner else lambda: None)
    app = create_app(deps, client=bolt_client)

    socket_handler = None
    if not settings.local_mode and settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        socket_handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
        socket_handler.connect()
        stoppers.append(socket_handler.close)
        server = serve_in_thread(make_wsgi(None, sessions), host=settings.host, port=settings.port if http_port is None else http_port)
    else:
        port = settings.port if http_port is None else http_port
        server = serve_in_thread(make_wsgi(app, sessions), host=settings.host, port=port)
    stoppers.append(server.stop)
    if workspace is not None:
        workspace.bot_endpoint = server.url + SLACK_PATH

    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        client=bolt_client,
        senders=senders,
        app=app,
        server=server,
        workspace=workspace,
        runner=runner,
        timer=timer,
        socket_handler=socket_handler,
        _stoppers=stoppers,
    )

