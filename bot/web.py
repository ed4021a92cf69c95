"""The production HTTP server (waitress): Slack's request URL plus a health endpoint.

Every request to the Slack URL is verified here, before anything reads, logs or answers it:
a missing, non-numeric, stale or wrong signature is a 401 with no outbound call (Bolt verifies
again behind this). Verified bodies that are not what Slack sends are a 400.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from waitress.server import create_server

SLACK_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
#: The ``Server`` header the bot answers with (how ``auditbot workspace --url`` knows it reached the bot).
SERVER_IDENT = "auditbot"
#: Slack refuses requests older than five minutes; so do we.
MAX_AGE_SECONDS = 300
#: Far above anything Slack sends (a full modal submission is tens of kilobytes).
MAX_BODY_BYTES = 1_000_000
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


def well_formed(body: bytes, content_type: str) -> bool:
    """True if a verified body has the shape Slack gives it (a form, or a JSON object)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/json"):
            return isinstance(json.loads(text), dict)
        form = urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=bool(text))
        if "payload" in form:
            payload = json.loads(form["payload"][0])
            return isinstance(payload, dict) and isinstance(payload.get("type"), str)
        return "\x00" not in text
    except ValueError:  # bad UTF-8, bad JSON, a malformed form
        return False


def make_wsgi(
    app: App | None,
    sessions: sessionmaker[Session],
    *,
    signing_secret: str | None = None,
    wall: Callable[[], float] = time.time,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application: Bolt at ``/slack/events`` (signatures verified first) and ``/healthz``.

    ``wall`` is the transport's clock (Unix seconds), against which Slack's timestamps are read.
    """
    slack = SlackRequestHandler(app, path=SLACK_PATH) if app is not None else None
    if slack is not None and not signing_secret:
        raise ValueError("the Slack request URL needs the signing secret to verify requests")

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
        if slack is not None and path == SLACK_PATH:
            assert signing_secret is not None
            body = verified_body(environ, signing_secret, wall())
            if isinstance(body, str):
                log.info("request to %s refused: %s", SLACK_PATH, body)  # nothing of it is read or echoed
                status = "413 Payload Too Large" if body == "too_large" else "401 Unauthorized"
                return _answer(start_response, "400 Bad Request" if body == "bad_length" else status, body)
            if not well_formed(body, str(environ.get("CONTENT_TYPE", ""))):
                log.info("malformed signed request to %s rejected", SLACK_PATH)
                return _answer(start_response, "400 Bad Request", "malformed_request")
            environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            try:
                return slack(environ, start_response)
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
        """Close the listening socket and stop serving."""
        self._server.close()
        self._thread.join(5)


def serve_in_thread(wsgi: Any, *, host: str = "127.0.0.1", port: int = 0, threads: int = 4) -> RunningServer:
    """Serve ``wsgi`` with waitress on ``host:port`` (0 = ephemeral) in a daemon thread."""
    server = create_server(wsgi, host=host, port=port, threads=threads, ident=SERVER_IDENT)
    actual = int(server.effective_port)  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    return RunningServer(f"http://{host}:{actual}", actual, server, thread)
