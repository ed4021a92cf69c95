"""``LocalWorkspace``: a Slack-compatible Web API server on 127.0.0.1 (standard library only).

``slack_sdk.WebClient(token=..., base_url=ws.base_url)`` talks to it like to Slack. It keeps
users, DMs, channels, messages and views in memory (and, given ``state_file``, in an
append-only log that the next start replays: ``bot.workspace.persist``), applies Slack's rate
limits and Block Kit checks, can inject faults, and (through ``bot.workspace.actor``) acts as a
user towards the bot's HTTP endpoint. A small read API under ``/_local/`` serves other
processes (the CLI).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bot.workspace import browser
from bot.workspace.actor import Actor
from bot.workspace.api import WebApi
from bot.workspace.calls import CallRecord
from bot.workspace.payloads import ApiResult, InvalidPayloadError, error
from bot.workspace.persist import StateLog
from bot.workspace.socket import SocketHub, accept_key
from bot.workspace.state import CALL_HISTORY, FaultPlan, RateLimits, User, WorkspaceState
from bot.workspace.terminal import act

log = logging.getLogger(__name__)


class LocalWorkspace:
    """A local stand-in for a Slack workspace: Web API, read API and user actor."""

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        bot_endpoint: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        channel_rate_per_sec: float | None = 1.0,
        channel_burst: int = 5,
        workspace_rate_per_sec: float | None = None,
        workspace_burst: int = 50,
        tiers: bool = True,
        tier_scale: float = 1.0,
        call_history: int = CALL_HISTORY,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        team_id: str = "TLOCAL",
        team_name: str = "Local council",
        timeout_hold_seconds: float = 2.0,
        landing_delay_seconds: float = 0.0,
        ack_timeout_seconds: float = 3.0,
        state_file: Path | None = None,
        api_latency: float = 0.0,
        app_token: str | None = None,
        socket_retries: int = 3,
        disconnect_every_seconds: float | None = None,
    ) -> None:
        """``state_file``: keep users, channels, messages, views and the ts counter across runs.

        ``timeout_hold_seconds``: how long a ``timeout``/``timeout_after_store`` answer is held.
        ``landing_delay_seconds``: how long (by ``clock``) a ``timeout_after_store`` call takes
        to take effect; 0 (the default) stores it before the answer is held.
        ``tiers``/``tier_scale``: Slack's per-method rate-limit tiers (on, at Slack's rates, by default;
        see ``RateLimits``). ``call_history``: how many calls ``calls``/``call_log`` keep.
        ``api_latency``: real seconds every Web API and response_url call spends "on the network" before
        it is handled (slept in the handler thread, outside the state lock); see ``set_api_latency``.
        ``app_token``: the app-level token (``xapp-…``) that may open Socket Mode connections (``socket``);
        an envelope is sent ``socket_retries`` more times unacknowledged; every ``disconnect_every_seconds``
        each connection is asked to go, as Slack does.
        """
        self.bot_token, self.signing_secret, self.bot_endpoint = bot_token, signing_secret, bot_endpoint
        self.timeout_hold_seconds, self.ack_timeout_seconds = timeout_hold_seconds, ack_timeout_seconds
        #: How long (real seconds) a terminal action waits for the bot to publish a Home (``wait_for_home``).
        self.publish_wait_seconds = ack_timeout_seconds
        self.state = WorkspaceState(
            team_id=team_id, team_name=team_name, clock=clock, wall_clock=wall_clock, call_history=call_history
        )
        limits = RateLimits(channel_rate_per_sec, channel_burst, workspace_rate_per_sec, workspace_burst, tiers, tier_scale)
        faults = FaultPlan(fault_rate, "500", fault_seed)
        self.api = WebApi(
            self.state, bot_token=bot_token, limits=limits, faults=faults, landing_delay=landing_delay_seconds
        )
        self.actor = Actor(self)
        #: Socket Mode: while the bot holds a connection, members' requests reach it there, not over HTTP.
        self.socket = SocketHub(app_token=app_token, ack_timeout=ack_timeout_seconds, retries=socket_retries,
                                disconnect_every=disconnect_every_seconds)
        self.state_file = state_file
        self._log = StateLog(state_file) if state_file is not None else None
        if self._log is not None:
            self.state.changes = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self.api_latency = api_latency
        #: What the bot does after answering a request, when it runs in this process: the actor calls it
        #: after each answer, so the member sees the follow-ups (a modal, an ephemeral) as they would in Slack.
        self.settle: Callable[[], object] | None = None
        #: The order things reached Slack: "answer" (the bot's HTTP answer to a request) and "response_url".
        self.arrivals: list[str] = []

    @property
    def app_token(self) -> str | None:
        """The app-level token that may open Socket Mode connections (None: the app has a request URL instead)."""
        return self.socket.app_token

    def set_api_latency(self, seconds: float) -> None:
        """Make every Web API and response_url call take ``seconds`` longer (0 = none)."""
        self.api_latency = seconds

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Serve on ``host:port`` (0 = any free port) in a daemon thread; returns ``base_url``.

        With a ``state_file``, the first start loads it (``StateFileError`` when it cannot).
        """
        if self._server is not None:
            raise RuntimeError("the local workspace is already running")
        if self._log is not None:
            self._log.open(self.state)
        self._release = threading.Event()
        try:
            server = _Server((host, port), _Handler)
        except OSError:
            if self._log is not None:
                self._log.close()
            raise
        server.workspace = self
        self._server = server
        self.api.url_root = self.root_url
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-workspace", daemon=True
        )
        self._thread.start()
        if self.socket.disconnect_every:
            threading.Thread(target=self.socket.run_disconnects, args=(self._release,), name="socket-refresh",
                             daemon=True).start()
        log.info("local Slack workspace listening on %s", self.base_url)
        return self.base_url

    def stop(self) -> None:
        """Stop serving (held timeout responses are released first)."""
        self._release.set()
        self.socket.close_all()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if self._log is not None:
            with self.state.lock:
                self._log.flush(self.state)
                self._log.close()

    def persist(self) -> None:
        """Append pending changes to the state file (a no-op without one or when stopped)."""
        if self._log is not None:
            self._log.flush(self.state)

    def __enter__(self) -> LocalWorkspace:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT/`` of the running server."""
        if self._server is None:
            raise RuntimeError("the local workspace is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def base_url(self) -> str:
        """The Web API base URL for ``slack_sdk.WebClient(base_url=...)`` (ends with ``/api/``)."""
        return self.root_url + "api/"

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """The last ``call_history`` API calls and response_url posts, as (method, params), oldest first (a copy)."""
        with self.state.lock:
            return [(record.method, record.params) for record in self.state.calls]

    @property
    def call_log(self) -> list[CallRecord]:
        """The last ``call_history`` Web API calls with their arrival time (by ``clock``), status, Retry-After,
        fault and the limit that answered 429, if one did."""
        with self.state.lock:
            return list(self.state.call_log)

    # --- people and channels -------------------------------------------------------------------

    @property
    def team_id(self) -> str:
        """The workspace's team id."""
        return self.state.team_id

    @property
    def bot_user_id(self) -> str:
        """The bot's own user id (the sender of every message it posts)."""
        return self.state.bot_user.id

    def add_user(self, email: str, name: str, *, is_bot: bool = False) -> str:
        """Add a member (idempotent); returns the user id, deterministic from the email."""
        with self.state.lock:
            uid = self.state.add_user(email, name, is_bot=is_bot).id
            self.persist()
            return uid

    def remove_user(self, email: str) -> None:
        """Deactivate a member: lookups fail, ``users.info`` shows ``deleted: true``."""
        with self.state.lock:
            user = self._user(email)
            user.deleted = True
            self.state.changed("user", user)
            self.persist()

    def user_id(self, email: str) -> str:
        """The id of an existing member."""
        with self.state.lock:
            return self._user(email).id

    def dm_channel(self, email: str) -> str:
        """The id of the bot's DM channel with a member."""
        with self.state.lock:
            return self._user(email).im_channel

    def add_channel(self, name: str) -> str:
        """Create (or find) a public channel; returns its C… id."""
        with self.state.lock:
            cid = self.state.add_channel(name).id
            self.persist()
            return cid

    def issue_trigger(self, user_email: str) -> str:
        """A fresh trigger_id for ``user_email`` (as if they had just clicked something)."""
        with self.state.lock:
            return self.state.issue_trigger(self._user(user_email).id)

    def _user(self, email: str) -> User:
        user = self.state.user_by_email(email)
        if user is None:
            raise KeyError(f"no user with email {email!r} in the local workspace")
        return user

    # --- what people see -----------------------------------------------------------------------

    def messages(self, *, user_email: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages by ts: a user's DMs plus ephemerals shown to them, and/or one channel's.

        ``channel`` may be a C…/D… id, a user id (their DM) or a ``#name``. Unknown users and
        channels raise ``KeyError``.
        """
        with self.state.lock:
            self.api.land_due()
            user_id = self._user(user_email).id if user_email is not None else None
            channel_id = None
            if channel is not None:
                found_channel = self.state.resolve_channel(channel)
                if found_channel is None:
                    raise KeyError(f"no channel {channel!r} in the local workspace")
                channel_id = found_channel.id
            found = self.state.visible_messages(user_id=user_id, channel_id=channel_id)
            return [m.public() for m in found]

    def file(self, file_id: str) -> tuple[dict[str, Any], bytes]:
        """A completed file as ``files.info`` shows it, and its bytes; ``KeyError`` when there is none."""
        with self.state.lock:
            self.api.land_due()
            file = self.state.files.get(file_id)
            if file is None or not file.completed:
                raise KeyError(f"no file {file_id!r} in the local workspace")
            return file.api(self.api.url_root), file.content

    def views(self, user_email: str) -> list[dict[str, Any]]:
        """Views opened, pushed or published for a user (latest state each), oldest first."""
        with self.state.lock:
            user_id = self._user(user_email).id
            return [self.api.api_view(v) for v in self.state.views.values() if v.user_id == user_id]

    def home(self, user_email: str) -> dict[str, Any] | None:
        """The App Home view the bot last published for a user, or None."""
        with self.state.lock:
            view = self.state.views.get(self.state.home_views.get(self._user(user_email).id, ""))
            return self.api.api_view(view) if view is not None else None

    def wait_for_home(self, user_email: str, since: dict[str, Any] | None, timeout: float | None = None) -> dict[str, Any] | None:
        """The user's App Home once the bot has published it after ``since`` (the Home as it was, or None),
        waiting up to ``timeout`` seconds (default ``publish_wait_seconds``); None when nothing was published.

        A publish always gives the view a new hash, so an unchanged (id, hash) means not published yet.
        """
        key = (since["id"], since["hash"]) if since is not None else None
        deadline = time.monotonic() + (self.publish_wait_seconds if timeout is None else timeout)
        with self.state.home_published:
            while True:
                self.api.land_due()
                view = self.home(user_email)
                if view is not None and (view["id"], view["hash"]) != key:
                    return view
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.state.home_published.wait(left)

    def view_stack(self, user_email: str) -> list[dict[str, Any]]:
        """The user's open modals, bottom first (empty when none is open)."""
        with self.state.lock:
            stack = self.state.stack(self._user(user_email).id)
            return [self.api.api_view(self.state.views[vid]) for vid in stack]

    def member_id(self, email: str) -> str | None:
        """The user id of the active member with ``email``, or None."""
        with self.state.lock:
            user = self.state.user_by_email(email)
            return user.id if user is not None and not user.deleted else None

    def users(self) -> list[dict[str, Any]]:
        """Every member (and the bot) as {id, email, name, is_bot, deleted}."""
        with self.state.lock:
            return [u.summary() for u in self.state.users.values()]

    # --- faults and limits ---------------------------------------------------------------------

    def inject_faults(
        self, rate: float, kind: str = "500", *, seed: int | None = None, retry_after: int | None = None
    ) -> None:
        """Fail a seeded-random fraction ``rate`` of API calls with ``kind``.

        Kinds: ``429`` (rate limited, with ``Retry-After: retry_after``, default 2 s),
        ``500``/``503`` (nothing stored), ``timeout`` (held past the client's timeout, nothing
        stored), ``timeout_after_store`` (the call takes effect, the answer is held) and ``mix``
        (each fault one of ``429``, ``500``, ``timeout``, ``timeout_after_store``, evenly).
        ``seed`` replaces the workspace's ``fault_seed``; the same seed repeats the same faults.
        """
        with self.state.lock:
            self.api.faults.set(rate, kind, seed=seed, retry_after=retry_after)

    def release_held(self) -> None:
        """Answer every call held by a ``timeout``/``timeout_after_store`` fault now; later ones hold again."""
        held, self._release = self._release, threading.Event()
        held.set()

    def fail_next(self, n: int, kind: str = "500") -> None:
        """Make the next ``n`` API calls fail with ``kind``."""
        with self.state.lock:
            self.api.faults.fail_next(n, kind)

    def set_rate_limits(
        self,
        *,
        channel_rate_per_sec: float | None = 1.0,
        channel_burst: int = 5,
        workspace_rate_per_sec: float | None = None,
        workspace_burst: int = 50,
        tiers: bool = True,
        tier_scale: float = 1.0,
    ) -> None:
        """Replace the rate limits (None disables one; ``tiers=False`` turns Slack's method tiers off,
        ``tier_scale`` multiplies their allowances); all buckets start full."""
        limits = RateLimits(channel_rate_per_sec, channel_burst, workspace_rate_per_sec, workspace_burst, tiers, tier_scale)
        self.api.set_limits(limits)

    def set_call_history(self, maxlen: int) -> None:
        """Keep the last ``maxlen`` calls in ``calls`` and ``call_log``."""
        with self.state.lock:
            self.state.set_call_history(maxlen)

    # --- acting as a user (see bot.workspace.actor.Actor) ---------------------------------------

    def slash_command(
        self, user_email: str, command: str, text: str = "", channel_id: str | None = None
    ) -> dict[str, Any]:
        """Run a slash command as ``user_email``; see ``Actor.slash_command``."""
        try:
            return self.actor.slash_command(user_email, command, text, channel_id=channel_id)
        finally:
            self.persist()

    def click(self, user_email: str, message: dict[str, Any], action_id: str, value: str | None = None,
              selected_option: dict[str, Any] | str | None = None) -> dict[str, Any]:
        """Click an element of a stored message; see ``Actor.click``."""
        try:
            return self.actor.click(user_email, message, action_id, value=value, selected_option=selected_option)
        finally:
            self.persist()

    def click_view(self, user_email: str, view: dict[str, Any], action_id: str, value: str | None = None,
                   selected_option: dict[str, Any] | str | None = None) -> dict[str, Any]:
        """Click an element of a published App Home view, as that member (see ``Actor.click_view``)."""
        try:
            return self.actor.click_view(user_email, view, action_id, value=value, selected_option=selected_option)
        finally:
            self.persist()

    def open_home(self, user_email: str) -> dict[str, Any]:
        """The member opens the bot's Home tab (Slack's ``app_home_opened`` event)."""
        try:
            return self.actor.open_home(user_email)
        finally:
            self.persist()

    def submit_view(self, user_email: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Submit an open modal; see ``Actor.submit_view``."""
        try:
            return self.actor.submit_view(user_email, view, values)
        finally:
            self.persist()

    def close_modal(self, user_email: str, values: dict[str, dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """Close a member's open modals as the X does, with what was typed; see ``Actor.close_modal``."""
        try:
            return self.actor.close_modal(user_email, values)
        finally:
            self.persist()

    def send_raw(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST raw bytes to the bot endpoint; see ``Actor.send_raw``."""
        return self.actor.send_raw(body, headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: The listen backlog. socketserver's default of 5 drops connections a busy bot opens at once, and each
    #: then waits a second for TCP to try again: Slack answers them.
    request_queue_size = 1024
    workspace: LocalWorkspace


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "LocalSlack/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("local workspace: " + format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        ws = self.server.workspace
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        if (url.path == "/" or url.path.startswith("/_local/")) and not self._from_this_machine():
            self._send_json(403, {"ok": False, "error": "not_this_machine"})  # another site's page, by DNS rebinding
            return
        if url.path == "/_local/socket" and self.command == "GET":
            self._socket(ws, query.get("ticket", ""))
            return
        if url.path == "/" and self.command == "GET":  # the workspace in a browser (bot/workspace/browser.py)
            self._send(200, browser.page(), "text/html; charset=utf-8", {"Cache-Control": "no-store"})
            return
        raw = self._body()
        if ws.api_latency > 0 and (url.path.startswith("/api/") or url.path.startswith("/_local/response/")):
            time.sleep(ws.api_latency)  # the network, not the workspace: no lock held
        if url.path.startswith("/upload/v1/") and self.command == "POST":
            status, text = ws.api.upload(url.path.removeprefix("/upload/v1/"), raw)
            ws.persist()
            self._send(status, text.encode("utf-8"), "text/plain; charset=utf-8")
            return
        if url.path.startswith("/api/"):
            result = self._web_api(ws, url.path.removeprefix("/api/"), query, raw)
        elif url.path.startswith("/_local/response/") and self.command == "POST":
            ws.arrivals.append("response_url")
            result = self._response_url(ws, unquote(url.path.removeprefix("/_local/response/")), raw)
        elif url.path.startswith("/_local/") and self.command == "GET":
            self._send_json(*self._read_api(ws, url.path.removeprefix("/_local/"), query))
            return
        elif url.path.startswith("/_local/act/") and self.command == "POST" and not self._json():
            result = error("json_only", status=415)  # a form another site's page posts needs no preflight: refused
        elif url.path.startswith("/_local/act/") and self.command == "POST" and (
            answer := act(ws, url.path.removeprefix("/_local/act/"), raw)
        ) is not None:
            self._send_json(*answer)
            return
        else:
            result = error("not_found", status=404)
        ws.persist()  # before a held answer, so timeout_after_store changes are kept too
        if result.hold:
            ws._release.wait(ws.timeout_hold_seconds)
        self._send_json(result.status, result.body, result.headers)

    def _json(self) -> bool:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() == "application/json"

    def _from_this_machine(self) -> bool:
        """The page and the member's actions answer only requests addressed to this machine by name (a page
        elsewhere that rebinds its own name to 127.0.0.1 still sends its own name as the Host)."""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in ("127.0.0.1", "localhost", "::1")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _web_api(self, ws: LocalWorkspace, method: str, query: dict[str, str], raw: bytes) -> ApiResult:
        try:
            params: dict[str, Any] = {**query, **self._parse_body(raw)}
        except InvalidPayloadError as exc:
            return exc.result
        auth = self.headers.get("Authorization") or ""
        token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None
        form_token = params.pop("token", None)
        if method == "apps.connections.open":  # the app-level token's one method
            return ApiResult(ws.socket.open_url(token or (str(form_token) if form_token else None),
                                                "ws" + ws.root_url.removeprefix("http")))
        return ws.api.call(method, params, token or (str(form_token) if form_token else None))

    def _socket(self, ws: LocalWorkspace, ticket: str) -> None:
        """A Socket Mode connection: the WebSocket handshake for a ticket ``apps.connections.open`` gave, then
        the connection runs in this thread until it closes."""
        key = self.headers.get("Sec-WebSocket-Key")
        if (self.headers.get("Upgrade") or "").lower() != "websocket" or not key:
            self._send_json(400, {"ok": False, "error": "not_a_websocket"})
            return
        if not ws.socket.take_ticket(ticket):
            self._send_json(401, {"ok": False, "error": "invalid_ticket"})
            return
        self.protocol_version = "HTTP/1.1"  # RFC 6455: the upgrade is answered in HTTP/1.1
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key))
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        ws.socket.serve(self.rfile, self.wfile, self.connection)

    def _parse_body(self, raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json":
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise InvalidPayloadError(error("invalid_json")) from None
            if not isinstance(body, dict):
                raise InvalidPayloadError(error("invalid_json"))
            return body
        if ctype in {"application/x-www-form-urlencoded", ""}:
            form = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
            return {k: v[-1] for k, v in form.items()}
        raise InvalidPayloadError(error("invalid_form_data", messages=[f"unsupported Content-Type {ctype}"]))

    def _response_url(self, ws: LocalWorkspace, token: str, raw: bytes) -> ApiResult:
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error("invalid_payload", status=400)
        return ws.api.respond(token, body)

    def _read_api(self, ws: LocalWorkspace, route: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if route == "healthz":
            return 200, {"ok": True}, {}
        if route == "users":
            return 200, ws.users(), {}
        if route == "browser/render" and "user" in query:
            if ws.member_id(query["user"]) is None:
                return 404, {"ok": False, "error": "users_not_found"}, {}
            return 200, browser.render(ws, query["user"]), {}
        try:
            if route == "messages":
                return 200, ws.messages(user_email=query.get("user"), channel=query.get("channel")), {}
            if route.startswith("files/"):
                file, content = ws.file(route.removeprefix("files/"))
                return 200, {"file": file, "content_base64": base64.b64encode(content).decode("ascii")}, {}
            if route == "views" and "user" in query:
                return 200, ws.views(query["user"]), {}
            if route == "modal" and "user" in query:
                stack = ws.view_stack(query["user"])
                return 200, stack[-1] if stack else None, {}
        except KeyError:
            if route.startswith("files/"):
                return 404, {"ok": False, "error": "file_not_found"}, {}
            return 404, {"ok": False, "error": "users_not_found" if "user" in query else "channel_not_found"}, {}
        return 404, {"ok": False, "error": "not_found"}, {}

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json; charset=utf-8", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("local workspace: client went away before the answer (%s)", self.path)
