"""Marking an audit complete without a record (``/audit complete``; buttons sent before audits were
recorded in chat), and the step every completion shares."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.exemptions.decisions import withdraw_pending
from bot.services.notices import allocation_context
from store.audit import record
from store.models import Allocation, AllocationState, Person
from store.outbox import person_ref
from store.queries import latest_allocation_id, load_allocation_to_complete


@dataclass(frozen=True)
class Completion:
    """The outcome: refused (with a code), newly completed, or already complete."""

    decision: Decision
    already: bool = False
    context: dict[str, object] | None = None
    #: The allocation, with the people ``context`` names: held so they stay in the session (the message's mentions).
    allocation: Allocation | None = None


def complete_allocation(
    session: Session, allocation_id: int, person: Person | None, *, now: dt.datetime, tz: ZoneInfo, actor_ref: str
) -> Completion:
    """Mark the allocation complete, once; a second click reports who already did it.

    A pending exemption or extension request is withdrawn and its approver's message edited to
    say so. The allocation is locked before its requests, as when a request is decided."""
    allocation = load_allocation_to_complete(session, allocation_id)
    if allocation is None:  # a forged or stale button: told, as before, that there is nothing to mark
        return Completion(refuse(
            session, person, Permission.COMPLETE_AUDIT, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
            subject_type="allocation", subject_id=allocation_id, told=RefusalCode.AUDIT_CLOSED,
        ))
    decision = check(
        session, person, Permission.COMPLETE_AUDIT, now=now, actor_ref=actor_ref,
        subject_type="allocation", subject_id=allocation.id, allocation=allocation,
    )
    if not decision.allowed:
        return Completion(decision)
    assert person is not None
    already = allocation.state == AllocationState.COMPLETED
    if allocation.state not in (AllocationState.ALLOCATED, AllocationState.COMPLETED):
        return Completion(refuse(
            session, person, Permission.COMPLETE_AUDIT, RefusalCode.AUDIT_CLOSED, now=now, actor_ref=actor_ref,
            subject_type="allocation", subject_id=allocation.id,
        ))
    if not already:
        mark_completed(session, allocation, person, now=now, actor_ref=actor_ref)
    completer = session.get(Person, allocation.completed_by_id) if allocation.completed_by_id else person
    context = allocation_context(allocation, co_auditor=None, reallocated=False)
    completed_on = (allocation.completed_at or now).astimezone(tz).date()
    context.update(
        completed_by=person_ref(completer),
        completed_on=completed_on.isoformat(),
        days_late=max(0, (completed_on - allocation.due_date).days),
        already=already,
    )
    return Completion(decision, already=already, context=context, allocation=allocation)


def mark_completed(
    session: Session, allocation: Allocation, by: Person | None, *, now: dt.datetime, actor_ref: str,
    at: dt.datetime | None = None,
) -> None:
    """The audit is done (on time or late by ``at``, default ``now``): the chasers stop, and a
    request about it no longer needs a decision. ``allocation`` is locked by the caller."""
    allocation.state = AllocationState.COMPLETED
    allocation.completed_at = at or now
    allocation.completed_by_id = by.id if by is not None else None
    record(
        session, now=now, action="allocation.complete", actor=by, actor_ref=actor_ref,
        subject_type="allocation", subject_id=allocation.id,
        detail={"case": allocation.case.reference, "due_date": allocation.due_date.isoformat()},
    )
    withdraw_pending(session, allocation, now=now, actor=by, actor_ref=actor_ref)


def complete_by_reference(
    session: Session, reference: str, person: Person | None, *, now: dt.datetime, tz: ZoneInfo, actor_ref: str
) -> Completion:
    """``/audit complete CASE-REF``: complete the case's newest open or completed audit.

    No such audit (or no reference at all) is refused and logged like any other refusal; the
    typed reference is not stored (it may be anything someone typed)."""
    allocation_id = latest_allocation_id(session, reference) if reference.strip() else None
    if allocation_id is None:
        return Completion(refuse(
            session, person, Permission.COMPLETE_AUDIT, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
            subject_type="case",
        ))
    return complete_allocation(session, allocation_id, person, now=now, tz=tz, actor_ref=actor_ref)
