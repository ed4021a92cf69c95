"""Clicks acted on after their acknowledgement.

Slack ignores what a click's (``block_actions``) HTTP answer says: all it needs is the 200 within 3 s. So the
edge (``bot/web.py``) answers a click as soon as its receipt is durable (``store.receipts.first_receipt``
with ``pending``, one autocommit round trip) and hands its listener here. ``ClickLane`` runs the listeners
in arrival order on a few threads, each in a follow-up scope; a listener's outbound calls (the respond(),
a ``views.open``) go to ``FollowUps`` as soon as it returns, with the trigger's 3 s counted from the click.

The guarantee a synchronous ack gave (its effect committed or clearly refused) holds in two parts:

* the listener's unit of work clears the pending receipt in its own transaction, so the effect and the
  receipt's "done" commit together (``store.receipts.acting_on``); a refusal is answered as before;
* a receipt still pending ``store.receipts.UNFINISHED_AFTER`` later (the process stopped between answer and commit) is
  handed over once, and its person is told nothing was changed (``bot/scheduler/housekeeping.py``). A late
  commit of that click is then refused (``ReceiptLapsed``), so what they were told stays true.

Load is shed at the door: while the oldest click waiting here has waited ``max_wait``, a new click is not
taken (no receipt) and is answered "busy, nothing was changed" at once. A lane with no threads takes
nothing. A lane not started (or stopped) runs each listener in the caller's thread, after the answer.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from bot.delivery.followups import FollowUps, Scope

log = logging.getLogger(__name__)

#: Slack refuses a request's signature after five minutes, and so would the listener: a click still pending
#: then was never acted on.

Unit = Callable[[], Scope]


class ClickLane:
    """A few threads running clicks' listeners, in the order the clicks were answered."""

    def __init__(
        self, followups: FollowUps, *, threads: int = 8, max_wait: float = 0.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.followups, self.threads, self.max_wait, self.clock = followups, threads, max_wait, clock
        self._queue: collections.deque[tuple[float, Unit]] = collections.deque()
        self._ready = threading.Condition()
        self._workers: list[threading.Thread] = []
        self._stopping = False

    def start(self) -> ClickLane:
        """Start the threads (idempotent)."""
        if not self._workers:
            self._stopping = False
            self._workers = [threading.Thread(target=self._work, name=f"click-{n}", daemon=True) for n in range(self.threads)]
            for thread in self._workers:
                thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Act on the clicks already taken (up to ``timeout`` seconds), then stop the threads."""
        deadline = time.monotonic() + timeout
        with self._ready:
            self._ready.wait_for(lambda: not self._queue, timeout)
            self._stopping = True
            self._ready.notify_all()
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._workers = []

    def busy(self) -> bool:
        """True when a new click should be answered "busy" rather than taken."""
        if self.threads == 0:
            return True
        with self._ready:
            return bool(self._queue) and self.clock() - self._queue[0][0] > self.max_wait

    def take(self, arrived: float, unit: Unit) -> None:
        """Act on a click answered at ``arrived`` (this lane's clock); its follow-ups must have been reserved
        (``FollowUps.reserve``) before the answer, so that ``wait_idle`` waits for the listener too."""
        with self._ready:
            if self._workers and not self._stopping:
                self._queue.append((arrived, unit))
                self._ready.notify()
                return
        self._run(arrived, unit)

    def _work(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._queue or self._stopping)
                if not self._queue:
                    return
                arrived, unit = self._queue.popleft()
                if not self._queue:
                    self._ready.notify_all()  # stop() waits for an empty queue
            self._run(arrived, unit)

    def _run(self, arrived: float, unit: Unit) -> None:
        scope: Scope | None = None
        try:
            scope = unit()
        except Exception:  # Bolt's error handler answers the person; a thread must not die
            log.exception("a click's listener failed outside Bolt's error handler")
        if scope is None:
            self.followups.submit(Scope(arrived), reserved=True)  # nothing to send: the reservation ends
            return
        scope.arrived = arrived
        self.followups.submit(scope, reserved=True)
