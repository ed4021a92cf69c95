"""The local workspace in a process of its own, as Slack is to a real bot.

In one process the workspace shares the bot's interpreter lock and heap: every message it
stores counts in the bot's resident memory, and every call it answers takes CPU from the
bot's senders. ``WorkspaceProcess`` serves the same ``LocalWorkspace`` from a child process
(started with ``spawn``, so nothing of the parent's threads or connections is copied) and
answers over a pipe what local mode (``bot/runtime.py``) and the benchmarks ask of it. A member's
click or command from the terminal is acted on there; the workspace then waits for the bot's
follow-ups through the bot's ``/_local/settled`` (``connect_bot``), as it does in one process.
"""

from __future__ import annotations

import multiprocessing
import urllib.error
import urllib.request
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

#: How long ``start`` waits for the child to report its URL.
START_TIMEOUT = 30.0


def rss_mib() -> float:
    """This process's resident set size, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def click_context(workspace: Any, user_id: str) -> dict[str, str]:
    """What a click by ``user_id`` carries from Slack: a fresh response_url and trigger_id, their DM, the team."""
    state = workspace.state
    with state.lock:
        user = state.users[user_id]
        token = state.issue_response_url(user_id, user.im_channel, None)
        return {
            "response_url": f"{workspace.root_url}_local/response/{token}", "trigger_id": state.issue_trigger(user_id),
            "channel": user.im_channel, "username": user.username, "team_id": state.team_id,
            "team_domain": state.team_domain, "app_id": state.app_id,
        }


#: How long the workspace waits for the bot's follow-ups after each request it sends (as ``wait_idle``'s default).
SETTLE_TIMEOUT = 30.0


def _settler(url: str) -> Callable[[], object]:
    """Wait for the bot's follow-ups by asking its ``/_local/settled`` (an answer, or a failure, ends the wait)."""

    def settle() -> object:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=SETTLE_TIMEOUT + 5) as response:
                return response.read()
        except (OSError, urllib.error.URLError):
            return None

    return settle


def _serve(options: dict[str, Any], port: int, conn: Connection) -> None:
    """The child: run the workspace and answer the parent's requests until told to stop."""
    from bot.workspace.server import LocalWorkspace

    workspace = LocalWorkspace(**options)
    try:
        conn.send(workspace.start(port=port))
    except OSError as exc:  # the port in use: the parent says so, naming its setting
        conn.send(exc)
        return
    while True:
        request, *args = conn.recv()
        if request == "stop":
            workspace.stop()
            conn.send(None)
            return
        if request == "connect_bot":
            endpoint, settled_url = args
            workspace.bot_endpoint, workspace.settle = endpoint, _settler(settled_url)
            conn.send(None)
        elif request == "add_user":
            conn.send(workspace.add_user(*args))
        elif request == "users":
            conn.send(workspace.users())
        elif request == "messages":
            conn.send(workspace.messages())
        elif request == "call_log":
            conn.send([(record.method, record.status) for record in workspace.call_log])
        elif request == "rss_mib":
            conn.send(rss_mib())
        elif request == "set_api_latency":
            workspace.set_api_latency(*args)
            conn.send(None)
        elif request == "arrivals":
            conn.send(workspace.arrivals.count(*args))
        elif request == "click_context":
            conn.send(click_context(workspace, *args))
        else:
            conn.send(ValueError(f"unknown request {request!r}"))


class WorkspaceProcess:
    """``LocalWorkspace(**options)`` served from a child process (options must be picklable)."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.base_url = ""

    @property
    def bot_token(self) -> str:
        return str(self.options["bot_token"])

    @property
    def signing_secret(self) -> str:
        return str(self.options["signing_secret"])

    @property
    def app_token(self) -> str | None:
        """The app-level token that may open Socket Mode connections, if any."""
        token = self.options.get("app_token")
        return str(token) if token else None

    def start(self, port: int = 0) -> str:
        """Start the child, serving on ``port`` (0: any free one); returns its Web API base URL. A port that
        cannot be listened on is the child's ``OSError``."""
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(self.options, port, child), name="local-workspace", daemon=True)
        self._process.start()
        child.close()
        try:
            if not parent.poll(START_TIMEOUT):
                raise EOFError
            answer = parent.recv()
        except EOFError:
            self._process.kill()
            raise RuntimeError("the local workspace process did not start (see its error above)") from None
        if isinstance(answer, OSError):
            self._process.join(timeout=10)
            raise answer
        self._conn, self.base_url = parent, str(answer)
        return self.base_url

    @property
    def root_url(self) -> str:
        """Where the workspace answers (its page, ``/_local/...``); ``base_url`` is its Web API under it."""
        return self.base_url.removesuffix("api/")

    def connect_bot(self, endpoint: str, settled_url: str) -> None:
        """Where members' requests go (the bot's Slack request URL), and where to wait for its follow-ups."""
        self._ask("connect_bot", endpoint, settled_url)

    def _ask(self, request: str, *args: Any) -> Any:
        if self._conn is None:
            raise RuntimeError("the local workspace process is not running; call start() first")
        self._conn.send((request, *args))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def add_user(self, email: str, name: str) -> str:
        """Add a member (idempotent), as ``LocalWorkspace.add_user``; returns the user id."""
        return str(self._ask("add_user", email, name))

    def users(self) -> list[dict[str, Any]]:
        """The workspace's users, as ``LocalWorkspace.users``."""
        return list(self._ask("users"))

    def messages(self) -> list[dict[str, Any]]:
        """Every message, as ``LocalWorkspace.messages``."""
        return list(self._ask("messages"))

    def call_log(self) -> list[tuple[str, int]]:
        """(method, HTTP status) of the calls the workspace still remembers, oldest first."""
        return [(str(method), int(status)) for method, status in self._ask("call_log")]

    def rss_mib(self) -> float:
        """The child's resident set size."""
        return float(self._ask("rss_mib"))

    def set_api_latency(self, seconds: float) -> None:
        """As ``LocalWorkspace.set_api_latency``."""
        self._ask("set_api_latency", seconds)

    def arrivals(self, kind: str) -> int:
        """How many ``kind`` ("answer", "response_url") have reached the workspace."""
        return int(self._ask("arrivals", kind))

    def click_context(self, user_id: str) -> dict[str, str]:
        """A fresh response_url and trigger_id for a click by ``user_id``, with its DM channel and the team's ids."""
        return dict(self._ask("click_context", user_id))

    def stop(self) -> None:
        """Stop the workspace and wait for the child to end."""
        if self._conn is not None:
            try:
                self._ask("stop")
            finally:
                self._conn.close()
                self._conn = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def __enter__(self) -> WorkspaceProcess:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
