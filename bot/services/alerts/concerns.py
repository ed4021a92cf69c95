"""Immediate safeguarding concerns: told at once, acknowledged, escalated when nobody answers.

(shared/domain.md step 6; Bradford §3, Hull 14.) Alerts go out on the urgent outbox lane, at
any hour. The raiser's status message is edited in place as people acknowledge. The note is
free text: it is shown only to the case's circle, the raiser and the QA team, never to a channel.
Escalation and what the outbox reports back are in ``alert_followups``; what the messages show,
and their edits in place, in ``alert_messages``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from bot.ids import FormBlock, Template
from bot.services.alerts.messages import alert_context, done_context, open_concerns, refresh_messages, update_status
from bot.services.authz import Decision, Permission, RefusalCode, check, decide, refuse
from bot.services.guardrail import check_text
from bot.services.staff.people import holder_in_service
from bot.settings import GuardrailLevel, Settings
from store.audit import record
from store.models import (
    SERVICE_MANAGER_RUNG,
    AlertRecipient,
    AlertUrgency,
    Allocation,
    Case,
    ExemptionRequest,
    Person,
    Priority,
    Role,
    SafeguardingAlert,
    Team,
)
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators

MAX_NOTE = 1000
#: The order in which people are told, and who stands in when someone can't be reached.
CHAIN = ("worker", "team_manager", "service_manager", "head_of_service")
FIRST_TOLD = CHAIN[:3]


@dataclass
class AlertOutcome:
    """A service answer: refused, field errors for the modal, or the alert acted on."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    alert: SafeguardingAlert | None = None
    already: bool = False
    #: What a late click or submission is told (``already_done`` template): who did it and when.
    late: dict[str, object] | None = None


def reachable(person: Person | None) -> bool:
    """Someone the store can name. Whether they have a Slack account is found out by sending:
    a failed delivery moves the alert down the chain at once (``on_delivery_failed``), and a
    person who has since joined Slack is not skipped because of an old lookup."""
    return person is not None and person.active


def _manager_of(person: Person | None) -> Person | None:
    """``person``'s own line manager, if active."""
    manager = person.line_manager if person is not None else None
    if person is None or manager is None:
        return None
    return manager if manager.active and manager.id != person.id else None


def chain_for(session: Session, case: Case) -> list[tuple[str, Person | None]]:
    """The case's worker, team manager, service manager and head of service, in order.

    The service manager is the team manager's own line manager, and the head of service theirs
    (the management chain, Bradford §3); only where the chain has a gap is it the first holder of
    the role in the case's service.
    """
    team = session.get(Team, case.team_id)
    service_id = team.service_id if team else None
    service_manager = _manager_of(case.team_manager) or holder_in_service(session, SERVICE_MANAGER_RUNG, service_id)
    head = _manager_of(service_manager) or holder_in_service(session, Role.HEAD_OF_SERVICE, service_id)
    return [
        ("worker", case.allocated_worker),
        ("team_manager", case.team_manager),
        ("service_manager", service_manager),
        ("head_of_service", head if head is None or service_manager is None or head.id != service_manager.id else None),
    ]


def circle_ids(session: Session, case: Case) -> set[int]:
    """Everyone in the case's circle: its people, its auditors, its service's managers."""
    ids = {p.id for _, p in chain_for(session, case) if p is not None}
    ids |= {p for p in (case.previous_worker_id, case.iro_id) if p is not None}
    for first, second in session.execute(
        select(Allocation.auditor_id, Allocation.second_auditor_id).where(Allocation.case_id == case.id)
    ):
        ids |= {p for p in (first, second) if p is not None}
    # An auditor exempted from the audit has still read the file: they may raise a concern.
    ids |= set(
        session.scalars(
            select(ExemptionRequest.auditor_id)
            .join(Allocation, Allocation.id == ExemptionRequest.allocation_id)
            .where(Allocation.case_id == case.id)
        )
    )
    return ids


def find_case(session: Session, reference: str) -> Case | None:
    """A case by its reference (ignoring case and spaces)."""
    return session.scalars(
        select(Case)
        .options(joinedload(Case.allocated_worker), joinedload(Case.team_manager), joinedload(Case.team))
        .where(func.upper(Case.reference) == reference.strip().upper())
    ).first()


def lock_alert(session: Session, alert_id: int) -> SafeguardingAlert | None:
    """The alert, row-locked and freshly read (None if there is no such alert)."""
    return session.scalars(
        select(SafeguardingAlert).where(SafeguardingAlert.id == alert_id).with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def tell(
    session: Session, alert: SafeguardingAlert, person: Person, role: str, why: str, *, now: dt.datetime, stage: str
) -> None:
    """Add ``person`` as a recipient (once) and queue their urgent message."""
    existing = session.scalar(
        select(AlertRecipient).where(AlertRecipient.alert_id == alert.id, AlertRecipient.person_id == person.id)
    )
    if existing is None:
        # The raiser knows already: their own copy needs no acknowledgement.
        existing = AlertRecipient(alert_id=alert.id, person_id=person.id, role=role, why=why, added_at=now,
                                  acknowledged_at=now if person.id == alert.raised_by_id else None)
        session.add(existing)
        session.flush()
    context = alert_context(session, alert)
    context.update(stage=stage, is_lead=person.id == alert.lead_id, role=role, recipient_id=person.id,
                   acknowledged_at=existing.acknowledged_at.isoformat() if existing.acknowledged_at else None)
    enqueue(session, key=f"alert:{alert.id}:{stage}:{person.id}", template=Template.ALERT_RECIPIENT, context=context,
            now=now, recipient_id=person.id, priority=Priority.URGENT)
    record(session, now=now, action=f"alert.{stage}", actor_ref="bot", subject_type="safeguarding_alert",
           subject_id=alert.id, detail={"to": person.email, "role": role, "why": why})


def tell_qa_missing(
    session: Session, alert: SafeguardingAlert, role: str, missing: Person | None, substitute: Person | None, *, now: dt.datetime
) -> None:
    """Tell the QA coordinators that someone in the chain could not be told (and who was instead)."""
    record(session, now=now, action="alert.missing", actor_ref="bot", subject_type="safeguarding_alert", subject_id=alert.id,
           detail={"role": role, "missing": missing.email if missing else None,
                   "instead": substitute.email if substitute else None})
    for qa in qa_coordinators(session):
        enqueue(
            session, key=f"alert:{alert.id}:qa-missing:{role}:{qa.id}", template=Template.ALERT_MISSING,
            context={"alert_id": alert.id, "case": {"reference": alert.case.reference}, "role": role,
                     "missing": person_ref(missing), "substitute": person_ref(substitute)},
            now=now, recipient_id=qa.id, priority=Priority.URGENT,
        )


def next_in_chain(chain: list[tuple[str, Person | None]], after: str, taken: set[int]) -> tuple[str, Person] | None:
    """The first reachable person after the rung ``after``, skipping the ids in ``taken``."""
    roles = [r for r, _ in chain]
    for role, person in chain[roles.index(after) + 1 :]:
        if reachable(person) and person is not None and person.id not in taken:
            return role, person
    return None


def concerns_already_open(session: Session, person: Person | None, reference: str) -> list[dict[str, object]]:
    """For the raise modal: the concerns still open on the case, who raised them and when, if
    ``person`` may raise one about it (anyone else is shown nothing, as for no such case)."""
    case = find_case(session, reference) if reference.strip() else None
    if case is None or not decide(person, Permission.RAISE_ALERT, circle=circle_ids(session, case)).allowed:
        return []
    return open_concerns(session, case.id)


def raise_alert(
    session: Session, person: Person | None, reference: str, urgency: AlertUrgency | None, note: str,
    settings: Settings, *, now: dt.datetime, actor_ref: str,
) -> AlertOutcome:
    """Check the form, then tell the worker, team manager and service manager at once.

    Someone outside a case cannot tell "no such case" from "not your case": both are refused in
    the same words (the log has the true reason). Only people who may raise a concern about any
    case (the QA team) are told that a reference matches no case."""
    case = find_case(session, reference) if reference.strip() else None
    errors: dict[str, str] = {}
    if not reference.strip():
        errors[FormBlock.CASE] = "Give the case reference."
    if urgency is None:
        errors[FormBlock.URGENCY] = "Choose how urgent this is."
    if not note.strip():
        errors[FormBlock.NOTE] = "Say briefly what needs to happen (no names or case details)."
    elif len(note) > MAX_NOTE:
        errors[FormBlock.NOTE] = f"Please keep it under {MAX_NOTE} characters; the detail belongs in the case record."
    elif (identifying := check_text(session, note, today=now.date(), level=settings.privacy_guardrail)) is not None:
        errors[FormBlock.NOTE] = identifying
    if case is None and reference.strip():
        if not decide(person, Permission.RAISE_ALERT, circle=set()).allowed:
            refused = refuse(session, person, Permission.RAISE_ALERT, RefusalCode.UNKNOWN_CASE, now=now, actor_ref=actor_ref,
                             subject_type="case", told=RefusalCode.NOT_IN_CIRCLE)
            return AlertOutcome(refused, errors=errors)
        errors[FormBlock.CASE] = f"There is no case {reference.strip()!r}. Check the reference in the case record."
    if case is None:
        return AlertOutcome(Decision(True), errors=errors)
    decision = check(session, person, Permission.RAISE_ALERT, now=now, actor_ref=actor_ref, subject_type="case",
                     subject_id=case.id, circle=circle_ids(session, case))
    if not decision.allowed or errors:
        return AlertOutcome(decision, errors=errors)
    assert person is not None and urgency is not None
    alert = SafeguardingAlert(case_id=case.id, raised_by_id=person.id, urgency=urgency, note=note.strip(), raised_at=now)
    session.add(alert)
    session.flush()
    record(session, now=now, action="alert.raise", actor=person, actor_ref=actor_ref, subject_type="safeguarding_alert",
           subject_id=alert.id, detail={"case": case.reference, "urgency": urgency.value})
    chain = chain_for(session, case)
    chosen: list[tuple[str, Person, str]] = []
    taken: set[int] = set()
    for role, who in chain:
        if role not in FIRST_TOLD:
            continue
        if who is not None and who.id in taken:
            continue  # already told, standing in for someone earlier in the chain
        if reachable(who) and who is not None:
            chosen.append((role, who, "recipient"))
            taken.add(who.id)
            continue
        stand_in = next_in_chain(chain, role, taken)
        if stand_in is not None:
            chosen.append((stand_in[0], stand_in[1], "substitute"))
            taken.add(stand_in[1].id)
        tell_qa_missing(session, alert, role, who, stand_in[1] if stand_in else None, now=now)
    lead = next((p for r, p, _ in chosen if r == "team_manager"), None) or next(
        (p for r, p, why in chosen if why == "substitute" and r in ("service_manager", "head_of_service")), None
    )
    alert.lead_id = lead.id if lead else None
    if lead is not None and lead.id == person.id:
        alert.lead_acknowledged_at = now  # the team manager raised it: nobody need chase them
    session.flush()
    session.refresh(alert)
    for role, who, why in chosen:
        tell(session, alert, who, role, why, now=now, stage="to")
    enqueue(session, key=f"alert:{alert.id}:status", template=Template.ALERT_STATUS, context=alert_context(session, alert),
            now=now, recipient_id=person.id, priority=Priority.URGENT)
    if settings.safeguarding_channel:
        enqueue(session, key=f"alert:{alert.id}:channel", template=Template.ALERT_CHANNEL, now=now,
                context={"alert_id": alert.id, "case": {"reference": case.reference, "team": case.team.name},
                         "urgency": urgency.value, "raised_by": person_ref(person), "raised_at": now.isoformat()},
                channel=settings.safeguarding_channel, priority=Priority.URGENT)
    return AlertOutcome(decision, alert=alert)


def acknowledge(session: Session, alert_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str) -> AlertOutcome:
    """Record that ``person`` has seen the alert; the lead's acknowledgement stops escalation."""
    alert = lock_alert(session, alert_id)
    if alert is None:
        return AlertOutcome(_unknown(session, alert_id, person, now=now, actor_ref=actor_ref))
    decision = _may_act(session, alert, person, now=now, actor_ref=actor_ref)
    if not decision.allowed:
        return AlertOutcome(decision)
    assert person is not None
    row = session.scalar(select(AlertRecipient).where(AlertRecipient.alert_id == alert.id, AlertRecipient.person_id == person.id))
    if row is not None and row.acknowledged_at is not None:
        late = done_context(alert, "acknowledged", at=row.acknowledged_at, by=person)
        return AlertOutcome(decision, alert=alert, already=True, late=late)
    if row is None:
        row = AlertRecipient(alert_id=alert.id, person_id=person.id, role="circle", why="acknowledged", added_at=now)
        session.add(row)
    row.acknowledged_at = now
    if person.id == alert.lead_id and alert.lead_acknowledged_at is None:
        alert.lead_acknowledged_at = now
    record(session, now=now, action="alert.acknowledge", actor=person, actor_ref=actor_ref, subject_type="safeguarding_alert",
           subject_id=alert.id, detail={"after_seconds": int((now - alert.raised_at).total_seconds())})
    update_status(session, alert, f"ack:{person.id}", now=now)
    refresh_messages(session, alert, f"ack:{person.id}", now=now, people={person.id})
    return AlertOutcome(decision, alert=alert)


def record_corrective_action(
    session: Session, alert_id: int, person: Person | None, note: str, *, now: dt.datetime, actor_ref: str,
    guardrail: GuardrailLevel = GuardrailLevel.STRICT,
) -> AlertOutcome:
    """The team manager confirms the management-oversight entry was made (Hull 14), once.

    Confirmed already (a second modal, a double submission): nothing changes, and a DM tells
    ``person`` who recorded it and when, since the modal that asked closes without a word. A
    second note is not appended: the confirmation is that the case record holds the oversight
    entry, and anything more belongs there."""
    alert = lock_alert(session, alert_id)
    if alert is None:
        return AlertOutcome(_unknown(session, alert_id, person, now=now, actor_ref=actor_ref))
    decision = check(session, person, Permission.RECORD_CORRECTIVE_ACTION, now=now, actor_ref=actor_ref,
                     subject_type="safeguarding_alert", subject_id=alert.id, lead_id=alert.lead_id,
                     circle=set() if alert.case.team_manager_id is None else {alert.case.team_manager_id})
    if not decision.allowed:
        return AlertOutcome(decision)
    assert person is not None
    if alert.corrective_action_at is not None:
        late = done_context(alert, "corrective", at=alert.corrective_action_at, by=alert.corrective_action_by, submitted=True)
        enqueue(session, key=f"alert:{alert.id}:late:{person.id}:{now.isoformat()}", template=Template.ALREADY_DONE,
                context=late, now=now, recipient_id=person.id, priority=Priority.URGENT)
        return AlertOutcome(decision, alert=alert, already=True, late=late)
    if len(note) > MAX_NOTE:
        return AlertOutcome(decision, errors={FormBlock.NOTE: f"Please keep it under {MAX_NOTE} characters."})
    if (identifying := check_text(session, note, today=now.date(), level=guardrail)) is not None:
        return AlertOutcome(decision, errors={FormBlock.NOTE: identifying})
    alert.corrective_action_at, alert.corrective_action_by_id = now, person.id
    alert.corrective_note = note.strip() or None
    row = session.scalar(select(AlertRecipient).where(AlertRecipient.alert_id == alert.id, AlertRecipient.person_id == person.id))
    if row is not None and row.acknowledged_at is None:
        row.acknowledged_at = now
    if person.id == alert.lead_id and alert.lead_acknowledged_at is None:
        alert.lead_acknowledged_at = now
    session.flush()
    session.refresh(alert)
    record(session, now=now, action="alert.corrective_action", actor=person, actor_ref=actor_ref,
           subject_type="safeguarding_alert", subject_id=alert.id)
    update_status(session, alert, "corrective", now=now)
    refresh_messages(session, alert, "corrective", now=now)
    return AlertOutcome(decision, alert=alert)


def _unknown(session: Session, alert_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str) -> Decision:
    """A click on an alert the store does not hold: refused like a stranger's (nobody is in a
    missing alert's circle, not even the QA team), and logged."""
    return refuse(session, person, Permission.ACT_ON_ALERT, RefusalCode.NOT_IN_CIRCLE, now=now, actor_ref=actor_ref,
                  subject_type="safeguarding_alert", subject_id=alert_id)


def _may_act(session: Session, alert: SafeguardingAlert, person: Person | None, *, now: dt.datetime, actor_ref: str) -> Decision:
    circle = circle_ids(session, alert.case) | {alert.raised_by_id}
    circle |= set(session.scalars(select(AlertRecipient.person_id).where(AlertRecipient.alert_id == alert.id)))
    return check(session, person, Permission.ACT_ON_ALERT, now=now, actor_ref=actor_ref,
                 subject_type="safeguarding_alert", subject_id=alert.id, circle=circle)


def may_see(
    session: Session, alert_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str
) -> tuple[Decision, SafeguardingAlert | None]:
    """Whether ``person`` may see or act on the alert (refusals logged)."""
    alert = session.get(SafeguardingAlert, alert_id)
    if alert is None:
        return _unknown(session, alert_id, person, now=now, actor_ref=actor_ref), None
    return _may_act(session, alert, person, now=now, actor_ref=actor_ref), alert
