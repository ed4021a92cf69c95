"""The APScheduler timer is only a timer: one in-memory job that ticks and wakes the outbox."""

from __future__ import annotations

import datetime as dt

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from bot.calendar import WorkingCalendar
from bot.scheduler.timer import make_timer
from bot.settings import load_settings
from store.models import Allocation
from tests.simulation import small_council


def test_the_timer_has_one_safe_interval_job_that_ticks(session_factory) -> None:
    small_council(session_factory)
    settings = load_settings(control_sample_size=2, tick_interval_seconds=30)
    calendar = WorkingCalendar.from_settings(settings)
    now = calendar.utc(dt.date(2026, 12, 1), dt.time(9, 0))
    woken: list[bool] = []

    scheduler = make_timer(session_factory, settings, calendar, clock=lambda: now, after_tick=lambda: woken.append(True))

    (job,) = scheduler.get_jobs()
    assert (job.id, job.misfire_grace_time, job.coalesce, job.max_instances) == ("tick", None, True, 1)
    assert isinstance(job.trigger, IntervalTrigger) and job.trigger.interval == dt.timedelta(seconds=30)
    assert isinstance(scheduler._jobstores["default"], MemoryJobStore)
    job.func()  # what the scheduler runs, here at 09:00 on the first working day of December
    job.func()  # a second tick plans nothing more and does not wake the outbox again
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Allocation)) == 2
    assert woken == [True]
