"""Allocating one re-audit (Hull 25-26: an Inadequate case is re-audited within two months).

The same rules as the month's allocation (not involved in the case, not in its team or managing
it, not the worker's line manager, not on an audit break; least loaded first), with three
differences: the recency rule and the yearly cap never refuse a re-audit, the auditor who did
the audit being followed up is passed over while anyone else is eligible, and the deadline is
the caller's (no later than the re-audit's latest day). One auditor, even when the council
audits in pairs. Its messages are any allocation's (``notify_allocation``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.services.allocation.plan import _auditors, _case_facts, _loads, _on_break, _ranks, rule_settings
from bot.services.allocation.rules import Load, choice_reason, static_exclusion
from bot.services.allocation.service import lock_month
from bot.services.notices import notify_allocation
from bot.settings import Settings
from store.audit import record
from store.models import Allocation, AllocationState, AuditType, Case, Person
from store.outbox import enqueue
from store.queries import qa_coordinators


def choose_reauditor(
    session: Session, settings: Settings, case_id: int, month: dt.date, *, previous: set[int]
) -> tuple[int, str] | None:
    """The re-audit's auditor and why (the rules, not the cap), or None when nobody may audit the case."""
    case = _case_facts(session, Case.id == case_id)[0]
    rules = rule_settings(settings)
    on_break = _on_break(session, month)
    eligible = [a for a in _auditors(session) if static_exclusion(case, a, rules, on_break=a.person_id in on_break) is None]
    if not eligible:
        return None
    others = [a for a in eligible if a.person_id not in previous] or eligible
    loads = _loads(session, month)
    rank = _ranks(f"{month:%Y%m}:reaudit:{case_id}", [a.person_id for a in others])
    best = min(others, key=lambda a: (loads.month[a.person_id], loads.year[a.person_id], rank[a.person_id]))
    reason = choice_reason(case, rules, [Load(best.name, loads.month[best.person_id], loads.year[best.person_id])])
    return best.person_id, reason


def allocate_reaudit(
    session: Session, settings: Settings, *, case_id: int, month: dt.date, due_date: dt.date, previous: set[int],
    cycle_id: int, now: dt.datetime,
) -> Allocation | None:
    """Allocate the case's re-audit in ``month`` (locked; refused if paused) and queue its messages.

    A case already allocated that month takes the re-audit on (its deadline brought forward to
    ``due_date`` if later); None when nobody may audit the case (tried again on the next tick).
    """
    row = lock_month(session, month)
    existing = session.scalar(select(Allocation).where(Allocation.month_id == row.id, Allocation.case_id == case_id))
    if existing is not None:
        if existing.state in (AllocationState.CANCELLED, AllocationState.EXEMPTED):
            return None
        existing.cycle_id = cycle_id
        existing.due_date = min(existing.due_date, due_date)
        record(session, now=now, action="allocation.reaudit", outcome="adopted", actor_ref="scheduler",
               subject_type="allocation", subject_id=existing.id, detail={"cycle": cycle_id})
        return existing
    chosen = choose_reauditor(session, settings, case_id, month, previous=previous)
    if chosen is None:  # the QA team is told once a month (and it is logged then), and it is tried again each tick
        case = session.get_one(Case, case_id)
        context = {"reference": case.reference, "team": case.team.name, "month": month.isoformat(),
                   "due_date": due_date.isoformat()}
        told = [enqueue(session, key=f"reaudit:{cycle_id}:{month.isoformat()}:no_auditor:{qa.id}",
                        template=Template.REAUDIT_NO_AUDITOR, context=context, now=now, recipient_id=qa.id)
                for qa in qa_coordinators(session)]
        if any(told):
            record(session, now=now, action="allocation.reaudit", outcome="no_auditor", actor_ref="scheduler",
                   subject_type="case", subject_id=case_id, detail={"cycle": cycle_id, "month": month.isoformat()})
        return None
    auditor_id, reason = chosen
    allocation = Allocation(
        month=row, month_start=month, case=session.get_one(Case, case_id), auditor=session.get_one(Person, auditor_id),
        audit_type=AuditType.RE_AUDIT, due_date=due_date, state=AllocationState.ALLOCATED, reason=reason, created_at=now,
        cycle_id=cycle_id,
    )
    session.add(allocation)
    session.flush()
    record(session, now=now, action="allocation.reaudit", actor_ref="scheduler", subject_type="allocation",
           subject_id=allocation.id, detail={"cycle": cycle_id, "month": month.isoformat(), "due": due_date.isoformat()})
    notify_allocation(session, allocation, now=now)
    return allocation
