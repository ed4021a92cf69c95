"""Background loops that keep the outbox moving: one thread per lane, so urgent alerts never
queue behind a bulk allocation fan-out."""

from __future__ import annotations

import logging
import threading

from bot.clock import Clock, system_clock
from bot.delivery.sender import DeliveryHalted, OutboxSender

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
    ) -> None:
        self.senders = senders
        self.clock = clock
        self.idle_seconds = idle_seconds
        self.halted_seconds = halted_seconds
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
            wait = 0.0
            try:
                outcome = sender.send_due(self.clock())
                if outcome.pause_until is not None:
                    wait = max(0.0, (outcome.pause_until - self.clock()).total_seconds())
                elif outcome.claimed == 0:
                    wait = self.idle_seconds
            except DeliveryHalted as exc:
                log.critical("outbox %s halted: %s", sender.lane.name, exc)
                wait = self.halted_seconds
            except Exception:  # noqa: BLE001 - a supervisor loop: log, back off, keep the lane alive
                log.exception("outbox %s: unexpected error; retrying shortly", sender.lane.name)
                wait = self.idle_seconds * 5
            if wait:
                wake.wait(wait)
                wake.clear()
