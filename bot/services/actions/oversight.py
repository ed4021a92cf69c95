"""Management oversight of a finalised audit (Hull App. D, 24; lifecycle "oversight").

When an audit is final the team manager is sent "Oversight due <finalised + 10 working days>"
with **Oversight recorded** and **Discussed in supervision**; each sets its column once and every
copy is edited in place to show what is done. A reminder goes two working days before the due
day; after it, an overdue notice a week (the team manager, their own manager copied) until
oversight is recorded. The IRO gets a read-only summary of the actions (Hull 4.3.4).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.actions.common import LIVE, action_context, close_waiting, manager_of, maybe_close, team_manager_of
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.planning import Counter
from bot.services.replies.lifecycle import lock_record
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Notification, Person, Priority
from store.outbox import enqueue, person_ref
from store.records import ActionStatus, AuditRecord

#: What the team manager confirms: oversight recorded, or the findings discussed in supervision.
OVERSIGHT, SUPERVISION = "oversight", "supervision"


def oversight_context(
    session: Session, record: AuditRecord, settings: Settings, tz: Any, *, stage: str, role: str = "team_manager"
) -> dict[str, Any]:
    """The oversight message: the audit, when it is due, and what is done (by whom, when)."""
    case = record.allocation.case
    assert record.finalised_at is not None and record.oversight_due is not None
    return {
        "record_id": record.id, "stage": stage, "role": role, "reference": case.reference, "team": case.team.name,
        "team_manager": person_ref(case.team_manager), "finalised_on": record.finalised_at.astimezone(tz).date().isoformat(),
        "due": record.oversight_due.isoformat(), "days": settings.oversight_working_days, **done_context(session, record),
        "actions": len([a for a in record.actions if a.status != ActionStatus.WITHDRAWN]),
    }


def done_context(session: Session, record: AuditRecord) -> dict[str, Any]:
    """What the team manager has confirmed so far, by whom and when."""

    def done(at: dt.datetime | None, by_id: int | None) -> dict[str, Any] | None:
        by = session.get(Person, by_id) if by_id is not None else None
        return {"at": at.isoformat(), "by": person_ref(by)} if at is not None else None

    return {"oversight": done(record.oversight_recorded_at, record.oversight_recorded_by_id),
            "supervision": done(record.supervision_at, record.supervision_by_id)}


def plan_oversight(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> dict[Counter, int]:
    """Start oversight for newly final audits (and the IRO's summary), remind, chase overdue, close what may close."""
    today = calendar.local_date(now)
    sent: dict[Counter, int] = {"reminders": 0, "overdue": 0}

    def send(record: AuditRecord, key: str, stage: str, to: Person, *, copied: bool = False) -> bool:
        role = "copy" if copied else "team_manager"
        context = oversight_context(session, record, settings, calendar.tz, stage=stage, role=role)
        if copied:
            context["copied"] = person_ref(to)
        return enqueue(session, key=f"oversight:{record.id}:{key}", template=Template.OVERSIGHT, context=context, now=now,
                       recipient_id=to.id, priority=Priority.NORMAL)

    starting = select(AuditRecord.id).where(AuditRecord.state.in_(LIVE), AuditRecord.finalised_at.is_not(None),
                                            AuditRecord.oversight_due.is_(None))
    for record_id in list(session.scalars(starting.order_by(AuditRecord.id))):
        record = lock_record(session, record_id)
        if record is None or record.oversight_due is not None:
            continue
        assert record.finalised_at is not None
        finalised_on = calendar.local_date(record.finalised_at)
        record.oversight_due = calendar.add_working_days(finalised_on, settings.oversight_working_days)
        audit_log(session, now=now, action="oversight.due", actor_ref="scheduler", subject_type="audit_record",
                  subject_id=record.id, detail={"due": record.oversight_due.isoformat()})
        tm = team_manager_of(record)
        if tm is not None:
            sent["reminders"] += send(record, f"due:{tm.id}", "due", tm)
        sent["reminders"] += _iro_summary(session, record, calendar, now=now)
    waiting = session.scalars(
        select(AuditRecord)
        .where(AuditRecord.state.in_(LIVE), AuditRecord.closed_at.is_(None), AuditRecord.oversight_recorded_at.is_(None),
               AuditRecord.oversight_due.is_not(None))
        .order_by(AuditRecord.id)
    ).all()
    for record in waiting:
        due = record.oversight_due
        tm = team_manager_of(record)
        if tm is None or due is None:
            continue
        if calendar.add_working_days(due, -settings.oversight_reminder_working_days) <= today <= due:
            sent["reminders"] += send(record, f"remind:{tm.id}", "reminder", tm)
        elif today >= calendar.add_working_days(due, 1):
            week = _week(due, today, settings.overdue_repeat_days, calendar)
            sent["overdue"] += send(record, f"overdue:{week}:{tm.id}", "overdue", tm)
            boss = manager_of(tm)
            if boss is not None:
                sent["overdue"] += send(record, f"overdue:{week}:copy:{boss.id}", "overdue", boss, copied=True)
    close_waiting(session, calendar, now=now)
    return sent


def _week(due: dt.date, today: dt.date, every: int, calendar: WorkingCalendar) -> int:
    """Which overdue notice is due by ``today``: the first on the working day after ``due``, then one
    ``every`` days after it (on the next working day when that is not one)."""
    first = calendar.add_working_days(due, 1)
    week = (today - first).days // every
    if week > 0 and calendar.next_working_day(first + dt.timedelta(days=week * every)) > today:
        week -= 1
    return week


def _iro_summary(session: Session, record: AuditRecord, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """The IRO's read-only summary of the actions (Hull 4.3.4), when there are any."""
    iro = record.allocation.case.iro
    actions = [a for a in record.actions if a.status != ActionStatus.WITHDRAWN]
    if iro is None or not iro.active or not actions:
        return 0
    case = record.allocation.case
    context = {"record_id": record.id, "reference": case.reference, "team": case.team.name,
               "team_manager": person_ref(case.team_manager), "actions": [action_context(a) for a in actions]}
    return int(enqueue(session, key=f"actions:summary:{record.id}:{iro.id}", template=Template.ACTIONS_SUMMARY,
                       context=context, now=now, recipient_id=iro.id))


@dataclass
class OversightOutcome:
    """Refused; done already (``late``: what to tell); or done now."""

    decision: Decision
    late: dict[str, Any] | None = None
    done: dict[str, Any] | None = None


def confirm(
    session: Session, record_id: int, person: Person | None, what: str, calendar: WorkingCalendar, *, now: dt.datetime,
    actor_ref: str,
) -> OversightOutcome:
    """The team manager confirms oversight or the supervision discussion: once (a second click changes nothing)."""
    record = lock_record(session, record_id)
    tm = team_manager_of(record) if record is not None else None
    if record is None:
        return OversightOutcome(refuse(session, person, Permission.MANAGE_AUDIT_ACTIONS, RefusalCode.NO_SUCH_AUDIT, now=now,
                                       actor_ref=actor_ref, subject_type="audit_record", subject_id=record_id,
                                       told=RefusalCode.NOT_THE_TEAM_MANAGER))
    decision = check(session, person, Permission.MANAGE_AUDIT_ACTIONS, now=now, actor_ref=actor_ref, subject_type="audit_record",
                     subject_id=record_id, deciders={tm.id} if tm else set())
    if not decision.allowed:
        return OversightOutcome(decision)
    assert person is not None
    at_column, by_column = (("oversight_recorded_at", "oversight_recorded_by_id") if what == OVERSIGHT
                            else ("supervision_at", "supervision_by_id"))
    reference = record.allocation.case.reference
    if getattr(record, at_column) is not None:
        by = session.get(Person, getattr(record, by_column))
        return OversightOutcome(decision, late={"what": what, "late": True, "reference": reference, "by": person_ref(by),
                                                "at": getattr(record, at_column).isoformat()})
    setattr(record, at_column, now)
    setattr(record, by_column, person.id)
    audit_log(session, now=now, action=f"oversight.{what}", actor=person, actor_ref=actor_ref, subject_type="audit_record",
              subject_id=record.id)
    _edit(session, record, now=now, suffix=what)
    closed = maybe_close(session, record, calendar, now=now)
    return OversightOutcome(decision, done={"what": what, "late": False, "reference": reference, "closed": closed,
                                            "at": now.isoformat(), "by": person_ref(person)})


def _edit(session: Session, record: AuditRecord, *, now: dt.datetime, suffix: str) -> int:
    """Edit every oversight message of the record in place: each keeps its stage, shows what is done."""
    sent = session.scalars(
        select(Notification).where(Notification.idempotency_key.startswith(f"oversight:{record.id}:", autoescape=True),
                                   Notification.template == Template.OVERSIGHT.value, Notification.replaces_key.is_(None))
    ).all()
    return sum(
        enqueue(session, key=f"{row.idempotency_key}:{suffix}", template=Template.OVERSIGHT,
                context={**row.context, **done_context(session, record)}, now=now, recipient_id=row.recipient_id,
                replaces_key=row.idempotency_key)
        for row in sent
    )
