"""The monthly cycle's planners a tick runs: reminders before the deadline, overdue notices after it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.cycle.chasing import plan_overdue, plan_reminders
from bot.services.planning import Planner, TickContext, When


def _reminders(session: Session, ctx: TickContext) -> int:
    return plan_reminders(session, ctx.settings, ctx.calendar, today=ctx.today, now=ctx.now)


def _overdue(session: Session, ctx: TickContext) -> int:
    return plan_overdue(session, ctx.settings, today=ctx.today, now=ctx.now)


PLANNERS = (
    Planner("reminders", _reminders, "reminders", When.CYCLE),
    Planner("overdue", _overdue, "overdue", When.CYCLE),
)
