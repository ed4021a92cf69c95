"""What the safeguarding alert messages show, and their in-place edits: the raiser's status, and
each recipient's message once the work its buttons ask for is done. (The note only goes to
people allowed to see it; a late click is told who did it and when, never the notes.)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from bot.ids import Template
from store.models import AlertRecipient, Case, Notification, NotificationState, Person, Priority, SafeguardingAlert
from store.outbox import enqueue, person_ref


def alert_context(session: Session, alert: SafeguardingAlert) -> dict[str, object]:
    """Everything the alert messages show (the note only goes to people allowed to see it)."""
    session.flush()
    recipients = session.scalars(
        select(AlertRecipient).options(joinedload(AlertRecipient.person)).where(AlertRecipient.alert_id == alert.id)
        .order_by(AlertRecipient.id)
    ).all()
    case = session.get(Case, alert.case_id)
    assert case is not None
    return {
        "alert_id": alert.id,
        "case": {"reference": case.reference, "team": case.team.name},
        "urgency": alert.urgency.value,
        "note": alert.note,
        "raised_by": person_ref(alert.raised_by),
        "raised_at": alert.raised_at.isoformat(),
        "lead": person_ref(alert.lead),
        "lead_acknowledged_at": alert.lead_acknowledged_at.isoformat() if alert.lead_acknowledged_at else None,
        "escalation_level": alert.escalation_level,
        "recipients": [
            {
                "person": person_ref(r.person),
                "role": r.role,
                "why": r.why,
                "acknowledged_at": r.acknowledged_at.isoformat() if r.acknowledged_at else None,
            }
            for r in recipients
        ],
        "corrective": {
            "by": person_ref(alert.corrective_action_by),
            "at": alert.corrective_action_at.isoformat(),
            "note": alert.corrective_note,
        }
        if alert.corrective_action_at
        else None,
        "also_open": open_concerns(session, alert.case_id, before=alert.id),
    }


def open_concerns(session: Session, case_id: int, *, before: int | None = None) -> list[dict[str, object]]:
    """Who raised each concern about the case still open (no corrective action recorded yet), and
    when; only those raised before alert ``before``, if given. Never their notes."""
    query = select(SafeguardingAlert).options(joinedload(SafeguardingAlert.raised_by)).where(
        SafeguardingAlert.case_id == case_id, SafeguardingAlert.corrective_action_at.is_(None)
    )
    if before is not None:
        query = query.where(SafeguardingAlert.id < before)
    rows = session.scalars(query.order_by(SafeguardingAlert.raised_at, SafeguardingAlert.id)).all()
    return [{"raised_by": person_ref(a.raised_by), "raised_at": a.raised_at.isoformat()} for a in rows]


def update_status(session: Session, alert: SafeguardingAlert, event: str, *, now: dt.datetime) -> None:
    """Edit the raiser's status message (the first one is posted by ``raise_alert``)."""
    context = alert_context(session, alert)
    enqueue(session, key=f"alert:{alert.id}:status:{event}", template=Template.ALERT_STATUS, context=context, now=now,
            recipient_id=alert.raised_by_id, priority=Priority.URGENT, replaces_key=f"alert:{alert.id}:status")


def refresh_messages(
    session: Session, alert: SafeguardingAlert, event: str, *, now: dt.datetime, people: set[int] | None = None
) -> None:
    """Edit in place every alert message sent to ``people`` (everyone told, when None) so that it
    shows what is done: Acknowledge leaves once they acknowledged, the corrective-action button
    once it is recorded. A message that could never be delivered is left alone."""
    query = select(Notification).where(
        Notification.idempotency_key.like(f"alert:{alert.id}:%"),
        Notification.template == Template.ALERT_RECIPIENT.value,
        Notification.replaces_key.is_(None),
        Notification.state.not_in((NotificationState.FAILED, NotificationState.CANCELLED)),
    )
    if people is not None:
        query = query.where(Notification.recipient_id.in_(people))
    for row in session.scalars(query.order_by(Notification.id)).all():
        person = session.get(Person, row.recipient_id)
        if person is None:
            continue
        context = recipient_view(session, alert, person, stage=row.idempotency_key.split(":")[2])
        enqueue(session, key=f"alert:{alert.id}:edit:{event}:{row.id}", template=Template.ALERT_RECIPIENT, context=context,
                now=now, recipient_id=person.id, priority=Priority.URGENT, replaces_key=row.idempotency_key)


def done_context(
    alert: SafeguardingAlert, what: str, *, at: dt.datetime | None, by: Person | None, submitted: bool = False
) -> dict[str, object]:
    """What a late click or submission on the alert is told (``already_done``): never the notes."""
    return {"what": what, "reference": alert.case.reference, "by": person_ref(by), "at": at.isoformat() if at else None,
            "submitted": submitted}


def recipient_view(session: Session, alert: SafeguardingAlert, person: Person, *, stage: str = "to") -> dict[str, object]:
    """The alert message as ``person`` should now see it (after they acted on it)."""
    row = session.scalar(select(AlertRecipient).where(AlertRecipient.alert_id == alert.id, AlertRecipient.person_id == person.id))
    context = alert_context(session, alert)
    context.update(
        stage=stage,
        recipient_id=person.id,
        is_lead=person.id == alert.lead_id,
        role=row.role if row is not None else "circle",
        acknowledged_at=row.acknowledged_at.isoformat() if row is not None and row.acknowledged_at else None,
    )
    return context
