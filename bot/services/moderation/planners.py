"""The moderation planners a tick runs: proposing each finished month's sample to the QA team,
and chasing moderation steps nobody has answered. Both are part of the monthly cycle (nothing is
proposed or chased while the month is paused)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.moderation.chasers import plan_moderation_chasers
from bot.services.moderation.sample import plan_samples
from bot.services.planning import Planner, TickContext, When


def _samples(session: Session, ctx: TickContext) -> int:
    return plan_samples(session, ctx.settings, ctx.calendar, now=ctx.now)


def _chasers(session: Session, ctx: TickContext) -> int:
    return plan_moderation_chasers(session, ctx.settings, ctx.calendar, now=ctx.now)


PLANNERS = (
    Planner("moderation sample", _samples, "previews", When.CYCLE),
    Planner("moderation chasers", _chasers, "reminders", When.CYCLE),
)
