"""Opening the QA check of every finalised audit, and the QA team's one decision on it.

(shared/domain.md step 9; Hull 19-20; lifecycle "finalised" → "QA accepted" / "returned".) A
finalised audit without an open check gets one, and every QA coordinator (but its auditors) is
sent the audit with **Accept** and **Return for amendment…**. The first decision counts: every
coordinator's copy is then edited to say who decided and when, and a late click is told the
same. Accepting closes the check; returning sends the auditor the reason, the day it is due
back (``qa_amend_working_days``) and **Amend the audit**.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock, Template
from bot.services.audits.findings import record_context
from bot.services.audits.schemes import Scheme, scheme_of
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.replies.lifecycle import lock_record
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Notification, Person, Priority
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import AuditQaCheck, AuditRecord, QaCheckState, RecordState

#: The longest reason for returning an audit (the modal enforces the same ``max_length``).
MAX_REASON = 1000


@dataclass
class CheckOutcome:
    """A service answer: refused; decided already (``late``: what to tell); field errors; or decided."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    late: dict[str, Any] | None = None
    check: AuditQaCheck | None = None


def auditors_of(record: AuditRecord) -> list[Person]:
    """The audit's active auditors (the auditor and any co-auditor)."""
    allocation = record.allocation
    return [p for p in (allocation.auditor, allocation.second_auditor) if p is not None and p.active]


def checkers_of(session: Session, record: AuditRecord) -> list[Person]:
    """The QA coordinators who may check ``record``: all of them but its auditors."""
    mine = {record.allocation.auditor_id, record.allocation.second_auditor_id}
    return [p for p in qa_coordinators(session) if p.id not in mine]


def _label(scheme: Scheme, value: str) -> str:
    return next((g.label for g in scheme.overall_scale if g.value == value), value)


def decision_context(qa_check: AuditQaCheck) -> dict[str, Any] | None:
    """Who decided the check, when, and (returned) why and by when; None while it is pending."""
    if qa_check.state == QaCheckState.PENDING or qa_check.decided_at is None:
        return None
    returned = qa_check.state in (QaCheckState.RETURNED, QaCheckState.AMENDED)
    return {
        "state": "returned" if returned else "accepted",
        "by": person_ref(qa_check.by),
        "at": qa_check.decided_at.isoformat(),
        "reason": qa_check.reason if returned else None,
        "amend_due": qa_check.amend_due.isoformat() if returned and qa_check.amend_due else None,
        "amended_at": qa_check.amended_at.isoformat() if qa_check.amended_at else None,
    }


def check_context(session: Session, qa_check: AuditQaCheck, settings: Settings, calendar: WorkingCalendar) -> dict[str, Any]:
    """What the QA team and the auditor are shown about a check: the audit, its original and
    final grades, an earlier return it was amended after, and the decision (once taken)."""
    record = qa_check.record
    scheme = scheme_of(record, settings)
    earlier = session.scalars(
        select(AuditQaCheck)
        .where(AuditQaCheck.record_id == record.id, AuditQaCheck.id < qa_check.id, AuditQaCheck.state == QaCheckState.AMENDED)
        .order_by(AuditQaCheck.id.desc())
    ).first()
    return {
        **record_context(record, scheme, calendar.tz),
        "check_id": qa_check.id,
        "original_overall": _label(scheme, record.overall_grade),
        "amended_after": decision_context(earlier) if earlier is not None else None,
        "decision": decision_context(qa_check),
    }


def open_checks(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Open a QA check for every finalised audit without one open, and send it to the QA team.

    The records are locked first and looked at again, so two ticks at once open one check each."""
    open_check = exists().where(AuditQaCheck.record_id == AuditRecord.id, AuditQaCheck.state == QaCheckState.PENDING)
    waiting = select(AuditRecord.id).where(AuditRecord.state == RecordState.FINALISED, ~open_check)
    candidates = list(session.scalars(waiting.order_by(AuditRecord.id).with_for_update(of=AuditRecord)))
    if not candidates:
        return 0
    fresh = list(session.scalars(waiting.where(AuditRecord.id.in_(candidates)).order_by(AuditRecord.id)))
    checks = [AuditQaCheck(record_id=record_id, state=QaCheckState.PENDING, created_at=now) for record_id in fresh]
    session.add_all(checks)
    session.flush()
    written = 0
    for qa_check in checks:
        audit_log(session, now=now, action="qa_check.opened", actor_ref="scheduler", subject_type="audit_record",
                  subject_id=qa_check.record_id, detail={"check": qa_check.id})
        context = check_context(session, qa_check, settings, calendar)
        for qa in checkers_of(session, qa_check.record):
            written += enqueue(session, key=f"qa:{qa_check.id}:qa:{qa.id}", template=Template.QA_CHECK, context=context,
                               now=now, recipient_id=qa.id, priority=Priority.NORMAL)
    return written


def edit_in_place(
    session: Session, prefix: str, template: Template, context: dict[str, Any], *, suffix: str, now: dt.datetime,
    stages: tuple[str, ...] | None = None,
) -> int:
    """Edit every message sent with ``template`` under keys starting ``prefix`` (only those of
    ``stages``, when given) in place, with ``context``; each edit keyed by the message's key and ``suffix``."""
    sent = session.scalars(
        select(Notification).where(
            Notification.idempotency_key.startswith(prefix, autoescape=True),
            Notification.template == template.value,
            Notification.replaces_key.is_(None),
        )
    ).all()
    return sum(
        enqueue(session, key=f"{row.idempotency_key}:{suffix}", template=template, context=context, now=now,
                recipient_id=row.recipient_id, replaces_key=row.idempotency_key)
        for row in sent
        if stages is None or row.context.get("stage") in stages
    )


def already_decided(qa_check: AuditQaCheck, *, submitted: bool = False) -> dict[str, Any]:
    """What a late Accept or Return is told: who decided the check, how and when."""
    returned = qa_check.state in (QaCheckState.RETURNED, QaCheckState.AMENDED)
    return {"what": "qa_decided", "reference": qa_check.record.allocation.case.reference, "by": person_ref(qa_check.by),
            "at": qa_check.decided_at.isoformat() if qa_check.decided_at else None,
            "state": "returned" if returned else "accepted", "submitted": submitted}


def may_decide(
    session: Session, check_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str, lock: bool = False
) -> CheckOutcome:
    """Whether ``person`` may decide the check (a refusal is logged), or it was decided already."""
    record_id = session.scalar(select(AuditQaCheck.record_id).where(AuditQaCheck.id == check_id))
    record = (lock_record(session, record_id) if lock else session.get(AuditRecord, record_id)) if record_id else None
    decision = check(session, person, Permission.DECIDE_QA_CHECK, now=now, actor_ref=actor_ref, subject_type="qa_check",
                     subject_id=check_id, allocation=record.allocation if record is not None else None)
    if not decision.allowed:
        return CheckOutcome(decision)
    if record is None:
        return CheckOutcome(refuse(session, person, Permission.DECIDE_QA_CHECK, RefusalCode.NO_SUCH_AUDIT, now=now,
                                   actor_ref=actor_ref, subject_type="qa_check", subject_id=check_id,
                                   told=RefusalCode.AUDIT_CLOSED))
    query = select(AuditQaCheck).where(AuditQaCheck.id == check_id)
    qa_check = session.scalars(query.with_for_update().execution_options(populate_existing=True) if lock else query).one()
    if qa_check.state != QaCheckState.PENDING:
        return CheckOutcome(decision, late=already_decided(qa_check), check=qa_check)
    return CheckOutcome(decision, check=qa_check)


def decide_check(
    session: Session, check_id: int, person: Person | None, *, accept: bool, reason: str, settings: Settings,
    calendar: WorkingCalendar, now: dt.datetime, actor_ref: str,
) -> CheckOutcome:
    """Accept, or return for amendment with ``reason``, once: under the record's row lock, a
    second decision (a double click, another coordinator) changes nothing and says who decided."""
    outcome = may_decide(session, check_id, person, now=now, actor_ref=actor_ref, lock=True)
    if outcome.late is not None:
        outcome.late["submitted"] = not accept  # a reason typed into the modal was not sent
    if not outcome.decision.allowed or outcome.late is not None:
        return outcome
    qa_check = outcome.check
    assert qa_check is not None and person is not None
    record = qa_check.record
    today = calendar.local_date(now)
    reason = reason.strip()
    if not accept:
        if not reason:
            outcome.errors = {FormBlock.REASON: "Say what needs amending, so the auditor knows."}
        elif len(reason) > MAX_REASON:
            outcome.errors = {FormBlock.REASON: f"Keep this to {MAX_REASON} characters (it has {len(reason)})."}
        elif (problem := check_text(session, reason, today=today, level=settings.privacy_guardrail)) is not None:
            outcome.errors = {FormBlock.REASON: problem}
        if outcome.errors:
            return outcome
    qa_check.by_id, qa_check.decided_at = person.id, now
    if accept:
        qa_check.state, record.state = QaCheckState.ACCEPTED, RecordState.ACCEPTED
    else:
        qa_check.state, record.state = QaCheckState.RETURNED, RecordState.RETURNED
        qa_check.reason = reason
        qa_check.amend_due = calendar.add_working_days(today, settings.qa_amend_working_days)
    session.flush()
    session.refresh(qa_check, ["by"])
    audit_log(session, now=now, action=f"qa_check.{qa_check.state.value}", actor=person, actor_ref=actor_ref,
              subject_type="qa_check", subject_id=qa_check.id,
              detail={"record": record.id, "amend_due": qa_check.amend_due.isoformat() if qa_check.amend_due else None})
    context = check_context(session, qa_check, settings, calendar)
    edit_in_place(session, f"qa:{qa_check.id}:qa:", Template.QA_CHECK, context, suffix="decided", now=now)
    stage = "accepted" if accept else "returned"
    for auditor in auditors_of(record):
        enqueue(session, key=f"qa:{qa_check.id}:{stage}:{auditor.id}", template=Template.QA_OUTCOME,
                context={**context, "stage": stage}, now=now, recipient_id=auditor.id, priority=Priority.NORMAL,
                not_before=calendar.next_working_moment(now))
    return outcome
