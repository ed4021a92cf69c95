"""After an exemption or extension request: the QA team's choice of auditor, and chasing an
approver who has not answered (re-send, then escalate to their manager)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Permission, check
from bot.services.exemptions.approvers import active_delegate
from bot.services.exemptions.decisions import hand_over, lock_request, missing_request
from bot.services.exemptions.reallocation import eligible_auditors
from bot.services.exemptions.requests import Outcome, exempted_auditors, request_context
from bot.settings import Settings
from store.audit import last_entry, record
from store.models import AllocationState, ExemptionRequest, Person, RequestState
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators


def choose_replacement(
    session: Session, request_id: int, person: Person | None, auditor_id: int, settings: Settings,
    *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """A QA coordinator picks the new auditor when no one was eligible automatically.

    Locks the allocation, then the request (the order every writer of both uses)."""
    allocation, request = lock_request(session, request_id)
    decision = check(session, person, Permission.CHOOSE_AUDITOR, now=now, actor_ref=actor_ref,
                     subject_type="exemption_request", subject_id=request_id)
    if not decision.allowed:
        return Outcome(decision)
    if request is None or allocation is None:
        return Outcome(missing_request(session, person, request_id, Permission.CHOOSE_AUDITOR, now=now, actor_ref=actor_ref))
    if request.reallocated_to_id is not None or allocation.state == AllocationState.COMPLETED:
        return Outcome(decision, request=request, already=True)
    exclude = exempted_auditors(session, allocation.id)
    choices = {
        c.auditor_id: c
        for c in eligible_auditors(session, allocation.id, settings, exclude=exclude, relaxed=True)
    }
    if auditor_id not in choices:
        return Outcome(decision, errors={"auditor": "That auditor is no longer eligible; choose another."}, request=request)
    hand_over(session, request, allocation, auditor_id, choices[auditor_id].reason + " (chosen by the QA team)", settings,
              now=now)
    record(session, now=now, action="exemption.reallocate", actor=person, actor_ref=actor_ref,
           subject_type="exemption_request", subject_id=request.id, detail={"auditor_id": auditor_id})
    context = {k: v for k, v in request_context(session, request, stage="decided", now=now).items()
               if k not in ("reason", "comment")}
    for qa in qa_coordinators(session):
        enqueue(session, key=f"exempt:{request.id}:qa:{qa.id}:chosen", template=Template.EXEMPTION_QA, context=context,
                now=now, recipient_id=qa.id, replaces_key=f"exempt:{request.id}:qa:{qa.id}")
    return Outcome(decision, request=request)


def already_chosen(session: Session, request: ExemptionRequest) -> dict[str, object]:
    """What a late choice from the QA menu is told: who has the audit now, who chose and when."""
    chosen = last_entry(session, action="exemption.reallocate", subject_type="exemption_request", subject_id=request.id)
    return {
        "what": "chosen",
        "reference": request.allocation.case.reference,
        "to": person_ref(session.get(Person, request.reallocated_to_id)) if request.reallocated_to_id else None,
        "by": person_ref(session.get(Person, chosen.actor_id)) if chosen is not None and chosen.actor_id else None,
        "at": chosen.at.isoformat() if chosen is not None else None,
        "submitted": False,
    }


def plan_exemption_chasers(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Re-send an undecided request to its approver, then escalate to the approver's manager; if
    the approver has no active manager to escalate to, tell the QA coordinators (once)."""
    today = calendar.local_date(now)
    written = 0
    pending = session.scalars(
        select(ExemptionRequest)
        .options(joinedload(ExemptionRequest.approver).joinedload(Person.line_manager))
        .where(ExemptionRequest.state == RequestState.PENDING)
        .order_by(ExemptionRequest.id)
    ).all()
    for candidate in pending:
        waited = calendar.working_days_between(calendar.local_date(candidate.created_at), today)
        if waited < settings.exemption_resend_working_days:
            continue
        # Lock (allocation, then request) and look again: an approver may be deciding right now.
        allocation, request = lock_request(session, candidate.id)
        if request is None or request.state != RequestState.PENDING:
            continue
        if allocation is None or allocation.state != AllocationState.ALLOCATED:
            continue  # the audit was completed or closed meanwhile: nothing to chase
        if waited >= settings.exemption_resend_working_days:
            delegate = active_delegate(session, request.approver_id, today)
            target = delegate.id if delegate is not None and delegate.id != request.auditor_id else request.approver_id
            context = request_context(session, request, stage="resend", now=now)
            context["resend_days"] = settings.exemption_resend_working_days
            written += enqueue(session, key=f"exempt:{request.id}:resend:{target}",
                               template=Template.EXEMPTION_ASK, context=context, now=now,
                               recipient_id=target)
        manager = request.approver.line_manager
        if manager is not None and manager.id == request.auditor_id:
            manager = manager.line_manager  # never escalate a request to the person who made it
        if waited < settings.exemption_resend_working_days + settings.exemption_escalate_working_days:
            continue
        if request.escalated_to_id is None:
            if manager is None or not manager.active:
                written += _tell_qa_unescalated(session, request, waited, now=now)
                continue
            request.escalated_to_id = manager.id
            session.flush()
            session.refresh(request)
            record(session, now=now, action="exemption.escalate", actor_ref="scheduler",
                   subject_type="exemption_request", subject_id=request.id, detail={"to": manager.email})
        context = request_context(session, request, stage="escalate", now=now)
        context["resend_days"] = settings.exemption_resend_working_days
        written += enqueue(session, key=f"exempt:{request.id}:escalate:{request.escalated_to_id}",
                           template=Template.EXEMPTION_ASK, context=context, now=now,
                           recipient_id=request.escalated_to_id)
    return written


def _tell_qa_unescalated(session: Session, request: ExemptionRequest, waited: int, *, now: dt.datetime) -> int:
    """The request is unanswered and nobody is above the approver: the QA team chases it (told once)."""
    context = {
        k: v for k, v in request_context(session, request, stage="unescalated", now=now).items() if k not in ("reason", "comment")
    }  # free text stays in the circle
    context["waited_days"] = waited
    written = 0
    for qa in qa_coordinators(session):
        written += enqueue(session, key=f"exempt:{request.id}:unescalated:{qa.id}", template=Template.EXEMPTION_QA,
                           context=context, now=now, recipient_id=qa.id)
    if written:
        record(session, now=now, action="exemption.escalate", outcome="failed", actor_ref="scheduler",
               subject_type="exemption_request", subject_id=request.id,
               detail={"approver": request.approver.email, "reason": "no active line manager"})
    return written
