"""The findings of a recorded audit: to the worker, team manager and IRO, and a summary to the
auditor. Direct messages only: grades never go to a channel. Written to the outbox with the
record, so they go out once; sent in working hours (a record made late at night waits)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.audits.schemes import Scheme
from store.models import ExemptionRequest, Notification, Person, Priority
from store.outbox import enqueue, person_ref
from store.records import ActionStatus, AuditRecord, RecordSource

#: The messages that gave the auditor the "Record the audit" button.
AUDITOR_MESSAGES = (Template.ALLOCATION_AUDITOR, Template.REMINDER_AUDITOR, Template.OVERDUE_AUDITOR)


def scheme_context(scheme: Scheme) -> dict[str, Any]:
    """A scheme as the templates use it: its sections and scales, and what its rules ask for."""
    return {
        "id": scheme.id,
        "name": scheme.name,
        "sections": [{"key": s.key, "label": s.label} for s in scheme.sections],
        "section_scale": [{"value": g.value, "label": g.label} for g in scheme.section_scale],
        "overall_scale": [{"value": g.value, "label": g.label} for g in scheme.overall_scale],
        "elements_for": [g.label for g in scheme.overall_scale if g.value in scheme.elements_required_for],
        "good_practice_required": scheme.good_practice_required,
        "max_above": scheme.max_above_lowest_section,
    }


def _label(scale: tuple[Any, ...], value: str) -> str:
    return next((g.label for g in scale if g.value == value), value)


def record_context(record: AuditRecord, scheme: Scheme, tz: Any) -> dict[str, Any]:
    """What the findings and the summary show (labels from the scheme the record was graded on)."""
    allocation = record.allocation
    case = allocation.case
    submitted_on = record.submitted_at.astimezone(tz).date()
    labels = {s.key: s.label for s in scheme.sections}
    return {
        "record_id": record.id,
        "allocation_id": allocation.id,
        "case": {"reference": case.reference, "type": case.case_type.value, "team": case.team.name},
        "audit": {"type": allocation.audit_type.value, "theme": allocation.theme, "month": allocation.month_start.isoformat(),
                  "due_date": allocation.due_date.isoformat()},
        "auditor": person_ref(record.submitted_by or allocation.auditor),
        "source": record.source.value,
        "submitted_on": submitted_on.isoformat(),
        "days_late": max(0, (submitted_on - allocation.due_date).days),
        "scheme": scheme.name,
        "overall": _label(scheme.overall_scale, record.overall_now()),
        "sections": [{"label": labels.get(s.section_key, s.section_key), "grade": _label(scheme.section_scale, s.grade)}
                     for s in record.sections],
        "rationale": record.rationale,
        "strengths": record.strengths,
        "good_elements": record.good_elements,
        "rule_reason": record.rule_reason,
        "flags": list(record.flags or []),
        "actions": [{"id": a.id, "text": a.text, "owner": person_ref(a.owner), "due_date": a.due_date.isoformat()}
                    for a in record.actions if a.status != ActionStatus.WITHDRAWN],
        "no_actions_reason": record.no_actions_reason,
    }


def findings_recipients(record: AuditRecord) -> list[tuple[str, Person]]:
    """The worker, team manager and IRO (when known and active), each once, never an auditor of it."""
    allocation = record.allocation
    case = allocation.case
    auditors = {allocation.auditor_id, allocation.second_auditor_id}
    found: list[tuple[str, Person]] = []
    for role, person in (("worker", case.allocated_worker), ("team_manager", case.team_manager), ("iro", case.iro)):
        if person is not None and person.active and person.id not in auditors and all(p.id != person.id for _, p in found):
            found.append((role, person))
    return found


def settle_auditor_messages(session: Session, record: AuditRecord, context: dict[str, Any], *, now: dt.datetime) -> int:
    """Edit the auditors' allocation, reminder and overdue messages about this audit in place:
    recorded, by whom and when, and no buttons left to press."""
    allocation = record.allocation
    auditors = [i for i in (allocation.auditor_id, allocation.second_auditor_id) if i is not None]
    requests = select(ExemptionRequest.id).where(ExemptionRequest.allocation_id == allocation.id)
    prefixes = [f"alloc:{allocation.id}:auditor:", f"remind:{allocation.id}:", f"overdue:{allocation.id}:",
                *(f"realloc:{r}:auditor:" for r in session.scalars(requests))]
    rows = session.scalars(
        select(Notification).where(
            Notification.recipient_id.in_(auditors),
            Notification.template.in_([t.value for t in AUDITOR_MESSAGES]),
            or_(*(Notification.idempotency_key.startswith(p, autoescape=True) for p in prefixes)),
        )
    ).all()
    done = {**context, "completed_by": context["auditor"], "completed_on": context["submitted_on"], "already": False,
            "recorded": True}
    return sum(
        enqueue(session, key=f"{row.idempotency_key}:recorded", template=Template.AUDIT_COMPLETED, context=done, now=now,
                recipient_id=row.recipient_id, replaces_key=row.idempotency_key)
        for row in rows
    )


def notify_findings(session: Session, record: AuditRecord, scheme: Scheme, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Queue the findings for the worker, team manager and IRO, and the auditors' summary."""
    session.flush()
    session.refresh(record, ["allocation", "sections", "actions", "submitted_by"])
    context = record_context(record, scheme, calendar.tz)
    told = findings_recipients(record)
    when = calendar.next_working_moment(now)  # routine news does not interrupt out of hours
    written = 0
    closes = calendar.utc(record.reply_closes_on, calendar.working_hours[1]).isoformat() if record.reply_closes_on else None
    # the right to reply: Agree, Comment..., Challenge... until the window closes
    reply: dict[str, Any] = {"reply_open": closes is not None, "may_agree": closes is not None, "reply": None,
                             "closes_at": closes, "my_challenges": []}
    for role, person in told:
        written += enqueue(session, key=f"record:{record.id}:findings:{person.id}", template=Template.AUDIT_FINDINGS,
                           context={**context, **reply, "role": role}, now=now, recipient_id=person.id,
                           priority=Priority.NORMAL, not_before=when)
    allocation = record.allocation
    case = allocation.case
    summary = {**context, "told": [{"role": r, "person": person_ref(p)} for r, p in told],
               "missing": [r for r, p in (("worker", case.allocated_worker), ("team_manager", case.team_manager),
                                          ("iro", case.iro)) if p is None or not p.active]}
    for auditor in (allocation.auditor, allocation.second_auditor):
        if auditor is not None and auditor.active:
            # the auditor who just submitted is waiting for it; an imported record's summary is routine
            mine = record.source == RecordSource.CHAT and auditor.id == record.submitted_by_id
            written += enqueue(session, key=f"record:{record.id}:summary:{auditor.id}", template=Template.AUDIT_RECORDED,
                               context=summary, now=now, recipient_id=auditor.id, priority=Priority.NORMAL,
                               not_before=now if mine else when)
    return written + settle_auditor_messages(session, record, context, now=now)
