"""The planners a tick runs after the audit: management oversight (and closure), then the day's action digests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.actions.digest import plan_digests
from bot.services.actions.oversight import plan_oversight
from bot.services.planning import Planned, Planner, TickContext, When


def _oversight(session: Session, ctx: TickContext) -> Planned:
    return plan_oversight(session, ctx.settings, ctx.calendar, now=ctx.now)


def _digests(session: Session, ctx: TickContext) -> int:
    return plan_digests(session, ctx.settings, ctx.calendar, now=ctx.now)


PLANNERS = (
    Planner("oversight", _oversight, None, When.WORKING_HOURS),
    Planner("action digests", _digests, "reminders", When.WORKING_HOURS),
)
