"""Planning and committing a month's allocations (shared/domain.md, The monthly cycle, step 1).

``plan_allocation`` reads the store and returns an ``AllocationPlan`` without writing anything;
``commit_allocation`` writes it in the caller's transaction, queues the messages and records the
decision. Sizes are targets for the month, not increments, so running the same request twice
plans and sends nothing the second time. Slack-free. The rules live in ``allocation_rules``,
the data classes in ``allocation_types`` and the planner in ``allocation_plan``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.services.allocation.plan import plan_allocation, rule_settings
from bot.services.allocation.rules import RequestError, ThematicFilter, parse_month, parse_thematic_filter
from bot.services.allocation.types import (
    AllocationPlan,
    AllocationRequest,
    CommitResult,
    MonthPaused,
    PlannedAllocation,
    Unallocated,
)
from bot.services.notices import notify_allocation
from bot.settings import Settings
from store.audit import record
from store.models import Allocation, AllocationState, AuditMonth, AuditType, Case, Person, Team
from store.months import month_row

__all__ = [
    "AllocationPlan",
    "AllocationRequest",
    "CommitResult",
    "MonthPaused",
    "PlannedAllocation",
    "RequestError",
    "ThematicFilter",
    "Unallocated",
    "allocate",
    "commit_allocation",
    "lock_month",
    "parse_month",
    "parse_thematic_filter",
    "plan_allocation",
    "rule_settings",
]


# --- committing -----------------------------------------------------------------------------


def lock_month(session: Session, month: dt.date) -> AuditMonth:
    """Get or create the month's row and lock it against concurrent commits; refuse if paused."""
    row = month_row(session, month)
    if row.paused:
        raise MonthPaused(month)
    return row


def _room(session: Session, plan: AllocationPlan) -> dict[AuditType, int]:
    """How many more control / thematic allocations the month takes now (targets re-checked)."""
    rows = session.execute(
        select(Allocation.audit_type, Allocation.theme).where(
            Allocation.month_start == plan.month, Allocation.state != AllocationState.CANCELLED
        )
    ).all()
    room: dict[AuditType, int] = {}
    if plan.request.control is not None:
        room[AuditType.CONTROL] = plan.request.control - sum(1 for kind, _ in rows if kind == AuditType.CONTROL)
    if plan.thematic_target is not None:
        existing = sum(1 for kind, th in rows if kind == AuditType.THEMATIC and th == plan.theme)
        room[AuditType.THEMATIC] = plan.thematic_target - existing
    return room


def _requested(plan: AllocationPlan) -> dict[str, Any]:
    request = plan.request
    return {
        "control": request.control,
        "thematic": request.thematic_filter.describe() if request.thematic_filter else None,
        "theme": plan.theme,
        "thematic_count": plan.thematic_target,
        "cases": list(request.cases),
        "cases_type": request.cases_type.value if request.cases else None,
        "allow_recent": request.allow_recent,
        "seed": plan.seed,
    }


#: Rows fetched by id per query (well under SQLite's limit on bound parameters).
_BATCH = 900


def _by_ids(session: Session, model: type[Any], ids: set[int]) -> list[Any]:
    ordered = sorted(ids)
    found: list[Any] = []
    for start in range(0, len(ordered), _BATCH):
        found += session.scalars(select(model).where(model.id.in_(ordered[start : start + _BATCH]))).all()
    return found


def _preload(session: Session, plan: AllocationPlan) -> list[Any]:
    """Load in a few queries the cases, teams and people the plan's allocations and messages refer to, so
    creating them fetches nothing row by row (lazy loads of these find them in the session). Returns them:
    the caller holds the list so the session keeps them."""
    cases = _by_ids(session, Case, {item.case_id for item in plan.items})
    people = {p for item in plan.items for p in (item.auditor_id, item.second_auditor_id) if p is not None}
    people |= {p for c in cases for p in (c.allocated_worker_id, c.previous_worker_id, c.team_manager_id, c.iro_id) if p}
    return [*cases, *_by_ids(session, Team, {c.team_id for c in cases}), *_by_ids(session, Person, people)]


def commit_allocation(session: Session, plan: AllocationPlan, *, now: dt.datetime, actor_ref: str = "cli") -> CommitResult:
    """Create the plan's allocations in the caller's transaction and queue their messages.

    Cases allocated for the month since planning (and anything beyond a target) are skipped.
    Raises MonthPaused if the programme is paused for the month.
    """
    month_row = lock_month(session, plan.month)
    taken = set(session.scalars(select(Allocation.case_id).where(Allocation.month_id == month_row.id)))
    room = _room(session, plan)
    created: list[Allocation] = []
    skipped = messages = 0
    loaded = _preload(session, plan)
    for item in plan.items:
        if item.case_id in taken or room.get(item.audit_type, 1) <= 0:
            skipped += 1
            continue
        if item.audit_type in room:
            room[item.audit_type] -= 1
        allocation = Allocation(
            month=month_row,
            month_start=plan.month,
            case=session.get_one(Case, item.case_id),
            auditor=session.get_one(Person, item.auditor_id),
            second_auditor=session.get_one(Person, item.second_auditor_id) if item.second_auditor_id else None,
            audit_type=item.audit_type,
            theme=item.theme,
            due_date=item.due_date,
            state=AllocationState.ALLOCATED,
            reason=item.reason,
            created_at=now,
        )
        session.add(allocation)
        taken.add(item.case_id)
        created.append(allocation)
    session.flush()  # one batched INSERT, ids in the plan's order
    for allocation in created:
        messages += notify_allocation(session, allocation, now=now)
    del loaded
    if plan.request.theme and not month_row.theme:
        month_row.theme = plan.request.theme
    result = CommitResult(
        created=len(created),
        skipped=skipped,
        messages=messages,
        allocation_ids=tuple(a.id for a in created),
        already_allocated=sum(plan.already_allocated.values()),
    )
    record(
        session,
        now=now,
        action="allocation.commit",
        actor_ref=actor_ref,
        subject_type="audit_month",
        subject_id=month_row.id,
        detail={
            "month": plan.month.isoformat(),
            "created": result.created,
            "skipped": result.skipped,
            "messages": result.messages,
            "unallocated": [u.reference for u in plan.unallocated],
            "requested": _requested(plan),
        },
    )
    return result


def allocate(
    sessions: sessionmaker[Session],
    request: AllocationRequest,
    settings: Settings,
    *,
    now: dt.datetime,
    preview: bool,
    actor_ref: str = "cli",
) -> tuple[AllocationPlan, CommitResult | None]:
    """Plan, and unless previewing commit, in one short unit of work (the month locked first)."""
    with sessions() as session, session.begin():
        if not preview:
            lock_month(session, request.month)
        plan = plan_allocation(session, request, settings, now=now)
        if preview:
            return plan, None
        return plan, commit_allocation(session, plan, now=now, actor_ref=actor_ref)
