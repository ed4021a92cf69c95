"""Chasing: the reminder a week before the deadline and the weekly overdue notices.

The reminder goes on the last working day on or before ``deadline - reminder_days_before``
(Bradford §2: "a week before"), never later.

Planned by the scheduler's tick; every notification key names the allocation, its due date
and the recipient, so a second tick, a restart or a second process plans nothing twice, and a
moved deadline (an extension) gets reminders of its own. Overdue notices repeat every
``overdue_repeat_days`` days counted from the first notice actually planned (the first working
moment after the deadline), numbered in their keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, joinedload

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.breaks.booking import bookable_break_month
from bot.services.notices import allocation_context
from bot.settings import Settings
from store.models import Allocation, AllocationState, AuditMonth, Case, Notification, Person, Priority
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators


def _owed(due_from: dt.date | None, due_to: dt.date) -> list[ColumnElement[bool]]:
    """Still owed, in a month not paused, due in [due_from, due_to]."""
    where = [Allocation.state == AllocationState.ALLOCATED, AuditMonth.paused.is_(False), Allocation.due_date <= due_to]
    return where + ([Allocation.due_date >= due_from] if due_from is not None else [])


def _due_dates(session: Session, *, due_from: dt.date | None, due_to: dt.date) -> list[dt.date]:
    """The deadlines of the allocations ``_open_allocations`` would load: one light query, so a
    tick with nothing to chase loads no allocation, person or case."""
    stmt = select(Allocation.due_date).join(AuditMonth, AuditMonth.id == Allocation.month_id).where(*_owed(due_from, due_to))
    return list(session.scalars(stmt.distinct()))


def _open_allocations(session: Session, *, due_from: dt.date | None, due_to: dt.date) -> list[Allocation]:
    """Allocations still owed, in months that are not paused, due in [due_from, due_to]."""
    query = (
        select(Allocation)
        .join(AuditMonth, AuditMonth.id == Allocation.month_id)
        .options(
            joinedload(Allocation.case).joinedload(Case.team),
            joinedload(Allocation.case).joinedload(Case.allocated_worker),
            joinedload(Allocation.case).joinedload(Case.team_manager),
            joinedload(Allocation.case).joinedload(Case.iro),
            joinedload(Allocation.case).joinedload(Case.previous_worker),
            joinedload(Allocation.auditor).joinedload(Person.line_manager),
            joinedload(Allocation.second_auditor).joinedload(Person.line_manager),
        )
        .where(*_owed(due_from, due_to))
        .order_by(Allocation.due_date, Allocation.id)
    )
    return list(session.scalars(query).unique())


def _auditors(allocation: Allocation) -> Iterable[tuple[Person, Person | None]]:
    """Each active auditor of the allocation with their co-auditor."""
    pairs = [(allocation.auditor, allocation.second_auditor), (allocation.second_auditor, allocation.auditor)]
    return [(p, co) for p, co in pairs if p is not None and p.active]


def _copied_manager(auditor: Person) -> Person | None:
    """The auditor's line manager, if they get a copy (active, and not the auditor themself)."""
    manager = auditor.line_manager
    return manager if manager is not None and manager.active and manager.id != auditor.id else None


class _BreakMonths:
    """The month each auditor's "Ask for a break" button may name (None: no button), looked up once."""

    def __init__(self, session: Session, settings: Settings, today: dt.date) -> None:
        self.session, self.settings, self.today = session, settings, today
        self._cache: dict[int, str | None] = {}

    def __call__(self, auditor: Person) -> str | None:
        if auditor.id not in self._cache:
            month = bookable_break_month(self.session, auditor, self.settings, today=self.today)
            self._cache[auditor.id] = month.isoformat() if month else None
        return self._cache[auditor.id]


def _context(
    allocation: Allocation, auditor: Person, co: Person | None, today: dt.date, break_month: str | None
) -> dict[str, object]:
    context = allocation_context(allocation, co_auditor=co, reallocated=False)
    context["auditor"] = person_ref(auditor)
    context["days_left"] = (allocation.due_date - today).days
    #: The month the break button names: the next month, only if the rules would grant it now.
    context["next_month"] = break_month
    context["manager_copied"] = _copied_manager(auditor) is not None
    context["today"] = today.isoformat()
    return context


def _planned(session: Session, keys: list[str]) -> set[str]:
    """Which of ``keys`` the outbox already holds (one query, so a tick that finds everything
    planned builds no message contexts)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found |= set(session.scalars(select(Notification.idempotency_key).where(Notification.idempotency_key.in_(chunk))))
    return found


def reminder_day(calendar: WorkingCalendar, due: dt.date, days_before: int) -> dt.date:
    """The last working day on or before ``due - days_before``: when the reminder goes."""
    day = due - dt.timedelta(days=days_before)
    while not calendar.is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


#: Further than any run of non-working days before a reminder day can reach (Christmas to New Year).
_LOOKAHEAD = dt.timedelta(days=14)


def plan_reminders(
    session: Session, settings: Settings, calendar: WorkingCalendar, *, today: dt.date, now: dt.datetime
) -> int:
    """Remind auditors whose reminder day has come and whose audit is not yet due; copy their managers."""
    written = 0
    horizon = today + dt.timedelta(days=settings.reminder_days_before) + _LOOKAHEAD
    if all(reminder_day(calendar, due, settings.reminder_days_before) > today
           for due in _due_dates(session, due_from=today, due_to=horizon)):
        return 0  # no reminder day has come: most ticks stop here
    break_month = _BreakMonths(session, settings, today)
    due_now: list[tuple[Allocation, Person, Person | None, Person | None, tuple[str, str | None]]] = []
    for allocation in _open_allocations(session, due_from=today, due_to=horizon):
        if reminder_day(calendar, allocation.due_date, settings.reminder_days_before) > today:
            continue
        due = allocation.due_date.isoformat()
        for auditor, co in _auditors(allocation):
            manager = _copied_manager(auditor)
            keys = (f"remind:{allocation.id}:{due}:auditor:{auditor.id}",
                    f"remind:{allocation.id}:{due}:manager:{manager.id}:{auditor.id}" if manager else None)
            due_now.append((allocation, auditor, co, manager, keys))
    planned = _planned(session, [k for *_, keys in due_now for k in keys if k])
    for allocation, auditor, co, manager, (auditor_key, manager_key) in due_now:
        if auditor_key in planned and (manager_key is None or manager_key in planned):
            continue
        context = _context(allocation, auditor, co, today, break_month(auditor))
        written += enqueue(session, key=auditor_key, template=Template.REMINDER_AUDITOR, context=context, now=now,
                           recipient_id=auditor.id)
        if manager is not None and manager_key is not None:
            written += enqueue(session, key=manager_key, template=Template.REMINDER_MANAGER, context=context, now=now,
                               recipient_id=manager.id)
    return written


def _repeat(session: Session, allocation: Allocation, settings: Settings, *, today: dt.date) -> int:
    """Which overdue notice is due today: 0 for the first, then one more every ``overdue_repeat_days``
    days after the day the first was actually planned (not after the deadline)."""
    prefix = f"overdue:{allocation.id}:{allocation.due_date.isoformat()}:"
    first = session.scalar(
        select(func.min(Notification.created_at)).where(Notification.idempotency_key.startswith(prefix, autoescape=True))
    )
    if first is None:
        return 0
    first_day = first.astimezone(settings.tz).date()
    return max(0, (today - first_day).days) // settings.overdue_repeat_days


def plan_overdue(session: Session, settings: Settings, *, today: dt.date, now: dt.datetime) -> int:
    """Tell auditors, their managers and the QA team about audits past their deadline, then again
    every ``overdue_repeat_days`` days after that first notice."""
    written = 0
    newly_overdue: list[dict[str, object]] = []
    if not _due_dates(session, due_from=None, due_to=today - dt.timedelta(days=1)):
        return 0  # nothing is past its deadline
    break_month = _BreakMonths(session, settings, today)
    for allocation in _open_allocations(session, due_from=None, due_to=today - dt.timedelta(days=1)):
        due = allocation.due_date.isoformat()
        days_late = (today - allocation.due_date).days
        week = _repeat(session, allocation, settings, today=today)
        told = False
        for auditor, co in _auditors(allocation):
            manager = _copied_manager(auditor)
            keys = [f"overdue:{allocation.id}:{due}:{week}:auditor:{auditor.id}"]
            keys += [f"overdue:{allocation.id}:{due}:{week}:manager:{manager.id}:{auditor.id}"] if manager else []
            if _planned(session, keys) == set(keys):
                continue  # this week's notices are out already
            context = _context(allocation, auditor, co, today, break_month(auditor))
            context["days_late"] = days_late
            context["repeat_days"] = settings.overdue_repeat_days
            if enqueue(session, key=keys[0], template=Template.OVERDUE_AUDITOR, context=context, now=now,
                       recipient_id=auditor.id):
                written += 1
                told = True
            if manager is not None:
                written += enqueue(session, key=keys[1], template=Template.OVERDUE_MANAGER, context=context, now=now,
                                   recipient_id=manager.id)
        if not _auditors(allocation):  # everyone auditing it has left: only the QA team can act
            written += _orphan_notice(session, allocation, week=week, today=today, now=now)
        if told:
            newly_overdue.append(
                {
                    "reference": allocation.case.reference,
                    "team": allocation.case.team.name,
                    "auditor": person_ref(allocation.auditor),
                    "due_date": due,
                    "days_late": days_late,
                }
            )
    if newly_overdue:
        written += _qa_digest(session, newly_overdue, today=today, now=now)
    return written


def _orphan_notice(session: Session, allocation: Allocation, *, week: int, today: dt.date, now: dt.datetime) -> int:
    """An overdue audit whose auditors have all left goes to the QA team, weekly."""
    item = {
        "reference": allocation.case.reference,
        "team": allocation.case.team.name,
        "auditor": person_ref(allocation.auditor),
        "due_date": allocation.due_date.isoformat(),
        "days_late": (today - allocation.due_date).days,
    }
    written = 0
    for qa in qa_coordinators(session):
        written += enqueue(
            session, key=f"overdue:{allocation.id}:{allocation.due_date.isoformat()}:{week}:no-auditor:{qa.id}",
            template=Template.OVERDUE_QA, context={"today": today.isoformat(), "overdue": [item], "more": 0, "orphan": True},
            now=now, recipient_id=qa.id,
        )
    return written


def _qa_digest(session: Session, overdue: list[dict[str, object]], *, today: dt.date, now: dt.datetime) -> int:
    """One message per QA coordinator listing the audits that became (or stay) overdue today."""
    fingerprint = hashlib.sha256(",".join(sorted(str(o["reference"]) for o in overdue)).encode()).hexdigest()[:12]
    written = 0
    for qa in qa_coordinators(session):
        written += enqueue(
            session, key=f"overdue_qa:{today.isoformat()}:{qa.id}:{fingerprint}", template=Template.OVERDUE_QA,
            context={"today": today.isoformat(), "overdue": overdue[:40], "more": max(0, len(overdue) - 40)},
            now=now, recipient_id=qa.id, priority=Priority.NORMAL,
        )
    return written
