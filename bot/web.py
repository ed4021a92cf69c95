"""The production HTTP server (waitress): Slack's request URL plus a health endpoint.

Every request to the Slack URL is verified here, before anything reads, logs or answers it:
a missing, non-numeric, stale or wrong signature is a 401 with no outbound call (Bolt verifies
again behind this). Verified bodies that are not what Slack sends are a 400.

Slack is answered before any outbound call: each verified request runs inside a follow-up scope
(``bot.delivery.followups``), and the calls its listener queued there are handed to the follow-up
threads only once the HTTP answer has been written (the WSGI iterable's ``close``). At most
``gate`` Slack requests are processed at once (about the database pool); a click or command that
cannot start within ``gate_wait`` seconds is shed at once with "busy, nothing was changed" (a click:
an ack plus an ephemeral through its response_url; a command: the words in the ack), a modal
submission waits up to ``view_wait`` and is then refused with a 503, as is an event (Slack retries those).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import logging
import re
import threading
import time
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.context.respond import Respond
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from waitress import wasyncore
from waitress.server import TcpWSGIServer, create_server

from bot.clock import Clock, system_clock
from bot.delivery import followups as fu
from bot.delivery.clicks import ClickLane
from bot.handlers.payloads import PayloadError, user_id_of
from bot.handlers.receipts import request_key
from bot.ids import Template
from bot.render import render
from store.receipts import acting_on, first_receipt, settle, settle_on_commit, settled_here

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
#: Local mode only: answered once the follow-ups of the requests answered so far are done (the local workspace,
#: in a process of its own, waits here before its member looks, as Slack's own clients do not need to).
SETTLED_PATH = "/_local/settled"
#: The ``Server`` header the bot answers with (how ``auditbot workspace --url`` knows it reached the bot).
SERVER_IDENT = "auditbot"
#: Slack refuses requests older than five minutes; so do we.
MAX_AGE_SECONDS = 300
#: Far above anything Slack sends (a full modal submission is tens of kilobytes).
MAX_BODY_BYTES = 1_000_000
#: Marks an answer given without processing the request (Slack ignores it; benchmarks count it).
SHED_HEADER = ("X-Auditbot-Shed", "busy")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def _answer(start_response: StartResponse, status: str, error: str) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps({"ok": False, "error": error}).encode()]


def verified_body(environ: dict[str, Any], signing_secret: str, now: float) -> bytes | str:
    """The request body if Slack signed it within the last five minutes, else why not.

    Why not is one of ``too_large``, ``bad_length`` or ``invalid_signature``.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "bad_length"
    if length < 0:
        return "bad_length"
    if length > MAX_BODY_BYTES:
        return "too_large"
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return "invalid_signature"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return "invalid_signature"
    body = environ["wsgi.input"].read(length) if length else b""
    expected = "v0=" + hmac.new(signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body if hmac.compare_digest(expected, signature) else "invalid_signature"


@dataclass(frozen=True)
class Incoming:
    """What a verified Slack request is, for the gate: its kind and (for a click) its response_url, its
    receipt's key and who clicked."""

    kind: str  # block_actions, view_submission, view_closed, command, event, ...
    response_url: str | None = None
    key: str | None = None
    user: str | None = None


def incoming(body: bytes, content_type: str) -> Incoming | None:
    """What a verified body is, read once; None if it is not the shape Slack gives it (a form, or a
    JSON object)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            return Incoming("event") if isinstance(json.loads(text), dict) else None
        form = urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
                return None
            url = payload.get("response_url")
            url = url if isinstance(url, str) and url.startswith("http") else None
            if payload["type"] != "block_actions":
                return Incoming(payload["type"][:40], url)
            user = payload.get("user")
            try:  # whom to tell if the click is never acted on; the listener says what is wrong with a bad one
                user_id: str | None = user_id_of(user.get("id") if isinstance(user, dict) else None)
            except PayloadError:
                user_id = None
            return Incoming("block_actions", url, request_key(payload), user_id)
        if "\x00" in text:
            return None
        return Incoming("command" if form.get("command") else "other")
    except ValueError:  # bad UTF-8, bad JSON, a malformed form
        return None


class _AfterAnswer:
    """The WSGI body of a Slack request: writes the answer itself (waitress sends each write at once, see
    ``serve_in_thread``), then hands the request's follow-ups on (``hand_on``: its collected calls, or a click's
    listener): they start only once Slack has its answer."""

    def __init__(self, body: Iterable[bytes], followups: fu.FollowUps, hand_on: Callable[[], None],
                 write: Callable[[bytes], Any]) -> None:
        self.body, self.hand_on, self.write = body, hand_on, write
        self._handed = False
        followups.reserve()  # pending before Slack has the answer: whoever waits for the follow-ups waits for these

    def __iter__(self) -> Iterator[bytes]:
        """A generator: the answer is written when waitress starts iterating, then the listener runs."""
        for chunk in self.body:
            self.write(chunk)  # also the headers, even for an empty answer
        self.write(b"")
        self._hand_on()
        yield from ()

    def _hand_on(self) -> None:
        if not self._handed:
            self._handed = True
            self.hand_on()

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self._hand_on()  # not iterated (the client went away): the follow-ups still happen


def _capturing(start_response: StartResponse, writers: list[Callable[[bytes], Any]]) -> StartResponse:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        write = start_response(status, headers, exc_info) if exc_info is not None else start_response(status, headers)
        writers.append(write)
        return write

    return start


@dataclass(frozen=True)
class Gate:
    """How many Slack requests run at once, and how long each kind waits to start before it is shed."""

    size: int = 8
    wait: float = 0.5
    view_wait: float = 2.5


def _shed(start_response: StartResponse, request: Incoming, followups: fu.FollowUps | None) -> Iterable[bytes]:
    """Answer a request the bot cannot take now: nothing of it was processed."""
    log.warning("slack request shed (busy): %s", request.kind)
    busy = render(Template.BUSY, {})
    if request.kind == "command":
        start_response("200 OK", [("Content-Type", "application/json"), SHED_HEADER])
        return [json.dumps({"response_type": "ephemeral", **busy}).encode()]
    if request.kind in ("block_actions", "block_suggestion", "message_action", "shortcut") :
        return _answer_click(start_response, request, followups, busy, SHED_HEADER)
    return _answer(start_response, "503 Service Unavailable", "busy")


def _answer_click(start_response: StartResponse, request: Incoming, followups: fu.FollowUps | None,
                  words: dict[str, Any], *headers: tuple[str, str]) -> Iterable[bytes]:
    """Acknowledge a click not acted on, and tell its person ``words`` (ephemeral, through its response_url)."""
    write = start_response("200 OK", [("Content-Type", "text/plain"), *headers])
    if request.response_url is None or followups is None:
        return [b""]
    told = fu.Scope(started=time.monotonic(), kind=f"unanswered {request.kind}")
    answer = Respond(response_url=request.response_url)
    told.calls.append(fu.Call("respond", lambda: answer(text=words["text"], blocks=words["blocks"],
                                                        response_type="ephemeral", replace_original=False)))
    return _AfterAnswer([], followups, lambda: followups.submit(told, reserved=True), write)


def make_wsgi(
    app: App | None,
    sessions: sessionmaker[Session],
    *,
    signing_secret: str | None = None,
    wall: Callable[[], float] = time.time,
    followups: fu.FollowUps | None = None,
    gate: Gate | None = None,
    clicks: ClickLane | None = None,
    clock: Clock = system_clock,
    settled: Callable[[], bool] | None = None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application: Bolt at ``/slack/events`` (signatures verified first) and ``/healthz``.

    ``wall`` is the transport's clock (Unix seconds), against which Slack's timestamps are read.
    With ``followups``, a listener's outbound calls are made after its answer is written; with ``gate``,
    requests beyond its size wait briefly and are then shed (see the module docstring). With ``clicks``
    (whose follow-ups are ``followups``), a click is answered once its receipt is written (at ``clock``),
    and its listener runs on that lane afterwards (``bot/delivery/clicks.py``). With ``settled`` (local mode),
    ``/_local/settled`` answers once it returns.
    """
    slack = SlackRequestHandler(app, path=SLACK_PATH) if app is not None else None
    if slack is not None and not signing_secret:
        raise ValueError("the Slack request URL needs the signing secret to verify requests")
    if clicks is not None and clicks.followups is not followups:
        raise ValueError("the click lane hands its calls to the same follow-ups as the requests")
    semaphore = threading.BoundedSemaphore(gate.size) if gate is not None else None
    if clicks is not None:
        settle_on_commit(sessions)

    def act_on_click(environ: dict[str, Any], key: str) -> fu.Scope:
        """A taken click's listener, after its answer: in the gate, in a follow-up scope, acting on its receipt."""
        assert slack is not None
        if semaphore is not None:
            semaphore.acquire()  # the database's share, as for any request; the door sheds, not this
        try:
            with fu.scope("block_actions") as collected, acting_on(key):
                statuses: list[str] = []

                def start(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable[[bytes], object]:
                    statuses.append(status)
                    return lambda _: None

                answer = slack(environ, start)
                for _ in answer:
                    pass
                status = statuses[0][:3] if statuses else ""
                if status not in ("200", "404"):  # e.g. 401: Bolt found the signature stale by now; nothing ran
                    log.warning("a click was not acted on (%s): it stays pending, and its person will be told", status)
                    return collected
                if not settled_here():  # it committed nothing (a form opened; no listener for it): now it is done
                    try:
                        with sessions() as session:
                            settle(session, key)
                    except DBAPIError as exc:  # still pending: in five minutes its person is told nothing changed
                        log.warning("a click's receipt could not be cleared: %s", type(exc).__name__)
            return collected
        finally:
            if semaphore is not None:
                semaphore.release()

    def take_click(environ: dict[str, Any], start_response: StartResponse, request: Incoming) -> Iterable[bytes]:
        """Answer a click once its receipt is durable; its listener follows on the lane."""
        assert clicks is not None and followups is not None and request.key is not None
        key = request.key
        if clicks.busy():
            return _shed(start_response, request, followups)
        try:
            with sessions() as session:
                first = first_receipt(session, key, now=clock(), pending=True, slack_user_id=request.user)
        except (DBAPIError, PoolTimeout) as exc:
            reference = uuid.uuid4().hex[:8]  # as the error handler words it (bot/handlers/errors.py)
            log.warning("unavailable %s while taking a click: %s", reference, type(exc).__name__)
            words = render(Template.FAILURE, {"kind": "unavailable", "reference": reference})
            return _answer_click(start_response, request, followups, words)
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        if not first:
            log.info("request %s was already received; not acted on again", key)
            return [b""]
        arrived = clicks.clock()
        return _AfterAnswer([], followups, lambda: clicks.take(arrived, lambda: act_on_click(environ, key)), write)

    def run_slack(environ: dict[str, Any], start_response: StartResponse, request: Incoming) -> Iterable[bytes]:
        assert slack is not None
        if semaphore is not None and gate is not None:
            waits = gate.view_wait if request.kind in ("view_submission", "view_closed") else gate.wait
            if not semaphore.acquire(timeout=waits):
                return _shed(start_response, request, followups)
        try:
            if followups is None:
                return slack(environ, start_response)
            writers: list[Callable[[bytes], Any]] = []
            with fu.scope(request.kind) as collected:
                answer = slack(environ, _capturing(start_response, writers))
            return _AfterAnswer(answer, followups, lambda: followups.submit(collected, reserved=True), writers[-1])
        finally:
            if semaphore is not None:
                semaphore.release()

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
            body: dict[str, bool | str]
            try:
                with sessions() as session:
                    session.execute(text("select 1"))
                status, body = "200 OK", {"ok": True}
            except Exception as exc:  # noqa: BLE001 - a health check reports any database failure
                status, body = "503 Service Unavailable", {"ok": False, "error": type(exc).__name__}
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        if settled is not None and path == SETTLED_PATH and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({"ok": True, "settled": settled()}).encode()]
        if slack is not None and path == SLACK_PATH:
            assert signing_secret is not None
            raw = verified_body(environ, signing_secret, wall())
            if isinstance(raw, str):
                log.info("request to %s refused: %s", SLACK_PATH, raw)  # nothing of it is read or echoed
                status = "413 Payload Too Large" if raw == "too_large" else "401 Unauthorized"
                return _answer(start_response, "400 Bad Request" if raw == "bad_length" else status, raw)
            request = incoming(raw, str(environ.get("CONTENT_TYPE", "")))
            if request is None:
                log.info("malformed signed request to %s rejected", SLACK_PATH)
                return _answer(start_response, "400 Bad Request", "malformed_request")
            environ = {**environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))}
            try:
                if clicks is not None and request.kind == "block_actions" and request.key is not None:
                    return take_click(environ, start_response, request)
                return run_slack(environ, start_response, request)
            except (ValueError, KeyError, TypeError):
                # Bolt parses the body before checking the signature; unparseable input is
                # the sender's fault, answered 400 without a traceback.
                log.info("malformed request to %s rejected", SLACK_PATH)
                return _answer(start_response, "400 Bad Request", "malformed_request")
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found"]

    return wsgi


@dataclass
class RunningServer:
    """A waitress server running in a background thread."""

    url: str
    port: int
    _server: Any
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving: the server's own loop thread closes its sockets, open keep-alive connections
        included (closed from another thread, they race its ``select``, and one left open kept it running)."""
        if self._thread.is_alive():
            with contextlib.suppress(OSError):  # already closed
                self._server.trigger.pull_trigger(lambda: wasyncore.close_all(self._server._map))
            self._thread.join(5)


def serve_in_thread(wsgi: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 4) -> RunningServer:
    """Serve ``wsgi`` with waitress on ``host:port`` (0 = ephemeral) in a daemon thread.

    Each write is sent from the request's thread at once (``send_bytes=1``), not left for the main loop:
    an acknowledgement is on its way before the request's follow-ups start (``_AfterAnswer``).
    """
    with warnings.catch_warnings():  # waitress 3 marks send_bytes deprecated, and still honours it
        warnings.filterwarnings("ignore", "send_bytes", DeprecationWarning)
        server = create_server(wsgi, host=host, port=port, threads=threads, ident=SERVER_IDENT, send_bytes=1)
    assert isinstance(server, TcpWSGIServer), "one host and port make one TCP server, never a MultiSocketServer"
    actual = int(server.effective_port)  # type: ignore[attr-defined]  # set in __init__; types-waitress omits it
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    return RunningServer(f"http://{host}:{actual}", actual, server, thread)
