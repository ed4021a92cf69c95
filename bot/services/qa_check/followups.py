"""Chasing a returned audit (Hull 20; lifecycle "returned"): the auditors are reminded on the day
it is due back, and the QA team is told on the next working day if it is still not amended.

Keys name the check, its due day and the person, so a repeated tick sends nothing twice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.planning import Counter
from bot.services.qa_check.checks import auditors_of, check_context, checkers_of
from bot.settings import Settings
from store.outbox import enqueue, person_ref
from store.records import AuditQaCheck, AuditRecord, QaCheckState, RecordState


def plan_amend_chasers(
    session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> dict[Counter, int]:
    """Remind the auditors of each returned audit due back today or before; tell the QA team of
    each still returned after its due day. Counts by kind."""
    today = calendar.local_date(now)
    due = session.scalars(
        select(AuditQaCheck)
        .join(AuditRecord, AuditRecord.id == AuditQaCheck.record_id)
        .where(AuditQaCheck.state == QaCheckState.RETURNED, AuditRecord.state == RecordState.RETURNED,
               AuditQaCheck.amend_due <= today)
        .order_by(AuditQaCheck.id)
    ).all()
    reminders = told = 0
    for qa_check in due:
        assert qa_check.amend_due is not None
        context = check_context(session, qa_check, settings, calendar)
        for auditor in auditors_of(qa_check.record):
            reminders += enqueue(session, key=f"qa:{qa_check.id}:remind:{qa_check.amend_due}:{auditor.id}",
                                 template=Template.QA_OUTCOME, context={**context, "stage": "reminder"}, now=now,
                                 recipient_id=auditor.id)
        if today < calendar.add_working_days(qa_check.amend_due, 1):
            continue
        late = {**context, "auditors": [person_ref(p) for p in auditors_of(qa_check.record)]}
        for qa in checkers_of(session, qa_check.record):
            told += enqueue(session, key=f"qa:{qa_check.id}:late:{qa_check.amend_due}:{qa.id}",
                            template=Template.QA_AMEND_OVERDUE, context=late, now=now, recipient_id=qa.id)
    return {"reminders": reminders, "overdue": told}
