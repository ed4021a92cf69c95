"""Housekeeping a tick does at any hour, at the real time: pruning old request receipts, and telling people
whose click was answered but never acted on (``bot/delivery/clicks.py``) that nothing was changed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.services.planning import Planner, TickContext, When
from store.models import Person, Priority
from store.outbox import enqueue
from store.receipts import UNFINISHED_AFTER, claim_unfinished, prune_receipts

#: Out of working hours, a click this recent is still answered at once (its person is at work); older ones
#: wait for the working day, as routine notices do.
STILL_THERE = dt.timedelta(minutes=30)


def _prune_receipts(session: Session, ctx: TickContext) -> int:
    prune_receipts(session, now=ctx.real_now)
    return 0


def _unfinished_clicks(session: Session, ctx: TickContext) -> int:
    """Each click still pending ``UNFINISHED_AFTER`` after it was answered: one DM to whoever clicked."""
    at_work = ctx.calendar.in_working_hours(ctx.real_now)
    clicks = claim_unfinished(session, before=ctx.real_now - UNFINISHED_AFTER,
                              since=None if at_work else ctx.real_now - STILL_THERE)
    users = {click.slack_user_id for click in clicks if click.slack_user_id}
    found = session.execute(select(Person.slack_user_id, Person.id).where(Person.slack_user_id.in_(users))).all() if users else []
    people: dict[str | None, int] = dict(found)
    told = 0
    for click in clicks:
        if click.slack_user_id is None:  # not a Slack user id the bot could read: nobody to tell
            continue
        person_id = people.get(click.slack_user_id)
        # someone whose Slack id is not stored yet (found by email when they clicked) is told in their DM by user id
        to = {"recipient_id": person_id} if person_id is not None else {"channel": click.slack_user_id}
        local = ctx.calendar.local(click.received_at)
        told += enqueue(session, key=f"click-not-done:{click.key}", template=Template.CLICK_NOT_DONE,
                        context={"clicked_at": f"{local:%H:%M} on {local:%A} {local.day} {local:%B}"},
                        now=ctx.real_now, priority=Priority.NORMAL, **to)
    return told


PLANNERS = (
    Planner("housekeeping", _prune_receipts, None, When.ALWAYS),
    Planner("unfinished clicks", _unfinished_clicks, None, When.ALWAYS),
)
