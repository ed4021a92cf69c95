"""Assembling a running bot: store, Slack client, Bolt app, HTTP server, outbox loops.

``start_runtime`` is what ``auditbot run`` calls; scenario tests call it too, with a fake clock
and ``background=False`` so they drive the outbox themselves. It binds first, then starts work:
a port already in use stops start-up with one line (``StartupError``) before the store is
touched, the scheduler ticks or any message is sent.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import SecretStr
from slack_sdk import WebClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.calendar import WorkingCalendar
from bot.clock import Clock, system_clock
from bot.delivery.claims import Lane
from bot.delivery.clicks import ClickLane
from bot.delivery.directory import SyncCounts, sync_directory
from bot.delivery.followups import FollowUps
from bot.delivery.homes import HomePublisher
from bot.delivery.runner import DeliveryRunner
from bot.delivery.sender import BULK_LANE, URGENT_LANE, OutboxSender
from bot.handlers.deps import Deps
from bot.scheduler.timer import make_timer
from bot.services.alerts.followups import on_delivered, on_delivery_failed
from bot.settings import Settings
from bot.web import SETTLED_PATH, SLACK_PATH, Gate, RunningServer, make_wsgi, serve_in_thread
from bot.workspace import LocalWorkspace
from bot.workspace.process import WorkspaceProcess
from store.db import check_migrated, make_engine, make_sessionmaker
from store.models import Notification, Person

log = logging.getLogger(__name__)

_T = TypeVar("_T")
SentHook = Callable[[Session, Notification, dt.datetime], None]


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
    #: Local mode's Slack: in a process of its own (``auditbot run``), or the one a test passed in.
    workspace: LocalWorkspace | WorkspaceProcess | None = None
    #: Republishes App Home tabs; with ``background=False`` call its ``flush`` as the outbox is drained.
    homes: HomePublisher | None = None
    runner: DeliveryRunner | None = None
    timer: BackgroundScheduler | None = None
    socket_handler: Any = None
    #: Makes the calls that follow a request's acknowledgement (``bot.delivery.followups``).
    followups: FollowUps | None = None
    #: Acts on clicks after their acknowledgement (``bot.delivery.clicks``).
    clicks: ClickLane | None = None
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


class Accounts(Protocol):
    """A local workspace's members: ``LocalWorkspace``, or ``WorkspaceProcess`` serving one from a child process."""

    def users(self) -> list[dict[str, Any]]: ...

    def add_user(self, email: str, name: str) -> str: ...


def sync_workspace_users(workspace: Accounts, sessions: sessionmaker[Session]) -> int:
    """Give every active person in the store an account in the local workspace, as a council's
    Slack would have (at start, and in local mode before every tick: staff imported while the bot
    runs get one too). Returns how many accounts were added."""
    known = {str(user["email"]).lower() for user in workspace.users()}
    with sessions() as session:
        people = session.execute(select(Person.email, Person.display_name).where(Person.active.is_(True))).all()
    added = [(email, name) for email, name in people if email.lower() not in known]
    for email, name in added:
        workspace.add_user(email, name)
    return len(added)


def directory_syncer(settings: Settings, sessions: sessionmaker[Session], token: str, base_url: str | None,
                     clock: Clock) -> Callable[[], SyncCounts | None]:
    """The Slack directory sync (``bot.delivery.directory``) with a client of its own; a run asked for while
    another is under way (start, the daily job, local accounts added before a tick) is skipped (None)."""
    client = sender_client(settings, token, base_url)
    running = threading.Lock()

    def run() -> SyncCounts | None:
        if not running.acquire(blocking=False):
            return None
        try:
            return sync_directory(client, sessions, clock)
        except Exception:  # a failed sync must not stop start-up or the timer; the next run retries
            log.exception("directory sync failed")
            return None
        finally:
            running.release()

    return run


def _local_accounts(workspace: Accounts, sessions: sessionmaker[Session], sync: Callable[[], object]) -> int:
    """Local mode, before a tick: new staff get local accounts, then (if any did) their Slack ids."""
    added = sync_workspace_users(workspace, sessions)
    if added:
        sync()
    return added


def make_senders(
    settings: Settings, sessions: sessionmaker[Session], token: str, base_url: str | None, *, homes: HomePublisher | None = None,
) -> dict[str, OutboxSender]:
    """One outbox sender per lane (urgent alerts never queue behind bulk sends); each delivery
    also asks ``homes`` to republish the recipient's App Home."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    lanes: tuple[Lane, ...] = (URGENT_LANE, BULK_LANE)
    return {
        lane.name: OutboxSender(
            sessions,
            sender_client(settings, token, base_url),
            worker_id=f"{worker}:{lane.name}",
            lane=lane,
            batch_size=settings.outbox_batch_size,
            concurrency=settings.outbox_concurrency,
            settle_every=settings.outbox_settle_every,
            channel_burst=settings.slack_channel_burst,
            max_attempts=settings.outbox_max_attempts,
            lease=dt.timedelta(seconds=settings.outbox_lease_seconds),
            on_failure=on_delivery_failed,
            on_sent=on_delivered if homes is None else _both(on_delivered, homes.on_sent),
        )
        for lane in lanes
    }


def _both(first: SentHook, second: SentHook) -> SentHook:
    def hook(session: Session, notification: Notification, now: dt.datetime) -> None:
        first(session, notification, now)
        second(session, notification, now)

    return hook


def make_home_publisher(settings: Settings, sessions: sessionmaker[Session], token: str, base_url: str | None,
                        clock: Clock) -> HomePublisher:
    """Who republishes App Home tabs (``bot.delivery.homes``), with its own client."""
    return HomePublisher(sessions, sender_client(settings, token, base_url), settings, clock)


def start_background(
    settings: Settings,
    sessions: sessionmaker[Session],
    senders: dict[str, OutboxSender],
    clock: Clock,
    calendar: WorkingCalendar | None = None,
    *,
    kind: str = "run",
    before_tick: Callable[[], object] | None = None,
    daily: Callable[[], object] | None = None,
) -> tuple[DeliveryRunner, BackgroundScheduler]:
    """Start the outbox loops and the scheduler's timer (which wakes the loops after a tick, and runs ``daily``)."""
    calendar = calendar or WorkingCalendar.from_settings(settings)  # a bad calendar fails before anything starts
    runner = DeliveryRunner(list(senders.values()), clock=clock)
    runner.start()
    timer = make_timer(sessions, settings, calendar, clock=clock, after_tick=runner.wake, kind=kind, before_tick=before_tick,
                       daily=daily)
    timer.start()
    return runner, timer


class StartupError(Exception):
    """The bot cannot start (e.g. a port is taken); the message is one line for the operator."""


#: Local Socket Mode: the local workspace asks the bot to reconnect this often, as Slack does every few hours.
LOCAL_SOCKET_REFRESH_SECONDS = 3600.0


def _listen(bind: Callable[[], _T], port: int, setting: str | None, *, host: str) -> _T:
    """Bind with ``bind()``; a port in use (or any failure to listen) is one line naming the setting."""
    try:
        return bind()
    except OSError as exc:
        named = f" ({setting})" if setting else ""
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} is already in use{named}") from None
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise StartupError(f"cannot listen on {host}:{port}{named}: {reason}") from None


class _Pending:
    """The WSGI application the port is bound with before the bot is assembled: a request that
    arrives meanwhile waits (briefly) for the real one, or is told 503 if start-up failed."""

    def __init__(self, wait_seconds: float = 30.0) -> None:
        self._ready = threading.Event()
        self._target: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]] | None = None
        self._wait_seconds = wait_seconds

    def serve(self, target: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]) -> None:
        """Hand every request, waiting or to come, to ``target``."""
        self._target = target
        self._ready.set()

    def close(self) -> None:
        """Start-up failed or the bot is stopping: answer any waiting request."""
        self._ready.set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._ready.wait(self._wait_seconds) and self._target is not None:
            return self._target(environ, start_response)
        start_response("503 Service Unavailable", [("Content-Type", "application/json")])
        return [b'{"ok": false, "error": "starting"}']


def start_runtime(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock = system_clock,
    background: bool = True,
    workspace: LocalWorkspace | None = None,
    http_port: int | None = None,
    prepare: Callable[[Engine], None] | None = None,
) -> Runtime:
    """Start the bot described by ``settings``: bind first, then start work.

    The HTTP port (and, locally, the local workspace's port) is bound before anything else
    happens; a port already taken raises ``StartupError`` with one line naming the setting, before
    ``prepare`` runs, before the store is touched and before any scheduler tick or outbox sender.
    Requests that arrive while the rest starts wait for it. ``prepare(engine)`` runs once the
    ports are bound (local mode: migrate and seed the demo council). With no Slack credentials,
    ``workspace`` (or a new local workspace on ``settings.local_workspace_port``) stands in for
    Slack and gets the signing secret and the bot's request URL. The database must be migrated
    (after ``prepare``). Bad calendar settings raise CalendarError before anything is started.
    Once requests are served, the Slack directory sync (``users.list``) records everyone's Slack id;
    the scheduler's timer and the outbox senders start last. If any step fails, whatever was
    started is stopped again (a failed directory sync is only logged).
    """
    calendar = WorkingCalendar.from_settings(settings)
    engine = engine or make_engine(settings.database_url)
    stoppers: list[Callable[[], None]] = [engine.dispose]
    pending = _Pending()
    port = settings.port if http_port is None else http_port
    server = _listen(
        lambda: serve_in_thread(pending, host=settings.host, port=port, threads=settings.http_threads),
        port, "AUDITBOT_PORT" if http_port is None else None, host=settings.host,
    )
    stoppers += [server.stop, pending.close]
    try:
        return _assemble(settings, engine, server, pending, stoppers, clock=clock, calendar=calendar,
                         background=background, workspace=workspace, prepare=prepare)
    except BaseException:
        for stopper in reversed(stoppers):
            stopper()
        raise


def _assemble(
    settings: Settings, engine: Engine, server: RunningServer, pending: _Pending, stoppers: list[Callable[[], None]],
    *, clock: Clock, calendar: WorkingCalendar, background: bool, workspace: LocalWorkspace | WorkspaceProcess | None,
    prepare: Callable[[Engine], None] | None,
) -> Runtime:
    """Everything after the HTTP port is bound, in an order that starts work last."""
    base_url: str | None = settings.slack_api_url
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token is not None else None
    if settings.local_mode:
        token = f"xoxb-local-{secrets.token_hex(8)}"
        secret = secrets.token_hex(16)
        app_token = f"xapp-1-local-{secrets.token_hex(8)}" if settings.local_socket_mode else None
        if workspace is None:  # in a process of its own, as Slack is: its messages are not the bot's memory
            local = WorkspaceProcess(
                bot_token=token, signing_secret=secret, state_file=settings.data_dir / "local-workspace.jsonl",
                app_token=app_token, disconnect_every_seconds=LOCAL_SOCKET_REFRESH_SECONDS if app_token else None,
            )
            _listen(lambda: local.start(port=settings.local_workspace_port), settings.local_workspace_port,
                    "AUDITBOT_LOCAL_WORKSPACE_PORT", host="127.0.0.1")
            stoppers.append(local.stop)
            workspace = local
        else:
            token, secret = workspace.bot_token, workspace.signing_secret
            app_token = workspace.app_token if settings.local_socket_mode else None
        base_url = workspace.base_url
        settings = settings.model_copy(update={"slack_signing_secret": SecretStr(secret), "slack_bot_token": None})
    else:
        assert settings.slack_bot_token is not None
        token = settings.slack_bot_token.get_secret_value()

    if prepare is not None:
        prepare(engine)
    check_migrated(engine)
    sessions = make_sessionmaker(engine)
    if workspace is not None:
        sync_workspace_users(workspace, sessions)

    bolt_client = WebClient(token=token, base_url=base_url) if base_url else WebClient(token=token)
    homes = make_home_publisher(settings, sessions, token, base_url, clock)
    senders = make_senders(settings, sessions, token, base_url, homes=homes)
    runner: DeliveryRunner | None = None
    timer: BackgroundScheduler | None = None

    def wake_outbox() -> None:
        if runner is not None:
            runner.wake()

    deps = Deps(sessions=sessions, settings=settings, clock=clock, wake_outbox=wake_outbox, refresh_home=homes.request)
    app = create_app(deps, client=bolt_client)

    socket_handler = None
    followups: FollowUps | None = None
    clicks: ClickLane | None = None
    if app_token is not None:  # Socket Mode: Slack (or the local workspace) delivers requests over the socket
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        # only the health check listens (and, locally, "settled" at once: each request is done before its ack)
        pending.serve(make_wsgi(None, sessions, settled=(lambda: True) if workspace is not None else None))
        socket_handler = SocketModeHandler(app, app_token)
        socket_handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves this method unannotated
        stoppers.append(socket_handler.close)
    else:
        signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        followups = FollowUps(threads=settings.followup_threads, trigger_deadline=settings.form_trigger_seconds).start()
        stoppers.append(followups.stop)
        gate = Gate(settings.slack_gate, settings.slack_gate_wait_seconds, settings.view_gate_wait_seconds)
        clicks = ClickLane(followups, threads=settings.click_threads, max_wait=gate.wait).start()
        stoppers.append(clicks.stop)  # stopped before the follow-ups its clicks hand their calls to ...
        stoppers.append(server.stop)  # ... and after the server takes no more requests (stopping it again later is nothing)
        settled = followups.wait_idle if workspace is not None else None
        pending.serve(make_wsgi(app, sessions, signing_secret=signing_secret, followups=followups, gate=gate, clicks=clicks,
                                clock=clock, settled=settled))
        if isinstance(workspace, LocalWorkspace):  # the actor waits for a request's follow-ups, as a person sees them arrive
            workspace.settle = followups.wait_idle
    if isinstance(workspace, WorkspaceProcess):
        workspace.connect_bot(server.url + SLACK_PATH, server.url + SETTLED_PATH)
    elif workspace is not None:
        workspace.bot_endpoint = server.url + SLACK_PATH

    # Everyone's Slack id in a few users.list pages, while requests are already served and before the
    # outbox sends: the first fan-out then needs no per-person lookups. A failure is logged; start-up goes on.
    sync_directory_now = directory_syncer(settings, sessions, token, base_url, clock)
    sync_directory_now()

    if background:  # last: the first tick and the first send happen only once everything else is up
        accounts = workspace
        sync = (lambda: _local_accounts(accounts, sessions, sync_directory_now)) if accounts is not None else None
        runner, timer = start_background(settings, sessions, senders, clock, calendar, before_tick=sync,
                                         daily=sync_directory_now)
        homes.start()
        stoppers.extend([runner.stop, lambda: timer.shutdown(wait=False), homes.stop])

    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        client=bolt_client,
        senders=senders,
        homes=homes,
        app=app,
        server=server,
        workspace=workspace,
        runner=runner,
        timer=timer,
        socket_handler=socket_handler,
        followups=followups,
        clicks=clicks,
        _stoppers=stoppers,
    )
