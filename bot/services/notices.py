"""Building the notifications a decision causes. Slack-free: writes outbox rows only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from bot.ids import Template
from store.models import Allocation, Person, Priority
from store.outbox import enqueue
from store.outbox import person_ref as person_ref  # re-exported: how a person appears in a context


def allocation_context(allocation: Allocation, *, co_auditor: Person | None, reallocated: bool) -> dict[str, Any]:
    """The self-contained facts an allocation message shows (no child-identifying data)."""
    case = allocation.case
    return {
        "allocation_id": allocation.id,
        "reallocated": reallocated,
        "case": {
            "reference": case.reference,
            "type": case.case_type.value,
            "team": case.team.name,
        },
        "audit": {
            "type": allocation.audit_type.value,
            "theme": allocation.theme,
            "month": allocation.month_start.isoformat(),
            "due_date": allocation.due_date.isoformat(),
        },
        "auditor": person_ref(allocation.auditor),
        "co_auditor": person_ref(co_auditor),
        "worker": person_ref(case.allocated_worker),
        "previous_worker": person_ref(case.previous_worker) if recent_worker_change(allocation) else None,
        "worker_changed_on": case.worker_changed_on.isoformat() if case.worker_changed_on else None,
        "team_manager": person_ref(case.team_manager),
        "iro": person_ref(case.iro),
        "reason": allocation.reason,
    }


def recent_worker_change(allocation: Allocation) -> bool:
    """Bradford §2: a change of worker within the last month, previous worker still employed."""
    case = allocation.case
    if case.previous_worker is None or case.worker_changed_on is None or not case.previous_worker.active:
        return False
    return (allocation.month_start - case.worker_changed_on).days <= 31


def notify_allocation(
    session: Session,
    allocation: Allocation,
    *,
    now: dt.datetime,
    reallocated: bool = False,
    key_prefix: str | None = None,
    auditors: set[int] | None = None,
) -> int:
    """Queue the auditor(s), social worker and team manager messages for one allocation.

    Keys are ``alloc:<allocation id>:<role>:<person id>`` (a reallocation passes its own prefix)
    so re-running plans nothing twice. ``auditors`` limits which auditors are told (after a
    reallocation only the new one). Returns how many rows were newly written.
    """
    prefix = key_prefix or f"alloc:{allocation.id}"
    first, second = allocation.auditor, allocation.second_auditor
    planned: list[tuple[str, Person | None, Template, Person | None]] = [
        ("auditor", first, Template.ALLOCATION_AUDITOR, second),
        ("auditor", second, Template.ALLOCATION_AUDITOR, first),
        ("worker", allocation.case.allocated_worker, Template.ALLOCATION_WORKER, second),
        ("team_manager", allocation.case.team_manager, Template.ALLOCATION_TEAM_MANAGER, second),
    ]
    written = 0
    for role, person, template, co in planned:
        if person is None or not person.active:
            continue
        if role == "auditor" and auditors is not None and person.id not in auditors:
            continue
        context = allocation_context(allocation, co_auditor=co, reallocated=reallocated)
        if role == "auditor":
            context["auditor"] = person_ref(person)
        written += enqueue(
            session,
            key=f"{prefix}:{role}:{person.id}",
            template=template,
            context=context,
            now=now,
            recipient_id=person.id,
            priority=Priority.NORMAL,
        )
    return written
