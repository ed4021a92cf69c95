"""A tick is the list of planners each area contributes: run in order, each on its own, each at its ``When``."""

from __future__ import annotations

import datetime as dt
import typing

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.scheduler import housekeeping
from bot.scheduler.tick import PLANNERS, TickReport, tick
from bot.services.actions import planners as actions
from bot.services.alerts import planners as alerts
from bot.services.allocation import planners as allocation
from bot.services.assurance import planners as assurance
from bot.services.audits import planners as audits
from bot.services.cycle import planners as cycle
from bot.services.exemptions import planners as exemptions
from bot.services.inadequate import planners as inadequate
from bot.services.meetings import planners as meetings
from bot.services.moderation import planners as moderation
from bot.services.planning import Counter, Planner, TickContext, When
from bot.services.qa_check import planners as qa_check
from bot.services.replies import planners as replies
from bot.services.reports import planners as reports
from bot.settings import load_settings
from store.models import Allocation, AuditMonth
from tests.simulation import small_council

SETTINGS = load_settings(control_sample_size=2)
CAL = WorkingCalendar.from_settings(SETTINGS)
#: 09:00 on December's first working day: the scheduled allocation is due.
FIRST_DAY = CAL.utc(dt.date(2026, 12, 1), dt.time(9, 0))


def test_the_tick_lists_each_areas_planners_in_order() -> None:
    areas = (alerts, housekeeping, allocation, cycle, exemptions, audits, replies, moderation, qa_check, assurance, actions,
             inadequate, meetings, reports)
    assert tuple(p for area in areas for p in area.PLANNERS) == PLANNERS
    assert [(p.name, p.when) for p in PLANNERS] == [
        ("alerts", When.ALWAYS), ("corrective actions", When.ALWAYS), ("housekeeping", When.ALWAYS),
        ("unfinished clicks", When.ALWAYS),
        ("preview", When.WORKING_HOURS), ("allocation", When.CYCLE), ("reminders", When.CYCLE),
        ("overdue", When.CYCLE), ("exemptions", When.CYCLE), ("drafts", When.WORKING_HOURS),
        ("reply reminders", When.WORKING_HOURS), ("reply windows", When.ALWAYS), ("challenges", When.WORKING_HOURS),
        ("moderation sample", When.CYCLE), ("moderation chasers", When.CYCLE),
        ("qa checks", When.WORKING_HOURS), ("qa amendments", When.WORKING_HOURS), ("assurance sample", When.WORKING_HOURS),
        ("oversight", When.WORKING_HOURS), ("action digests", When.WORKING_HOURS),
        ("inadequate cycles", When.WORKING_HOURS), ("inadequate follow-ups", When.WORKING_HOURS), ("re-audits", When.CYCLE),
        ("stale meetings", When.WORKING_HOURS), ("meeting answers", When.WORKING_HOURS), ("meeting nudges", When.CYCLE),
        ("meeting reminders", When.WORKING_HOURS),
        ("meetings held", When.WORKING_HOURS), ("monthly report", When.WORKING_HOURS),
    ]
    assert set(typing.get_args(Counter)) <= set(TickReport.__dataclass_fields__)


def test_a_failing_planner_is_named_in_the_report_and_the_others_still_run(session_factory: sessionmaker[Session]) -> None:
    small_council(session_factory)

    def boom(session: Session, ctx: TickContext) -> int:
        raise RuntimeError("boom")

    planners = (Planner("alerts", boom, "alert_escalations", When.ALWAYS), *PLANNERS[1:])
    report = tick(session_factory, SETTINGS, CAL, FIRST_DAY, planners=planners)

    assert report.errors == ["alerts: RuntimeError"]
    assert (report.allocated, report.allocation_messages) == (2, 6)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Allocation)) == 2


def test_each_planner_runs_only_when_it_should(session_factory: sessionmaker[Session]) -> None:
    ran: list[str] = []

    def planner(name: str, when: When) -> Planner:
        def plan(session: Session, ctx: TickContext) -> int:
            ran.append(name)
            return 1

        return Planner(name, plan, "reminders", when)

    planners = [planner(when.value, when) for when in When]
    evening = CAL.utc(dt.date(2026, 12, 1), dt.time(21, 0))

    assert tick(session_factory, SETTINGS, CAL, evening, planners=planners).reminders == 1
    assert ran == ["always"]

    ran.clear()
    with session_factory() as session, session.begin():
        session.add(AuditMonth(month=dt.date(2026, 12, 1), paused=True))
    report = tick(session_factory, SETTINGS, CAL, FIRST_DAY, planners=planners)
    assert (report.paused, report.reminders, report.errors) == (True, 2, [])
    assert ran == ["always", "working_hours"]
