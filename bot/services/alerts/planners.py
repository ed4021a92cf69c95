"""The safeguarding planners a tick runs: any day, any hour, at the real time, even while paused."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.alerts.followups import plan_alert_escalations, plan_corrective_chasers
from bot.services.planning import Planner, TickContext, When


def _escalations(session: Session, ctx: TickContext) -> int:
    return plan_alert_escalations(session, ctx.settings, now=ctx.real_now)


def _corrective_chasers(session: Session, ctx: TickContext) -> int:
    return plan_corrective_chasers(session, ctx.settings, now=ctx.real_now)


PLANNERS = (
    Planner("alerts", _escalations, "alert_escalations", When.ALWAYS),
    Planner("corrective actions", _corrective_chasers, "alert_escalations", When.ALWAYS),
)
