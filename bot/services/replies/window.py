"""The right-to-reply window (Hull 18; the length is a setting): who may reply, when it closes,
and whether it is over."""

from __future__ import annotations

import datetime as dt

from bot.calendar import WorkingCalendar
from bot.services.audits.findings import findings_recipients
from store.records import AuditRecord


def closes_on(calendar: WorkingCalendar, submitted_at: dt.datetime, working_days: int) -> dt.date:
    """The last day of the window: the ``working_days``-th working day after the day it was submitted."""
    return calendar.add_working_days(calendar.local_date(submitted_at), working_days)


def closes_at(calendar: WorkingCalendar, record: AuditRecord, working_days: int) -> dt.datetime:
    """When the window closes: the end of working hours on its last day."""
    last = record.reply_closes_on or closes_on(calendar, record.submitted_at, working_days)
    return calendar.utc(last, calendar.working_hours[1])


def everyone_replied(record: AuditRecord) -> bool:
    """True once each person who was sent the findings has answered (silence is recorded at the close)."""
    replied = {r.person_id for r in record.replies}
    return all(person.id in replied for _, person in findings_recipients(record))


def window_over(record: AuditRecord, calendar: WorkingCalendar, *, now: dt.datetime, working_days: int) -> bool:
    """The window has closed, or everyone it was open to has answered."""
    return now >= closes_at(calendar, record, working_days) or everyone_replied(record)
