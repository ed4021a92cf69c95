"""What a scheduled planner is: each area's ``planners`` module lists its own; ``bot.scheduler.tick`` runs them.

Neutral ground between the services and the scheduler, so neither imports the other's internals.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.settings import Settings

#: The tick report's counters a planner's result adds to (the names of ``TickReport``'s fields).
Counter = Literal[
    "previews", "allocated", "allocation_messages", "reminders", "overdue", "exemption_chasers", "alert_escalations", "qa_checks",
    "report_posts",
]


class When(StrEnum):
    """When a planner runs."""

    #: any day, any hour, even while the month is paused (safeguarding, housekeeping): use ``real_now``
    ALWAYS = "always"
    #: in working hours only
    WORKING_HOURS = "working_hours"
    #: in working hours, and not while the month is paused (the monthly cycle)
    CYCLE = "cycle"


@dataclass(frozen=True)
class TickContext:
    """What every planner of one tick is given."""

    settings: Settings
    calendar: WorkingCalendar
    #: the time planned for (aware UTC); another time than the real one under ``auditbot tick --at``
    now: dt.datetime
    #: the real time: ``ALWAYS`` planners act on it, so a tick at another time never escalates early or late
    real_now: dt.datetime
    #: the local date of ``now``
    today: dt.date


#: How many notifications a planner planned (added to its ``Planner.counter``), or counts by counter.
Planned = int | Mapping[Counter, int]


@dataclass(frozen=True)
class Planner:
    """One planner: ``plan`` runs in its own short transaction and says how much it planned."""

    name: str
    plan: Callable[[Session, TickContext], Planned]
    #: where an ``int`` result is added; None when it counts nothing (or returns counts by counter)
    counter: Counter | None
    when: When
