"""Socket Mode, as Slack serves it to a bot behind a firewall.

``apps.connections.open``, called with the app-level token (``xapp-…``), hands out a one-time WebSocket URL.
On that socket the workspace says ``hello``, then delivers slash commands, interactions and events as
envelopes (``{"envelope_id", "type", "payload", "accepts_response_payload", "retry_attempt", "retry_reason"}``)
and waits for each one's acknowledgement (``{"envelope_id", "payload"?}``): the payload is what a slash command
or a modal submission answers, as an HTTP body would. As Slack does:

* an event (``events_api``) not acknowledged within ``ack_timeout`` seconds is sent again, on the newest open
  connection, with ``retry_attempt`` counting up, at most ``retries`` times; a command or an interaction is
  sent once, and unacknowledged it fails, as Slack shows the person an error;
* ``request_disconnect`` asks every connection to go (``{"type": "disconnect", "reason": "refresh_requested"}``),
  as Slack does every few hours (every ``disconnect_every`` seconds here, when set); the client opens a new one,
  and what was not acknowledged on the old one is delivered again there;
* pings are answered with pongs.

The frames are RFC 6455's, written here on the workspace's own HTTP server (text, ping, pong, close; clients'
frames masked, the server's not), so the local workspace needs nothing beyond the standard library.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import hashlib
import io
import itertools
import json
import logging
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

log = logging.getLogger(__name__)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x8, 0x9, 0xA, 0x0
#: Far above any envelope or acknowledgement (a modal's answer is tens of kilobytes).
MAX_FRAME = 4_000_000
#: How much of what went over the sockets ``SocketHub.log`` keeps.
LOG_KEPT = 10_000


class SocketClosed(Exception):
    """The other end closed the socket, or sent what is not a WebSocket frame."""


class NotAcknowledged(TimeoutError):
    """No connection acknowledged an envelope, however often it was sent."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def frame(opcode: int, data: bytes) -> bytes:
    """One unmasked, unfragmented frame (the server's)."""
    length = len(data)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    return header + data


#: A connection's two byte streams (an HTTP handler's ``rfile``/``wfile``, or a test's).
Stream = IO[bytes] | io.BufferedIOBase


def read_frame(stream: Stream) -> tuple[bool, int, bytes]:
    """(fin, opcode, payload) of the next frame, unmasked."""

    def exactly(n: int) -> bytes:
        data = stream.read(n)
        if data is None or len(data) < n:
            raise SocketClosed("the socket closed mid-frame")
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", exactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", exactly(8))
    if length > MAX_FRAME:
        raise SocketClosed("a frame over the limit")
    mask = exactly(4) if second & 0x80 else b""
    data = exactly(length)
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bool(first & 0x80), first & 0x0F, data


class Connection:
    """One client's socket: frames out under a lock (delivery and the reader's pongs share it)."""

    def __init__(self, number: int, rfile: Stream, wfile: Stream, sock: socket.socket | None = None) -> None:
        self.number, self.rfile, self.wfile, self.sock = number, rfile, wfile, sock
        self.open = True
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close from this side (the workspace stopping): a close frame, then the socket."""
        self.send(CLOSE, struct.pack("!H", 1001))
        self.open = False
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)

    def send(self, opcode: int, data: bytes) -> bool:
        """Send a frame; False when the socket is gone."""
        with self._lock:
            if not self.open:
                return False
            try:
                self.wfile.write(frame(opcode, data))
                self.wfile.flush()
                return True
            except (OSError, ValueError):  # the socket gone, or its file closed under us
                self.open = False
                return False

    def send_json(self, message: dict[str, Any]) -> bool:
        return self.send(TEXT, json.dumps(message).encode("utf-8"))

    def messages(self) -> Any:
        """The client's text messages, answering pings, until it closes."""
        parts: list[bytes] = []
        while self.open:
            fin, opcode, data = read_frame(self.rfile)
            if opcode == PING:
                self.send(PONG, data)
            elif opcode == CLOSE:
                self.send(CLOSE, data[:2])
                return
            elif opcode in (TEXT, CONTINUATION):
                parts.append(data)
                if fin:
                    yield b"".join(parts).decode("utf-8", errors="replace")
                    parts = []


@dataclass
class _Envelope:
    body: dict[str, Any]
    acked: threading.Event = field(default_factory=threading.Event)
    answer: Any = None


class SocketHub:
    """The workspace's Socket Mode side: tickets, open connections, and envelopes waiting for their ack."""

    def __init__(
        self, *, app_token: str | None, ack_timeout: float = 3.0, retries: int = 3, disconnect_every: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app_token, self.ack_timeout, self.retries, self.clock = app_token, ack_timeout, retries, clock
        self.disconnect_every = disconnect_every
        self._tickets: set[str] = set()
        self._connections: list[Connection] = []
        self._pending: dict[str, _Envelope] = {}
        self._numbers = itertools.count(1)
        self._changed = threading.Condition()
        #: What went over the sockets, for tests: (what, connection number, envelope id), ``what`` being one of
        #: "hello", "envelope", "ack", "disconnect" and "closed".
        self.log: collections.deque[tuple[str, int, str]] = collections.deque(maxlen=LOG_KEPT)

    # --- apps.connections.open and the socket ---------------------------------------------------------------------

    def open_url(self, token: str | None, ws_root: str) -> dict[str, Any]:
        """``apps.connections.open``: a one-time URL for the app-level token, else Slack's error."""
        if self.app_token is None or token is None:
            return {"ok": False, "error": "not_authed"}
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = secrets.token_urlsafe(16)
        with self._changed:
            self._tickets.add(ticket)
        return {"ok": True, "url": f"{ws_root}_local/socket?ticket={ticket}"}

    def take_ticket(self, ticket: str) -> bool:
        """True once for a ticket ``open_url`` handed out."""
        with self._changed:
            if ticket in self._tickets:
                self._tickets.discard(ticket)
                return True
            return False

    def serve(self, rfile: Stream, wfile: Stream, sock: socket.socket | None = None) -> None:
        """Run one accepted connection (the HTTP handler's thread) until it closes."""
        connection = Connection(next(self._numbers), rfile, wfile, sock)
        connection.send_json({"type": "hello", "num_connections": len(self._connections) + 1,
                              "debug_info": {"host": "local-workspace", "approximate_connection_time": 18060},
                              "connection_info": {"app_id": "ALOCAL"}})
        self.log.append(("hello", connection.number, ""))
        with self._changed:  # open for envelopes once greeted, as Slack sends nothing before its hello
            self._connections.append(connection)
            self._changed.notify_all()
        try:
            for text in connection.messages():
                self._acknowledged(connection, text)
        except SocketClosed:
            pass
        finally:
            connection.open = False
            with self._changed:
                self._connections.remove(connection)
                self._changed.notify_all()

    def _acknowledged(self, connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            log.info("socket %d sent what is not JSON", connection.number)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._changed:
            pending = self._pending.get(str(envelope_id))
            if pending is None or pending.acked.is_set():
                return  # an envelope already acknowledged (or never sent): ignored, as Slack does; the first ack stands
            pending.answer = message.get("payload")
            pending.acked.set()
        self.log.append(("ack", connection.number, str(envelope_id)))

    # --- delivery ---------------------------------------------------------------------------------------------

    def wait_connected(self, timeout: float = 5.0, *, newer_than: int = 0) -> bool:
        """Wait for an open connection (numbered above ``newer_than``)."""
        with self._changed:
            return self._changed.wait_for(
                lambda: any(c.open and c.number > newer_than for c in self._connections), timeout
            )

    def newest(self) -> int:
        """The number of the newest open connection (0: none)."""
        with self._changed:
            return max((c.number for c in self._connections if c.open), default=0)

    def deliver(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool) -> Any:
        """Send an envelope and wait for its ack; returns the ack's payload (None when it has none).
        ``NotAcknowledged`` when no connection acknowledged it within the retries."""
        envelope_id = secrets.token_hex(16)
        pending = _Envelope({"envelope_id": envelope_id, "type": kind, "payload": payload,
                             "accepts_response_payload": accepts_response_payload})
        with self._changed:
            self._pending[envelope_id] = pending
        retried = kind == "events_api"  # Slack sends an event again; a command or an interaction, never
        try:
            for attempt in range(self.retries + 1 if retried else 1):
                connection = self._connection(self.ack_timeout)
                if connection is not None:
                    body = dict(pending.body)
                    if retried:
                        body.update(retry_attempt=attempt, retry_reason="timeout" if attempt else "")
                    if connection.send_json(body):
                        self.log.append(("envelope", connection.number, envelope_id))
                if pending.acked.wait(self.ack_timeout):
                    return pending.answer
            raise NotAcknowledged(f"envelope {envelope_id} was not acknowledged")
        finally:
            with self._changed:
                self._pending.pop(envelope_id, None)

    def _connection(self, timeout: float) -> Connection | None:
        with self._changed:
            self._changed.wait_for(lambda: any(c.open for c in self._connections), timeout)
            open_ones = [c for c in self._connections if c.open]
            return open_ones[-1] if open_ones else None

    def close_all(self) -> int:
        """Close every connection at once (the workspace stopping, or the network failing); returns how many."""
        with self._changed:
            connections = [c for c in self._connections if c.open]
        for connection in connections:
            connection.close()
            self.log.append(("closed", connection.number, ""))
        return len(connections)

    def run_disconnects(self, stop: threading.Event) -> None:
        """Every ``disconnect_every`` seconds until ``stop``, ask the connections to go."""
        while self.disconnect_every and not stop.wait(self.disconnect_every):
            self.request_disconnect()

    def request_disconnect(self) -> int:
        """Ask every open connection to go, as Slack does every few hours; returns how many were asked."""
        with self._changed:
            connections = [c for c in self._connections if c.open]
        for connection in connections:
            if connection.send_json({"type": "disconnect", "reason": "refresh_requested",
                                     "debug_info": {"host": "local-workspace"}}):
                self.log.append(("disconnect", connection.number, ""))
        return len(connections)
