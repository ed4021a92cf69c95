"""One message per person per day about audit actions (lifecycle "actions": never a storm of single
messages). Once a day, in working hours, each person is sent one digest listing what is fresh
for them:

- as an owner: actions new to them, due soon (``action_reminder_working_days`` before) or today,
  overdue (weekly), and the team manager's not yet or more-time decision (each with **Done…** and
  **Ask for more time…**);
- as a team manager: done actions to sign off and more-time requests (weekly until decided), and
  their team's overdue actions (weekly);
- as the team manager's own manager (service or group manager, Bradford §2): those overdue
  actions too, copied.

What each digest listed is kept in its context (``listed``), so a later digest knows what is new.
Keyed ``actions:digest:{person}:{date}``: a repeated tick sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.actions.common import LIVE, action_context, manager_of, team_manager_of
from bot.services.actions.decisions import PENDING
from bot.settings import Settings
from store.models import Notification, Person
from store.outbox import enqueue, person_ref
from store.records import ActionStatus, AuditAction, AuditRecord

#: Listed again after ``overdue_repeat_days`` while still true; the others once.
REPEATED = frozenset({"overdue", "sign_off", "request", "team_overdue"})
#: Which reason an action is shown under when several are fresh (the first wins).
ORDER = ("overdue", "today", "not_yet", "more_time", "soon", "new", "sign_off", "request", "team_overdue")
#: The most items one digest lists (two blocks each); the rest come the next day.
MAX_ITEMS = 20

Item = tuple[int, str, str]  # action id, kind, stamp (the due date, or when the thing happened)


def _owner_items(action: AuditAction, today: dt.date, settings: Settings, calendar: WorkingCalendar) -> list[Item]:
    due = action.due_date
    items: list[Item] = [(action.id, "new", "")]
    if today > due:
        items.append((action.id, "overdue", due.isoformat()))
    elif today == due:
        items.append((action.id, "today", due.isoformat()))
    elif today >= calendar.add_working_days(due, -settings.action_reminder_working_days):
        items.append((action.id, "soon", due.isoformat()))
    if action.not_yet_at is not None:
        items.append((action.id, "not_yet", action.not_yet_at.isoformat()))
    if action.extension_state in ("approved", "declined") and action.extension_decided_at is not None:
        items.append((action.id, "more_time", action.extension_decided_at.isoformat()))
    return items


def _history(session: Session, person_id: int) -> dict[tuple[int, str, str], dt.date]:
    """When each (action, kind, stamp) was last listed to the person."""
    seen: dict[tuple[int, str, str], dt.date] = {}
    prefix = f"actions:digest:{person_id}:"
    rows = session.scalars(
        select(Notification.context).where(Notification.idempotency_key.startswith(prefix, autoescape=True),
                                           Notification.replaces_key.is_(None))
    )
    for context in rows:
        day = dt.date.fromisoformat(context["day"])
        for action_id, kind, stamp in context.get("listed", []):
            key = (int(action_id), str(kind), str(stamp))
            seen[key] = max(day, seen.get(key, day))
    return seen


def plan_digests(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Send each person today's digest, if anything is fresh for them and they have none today. How many."""
    today = calendar.local_date(now)
    if not calendar.is_working_day(today):
        return 0
    actions = session.scalars(
        select(AuditAction)
        .join(AuditRecord, AuditRecord.id == AuditAction.record_id)
        .where(AuditRecord.state.in_(LIVE), AuditRecord.finalised_at.is_not(None), AuditRecord.closed_at.is_(None),
               AuditAction.status.in_((ActionStatus.OPEN, ActionStatus.DONE)))
        .order_by(AuditAction.id)
    ).all()
    candidates: dict[int, list[Item]] = defaultdict(list)
    people: dict[int, Person] = {}
    for action in actions:
        tm = team_manager_of(action.record)
        if action.status == ActionStatus.OPEN:
            if action.owner.active:
                people[action.owner_id] = action.owner
                candidates[action.owner_id] += _owner_items(action, today, settings, calendar)
            if today > action.due_date:
                for watcher in (tm, manager_of(tm)):
                    if watcher is not None and watcher.id != action.owner_id:
                        people[watcher.id] = watcher
                        candidates[watcher.id].append((action.id, "team_overdue", action.due_date.isoformat()))
        if tm is None:
            continue
        if action.status == ActionStatus.DONE and action.done_at is not None:
            people[tm.id] = tm
            candidates[tm.id].append((action.id, "sign_off", action.done_at.isoformat()))
        if action.status == ActionStatus.OPEN and action.extension_state == PENDING and action.requested_due is not None:
            people[tm.id] = tm
            candidates[tm.id].append((action.id, "request", action.requested_due.isoformat()))
    by_id = {a.id: a for a in actions}
    sent = 0
    for person_id in sorted(candidates):
        key = f"actions:digest:{person_id}:{today.isoformat()}"
        if session.scalar(select(Notification.id).where(Notification.idempotency_key == key)) is not None:
            continue
        history = _history(session, person_id)
        every = settings.overdue_repeat_days
        fresh = [
            item for item in candidates[person_id]
            if (last := history.get(item)) is None or (item[1] in REPEATED and (today - last).days >= every)
        ]
        if not fresh:
            continue
        shown: dict[int, str] = {}
        for action_id, kind, _ in sorted(fresh, key=lambda i: ORDER.index(i[1])):
            shown.setdefault(action_id, kind)
        chosen = list(shown.items())[:MAX_ITEMS]
        listed = [list(i) for i in fresh if i[0] in dict(chosen)]
        items = [{**action_context(by_id[action_id]), "kind": kind, "team": by_id[action_id].record.allocation.case.team.name}
                 for action_id, kind in chosen]
        context: dict[str, Any] = {"day": today.isoformat(), "recipient": person_ref(people[person_id]), "items": items,
                                   "more": max(0, len(shown) - MAX_ITEMS), "listed": listed,
                                   "reminder_days": settings.action_reminder_working_days}
        sent += enqueue(session, key=key, template=Template.ACTIONS_DIGEST, context=context, now=now, recipient_id=person_id)
    return sent
