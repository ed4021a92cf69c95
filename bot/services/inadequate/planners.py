"""The Inadequate follow-up's planners a tick runs: end the cycles whose re-audit is final and open
a cycle for every final Inadequate audit (in that order, so an Inadequate re-audit continues into
the next cycle in one tick); chase the meetings and reviews; place the re-audits that are due."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.inadequate.cycles import open_cycles, resolve_reaudits
from bot.services.inadequate.followups import place_reaudits, plan_followups
from bot.services.planning import Counter, Planned, Planner, TickContext, When


def _cycles(session: Session, ctx: TickContext) -> int:
    ended = resolve_reaudits(session, ctx.settings, ctx.calendar, now=ctx.now)
    return ended + open_cycles(session, ctx.settings, ctx.calendar, now=ctx.now)


def _followups(session: Session, ctx: TickContext) -> int:
    return plan_followups(session, ctx.settings, ctx.calendar, now=ctx.now)


def _reaudits(session: Session, ctx: TickContext) -> Planned:
    counts: dict[Counter, int] = {"allocated": place_reaudits(session, ctx.settings, ctx.calendar, now=ctx.now)}
    return counts


PLANNERS = (
    Planner("inadequate cycles", _cycles, "reminders", When.WORKING_HOURS),
    Planner("inadequate follow-ups", _followups, "reminders", When.WORKING_HOURS),
    Planner("re-audits", _reaudits, None, When.CYCLE),
)
