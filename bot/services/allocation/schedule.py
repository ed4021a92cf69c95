"""The month's allocation on its own: a preview to the QA team beforehand, the commit on the
first working day (shared/domain.md, The monthly cycle, step 1; Hull A.1)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.allocation.rules import add_months
from bot.services.allocation.service import commit_allocation, plan_allocation
from bot.services.allocation.types import AllocationPlan, CommitResult
from bot.services.cycle.months import month_request
from bot.settings import Settings
from store.audit import record
from store.models import Allocation, AllocationState, AuditMonth, Notification, Priority
from store.months import month_row
from store.outbox import enqueue
from store.queries import qa_coordinators

log = logging.getLogger(__name__)


def allocated_count(session: Session, month: dt.date) -> int:
    """How many allocations (not cancelled) ``month`` already holds."""
    return session.scalar(
        select(func.count()).select_from(Allocation).where(
            Allocation.month_start == month, Allocation.state != AllocationState.CANCELLED
        )
    ) or 0


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


def _planned(
    session: Session, settings: Settings, row: AuditMonth, *, first_working_day: dt.date, now: dt.datetime
) -> dict[str, object]:
    """Plan ``row``'s month as the scheduler would (nothing committed) and describe the plan."""
    request, source = month_request(row, settings)
    plan = plan_allocation(session, request, settings, now=now)
    return preview_context(plan, row, source=source, first_working_day=first_working_day)


def preview_modal_context(
    session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> dict[str, object]:
    """Next month's preview on demand (the QA team's Home), any day: the plan, or why there is none
    (paused, or allocated by hand already). Plans only; the caller rolls back (``month_row`` may add the month's row)."""
    month = add_months(calendar.local_date(now).replace(day=1), 1)
    row = month_row(session, month, lock=False)
    allocated = allocated_count(session, month)
    preview = None
    if not row.paused and (row.prepared_request or not allocated):
        preview = _planned(session, settings, row, first_working_day=calendar.first_working_day(month), now=now)
    return {"month": month.isoformat(), "paused": row.paused, "allocated": allocated, "preview": preview}


def plan_preview(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """DM the QA coordinators next month's plan ``preview_working_days_before`` working days ahead."""
    today = calendar.local_date(now)
    month = add_months(today.replace(day=1), 1)
    first = calendar.first_working_day(month)
    if not calendar.add_working_days(first, -settings.preview_working_days_before) <= today < first:
        return 0
    coordinators = qa_coordinators(session)
    keys = {qa.id: f"preview:{month:%Y-%m}:{qa.id}" for qa in coordinators}
    done = set(session.scalars(select(Notification.idempotency_key).where(Notification.idempotency_key.in_(keys.values()))))
    if not coordinators or done == set(keys.values()):
        return 0
    row = month_row(session, month, lock=False)
    if row.paused or (not row.prepared_request and allocated_count(session, month)):
        return 0  # allocated by hand already: the scheduler will not add to it, so nothing to preview
    context = _planned(session, settings, row, first_working_day=first, now=now)
    return sum(
        enqueue(
            session, key=key, template=Template.ALLOCATION_PREVIEW, context=context, now=now, recipient_id=qa_id,
            priority=Priority.NORMAL,
        )
        for qa_id, key in keys.items()
    )


def run_scheduled_allocation(
    session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> CommitResult | None:
    """On the month's first working day (or a few days after, if the bot was down), commit it once.

    A month already allocated by hand is left as it is, unless a prepared request is waiting:
    that is committed (sizes are targets for the whole month, so it only tops up to them).
    Either way the month is marked done, so it is not tried again.
    """
    today = calendar.local_date(now)
    month = today.replace(day=1)
    first = calendar.first_working_day(month)
    if not first <= today <= calendar.add_working_days(first, settings.allocation_catch_up_working_days):
        return None
    row = month_row(session, month)
    if row.paused or row.auto_allocated_at is not None:
        return None
    existing = allocated_count(session, month)
    if existing and not row.prepared_request:
        row.auto_allocated_at = now
        log.warning(
            "%s already has %d allocation(s) committed by hand: the scheduled allocation adds none", f"{month:%B %Y}", existing
        )
        record(
            session, now=now, action="allocation.scheduled", outcome="skipped", actor_ref="scheduler",
            subject_type="audit_month", subject_id=row.id,
            detail={"month": month.isoformat(), "reason": "allocated_by_hand", "existing": existing},
        )
        return CommitResult(created=0, skipped=0, messages=0, allocation_ids=(), already_allocated=existing)
    request, source = month_request(row, settings)
    plan = plan_allocation(session, request, settings, now=now)
    result = commit_allocation(session, plan, now=now, actor_ref=f"scheduler ({source} allocation)")
    row.auto_allocated_at = now
    if existing:  # a prepared request on top of allocations by hand: it tops up to its targets
        log.info(
            "%s already had %d allocation(s) committed by hand; the prepared request added %d",
            f"{month:%B %Y}", existing, result.created,
        )
        record(
            session, now=now, action="allocation.scheduled", outcome="topped_up", actor_ref="scheduler",
            subject_type="audit_month", subject_id=row.id,
            detail={"month": month.isoformat(), "reason": "allocated_by_hand", "existing": existing, "created": result.created},
        )
    return result
