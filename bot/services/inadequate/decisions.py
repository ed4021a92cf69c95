"""Recording a follow-up step: **Meeting held** (the group manager), **Review held** (the group
manager or team manager), **Head of Service meeting held** (the Head of Service).

One decision under the cycle's row lock: the first click records it and every follow-up message
of the cycle is edited in place to say so; a second click (a double click, the other manager)
changes nothing and is told who recorded it and when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.inadequate.cycles import cycle_context
from store.audit import record as audit_log
from store.followup import CycleState, InadequateCycle
from store.models import Notification, Person
from store.outbox import enqueue, person_ref
from store.records import AuditRecord


class Step(StrEnum):
    """What is recorded."""

    MEETING = "meeting"
    REVIEW = "review"
    HEAD_OF_SERVICE = "hos_meeting"


@dataclass
class StepOutcome:
    """Refused; recorded already (``late``: what to tell); or recorded."""

    decision: Decision
    late: dict[str, Any] | None = None


def _deciders(cycle: InadequateCycle, team_manager_id: int | None, step: Step) -> set[int]:
    if step == Step.HEAD_OF_SERVICE:
        ids = {cycle.head_of_service_id}
    elif step == Step.REVIEW:
        ids = {cycle.group_manager_id, team_manager_id}
    else:  # the group manager's; the team manager's when no group manager was found
        ids = {cycle.group_manager_id or team_manager_id}
    return {i for i in ids if i is not None}


def _recorded(cycle: InadequateCycle, step: Step) -> tuple[dt.datetime | None, int | None]:
    if step == Step.MEETING:
        return cycle.meeting_held_at, cycle.meeting_held_by_id
    if step == Step.REVIEW:
        return cycle.review_held_at, cycle.review_held_by_id
    return cycle.head_of_service_meeting_at, cycle.head_of_service_id


def record_step(
    session: Session, cycle_id: int, person: Person | None, step: Step, *, calendar: WorkingCalendar, now: dt.datetime,
    actor_ref: str,
) -> StepOutcome:
    """Record ``step`` of the cycle once, by ``person`` (refused, and logged, unless it is theirs)."""
    query = select(InadequateCycle).where(InadequateCycle.id == cycle_id)
    cycle = session.scalar(query.with_for_update().execution_options(populate_existing=True))
    permission = Permission.RECORD_FOLLOW_UP
    if cycle is None:
        return StepOutcome(refuse(session, person, permission, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                                  subject_type="inadequate_cycle", subject_id=cycle_id, told=RefusalCode.NOT_IN_FOLLOW_UP))
    case = session.get_one(AuditRecord, cycle.record_id).allocation.case
    decision = check(session, person, permission, now=now, actor_ref=actor_ref, subject_type="inadequate_cycle",
                     subject_id=cycle.id, deciders=_deciders(cycle, case.team_manager_id, step))
    if not decision.allowed:
        return StepOutcome(decision)
    assert person is not None
    at, by_id = _recorded(cycle, step)
    if at is not None:
        by = session.get(Person, by_id) if by_id else None
        return StepOutcome(decision, late={"what": f"inadequate_{step.value}", "reference": case.reference,
                                           "by": person_ref(by), "at": at.isoformat()})
    if step == Step.MEETING:
        cycle.meeting_held_at, cycle.meeting_held_by_id = now, person.id
        if cycle.state == CycleState.MEETING_DUE:
            cycle.state = CycleState.REVIEW_DUE
    elif step == Step.REVIEW:
        cycle.review_held_at, cycle.review_held_by_id = now, person.id
        if cycle.state in (CycleState.MEETING_DUE, CycleState.REVIEW_DUE):
            cycle.state = CycleState.REAUDIT_DUE
    else:
        cycle.head_of_service_meeting_at = now
    session.flush()
    audit_log(session, now=now, action=f"inadequate.{step.value}_held", actor=person, actor_ref=actor_ref,
              subject_type="inadequate_cycle", subject_id=cycle.id)
    edit_messages(session, cycle, calendar, suffix=step.value, now=now)
    return StepOutcome(decision)


def edit_messages(session: Session, cycle: InadequateCycle, calendar: WorkingCalendar, *, suffix: str, now: dt.datetime) -> int:
    """Edit every follow-up message of the cycle in place with what is recorded now."""
    facts = cycle_context(session, cycle, calendar)
    sent = session.scalars(
        select(Notification).where(
            Notification.idempotency_key.startswith(f"inadequate:{cycle.id}:", autoescape=True),
            Notification.template == Template.INADEQUATE_FOLLOW_UP.value,
            Notification.replaces_key.is_(None),
        )
    ).all()
    return sum(
        enqueue(session, key=f"{row.idempotency_key}:{suffix}", template=Template.INADEQUATE_FOLLOW_UP,
                context={**row.context, **facts}, now=now, recipient_id=row.recipient_id, replaces_key=row.idempotency_key)
        for row in sent
    )
