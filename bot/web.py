"""The production HTTP server (waitress): Slack's request URL plus a health endpoint."""

from __future__ import annotations

import json
import logging
import threading
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

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


def make_wsgi(app: App | None, sessions: sessionmaker[Session]) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application: Bolt at ``/slack/events`` (signatures verified) and ``/healthz``."""
    slack = SlackRequestHandler(app, path=SLACK_PATH) if app is not None else None

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
            try:
                return slack(environ, start_response)
            except (ValueError, KeyError, TypeError):
                # Bolt parses the body before checking the signature; unparseable input is
                # the sender's fault, answered 400 without a traceback.
                log.info("malformed request to %s rejected", SLACK_PATH)
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"ok": false, "error": "malformed_request"}']
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
    server = create_server(wsgi, host=host, port=port, threads=threads, ident="auditbot")
    actual = int(server.effective_port)  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()
    return RunningServer(f"http://{host}:{actual}", actual, server, thread)
