"""The reports area's scheduled work: the monthly report's posts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.planning import Planner, TickContext, When
from bot.services.reports.publish import plan_monthly_report


def _monthly(session: Session, ctx: TickContext) -> int:
    return plan_monthly_report(session, ctx.settings, ctx.calendar, now=ctx.now)


#: In working hours, even while this month is paused: last month's report still goes out.
PLANNERS = (Planner("monthly report", _monthly, "report_posts", When.WORKING_HOURS),)
