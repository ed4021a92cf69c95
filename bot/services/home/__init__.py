"""What is waiting for one person, their audits and their actions: the App Home and ``/audit mine``.

Slack-free: ``waiting_for`` and ``home_context`` read the store with a fixed number of set-based
queries (one per kind of work, none per row) and return plain data the templates render.
"""

import datetime as dt

from bot.services.home.items import WaitingItem
from bot.services.home.waiting import (
    ACTIONS_LIMIT,
    AUDITS_LIMIT,
    WAITING_LIMIT,
    HomeSummary,
    home_context,
    home_summary,
    waiting_for,
)
from store.models import Person

__all__ = [
    "ACTIONS_LIMIT", "AUDITS_LIMIT", "WAITING_LIMIT", "HomeSummary", "WaitingItem", "home_context", "home_summary",
    "opened_home", "waiting_for",
]


def opened_home(person: Person | None, *, now: dt.datetime) -> None:
    """Note that ``person`` has opened the Home tab: from now on it is republished as their work changes."""
    if person is not None:
        person.home_opened_at = now
