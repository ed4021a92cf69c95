"""Housekeeping a tick does at any hour, at the real time: pruning old request receipts. It plans no notification."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.services.planning import Planner, TickContext, When
from store.receipts import prune_receipts


def _prune_receipts(session: Session, ctx: TickContext) -> int:
    prune_receipts(session, now=ctx.real_now)
    return 0


PLANNERS = (Planner("housekeeping", _prune_receipts, None, When.ALWAYS),)
