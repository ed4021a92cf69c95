"""The QA check's planners a tick runs: opening a check for every finalised audit (and sending it
to the QA team), then chasing returned audits not yet amended."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.planning import Planned, Planner, TickContext, When
from bot.services.qa_check.checks import open_checks
from bot.services.qa_check.followups import plan_amend_chasers


def _open(session: Session, ctx: TickContext) -> int:
    return open_checks(session, ctx.settings, ctx.calendar, now=ctx.now)


def _chasers(session: Session, ctx: TickContext) -> Planned:
    return plan_amend_chasers(session, ctx.settings, ctx.calendar, now=ctx.now)


PLANNERS = (
    Planner("qa checks", _open, "qa_checks", When.WORKING_HOURS),
    Planner("qa amendments", _chasers, None, When.WORKING_HOURS),
)
