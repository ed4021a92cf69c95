"""Amending a returned audit through the record form (Hull 20).

**Amend the audit** opens the same three-step form as recording it (``bot.services.audits.record``),
in amend mode: on the scheme the record was graded on, filled in with the record as it stands
now (the grades as they stand after any change), kept as the auditor's draft between steps.
Submitting the last step changes the record instead of making one: each changed grade is
appended to the history (``GradeStage.AFTER_AMENDMENT``), the texts and findings replaced, the
actions kept, changed, withdrawn or added; the check is marked amended and the audit is final
again, so the next tick opens a new QA check. Only the audit's auditors amend, only while it is
returned; a second submission changes nothing and says who amended it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.audits.form import Field, RecordForm, Step, action_field, section_field
from bot.services.audits.record import FormOutcome, keep_draft, step_view, take_step
from bot.services.audits.schemes import Scheme, scheme_of
from bot.services.authz import Permission, RefusalCode, check, refuse
from bot.services.qa_check.checks import check_context, edit_in_place
from bot.services.replies.lifecycle import OVERALL, SECTION, change_grade, current_grade, lock_record, withdraw_action
from bot.settings import Settings
from store.audit import last_entry
from store.audit import record as audit_log
from store.models import Person
from store.outbox import person_ref
from store.records import (
    ActionStatus,
    AuditAction,
    AuditDraft,
    AuditQaCheck,
    AuditRecord,
    AuditSectionGrade,
    GradeStage,
    QaCheckState,
    RecordState,
)

#: The audit-log action of an amendment (its subject is the QA check that returned the audit).
AMENDED = "qa_check.amended"


def record_values(record: AuditRecord, scheme: Scheme) -> dict[str, Any]:
    """The record as it stands now, as the form's values (block id → value or list of values)."""
    family = dict(record.family_views or {})
    feedback = family.get("child_feedback")
    values: dict[str, Any] = {section_field(s.key): current_grade(record, SECTION, s.key) for s in scheme.sections}
    values |= {Field.OVERALL.value: current_grade(record, OVERALL, None), Field.RATIONALE.value: record.rationale,
               Field.GOOD_PRACTICE.value: record.strengths, Field.ELEMENTS.value: record.good_elements,
               Field.REASON.value: record.rule_reason, Field.FLAGS.value: list(record.flags or []),
               Field.SEEN.value: list(record.seen_roles or []), Field.FAMILY_SOUGHT.value: family.get("sought"),
               Field.FAMILY_BY.value: list(family.get("by_role") or []), Field.FAMILY_VIEW.value: family.get("view"),
               Field.CHILD_FEEDBACK.value: None if feedback is None else ("yes" if feedback else "no"),
               Field.NO_ACTIONS.value: record.no_actions_reason or ""}
    standing = [a for a in record.actions if a.status != ActionStatus.WITHDRAWN]
    for n, action in enumerate(standing, start=1):
        values |= {action_field(n, "what"): action.text, action_field(n, "owner"): str(action.owner_id),
                   action_field(n, "due"): action.due_date.isoformat()}
    return {k: v for k, v in values.items() if v not in (None, "", [])}


def _amended_by(session: Session, qa_check: AuditQaCheck, *, submitted: bool) -> dict[str, Any]:
    """What a late Amend or a second submission is told: who amended the audit, and when."""
    entry = last_entry(session, action=AMENDED, subject_type="qa_check", subject_id=qa_check.id)
    by = session.get(Person, entry.actor_id) if entry is not None and entry.actor_id else None
    return {"what": "amended", "reference": qa_check.record.allocation.case.reference, "by": person_ref(by),
            "at": qa_check.amended_at.isoformat() if qa_check.amended_at else None, "submitted": submitted}


def _may_amend(
    session: Session, check_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str, lock: bool,
    submitted: bool = False,
) -> tuple[FormOutcome, AuditQaCheck | None]:
    """The check (its record locked with ``lock``) when ``person`` may amend now; else None and why not."""
    record_id = session.scalar(select(AuditQaCheck.record_id).where(AuditQaCheck.id == check_id))
    record = (lock_record(session, record_id) if lock else session.get(AuditRecord, record_id)) if record_id else None
    if record is None:
        return FormOutcome(refuse(session, person, Permission.RECORD_AUDIT, RefusalCode.NO_SUCH_AUDIT, now=now,
                                  actor_ref=actor_ref, subject_type="qa_check", subject_id=check_id,
                                  told=RefusalCode.UNKNOWN_CASE)), None
    decision = check(session, person, Permission.RECORD_AUDIT, now=now, actor_ref=actor_ref, subject_type="audit_record",
                     subject_id=record.id, allocation=record.allocation, told=RefusalCode.ONLY_THE_AUDITOR)
    if not decision.allowed:
        return FormOutcome(decision), None
    qa_check = session.get_one(AuditQaCheck, check_id)
    if qa_check.state == QaCheckState.AMENDED:
        return FormOutcome(decision, late=_amended_by(session, qa_check, submitted=submitted)), None
    if qa_check.state != QaCheckState.RETURNED or record.state != RecordState.RETURNED:
        return FormOutcome(refuse(session, person, Permission.RECORD_AUDIT, RefusalCode.NOT_RETURNED, now=now,
                                  actor_ref=actor_ref, subject_type="qa_check", subject_id=check_id)), None
    return FormOutcome(decision), qa_check


def _amend_mode(qa_check: AuditQaCheck) -> dict[str, Any]:
    """What a step's view adds in amend mode: the check, and why the audit was returned."""
    returned = {"by": person_ref(qa_check.by), "reason": qa_check.reason,
                "amend_due": qa_check.amend_due.isoformat() if qa_check.amend_due else None}
    return {"mode": "amend", "check_id": qa_check.id, "draft_saved_at": None, "returned": returned}


def open_amend_form(
    session: Session, check_id: int, person: Person | None, settings: Settings, *, now: dt.datetime, actor_ref: str
) -> FormOutcome:
    """**Amend the audit**: the first step, filled in with the record as it stands (or with what
    the auditor typed since it was returned, if they closed the form)."""
    outcome, qa_check = _may_amend(session, check_id, person, now=now, actor_ref=actor_ref, lock=True)
    if qa_check is None or person is None:
        return outcome
    record = qa_check.record
    scheme = scheme_of(record, settings)
    draft = session.scalar(
        select(AuditDraft).where(AuditDraft.allocation_id == record.allocation_id, AuditDraft.person_id == person.id)
    )
    if draft is None:
        session.add(AuditDraft(allocation_id=record.allocation_id, person_id=person.id,
                               values=record_values(record, scheme), updated_at=now))
    elif qa_check.decided_at is None or draft.updated_at < qa_check.decided_at:  # typed before this return: start afresh
        draft.values, draft.updated_at = record_values(record, scheme), now
    session.flush()
    view = step_view(session, record.allocation, person, Step.GRADES, scheme, settings, now=now, amending=True)
    outcome.view = {**view, **_amend_mode(qa_check)}
    return outcome


def amend_step(
    session: Session, check_id: int, person: Person | None, step: Step, values: dict[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> FormOutcome:
    """A step of the amend form was submitted: field errors, the next step, or (last step) the
    record amended."""
    outcome, qa_check = _may_amend(session, check_id, person, now=now, actor_ref=actor_ref, lock=True, submitted=True)
    if qa_check is None or person is None:
        return outcome
    record = qa_check.record
    scheme = scheme_of(record, settings)
    form = take_step(session, record.allocation, person, step, values, scheme, settings, outcome, now=now, amending=True)
    if outcome.view is not None:
        outcome.view = {**outcome.view, **_amend_mode(qa_check)}
    if form is None:
        return outcome
    apply_amendment(session, qa_check, form, scheme, settings, calendar, by=person, now=now, actor_ref=actor_ref)
    outcome.record = record
    return outcome


def close_amend_form(
    session: Session, check_id: int, person: Person | None, step: Step, values: dict[str, Any], settings: Settings, *,
    now: dt.datetime, actor_ref: str,
) -> bool:
    """The amend form was closed unsent: what was typed is kept for next time (True), if they may amend."""
    _, qa_check = _may_amend(session, check_id, person, now=now, actor_ref=actor_ref, lock=True)
    if qa_check is None or person is None:
        return False
    record = qa_check.record
    keep_draft(session, record.allocation, person, step, values, scheme_of(record, settings), settings, now=now)
    return True


def _amend_grades(session: Session, record: AuditRecord, form: RecordForm, reason: str, by: Person, now: dt.datetime) -> int:
    """Append each changed grade to the history; how many changed."""
    changed = 0
    for key, grade in form.sections.items():
        if not grade:
            continue
        changed += change_grade(session, record, SECTION, key, grade, stage=GradeStage.AFTER_AMENDMENT, by=by,
                                reason=reason, now=now)
        if not any(s.section_key == key for s in record.sections):  # a section the record had no grade for
            record.sections.append(AuditSectionGrade(section_key=key, grade=grade))
    if form.overall:
        changed += change_grade(session, record, OVERALL, None, form.overall, stage=GradeStage.AFTER_AMENDMENT, by=by,
                                reason=form.reason or reason, now=now)
    return changed


def _amend_actions(session: Session, record: AuditRecord, form: RecordForm, by: Person, now: dt.datetime) -> dict[str, int]:
    """Keep the actions given again as they were; change the owner or date of one given again
    with the same words; withdraw the rest and add the new ones."""
    standing = [a for a in record.actions if a.status != ActionStatus.WITHDRAWN]
    wanted = list(form.actions)
    kept = changed = added = 0
    for line in list(wanted):  # the same action: kept as it is (and as done or signed off as it was)
        same = next((a for a in standing if (a.text, a.owner_id, a.due_date) == (line.text, line.owner_id, line.due_date)), None)
        if same is not None:
            standing.remove(same)
            wanted.remove(line)
            kept += 1
    for line in list(wanted):  # the same words with another owner or date: the same action, changed
        same = next((a for a in standing if a.text == line.text), None)
        if same is not None:
            standing.remove(same)
            wanted.remove(line)
            same.owner_id, same.due_date = line.owner_id, line.due_date
            changed += 1
    withdrawn = sum(withdraw_action(session, record, a.id, by=by, now=now) for a in standing)
    for line in wanted:
        record.actions.append(AuditAction(text=line.text, owner_id=line.owner_id, due_date=line.due_date, created_at=now))
        added += 1
    return {"kept": kept, "changed": changed, "withdrawn": withdrawn, "added": added}


def apply_amendment(
    session: Session, qa_check: AuditQaCheck, form: RecordForm, scheme: Scheme, settings: Settings,
    calendar: WorkingCalendar, *, by: Person, now: dt.datetime, actor_ref: str,
) -> None:
    """Change the returned record (locked) to ``form``; the audit is final again, for a new QA check."""
    record = qa_check.record
    grades = _amend_grades(session, record, form, qa_check.reason or "", by, now)
    record.rationale, record.strengths, record.good_elements = form.rationale, form.good_practice, form.elements
    record.rule_reason, record.flags, record.seen_roles = form.reason, list(form.flags), list(form.seen)
    record.family_views, record.no_actions_reason = dict(form.family), form.no_actions_reason or None
    actions = _amend_actions(session, record, form, by, now)
    qa_check.state, qa_check.amended_at = QaCheckState.AMENDED, now
    record.state = RecordState.FINALISED
    session.execute(delete(AuditDraft).where(AuditDraft.allocation_id == record.allocation_id))
    session.flush()
    audit_log(session, now=now, action=AMENDED, actor=by, actor_ref=actor_ref, subject_type="qa_check",
              subject_id=qa_check.id, detail={"record": record.id, "grades_changed": grades, "actions": actions})
    session.refresh(record, ["sections", "actions", "grades"])
    _settle_auditor_messages(session, qa_check, settings, calendar, now=now)


def _settle_auditor_messages(
    session: Session, qa_check: AuditQaCheck, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> int:
    """Edit the messages that asked the auditors to amend (the return and its reminder): amended, no button."""
    context = {**check_context(session, qa_check, settings, calendar), "stage": "amended"}
    return edit_in_place(session, f"qa:{qa_check.id}:", Template.QA_OUTCOME, context, suffix="amended", now=now,
                         stages=("returned", "reminder"))
