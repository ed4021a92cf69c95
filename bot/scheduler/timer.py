"""APScheduler as a timer only: one in-memory interval job that calls ``tick(now)``, and optionally a daily
job beside it for Slack I/O that is not tick planning (the directory sync)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.clock import Clock
from bot.scheduler.tick import tick
from bot.settings import Settings
from store import heartbeats

log = logging.getLogger(__name__)


def make_timer(
    sessions: sessionmaker[Session],
    settings: Settings,
    calendar: WorkingCalendar,
    *,
    clock: Clock,
    after_tick: Callable[[], None] = lambda: None,
    kind: str = "run",
    before_tick: Callable[[], object] | None = None,
    daily: Callable[[], object] | None = None,
) -> BackgroundScheduler:
    """A started-on-demand scheduler whose main job ticks every ``tick_interval_seconds``.

    A missed run is never skipped (``misfire_grace_time=None``), missed runs collapse into one
    (``coalesce``), and ticks never overlap (``max_instances=1``). Nothing is stored in the job
    store: what is due is always worked out from the database.

    Each tick first records this process's heartbeat (``store/heartbeats.py``), so that
    ``auditbot tick --at`` knows a bot serves the database; shutting the timer down removes it.

    ``daily`` (the Slack directory sync) runs each day at ``settings.directory_sync_time`` local
    time, in an executor of its own so that its Slack calls never hold up a tick.
    """
    pid = heartbeats.process_id()

    def job() -> None:
        now = clock()
        _guarded("heartbeat", lambda session: heartbeats.beat(session, pid, kind=kind, now=now))
        if before_tick is not None:
            try:
                before_tick()
            except Exception:  # local-mode bookkeeping must never stop a tick; logged
                log.exception("timer before_tick failed")
        report = tick(sessions, settings, calendar, now)
        if report.planned or report.errors:
            log.info("tick: %s", report.summary())
        if report.planned:
            after_tick()

    def _guarded(name: str, work: Callable[[Session], None]) -> None:
        try:
            with sessions() as session, session.begin():
                work(session)
        except Exception:  # logged; the scheduler goes on
            log.exception("timer %s failed", name)

    scheduler = BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1), "slack": ThreadPoolExecutor(1)},
        timezone=dt.UTC,
    )
    scheduler.add_job(
        job,
        "interval",
        seconds=settings.tick_interval_seconds,
        id="tick",
        misfire_grace_time=None,
        coalesce=True,
        max_instances=1,
        next_run_time=clock(),
    )
    if daily is not None:
        scheduler.add_job(
            _logged(daily, "daily"),
            CronTrigger(hour=(at := settings.directory_sync_time).hour, minute=at.minute, timezone=settings.tz),
            id="directory",
            executor="slack",
            misfire_grace_time=3600,
            coalesce=True,
            max_instances=1,
        )
    scheduler.add_listener(
        lambda _event: _guarded("heartbeat removal", lambda s: heartbeats.forget(s, pid)), EVENT_SCHEDULER_SHUTDOWN
    )
    return scheduler


def _logged(work: Callable[[], object], name: str) -> Callable[[], None]:
    """``work`` with any exception logged (a failed daily run waits for the next day, or the next start)."""

    def job() -> None:
        try:
            work()
        except Exception:  # logged; the scheduler goes on
            log.exception("timer %s job failed", name)

    return job
