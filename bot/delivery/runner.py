"""Background loops that keep the outbox moving: one thread per lane, so urgent alerts never
queue behind a bulk allocation fan-out.

A loop outlives a database outage: the sender holds what it had claimed, the loop logs the
error (its class and the held notification ids, never a statement or its parameters) and tries
again every ``database_retry_seconds``; the first pass that reaches the database gives the held
rows back."""

from __future__ import annotations

import logging
import threading

from bot.clock import Clock, system_clock
from bot.delivery.sender import DeliveryHalted, DeliveryInterrupted, OutboxSender

log = logging.getLogger(__name__)


class DeliveryRunner:
    """Runs ``send_due`` for each sender in its own daemon thread until stopped."""

    def __init__(
        self,
        senders: list[OutboxSender],
        *,
        clock: Clock = system_clock,
        idle_seconds: float = 1.0,
        halted_seconds: float = 60.0,
        database_retry_seconds: float = 2.0,
    ) -> None:
        self.senders = senders
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.halted_seconds = halted_seconds
        self.database_retry_seconds = database_retry_seconds
        #: Lanes whose last pass found the database unavailable (repeats are logged quietly).
        self._database_down: set[str] = set()
        self._stop = threading.Event()
        self._wakes = [threading.Event() for _ in senders]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per sender."""
        for sender, wake in zip(self.senders, self._wakes, strict=True):
            thread = threading.Thread(target=self._loop, args=(sender, wake), name=f"outbox-{sender.lane.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Ask idle loops to look for work now (after a service queued something)."""
        for wake in self._wakes:
            wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loops after their current batch."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self, sender: OutboxSender, wake: threading.Event) -> None:
        while not self._stop.is_set():
            wait = self.run_once(sender)
            if wait:
                wake.wait(wait)
                wake.clear()

    def run_once(self, sender: OutboxSender) -> float:
        """One pass of a lane's loop; returns the seconds to wait before the next."""
        lane = sender.lane.name
        try:
            outcome = sender.send_due(self.clock())
        except DeliveryHalted as exc:
            log.critical("outbox %s halted: %s", lane, exc)
            return self.halted_seconds
        except DeliveryInterrupted as exc:
            level = logging.DEBUG if lane in self._database_down else logging.ERROR
            log.log(level, "outbox %s: database unavailable (%s); notification ids held until it answers: %s",
                    lane, exc.kind, exc.held)
            self._database_down.add(lane)
            return self.database_retry_seconds
        except Exception:  # a supervisor loop: log, back off, keep the lane alive
            log.exception("outbox %s: unexpected error; retrying shortly", lane)
            return self.idle_seconds * 5
        if lane in self._database_down:
            self._database_down.discard(lane)
            log.info("outbox %s: database answering again", lane)
        if outcome.pause_until is not None:
            return max(0.0, (outcome.pause_until - self.clock()).total_seconds())
        if outcome.claimed:
            return 0.0
        if outcome.next_due is not None:  # a paused channel's rows, a backoff: wake when the first falls due
            return min(self.idle_seconds, max(0.01, (outcome.next_due - self.clock()).total_seconds()))
        return self.idle_seconds
