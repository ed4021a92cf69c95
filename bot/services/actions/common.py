"""What the oversight, the actions and their digests share: which audits are live, who manages
them, and how an action appears in a message."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from store.audit import record as audit_log
from store.models import Person, Priority
from store.outbox import enqueue, person_ref
from store.records import ActionStatus, AuditAction, AuditRecord, RecordState

#: Audits whose actions are live: final (whatever the QA check makes of them) and not yet closed.
LIVE = (RecordState.FINALISED, RecordState.RETURNED, RecordState.ACCEPTED)


def is_live(record: AuditRecord) -> bool:
    """Final, and not closed."""
    return record.state in LIVE and record.finalised_at is not None and record.closed_at is None


def team_manager_of(record: AuditRecord) -> Person | None:
    """The case's team manager, when active."""
    tm = record.allocation.case.team_manager
    return tm if tm is not None and tm.active else None


def manager_of(person: Person | None) -> Person | None:
    """Someone's own line manager (a team manager's is the service or group manager), when active."""
    boss = person.line_manager if person is not None else None
    return boss if boss is not None and boss.active else None


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def action_context(action: AuditAction) -> dict[str, Any]:
    """An action as a message shows it: what, whose, by when, and where it is."""
    return {
        "id": action.id, "text": action.text, "reference": action.record.allocation.case.reference,
        "owner": person_ref(action.owner), "due_date": action.due_date.isoformat(), "status": action.status.value,
        "done_note": action.done_note, "done_at": _iso(action.done_at), "not_yet_reason": action.not_yet_reason,
        "requested_due": _iso(action.requested_due), "extension_reason": action.extension_reason,
        "extension_state": action.extension_state,
    }


def counts(record: AuditRecord) -> dict[str, int]:
    """How many of the record's actions are open, done (waiting for sign-off) and signed off."""
    live = [a for a in record.actions if a.status != ActionStatus.WITHDRAWN]
    return {s: sum(1 for a in live if a.status == ActionStatus(s)) for s in ("open", "done", "signed_off")}


def maybe_close(session: Session, record: AuditRecord, calendar: WorkingCalendar, *, now: dt.datetime) -> bool:
    """Close the audit once oversight is recorded and every action (but withdrawn ones) is signed
    off (Hull 23); the auditor, team manager and worker are told. True when it was closed now."""
    if record.closed_at is not None or record.state not in LIVE or record.oversight_recorded_at is None:
        return False
    if any(a.status not in (ActionStatus.SIGNED_OFF, ActionStatus.WITHDRAWN) for a in record.actions):
        return False
    record.closed_at = now
    audit_log(session, now=now, action="audit.closed", subject_type="audit_record", subject_id=record.id)
    allocation = record.allocation
    context = {"record_id": record.id, "reference": allocation.case.reference, "team": allocation.case.team.name,
               "finalised_at": _iso(record.finalised_at), "oversight_at": _iso(record.oversight_recorded_at),
               "closed_at": now.isoformat(), "counts": counts(record)}
    told = [allocation.auditor, allocation.case.team_manager, allocation.case.allocated_worker]
    for person in {p.id: p for p in told if p is not None and p.active}.values():
        enqueue(session, key=f"record:{record.id}:closed:{person.id}", template=Template.AUDIT_CLOSED, context=context,
                now=now, recipient_id=person.id, priority=Priority.NORMAL,
                not_before=calendar.next_working_moment(now))
    return True


def close_waiting(session: Session, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Close every live audit that may be closed (one an amendment held back, say). How many."""
    waiting = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.state.in_(LIVE), AuditRecord.closed_at.is_(None), AuditRecord.oversight_recorded_at.is_not(None))
        .order_by(AuditRecord.id)
    ).all()
    return sum(maybe_close(session, r, calendar, now=now) for r in waiting)
