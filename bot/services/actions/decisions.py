"""An action's buttons: the owner's **Done…** (a note) and **Ask for more time…** (a later date and
a reason); the team manager's **Sign off** / **Not yet…** (a reason) and **Agree** / **Decline**.

Each is one decision under the record's row lock: a second click (or a modal submitted after the
action moved on) changes nothing and is told what was done, by whom and when. The owner hears
of the team manager's decisions, and the team manager of done actions and requests, in their
next daily digest (``digest``), never one message per click.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock
from bot.services.actions.common import action_context, is_live, maybe_close, team_manager_of
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.replies.lifecycle import lock_record
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Person
from store.outbox import person_ref
from store.records import ActionStatus, AuditAction

#: The longest note or reason (the modal enforces the same ``max_length``).
MAX_TEXT = 500
PENDING, APPROVED, DECLINED = "pending", "approved", "declined"


class Op(StrEnum):
    """What a button (or its modal) does to an action."""

    DONE = "done"
    MORE_TIME = "more_time"
    SIGN_OFF = "sign_off"
    NOT_YET = "not_yet"
    AGREE = "agree"
    DECLINE = "decline"


#: The owner's; the rest are the team manager's.
OWNER_OPS = frozenset({Op.DONE, Op.MORE_TIME})
#: Those that need a modal first.
WITH_FORM = frozenset({Op.DONE, Op.MORE_TIME, Op.NOT_YET})


@dataclass
class ActionOutcome:
    """Refused; moved on already (``late``); field errors; or done (``done``: what to confirm)."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    late: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    action: AuditAction | None = None


def _late(action: AuditAction, op: Op, session: Session) -> dict[str, Any] | None:
    """Why ``op`` can no longer be done to the action (what happened, by whom, when), or None."""
    base = {"what": "late", "op": op.value, "action": action_context(action), "submitted": False, "by": None, "at": None}
    if action.status == ActionStatus.WITHDRAWN:
        return {**base, "state": "withdrawn"}
    if action.status == ActionStatus.SIGNED_OFF:
        return {**base, "state": "signed_off", "by": person_ref(session.get(Person, action.signed_off_by_id)),
                "at": action.signed_off_at.isoformat() if action.signed_off_at else None}
    if not is_live(action.record):
        return {**base, "state": "closed" if action.record.closed_at else "not_final"}
    if op in (Op.DONE, Op.MORE_TIME) and action.status == ActionStatus.DONE:
        return {**base, "state": "done", "by": person_ref(session.get(Person, action.done_by_id)),
                "at": action.done_at.isoformat() if action.done_at else None}
    if op == Op.MORE_TIME and action.extension_state == PENDING:
        return {**base, "state": "asked"}
    if op in (Op.SIGN_OFF, Op.NOT_YET) and action.status == ActionStatus.OPEN:
        return {**base, "state": "open", "at": action.not_yet_at.isoformat() if action.not_yet_at else None}
    if op in (Op.AGREE, Op.DECLINE) and action.extension_state != PENDING:
        return {**base, "state": action.extension_state or "none",
                "by": person_ref(session.get(Person, action.extension_decided_by_id)),
                "at": action.extension_decided_at.isoformat() if action.extension_decided_at else None}
    return None


def may_act(
    session: Session, action_id: int, person: Person | None, op: Op, *, now: dt.datetime, actor_ref: str, lock: bool = False
) -> ActionOutcome:
    """Whether ``person`` may do ``op`` to the action (a refusal is logged), or it moved on already."""
    permission = Permission.ACT_ON_ACTION if op in OWNER_OPS else Permission.MANAGE_AUDIT_ACTIONS
    told = RefusalCode.NOT_YOUR_ACTION if op in OWNER_OPS else RefusalCode.NOT_THE_TEAM_MANAGER
    record_id = session.scalar(select(AuditAction.record_id).where(AuditAction.id == action_id))
    if record_id is None:
        return ActionOutcome(refuse(session, person, permission, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                                    subject_type="audit_action", subject_id=action_id, told=told))
    record = lock_record(session, record_id) if lock else None
    action = session.get_one(AuditAction, action_id, populate_existing=lock)
    record = record or action.record
    tm = team_manager_of(record)
    deciders = {action.owner_id} if op in OWNER_OPS else ({tm.id} if tm is not None else set())
    decision = check(session, person, permission, now=now, actor_ref=actor_ref, subject_type="audit_action",
                     subject_id=action_id, deciders=deciders)
    if not decision.allowed:
        return ActionOutcome(decision)
    return ActionOutcome(decision, late=_late(action, op, session), action=action)


def act(
    session: Session, action_id: int, person: Person | None, op: Op, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, actor_ref: str, text: str = "", new_date: dt.date | None = None,
) -> ActionOutcome:
    """Do ``op`` once (with the modal's ``text`` and ``new_date``); the record closes when it may."""
    outcome = may_act(session, action_id, person, op, now=now, actor_ref=actor_ref, lock=True)
    if outcome.late is not None:
        outcome.late["submitted"] = op in WITH_FORM
    if not outcome.decision.allowed or outcome.late is not None:
        return outcome
    action = outcome.action
    assert action is not None and person is not None
    today = calendar.local_date(now)
    text = text.strip()
    if op in WITH_FORM:
        outcome.errors = _check_form(session, op, text, new_date, action, settings, today)
        if outcome.errors:
            return outcome
    match op:
        case Op.DONE:
            action.status, action.done_at, action.done_by_id, action.done_note = ActionStatus.DONE, now, person.id, text
        case Op.MORE_TIME:
            action.requested_due, action.extension_reason, action.extension_state = new_date, text, PENDING
            action.extension_decided_at = action.extension_decided_by_id = None
        case Op.SIGN_OFF:
            action.status, action.signed_off_at, action.signed_off_by_id = ActionStatus.SIGNED_OFF, now, person.id
        case Op.NOT_YET:
            action.status, action.not_yet_reason, action.not_yet_at = ActionStatus.OPEN, text, now
        case Op.AGREE | Op.DECLINE:
            action.extension_state = APPROVED if op == Op.AGREE else DECLINED
            action.extension_decided_at, action.extension_decided_by_id = now, person.id
            if op == Op.AGREE and action.requested_due is not None:
                action.due_date = action.requested_due
    session.flush()
    audit_log(session, now=now, action=f"action.{op.value}", actor=person, actor_ref=actor_ref, subject_type="audit_action",
              subject_id=action.id, detail={"due": action.due_date.isoformat()})
    closed = maybe_close(session, action.record, calendar, now=now) if op == Op.SIGN_OFF else False
    outcome.done = {"what": "done", "op": op.value, "action": action_context(action), "closed": closed}
    return outcome


def _check_form(
    session: Session, op: Op, text: str, new_date: dt.date | None, action: AuditAction, settings: Settings, today: dt.date
) -> dict[str, str]:
    """Field errors of a Done…, Not yet… or Ask for more time… modal."""
    errors: dict[str, str] = {}
    block = FormBlock.NOTE if op == Op.DONE else FormBlock.REASON
    if op == Op.MORE_TIME and (new_date is None or new_date <= action.due_date):
        errors[FormBlock.NEW_DATE] = f"Choose a date after the current due date ({action.due_date:%d %B %Y})."
    if not text:
        errors[block] = "Say what was done, in a line." if op == Op.DONE else "Say why, in a line."
    elif len(text) > MAX_TEXT:
        errors[block] = f"Keep this to {MAX_TEXT} characters (it has {len(text)})."
    elif (problem := check_text(session, text, today=today, level=settings.privacy_guardrail)) is not None:
        errors[block] = problem
    return errors
