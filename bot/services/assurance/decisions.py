"""QA's decision on each audit in the month's assurance sample (Hull App. E).

**Verified**: the signed-off actions were done. **Not evidenced…** (a short note, through the
privacy guardrail): QA could not find evidence they were, and the Group Manager for QA is told,
with the case reference, the actions and the note. The first decision counts: every QA
coordinator's copy is edited in place; a late click is told who decided and when. Only the QA
team decides, never on an audit they did themself.

The Group Manager for QA (Hull App. E names the role; the store has no such flag), in order:
the active holders of ``Role.GROUP_MANAGER`` who line-manage an active QA coordinator; else
every active Head of Service QA (``Role.HEAD_OF_SERVICE_QA``); else the QA coordinators
themselves, so a not-evidenced finding is never dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock, Template
from bot.services.assurance.sample import edit_copies, item_context
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.settings import Settings
from store.audit import record as audit_log
from store.followup import AssuranceCheck, AssuranceState
from store.models import Person, PersonRole, Role
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import AuditRecord

#: The longest note (the modal enforces the same ``max_length``).
MAX_NOTE = 500


@dataclass
class AssuranceOutcome:
    """A service answer: refused; decided already (``late``: what to tell); field errors; or decided."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    late: dict[str, Any] | None = None
    check: AssuranceCheck | None = None


def group_managers_for_qa(session: Session) -> list[Person]:
    """Who a not-evidenced finding goes to (see the module docstring): never nobody while QA exists."""
    qa = qa_coordinators(session)
    managers = {p.line_manager.id: p.line_manager for p in qa
                if p.line_manager is not None and p.line_manager.active and p.line_manager.has_role(Role.GROUP_MANAGER)}
    if managers:
        return [managers[k] for k in sorted(managers)]
    heads = list(session.scalars(
        select(Person).where(Person.active.is_(True), Person.role_rows.any(PersonRole.role == Role.HEAD_OF_SERVICE_QA))
        .order_by(Person.id)
    ))
    return heads or qa


def already_decided(session: Session, check: AssuranceCheck, *, submitted: bool = False) -> dict[str, Any]:
    """What a late Verified or Not evidenced is told: who decided, how and when."""
    record = session.get_one(AuditRecord, check.record_id)
    by = session.get(Person, check.by_id) if check.by_id is not None else None
    return {"what": "assurance_decided", "reference": record.allocation.case.reference, "by": person_ref(by),
            "at": check.decided_at.isoformat() if check.decided_at else None, "state": check.state.value,
            "submitted": submitted}


def note_view(session: Session, check: AssuranceCheck) -> dict[str, Any]:
    """What the Not evidenced… modal shows: the check and its case reference."""
    record = session.get_one(AuditRecord, check.record_id)
    return {"check_id": check.id, "reference": record.allocation.case.reference}


def may_decide(
    session: Session, check_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str, lock: bool = False
) -> AssuranceOutcome:
    """Whether ``person`` may decide the check now (a refusal is logged), or it was decided already."""
    query = select(AssuranceCheck).where(AssuranceCheck.id == check_id)
    found = session.scalars(query.with_for_update().execution_options(populate_existing=True) if lock else query).one_or_none()
    record = session.get(AuditRecord, found.record_id) if found is not None else None
    decision = check(session, person, Permission.VERIFY_ASSURANCE, now=now, actor_ref=actor_ref, subject_type="assurance_check",
                     subject_id=check_id, allocation=record.allocation if record is not None else None)
    if not decision.allowed:
        return AssuranceOutcome(decision)
    if found is None:
        return AssuranceOutcome(refuse(session, person, Permission.VERIFY_ASSURANCE, RefusalCode.NO_SUCH_AUDIT, now=now,
                                       actor_ref=actor_ref, subject_type="assurance_check", subject_id=check_id,
                                       told=RefusalCode.AUDIT_CLOSED))
    if found.state != AssuranceState.PENDING:
        return AssuranceOutcome(decision, late=already_decided(session, found), check=found)
    return AssuranceOutcome(decision, check=found)


def decide(
    session: Session, check_id: int, person: Person | None, *, verified: bool, note: str, settings: Settings,
    calendar: WorkingCalendar, now: dt.datetime, actor_ref: str,
) -> AssuranceOutcome:
    """Verified, or not evidenced with ``note``, once: under the check's row lock a second decision
    (a double click, another coordinator) changes nothing and says who decided."""
    outcome = may_decide(session, check_id, person, now=now, actor_ref=actor_ref, lock=True)
    if outcome.late is not None:
        outcome.late["submitted"] = not verified  # a note typed into the modal was not sent
    if not outcome.decision.allowed or outcome.late is not None:
        return outcome
    found = outcome.check
    assert found is not None and person is not None
    note = note.strip()
    if not verified:
        if not note:
            outcome.errors = {FormBlock.NOTE: "Say what evidence is missing, so the Group Manager for QA can follow it up."}
        elif len(note) > MAX_NOTE:
            outcome.errors = {FormBlock.NOTE: f"Keep this to {MAX_NOTE} characters (it has {len(note)})."}
        elif (problem := check_text(session, note, today=calendar.local_date(now), level=settings.privacy_guardrail)) is not None:
            outcome.errors = {FormBlock.NOTE: problem}
        if outcome.errors:
            return outcome
    found.state = AssuranceState.VERIFIED if verified else AssuranceState.NOT_EVIDENCED
    found.by_id, found.decided_at, found.note = person.id, now, None if verified else note
    session.flush()
    audit_log(session, now=now, action=f"assurance.{found.state.value}", actor=person, actor_ref=actor_ref,
              subject_type="assurance_check", subject_id=found.id, detail={"record": found.record_id})
    edit_copies(session, found.month, suffix=f"decided:{found.id}", now=now)
    if not verified:
        item = item_context(session, found, None)
        for manager in group_managers_for_qa(session):
            enqueue(session, key=f"assurance:{found.id}:not_evidenced:{manager.id}", template=Template.ASSURANCE_NOT_EVIDENCED,
                    context={**item, "month": found.month.isoformat()}, now=now, recipient_id=manager.id,
                    not_before=calendar.next_working_moment(now))
    return outcome
