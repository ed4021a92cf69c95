"""A QA check made straight in the store, for tests that need one without recording an audit first."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from store.models import Allocation
from store.queries import qa_coordinators
from store.records import AuditQaCheck, AuditRecord, QaCheckState, RecordSource, RecordState


def returned_check(session: Session, allocation: Allocation, *, now: dt.datetime, amend_due: dt.date) -> AuditQaCheck:
    """``allocation``'s audit, recorded (all Good) and returned by the QA team for amendment by ``amend_due``."""
    record = AuditRecord(allocation_id=allocation.id, scheme="bradford", scheme_version=1, overall_grade="good",
                         source=RecordSource.CHAT, submitted_by_id=allocation.auditor_id, submitted_at=now,
                         state=RecordState.RETURNED, finalised_at=now, no_actions_reason="None needed.")
    session.add(record)
    session.flush()
    qa_check = AuditQaCheck(record_id=record.id, state=QaCheckState.RETURNED, created_at=now,
                            by_id=qa_coordinators(session)[0].id, decided_at=now, reason="Name the good practice.",
                            amend_due=amend_due)
    session.add(qa_check)
    session.flush()
    return qa_check
