"""The month's allocation on its own: a preview to the QA team beforehand, the commit on the
first working day (shared/domain.md, The monthly cycle, step 1; Hull A.1)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.allocation import commit_allocation, plan_allocation
from bot.services.allocation_rules import add_months
from bot.services.allocation_types import AllocationPlan, CommitResult
from bot.services.programme import month_request
from bot.settings import Settings
from store.models import AuditMonth, Notification, Person, Priority, Role
from store.months import month_row
from store.outbox import enqueue


def _coordinators(session: Session) -> list[Person]:
    return list(
        session.scalars(
            select(Person).where(Person.active.is_(True), Person.role_rows.any(role=Role.QA_COORDINATOR)).order_by(Person.id)
        )
    )


def preview_context(plan: AllocationPlan, row: AuditMonth, *, source: str, first_working_day: dt.date) -> dict[str, object]:
    """What the QA team is shown before the month is allocated."""
    kinds = Counter(item.audit_type.value for item in plan.items)
    loads = Counter(item.auditor_id for item in plan.items) + Counter(
        item.second_auditor_id for item in plan.items if item.second_auditor_id is not None
    )
    return {
        "month": plan.month.isoformat(),
        "first_working_day": first_working_day.isoformat(),
        "source": source,
        "prepared_by": row.prepared_by,
        "theme": plan.theme,
        "counts": dict(sorted(kinds.items())),
        "total": len(plan.items),
        "auditors": len(loads),
        "max_load": max(loads.values(), default=0),
        "unallocated": [{"reference": u.reference, "reason": u.reason} for u in plan.unallocated[:10]],
        "unallocated_more": max(0, len(plan.unallocated) - 10),
        "notes": plan.notes[:5],
    }


def plan_preview(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """DM the QA coordinators next month's plan ``preview_working_days_before`` working days ahead."""
    today = calendar.local_date(now)
    month = add_months(today.replace(day=1), 1)
    first = calendar.first_working_day(month)
    if not calendar.add_working_days(first, -settings.preview_working_days_before) <= today < first:
        return 0
    coordinators = _coordinators(session)
    keys = {qa.id: f"preview:{month:%Y-%m}:{qa.id}" for qa in coordinators}
    done = set(session.scalars(select(Notification.idempotency_key).where(Notification.idempotency_key.in_(keys.values()))))
    if not coordinators or done == set(keys.values()):
        return 0
    row = month_row(session, month, lock=False)
    if row.paused:
        return 0
    request, source = month_request(row, settings)
    plan = plan_allocation(session, request, settings, now=now)
    context = preview_context(plan, row, source=source, first_working_day=first)
    return sum(
        enqueue(
            session, key=key, template=Template.ALLOCATION_PREVIEW, context=context, now=now, recipient_id=qa_id,
            priority=Priority.NORMAL,
        )  # fmt: skip
        for qa_id, key in keys.items()
    )


def run_scheduled_allocation(
    session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> CommitResult | None:
    """On the month's first working day (or a few days after, if the bot was down), commit it once."""
    today = calendar.local_date(now)
    month = today.replace(day=1)
    first = calendar.first_working_day(month)
    if not first <= today <= calendar.add_working_days(first, settings.allocation_catch_up_working_days):
        return None
    row = month_row(session, month)
    if row.paused or row.auto_allocated_at is not None:
        return None
    request, source = month_request(row, settings)
    plan = plan_allocation(session, request, settings, now=now)
    result = commit_allocation(session, plan, now=now, actor_ref=f"scheduler ({source} allocation)")
    row.auto_allocated_at = now
    return result
