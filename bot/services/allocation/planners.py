"""The allocation planners a tick runs: next month's preview, then the month's scheduled allocation."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.allocation.schedule import plan_preview, run_scheduled_allocation
from bot.services.planning import Counter, Planner, TickContext, When


def _preview(session: Session, ctx: TickContext) -> int:
    return plan_preview(session, ctx.settings, ctx.calendar, now=ctx.now)


def _allocation(session: Session, ctx: TickContext) -> dict[Counter, int]:
    result = run_scheduled_allocation(session, ctx.settings, ctx.calendar, now=ctx.now)
    if result is None:
        return {}
    return {"allocated": result.created, "allocation_messages": result.messages}


PLANNERS = (
    Planner("preview", _preview, "previews", When.WORKING_HOURS),
    Planner("allocation", _allocation, None, When.CYCLE),
)
