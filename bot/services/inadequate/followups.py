"""What an open Inadequate follow-up cycle is chased with, and its re-audit placed.

The group manager is reminded every ``inadequate_meeting_reminder_working_days`` working days
after the cycle opened until **Meeting held** is recorded. The group manager and team manager
are sent **Review held** ``REVIEW_NOTICE_WORKING_DAYS`` working days before the review is due,
and reminded on the day if it is not recorded. From the first working day of the month after
the audit was final, the re-audit is allocated in the month's allocation, due by the month's
last day or the re-audit's latest day, whichever is sooner. Keys carry the reminder's number or
stage, so a missed tick catches up with one message, never a burst.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.allocation.reaudit import allocate_reaudit
from bot.services.allocation.rules import last_day
from bot.services.inadequate.cycles import OPEN, tell
from bot.services.inadequate.decisions import edit_messages
from bot.settings import Settings
from store.followup import InadequateCycle
from store.models import Allocation, Person
from store.records import AuditRecord

#: How many working days before the review is due the group manager and team manager are asked to record it.
REVIEW_NOTICE_WORKING_DAYS = 5


def _open_cycles(session: Session) -> list[InadequateCycle]:
    return list(session.scalars(select(InadequateCycle).where(InadequateCycle.state.in_(OPEN)).order_by(InadequateCycle.id)))


def plan_followups(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Meeting reminders to the group manager; the review's notice and its reminder on the day."""
    today = calendar.local_date(now)
    if not calendar.is_working_day(today):
        return 0
    every = settings.inadequate_meeting_reminder_working_days
    written = 0
    for cycle in _open_cycles(session):
        record = session.get_one(AuditRecord, cycle.record_id)
        case = record.allocation.case
        manager = session.get(Person, cycle.group_manager_id) if cycle.group_manager_id else None
        opened = calendar.local_date(cycle.opened_at)
        if cycle.meeting_held_at is None:
            due = calendar.working_days_between(opened, today) // every
            if due >= 1:
                asked = ("group_manager", manager) if manager is not None else ("team_manager", case.team_manager)
                written += tell(session, cycle, [asked], stage="meeting_reminder",
                                template=Template.INADEQUATE_FOLLOW_UP, now=now, calendar=calendar, key=f"meeting:{due}")
        if cycle.review_held_at is None and cycle.review_due is not None:
            notice = calendar.add_working_days(cycle.review_due, -REVIEW_NOTICE_WORKING_DAYS)
            if today >= notice:
                stage = "review_reminder" if today >= cycle.review_due else "review"
                written += tell(session, cycle, [("group_manager", manager), ("team_manager", case.team_manager)],
                                stage=stage, template=Template.INADEQUATE_FOLLOW_UP, now=now, calendar=calendar,
                                key=stage)
    return written


def reaudit_month(cycle: InadequateCycle, record: AuditRecord, calendar: WorkingCalendar, today: dt.date) -> dt.date | None:
    """The month whose allocation takes the re-audit now: this month, once it is after the final
    month and its first working day has come; else None."""
    assert record.finalised_at is not None
    month = today.replace(day=1)
    if month <= calendar.local_date(record.finalised_at).replace(day=1) or today < calendar.first_working_day(month):
        return None
    return month


def place_reaudits(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Allocate each open cycle's re-audit into this month's allocation once it is due; how many."""
    today = calendar.local_date(now)
    placed = 0
    for cycle in _open_cycles(session):
        if cycle.reaudit_allocation_id is not None:
            continue
        record = session.get_one(AuditRecord, cycle.record_id)
        month = reaudit_month(cycle, record, calendar, today)
        if month is None:
            continue
        assert cycle.reaudit_latest is not None
        due = min(last_day(month), cycle.reaudit_latest)
        if due < today:  # the latest day has passed (the bot was down, or the month paused): as soon as can be
            due = last_day(month)
        previous: Allocation = record.allocation
        allocation = allocate_reaudit(
            session, settings, case_id=cycle.case_id, month=month, due_date=due, cycle_id=cycle.id, now=now,
            previous={p for p in (previous.auditor_id, previous.second_auditor_id) if p is not None},
        )
        if allocation is not None:
            cycle.reaudit_allocation_id = allocation.id
            session.flush()
            edit_messages(session, cycle, calendar, suffix="reaudit", now=now)
            placed += 1
    return placed
