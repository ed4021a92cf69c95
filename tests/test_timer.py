"""The APScheduler timer is only a timer: one in-memory job that ticks and wakes the outbox."""

from __future__ import annotations

import datetime as dt

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import func, select

from bot.calendar import WorkingCalendar
from bot.scheduler.tick import PLANNERS
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


def test_a_tick_while_the_database_is_away_logs_each_planner_and_the_next_tick_catches_up(
    engine, session_factory, caplog
) -> None:
    import logging

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import sessionmaker

    from bot.scheduler.tick import tick

    small_council(session_factory)
    settings = load_settings(database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4)
    calendar = WorkingCalendar.from_settings(settings)
    first_day = calendar.utc(dt.date(2026, 12, 1), dt.time(9, 0))

    class Away(sessionmaker):  # type: ignore[type-arg]
        def __call__(self, **kwargs):  # type: ignore[no-untyped-def]
            raise OperationalError("connect", {}, ConnectionRefusedError("connection refused"))

    with caplog.at_level(logging.ERROR, logger="bot.scheduler.tick"):
        report = tick(Away(), settings, calendar, first_day)
    planners = [p.name for p in PLANNERS]  # every one, the first working day being in working hours
    assert planners[:10] == ["alerts", "corrective actions", "housekeeping", "unfinished clicks", "preview", "allocation",
                             "reminders", "overdue", "exemptions", "drafts"]
    assert report.errors == [f"{name}: OperationalError" for name in planners]
    assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [f"tick planner {name}" for name in planners]

    later = tick(session_factory, settings, calendar, first_day + dt.timedelta(minutes=1))
    assert later.errors == [] and later.allocated == 4, "the next tick plans what was missed"
