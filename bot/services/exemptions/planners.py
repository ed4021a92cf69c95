"""The exemptions planner a tick runs: chasing undecided requests, then escalating them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.exemptions.followups import plan_exemption_chasers
from bot.services.planning import Planner, TickContext, When


def _chasers(session: Session, ctx: TickContext) -> int:
    return plan_exemption_chasers(session, ctx.settings, ctx.calendar, now=ctx.now)


PLANNERS = (Planner("exemptions", _chasers, "exemption_chasers", When.CYCLE),)
