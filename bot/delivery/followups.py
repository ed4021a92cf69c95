"""After the acknowledgement: the outbound calls a Slack request's listener makes, run once Slack has its answer.

The bot keeps Bolt's ``process_before_response=True``: a listener's unit of work commits in the request
thread before the HTTP answer, so an acknowledgement means the effect is committed or the refusal decided.
What must reach Slack afterwards (a ``respond()`` through the ``response_url``, a ``views.open``, an
ephemeral) would delay that answer by a round trip each, so ``bot/web.py`` opens a follow-up *scope* around
each request and the listener's ``respond``/``client`` (``deferring``) queue those calls in it instead of
making them. When the HTTP answer has been written the request's calls are handed to ``FollowUps``: a
bounded pool of I/O threads. Requests with a ``views.*`` call go first (a trigger id lives 3 s); a
``views.open`` whose trigger expired (or that waited in the queue longer than ``trigger_deadline``) is answered with an
ephemeral "please click again" (``Template.FORM_EXPIRED``); a ``respond()`` that fails transiently
(5xx, 429, a timeout) is retried with backoff within the ``response_url``'s life. Failures are logged
with ids and method names only. Outside a scope (Socket Mode, a direct dispatch in tests) every call is
made inline, as before.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.ids import Template
from bot.render import render

log = logging.getLogger(__name__)

#: The client methods whose calls wait for the acknowledgement (reads such as ``users.info`` stay inline).
DEFERRED_METHODS = ("views_open", "views_push", "views_update", "views_publish", "chat_postEphemeral")
#: ``views.open``/``views.push`` need the request's trigger id (3 s): these go first.
TRIGGER_METHODS = ("views_open", "views_push")
#: A response_url takes five posts within 30 minutes; retries stay well inside both.
RESPOND_RETRY_DELAYS = (1.0, 4.0, 15.0, 60.0)


@dataclass
class Call:
    """One deferred outbound call: what to run and, for logs, what it is (never its content)."""

    method: str
    run: Callable[[], Any]


@dataclass
class Scope:
    """The calls one Slack request queued, in order, and when the request arrived (monotonic)."""

    started: float
    kind: str = "request"
    calls: list[Call] = field(default_factory=list)
    #: The request's own ``respond`` (Bolt's), to say "please click again" when a form cannot open.
    respond: Callable[..., Any] | None = None
    #: When its calls were handed to the follow-up threads (monotonic), once they are.
    handed: float | None = None
    #: For a click acted on after its answer (``bot/delivery/clicks.py``): when it was answered (monotonic).
    #: Its trigger's 3 s count from then, not from when its listener finished.
    arrived: float | None = None


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("followup_scope", default=None)


@contextmanager
def scope(kind: str = "request", clock: Callable[[], float] = time.monotonic) -> Iterator[Scope]:
    """Collect the outbound calls made inside this block (the caller hands ``scope.calls`` on)."""
    current = Scope(started=clock(), kind=kind)
    token = _scope.set(current)
    try:
        yield current
    finally:
        _scope.reset(token)


def current() -> Scope | None:
    """The open scope, if this thread is inside one."""
    return _scope.get()


# --- the deferring respond and client ----------------------------------------------------------------------------


class DeferringRespond:
    """Bolt's ``respond`` that, inside a scope, queues the post instead of making it."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.response_url = getattr(inner, "response_url", None)
        open_scope = current()
        if open_scope is not None and self.response_url:  # how to tell the person if a form cannot open
            open_scope.respond = inner

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        open_scope = current()
        if open_scope is None:
            return self.inner(*args, **kwargs)
        open_scope.calls.append(Call("respond", lambda: self.inner(*args, **kwargs)))
        return None


class DeferringClient:
    """A ``WebClient`` stand-in: ``views.*`` and ``chat.postEphemeral`` wait for the acknowledgement inside a scope;
    everything else (reads such as ``users.info``) goes to the real client at once."""

    def __init__(self, inner: WebClient) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in DEFERRED_METHODS:
            return attribute

        def deferred(*args: Any, **kwargs: Any) -> Any:
            open_scope = current()
            if open_scope is None:
                return attribute(*args, **kwargs)
            open_scope.calls.append(Call(name, lambda: attribute(*args, **kwargs)))
            return None

        return deferred


# --- the executor ------------------------------------------------------------------------------------------------


def _transient(result: Any) -> float | None:
    """How long to wait before retrying a respond() answer or failure; None if it is final."""
    if isinstance(result, BaseException):
        return 0.0 if isinstance(result, OSError | TimeoutError | SlackClientError) else None
    status = getattr(result, "status_code", 200)
    if status == 429:
        headers = getattr(result, "headers", None) or {}
        try:
            return float(headers.get("Retry-After") or headers.get("retry-after") or 1)
        except (TypeError, ValueError):
            return 1.0
    return 0.0 if status >= 500 else None


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    scope: Scope = field(compare=False)
    #: Calls still to make (a retried respond is a job of its own).
    calls: list[Call] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class FollowUps:
    """A bounded pool of threads making the calls queued by requests, after their acknowledgement."""

    def __init__(
        self,
        *,
        threads: int = 16,
        max_queued: int = 10_000,
        trigger_deadline: float = 2.5,
        retry_delays: tuple[float, ...] = RESPOND_RETRY_DELAYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threads, self.trigger_deadline, self.retry_delays, self.clock = threads, trigger_deadline, retry_delays, clock
        self._queue: queue.PriorityQueue[_Job] = queue.PriorityQueue(max_queued)
        self._seq = itertools.count()
        self._idle = threading.Condition()
        self._pending = 0  # jobs submitted (or waiting to be retried) and not finished
        self._delayed: list[tuple[float, int, _Job]] = []  # retries, by when they are due
        self._workers: list[threading.Thread] = []
        self._timer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_timer = threading.Event()

    # lifecycle

    def start(self) -> FollowUps:
        """Start the worker threads (idempotent)."""
        if self._workers:
            return self
        self._stopping.clear()
        self._workers = [threading.Thread(target=self._work, name=f"followup-{n}", daemon=True) for n in range(self.threads)]
        self._timer = threading.Thread(target=self._retry_loop, name="followup-retries", daemon=True)
        for thread in [*self._workers, self._timer]:
            thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued (up to ``timeout`` seconds), then stop the threads."""
        if not self._workers:
            return
        if not self.wait_idle(timeout):
            log.warning("follow-ups: %d requests' calls not made at shutdown", self._pending)
        self._stopping.set()
        self._wake_timer.set()
        for _ in self._workers:
            self._queue.put(_Job(2, next(self._seq), Scope(0.0), []))  # sentinels after everything else
        for thread in [*self._workers, *([self._timer] if self._timer else [])]:
            thread.join(timeout)
        self._workers, self._timer = [], None

    def wait_idle(self, timeout: float | None = 30.0) -> bool:
        """Block until every call handed over so far has been made (or given up); False on timeout.

        The local workspace's actor calls this after each request when bot and workspace share a process.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # hand-over

    def reserve(self) -> None:
        """Count a request's follow-ups as pending before its answer is written (``wait_idle`` then waits for them);
        its ``submit(..., reserved=True)`` follows."""
        with self._idle:
            self._pending += 1

    def submit(self, handed: Scope, *, reserved: bool = False) -> None:
        """Queue a request's calls (called once its HTTP answer is written). Inline when not started."""
        if not handed.calls:
            if reserved:
                self._finish()
            return
        first = 0 if any(c.method in TRIGGER_METHODS for c in handed.calls) else 1
        # trigger calls first, then the rest in the order the listener made them
        calls = sorted(handed.calls, key=lambda c: c.method not in TRIGGER_METHODS)  # stable: the listener's order
        handed.handed = self.clock()
        job = _Job(first, next(self._seq), handed, calls)
        if not reserved:
            with self._idle:
                self._pending += 1
        if not self._workers:
            self._run(job)
            return
        self._queue.put(job)  # bounded: a full queue holds the request thread (backpressure), never drops

    # the work

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if self._stopping.is_set() and not job.calls:
                return
            self._run(job)

    def _finish(self) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def _run(self, job: _Job) -> None:
        try:
            while job.calls:
                call = job.calls[0]
                if call.method == "respond" and not self._respond(job, call):
                    return  # retried later: still pending
                if call.method != "respond":
                    self._call(job.scope, call)
                job.calls.pop(0)
                job.attempt = 0
        except Exception:  # one request's follow-up must not kill a worker
            log.exception("follow-up for a %s failed", job.scope.kind)
        self._finish()

    def _call(self, handed: Scope, call: Call) -> None:
        since = handed.arrived if handed.arrived is not None else handed.handed
        waited = self.clock() - (since if since is not None else handed.started)
        if call.method in TRIGGER_METHODS and waited > self.trigger_deadline:
            log.warning("follow-up %s for a %s not made: its trigger is too old", call.method, handed.kind)
            self._form_expired(handed)
            return
        try:
            call.run()
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            log.warning("follow-up %s for a %s failed: %s", call.method, handed.kind, error)
            if call.method in TRIGGER_METHODS and error == "expired_trigger_id":
                self._form_expired(handed)
        except (SlackClientError, OSError) as exc:
            log.warning("follow-up %s for a %s failed: %s", call.method, handed.kind, type(exc).__name__)

    def _form_expired(self, handed: Scope) -> None:
        respond = handed.respond
        if respond is None:
            return
        payload = render(Template.FORM_EXPIRED, {})
        self._call(handed, Call("respond", lambda: respond(
            text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)))

    def _respond(self, job: _Job, call: Call) -> bool:
        """Post a respond(); False when it failed transiently and a retry is scheduled."""
        try:
            result: Any = call.run()
        except Exception as exc:  # noqa: BLE001 - classified below
            result = exc
        wait = _transient(result)
        if wait is None:
            if isinstance(result, BaseException):
                log.warning("follow-up respond for a %s failed: %s", job.scope.kind, type(result).__name__)
            elif getattr(result, "status_code", 200) >= 400:
                log.warning("follow-up respond for a %s refused: %s", job.scope.kind, result.status_code)
            return True
        if job.attempt >= len(self.retry_delays):
            log.warning("follow-up respond for a %s given up after %d attempts", job.scope.kind, job.attempt + 1)
            return True
        delay = max(wait, self.retry_delays[job.attempt])
        job.attempt += 1
        log.info("follow-up respond for a %s failed transiently; retry %d in %.1f s", job.scope.kind, job.attempt, delay)
        if not self._workers:  # not started (tests, one-off commands): retry at once, in this thread
            self._run(job)
            return False
        with self._idle:
            heapq.heappush(self._delayed, (self.clock() + delay, next(self._seq), job))
        self._wake_timer.set()
        return False

    def _retry_loop(self) -> None:
        while not self._stopping.is_set():
            due: list[_Job] = []
            with self._idle:
                while self._delayed and self._delayed[0][0] <= self.clock():
                    due.append(heapq.heappop(self._delayed)[2])
                wait = (self._delayed[0][0] - self.clock()) if self._delayed else None
            for job in due:
                self._queue.put(job)
            self._wake_timer.wait(wait)
            self._wake_timer.clear()
