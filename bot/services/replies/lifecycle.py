"""The steps every part of the review shares (shared/lifecycle.md): changing a grade (appended to
the history, never overwritten), settling a challenge, and finalising the audit once the window
has closed and nothing is left open. Services call these inside their own unit of work, with the
record locked (``lock_record``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.audits.findings import record_context
from bot.services.audits.schemes import Scheme, scheme_of
from bot.services.replies.window import window_over
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Person, Priority
from store.outbox import enqueue, person_ref
from store.records import (
    ActionStatus,
    AuditChallenge,
    AuditGradeEvent,
    AuditRecord,
    ChallengeState,
    GradeStage,
    RecordState,
)

#: What a challenge can be about.
OVERALL, SECTION, ACTION = "overall", "section", "action"
#: Challenges still waiting for someone: the audit cannot be finalised while one is.
OPEN_CHALLENGES = (ChallengeState.WITH_AUDITOR, ChallengeState.ANSWERED, ChallengeState.MODERATION,
                   ChallengeState.HEAD_OF_SERVICE)


def lock_record(session: Session, record_id: int) -> AuditRecord | None:
    """The record, row-locked for one decision (PostgreSQL; SQLite serialises writers anyway)."""
    return session.scalar(
        select(AuditRecord).where(AuditRecord.id == record_id).with_for_update().execution_options(populate_existing=True)
    )


def current_grade(record: AuditRecord, target: str, key: str | None) -> str | None:
    """The grade as it stands now: the newest in the history for the overall grade or a section."""
    wanted = key if target == SECTION else None
    events = [g for g in record.grades if g.section_key == wanted]
    if events:
        return events[-1].grade
    if target == OVERALL:
        return record.overall_grade
    return next((s.grade for s in record.sections if s.section_key == key), None)


def change_grade(
    session: Session, record: AuditRecord, target: str, key: str | None, grade: str, *, stage: GradeStage,
    by: Person | None, reason: str, now: dt.datetime,
) -> bool:
    """Append ``grade`` for the overall grade or a section to the history (and show it on the
    section's row). False when it is the grade already: nothing is appended."""
    if current_grade(record, target, key) == grade:
        return False
    section = key if target == SECTION else None
    record.grades.append(AuditGradeEvent(stage=stage, section_key=section, grade=grade, by_id=by.id if by else None,
                                         at=now, reason=reason))
    if section is not None:
        for row in record.sections:
            if row.section_key == section:
                row.grade = grade
    audit_log(session, now=now, action="audit.grade_changed", actor=by, subject_type="audit_record", subject_id=record.id,
              detail={"stage": stage.value, "target": target, "key": section, "grade": grade})
    return True


def withdraw_action(session: Session, record: AuditRecord, action_id: int, *, by: Person | None, now: dt.datetime) -> bool:
    """Take an action out after a challenge (it stays in the record, marked withdrawn)."""
    action = next((a for a in record.actions if a.id == action_id), None)
    if action is None or action.status == ActionStatus.WITHDRAWN:
        return False
    action.status = ActionStatus.WITHDRAWN
    audit_log(session, now=now, action="audit.action_withdrawn", actor=by, subject_type="audit_action", subject_id=action.id)
    return True


def settle(
    session: Session, challenge: AuditChallenge, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> bool:
    """The challenge is over; finalise the audit if its window has closed and nothing else is open.
    True when the audit was finalised."""
    challenge.state = ChallengeState.SETTLED
    challenge.settled_at = now
    session.flush()
    return maybe_finalise(session, challenge.record, settings, calendar, now=now)


def has_open_challenges(record: AuditRecord) -> bool:
    """True while a challenge waits for anyone."""
    return any(c.state in OPEN_CHALLENGES for c in record.challenges)


def maybe_finalise(
    session: Session, record: AuditRecord, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> bool:
    """Finalise when the reply window is over (closed, or everyone answered) and no challenge is open."""
    if record.state != RecordState.REPLY_WINDOW or has_open_challenges(record):
        return False
    if not window_over(record, calendar, now=now, working_days=settings.reply_window_working_days):
        return False
    finalise(session, record, settings, calendar, now=now)
    return True


def finalise(session: Session, record: AuditRecord, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> None:
    """The audit is final: its grades as they stand go to the auditor, team manager and worker.
    (The QA check and the month's sample moderation are planned from finalised audits.)"""
    scheme = scheme_of(record, settings)
    record.state = RecordState.FINALISED
    record.finalised_at = now
    audit_log(session, now=now, action="audit.finalised", subject_type="audit_record", subject_id=record.id,
              detail={"original": record.overall_grade, "final": record.overall_now()})
    context = {**record_context(record, scheme, calendar.tz), "original_overall": _label(scheme, record.overall_grade),
               "challenged": bool(record.challenges)}
    allocation = record.allocation
    told = [allocation.auditor, allocation.case.team_manager, allocation.case.allocated_worker]
    for person in {p.id: p for p in told if p is not None and p.active}.values():
        enqueue(session, key=f"record:{record.id}:finalised:{person.id}", template=Template.AUDIT_FINALISED,
                context={**context, "recipient": person_ref(person)}, now=now, recipient_id=person.id,
                priority=Priority.NORMAL, not_before=calendar.next_working_moment(now))


def _label(scheme: Scheme, value: str) -> str:
    return next((g.label for g in scheme.overall_scale if g.value == value), value)
