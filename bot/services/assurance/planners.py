"""The assurance planner a tick runs: the month's QA assurance sample, on its first working day."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.assurance.sample import plan_assurance
from bot.services.planning import Planner, TickContext, When


def _sample(session: Session, ctx: TickContext) -> int:
    return plan_assurance(session, ctx.settings, ctx.calendar, now=ctx.now)


PLANNERS = (Planner("assurance sample", _sample, "previews", When.WORKING_HOURS),)
