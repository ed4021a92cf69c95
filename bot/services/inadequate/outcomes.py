"""Did the actions work? A re-audit's record form shows the actions of the audit it follows up
(text, owner, due date, status and any earlier judgement) and asks its auditor, for each,
whether it fixed what it was for: fixed, partly or not fixed. The answers are stored on those
actions when the re-audit is submitted (``outcome``, ``outcome_record_id``, ``outcome_at``).

Only a re-audit (an allocation with a follow-up cycle) asks; every other audit's form is as it
was. The fields sit in the form's last step, one radio-button input an action (at most
``MAX_SHOWN``, the oldest first, so the modal keeps within Slack's 100 blocks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.audit import record as audit_log
from store.followup import InadequateCycle
from store.models import Allocation
from store.outbox import person_ref
from store.records import ActionStatus, AuditAction, AuditRecord

#: The most previous actions the form asks about.
MAX_SHOWN = 20


class ActionOutcome(StrEnum):
    """The re-audit's auditor's judgement of one action."""

    FIXED = "fixed"
    PARTLY = "partly"
    NOT_FIXED = "not_fixed"


def outcome_field(action_id: int) -> str:
    """The block id of an action's question in the form."""
    return f"outcome:{action_id}"


def previous_actions(session: Session, allocation: Allocation) -> list[AuditAction]:
    """The actions of the audit a re-audit follows up (none for any other audit)."""
    if allocation.cycle_id is None:
        return []
    record_id = session.scalar(select(InadequateCycle.record_id).where(InadequateCycle.id == allocation.cycle_id))
    if record_id is None:
        return []
    return list(session.scalars(
        select(AuditAction)
        .where(AuditAction.record_id == record_id, AuditAction.status != ActionStatus.WITHDRAWN)
        .order_by(AuditAction.id)
        .limit(MAX_SHOWN)
    ))


def previous_context(actions: list[AuditAction]) -> list[dict[str, Any]]:
    """What the form shows of each previous action."""
    return [
        {"id": a.id, "text": a.text, "owner": person_ref(a.owner), "due_date": a.due_date.isoformat(), "status": a.status.value,
         "outcome": a.outcome}
        for a in actions
    ]


def check_outcomes(values: Mapping[str, Any], actions: list[AuditAction]) -> tuple[dict[str, str], dict[int, ActionOutcome]]:
    """Field errors (an action not judged), and each action's judgement."""
    errors: dict[str, str] = {}
    chosen: dict[int, ActionOutcome] = {}
    allowed = {o.value for o in ActionOutcome}
    for action in actions:
        value = values.get(outcome_field(action.id))
        if isinstance(value, str) and value in allowed:
            chosen[action.id] = ActionOutcome(value)
        else:
            errors[outcome_field(action.id)] = "Say whether this action fixed what it was for."
    return errors, chosen


def store_outcomes(
    session: Session, record: AuditRecord, chosen: dict[int, ActionOutcome], actions: list[AuditAction], *, now: dt.datetime
) -> None:
    """Store the re-audit's judgement on each previous action."""
    for action in actions:
        if action.id in chosen:
            action.outcome, action.outcome_record_id, action.outcome_at = chosen[action.id].value, record.id, now
    audit_log(session, now=now, action="audit.action_outcomes", actor_ref="", subject_type="audit_record", subject_id=record.id,
              detail={"outcomes": {str(k): v.value for k, v in chosen.items()}})
