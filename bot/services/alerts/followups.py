"""Safeguarding alerts after they are raised: escalation when the lead does not acknowledge,
and what the outbox reports back (a delivery to log, a failure that moves the alert down the
chain). (shared/domain.md step 6; Bradford §3.) Any day, any hour.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.services.alerts.concerns import (
    CHAIN,
    chain_for,
    lock_alert,
    next_in_chain,
    reachable,
    tell,
    tell_qa_missing,
)
from bot.services.alerts.messages import update_status
from bot.settings import Settings
from store.audit import record
from store.models import AlertRecipient, Notification, NotificationState, Person, SafeguardingAlert


def _lead_and_above(
    session: Session, alert: SafeguardingAlert
) -> tuple[list[tuple[str, Person | None]], str, list[tuple[str, Person | None]]]:
    """The case's chain, the lead's role in it, and the rungs above the lead."""
    chain = chain_for(session, alert.case)
    lead_role = next((r for r, p in chain if p is not None and p.id == alert.lead_id), "team_manager")
    return chain, lead_role, chain[CHAIN.index(lead_role) + 1 :]


def plan_alert_escalations(session: Session, settings: Settings, *, now: dt.datetime) -> int:
    """Unacknowledged by the lead after N minutes: remind them and tell the service manager;
    after 2N, the head of service. Any day, any hour. Stops once the lead acknowledges."""
    step = dt.timedelta(minutes=settings.alert_escalation_minutes)
    written = 0
    open_alerts = session.scalars(
        select(SafeguardingAlert).where(
            SafeguardingAlert.lead_acknowledged_at.is_(None),
            SafeguardingAlert.escalation_level < 2,
            SafeguardingAlert.raised_at <= now - step,
        )
    ).all()
    for candidate in open_alerts:
        alert = lock_alert(session, candidate.id)
        if alert is None or alert.lead_acknowledged_at is not None:
            continue
        chain, lead_role, above = _lead_and_above(session, alert)  # told at each level: the chain's next rungs
        due_level = min(2, len(above), int((now - alert.raised_at) / step))
        while alert.escalation_level < due_level:
            alert.escalation_level += 1
            level = alert.escalation_level
            if level == 1 and alert.lead is not None:
                tell(session, alert, alert.lead, lead_role, "reminder", now=now, stage="resend")
                written += 1
            role, who = above[level - 1]
            if reachable(who) and who is not None:
                tell(session, alert, who, role, "escalation", now=now, stage="escalate")
                written += 1
            else:  # nobody at this rung: the QA team must make sure someone acts
                stand_in = next_in_chain(chain, role, set())
                if stand_in is not None:
                    tell(session, alert, stand_in[1], stand_in[0], "escalation", now=now, stage="escalate")
                    written += 1
                tell_qa_missing(session, alert, role, who, stand_in[1] if stand_in else None, now=now)
            record(session, now=now, action="alert.escalation", actor_ref="scheduler", subject_type="safeguarding_alert",
                   subject_id=alert.id, detail={"level": level})
            update_status(session, alert, f"escalate:{level}", now=now)
    return written


def plan_corrective_chasers(session: Session, settings: Settings, *, now: dt.datetime) -> int:
    """Acknowledged but no corrective action recorded after N minutes: remind the lead; after 2N,
    tell the rung above them (Hull 14 asks for it at once). Any day, any hour. Stops once recorded."""
    step = dt.timedelta(minutes=settings.alert_escalation_minutes)
    written = 0
    waiting = session.scalars(
        select(SafeguardingAlert.id).where(
            SafeguardingAlert.lead_acknowledged_at.is_not(None),
            SafeguardingAlert.lead_acknowledged_at <= now - step,
            SafeguardingAlert.corrective_action_at.is_(None),
            SafeguardingAlert.corrective_chase_level < 2,
        )
    ).all()
    for alert_id in waiting:
        alert = lock_alert(session, alert_id)
        if alert is None or alert.corrective_action_at is not None or alert.lead_acknowledged_at is None:
            continue
        _, lead_role, rungs = _lead_and_above(session, alert)
        above = [(role, who) for role, who in rungs if reachable(who)]
        due_level = min(2, int((now - alert.lead_acknowledged_at) / step))
        while alert.corrective_chase_level < due_level:
            alert.corrective_chase_level += 1
            level = alert.corrective_chase_level
            if level == 1 and alert.lead is not None:
                tell(session, alert, alert.lead, lead_role, "reminder", now=now, stage="corrective")
                written += 1
            elif level == 2 and above:
                role, who = above[0]
                assert who is not None
                tell(session, alert, who, role, "escalation", now=now, stage="corrective_escalate")
                written += 1
            elif level == 2:
                tell_qa_missing(session, alert, "service_manager", None, None, now=now)
            record(session, now=now, action="alert.corrective_chase", actor_ref="scheduler",
                   subject_type="safeguarding_alert", subject_id=alert.id, detail={"level": level})
    return written


def on_delivery_failed(session: Session, notification: Notification, now: dt.datetime) -> None:
    """An alert could not reach someone (no Slack account): the next in the chain is told now.

    The next person is the one after the failed rung, as when someone is missing at raise
    time: if they were told already they now lead (and get the lead's message); the QA
    coordinators are told either way, and the raiser's status shows who was not reached.
    """
    parts = notification.idempotency_key.split(":")
    if len(parts) != 4 or parts[0] != "alert" or parts[2] not in ("to", "resend", "escalate", "lead"):
        return
    if notification.recipient_id is None:
        return
    alert = lock_alert(session, int(parts[1]))
    if alert is None:
        return
    chain = chain_for(session, alert.case)
    row = session.scalar(
        select(AlertRecipient).where(AlertRecipient.alert_id == alert.id, AlertRecipient.person_id == notification.recipient_id)
    )
    role = row.role if row is not None else "worker"
    missing = session.get(Person, notification.recipient_id)
    record(session, now=now, action="alert.undelivered", actor_ref="bot", subject_type="safeguarding_alert",
           subject_id=alert.id, detail={"to": missing.email if missing else None, "role": role,
                                        "error": (notification.last_error or "")[:200]})
    if row is not None and row.acknowledged_at is None:
        row.why = "unreachable"
    unreachable: set[int] = set(
        session.scalars(
            select(Notification.recipient_id).where(
                Notification.idempotency_key.like(f"alert:{alert.id}:%"),
                Notification.state == NotificationState.FAILED,
                Notification.recipient_id.is_not(None),
            )
        )
    )
    if notification.recipient_id is not None:
        unreachable.add(notification.recipient_id)
    stand_in = next_in_chain(chain, role, unreachable)
    if stand_in is not None:
        new_role, substitute = stand_in
        told = session.scalar(
            select(AlertRecipient.id).where(AlertRecipient.alert_id == alert.id, AlertRecipient.person_id == substitute.id)
        )
        became_lead = notification.recipient_id == alert.lead_id
        if became_lead:
            alert.lead_id = substitute.id
            session.flush()
            session.refresh(alert)
        if told is None:
            tell(session, alert, substitute, new_role, "substitute", now=now, stage="to")
        elif became_lead:
            tell(session, alert, substitute, new_role, "substitute", now=now, stage="lead")
        update_status(session, alert, f"sub:{notification.recipient_id}", now=now)
    else:
        update_status(session, alert, f"unreached:{notification.recipient_id}", now=now)
    tell_qa_missing(session, alert, role, missing, stand_in[1] if stand_in else None, now=now)


def on_delivered(session: Session, notification: Notification, now: dt.datetime) -> None:
    """Record in the audit log that an alert message reached someone (or the channel)."""
    parts = notification.idempotency_key.split(":")
    if parts[0] != "alert" or len(parts) < 3 or parts[2] not in ("to", "resend", "escalate", "lead", "channel"):
        return
    person = session.get(Person, notification.recipient_id) if notification.recipient_id else None
    record(session, now=now, action="alert.delivered", actor_ref="bot", subject_type="safeguarding_alert",
           subject_id=int(parts[1]), detail={"stage": parts[2], "to": person.email if person else notification.channel,
                                             "ts": notification.slack_ts})
