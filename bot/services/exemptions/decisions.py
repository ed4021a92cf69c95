"""Deciding an exemption or extension, once, and what follows: reallocation, a moved deadline,
the approver's message edited in place, the auditor and the QA team told.

(shared/domain.md step 5; Hull A.4-5, 30.) Slack-free: every message is an outbox row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock, Template
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.exemptions.approvers import active_delegate
from bot.services.exemptions.reallocation import AuditorChoice, choose_auditor, eligible_auditors
from bot.services.exemptions.requests import MAX_TEXT, Outcome, exempted_auditors, request_context
from bot.services.guardrail import check_text
from bot.services.notices import notify_allocation
from bot.settings import Settings
from store.audit import record
from store.models import Allocation, AllocationState, ExemptionRequest, Notification, Person, RequestKind, RequestState
from store.outbox import enqueue, person_ref
from store.queries import load_allocation, qa_coordinators


def may_decide(
    session: Session, request_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> tuple[Decision, ExemptionRequest | None]:
    """Whether ``person`` may decide the request (logging a refusal), before asking for a comment."""
    request = session.get(ExemptionRequest, request_id)
    if request is None:
        return missing_request(session, person, request_id, Permission.DECIDE_EXEMPTION, now=now, actor_ref=actor_ref), None
    delegate = active_delegate(session, request.approver_id, calendar.local_date(now))
    decision = check(
        session, person, Permission.DECIDE_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="exemption_request",
        subject_id=request.id, request=request, delegate_id=delegate.id if delegate else None,
    )
    if decision.allowed and request.state == RequestState.WITHDRAWN:
        announce_withdrawal(session, request, now=now)  # idempotent: the asking messages say so
    return decision, request


def missing_request(
    session: Session, person: Person | None, request_id: int, permission: Permission, *, now: dt.datetime, actor_ref: str
) -> Decision:
    """A forged or stale request id: refused and logged; told, as before, there is nothing to decide."""
    return refuse(session, person, permission, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                  subject_type="exemption_request", subject_id=request_id, told=RefusalCode.AUDIT_CLOSED)


def lock_request(session: Session, request_id: int) -> tuple[Allocation | None, ExemptionRequest | None]:
    """Lock a request's allocation, then the request: the order every writer of both uses
    (completing the audit too), so two of them never deadlock on PostgreSQL."""
    allocation_id = session.scalar(select(ExemptionRequest.allocation_id).where(ExemptionRequest.id == request_id))
    if allocation_id is None:
        return None, None
    allocation = load_allocation(session, allocation_id, lock=True)
    request = session.scalars(
        select(ExemptionRequest)
        .where(ExemptionRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    return allocation, request


def decide_request(
    session: Session, request_id: int, person: Person | None, *, approve: bool, comment: str | None,
    settings: Settings, calendar: WorkingCalendar, now: dt.datetime, actor_ref: str, from_modal: bool = False,
) -> Outcome:
    """Approve or decline, once. A second decision (double click, a racing approver) changes
    nothing and reports the first; so does a request withdrawn because the audit closed. From a
    modal (``from_modal``), which then closes, the person is also sent a DM saying what happened.

    Locks the allocation, then the request -- the same order as completing the audit -- so the
    two cannot deadlock on PostgreSQL."""
    allocation, request = lock_request(session, request_id)
    if request is None or allocation is None:
        return Outcome(missing_request(session, person, request_id, Permission.DECIDE_EXEMPTION, now=now, actor_ref=actor_ref))
    today = calendar.local_date(now)
    delegate = active_delegate(session, request.approver_id, today)
    decision = check(
        session, person, Permission.DECIDE_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="exemption_request",
        subject_id=request.id, request=request, delegate_id=delegate.id if delegate else None,
    )
    if not decision.allowed:
        return Outcome(decision, request=request)
    if request.state == RequestState.PENDING and allocation.state != AllocationState.ALLOCATED:
        _withdraw(session, request, allocation, now=now, actor=None, actor_ref="bot")
    elif request.state == RequestState.WITHDRAWN:
        announce_withdrawal(session, request, now=now)  # idempotent: the asking messages say so
    if request.state != RequestState.PENDING:
        if from_modal and person is not None:
            enqueue(session, key=f"exempt:{request.id}:late:{person.id}:{now.isoformat()}", template=Template.ALREADY_DONE,
                    context=already_decided(request, submitted=True), now=now, recipient_id=person.id)
        return Outcome(decision, request=request, already=True)
    assert person is not None
    if not approve and not (comment or "").strip():
        return Outcome(decision, errors={FormBlock.COMMENT: "Please say why, so the auditor knows."}, request=request)
    if not approve and (identifying := check_text(session, comment or "", today=today, level=settings.privacy_guardrail)):
        return Outcome(decision, errors={FormBlock.COMMENT: identifying}, request=request)
    if approve and request.kind == RequestKind.EXTENSION and request.new_due_date is not None and request.new_due_date < today:
        # Approving would set a deadline already missed: the approver declines instead.
        decision = refuse(
            session, person, Permission.DECIDE_EXEMPTION, RefusalCode.EXTENSION_DATE_PASSED, now=now,
            actor_ref=actor_ref, subject_type="exemption_request", subject_id=request.id, action="extension.approve",
            detail={"new_due_date": request.new_due_date.isoformat()},
        )
        return Outcome(decision, request=request)
    request.state = RequestState.APPROVED if approve else RequestState.DECLINED
    request.decided_at, request.decided_by_id = now, person.id
    request.decision_comment = (comment or "").strip()[:MAX_TEXT] or None
    if approve and request.kind == RequestKind.EXTENSION and request.new_due_date is not None:
        # Never moves the deadline earlier: the other auditor of a pair may already have a later one.
        allocation.due_date = max(allocation.due_date, request.new_due_date)
    elif approve and request.kind == RequestKind.EXEMPTION:
        _reallocate(session, request, allocation, settings, now=now)
    session.flush()
    session.refresh(request)
    record(
        session, now=now, action=f"{request.kind.value}.{request.state.value}", actor=person, actor_ref=actor_ref,
        subject_type="exemption_request", subject_id=request.id,
        detail={"case": allocation.case.reference, "reallocated_to": request.reallocated_to_id},
    )
    _announce(session, request, settings, now=now)
    return Outcome(decision, request=request)


def already_decided(request: ExemptionRequest, *, submitted: bool) -> dict[str, object]:
    """What a late decision is told: who decided the request and when, or that it was withdrawn
    (never the reason or the comment)."""
    return {
        "what": "decision",
        "reference": request.allocation.case.reference,
        "kind": request.kind.value,
        "state": request.state.value,
        "requester": person_ref(request.auditor),
        "by": person_ref(request.decided_by),
        "at": request.decided_at.isoformat() if request.decided_at else None,
        "audit_state": request.allocation.state.value,
        "submitted": submitted,
    }


def withdraw_pending(
    session: Session, allocation: Allocation, *, now: dt.datetime, actor: Person | None, actor_ref: str
) -> int:
    """Withdraw every undecided request about ``allocation`` (closed, and locked by the caller)
    and edit the messages that asked for a decision to say so. Returns how many."""
    pending = session.scalars(
        select(ExemptionRequest)
        .where(ExemptionRequest.allocation_id == allocation.id, ExemptionRequest.state == RequestState.PENDING)
        .order_by(ExemptionRequest.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for request in pending:
        _withdraw(session, request, allocation, now=now, actor=actor, actor_ref=actor_ref)
    return len(pending)


def _withdraw(
    session: Session, request: ExemptionRequest, allocation: Allocation, *, now: dt.datetime,
    actor: Person | None, actor_ref: str,
) -> None:
    request.state = RequestState.WITHDRAWN
    session.flush()
    record(session, now=now, action=f"{request.kind.value}.withdrawn", actor=actor, actor_ref=actor_ref,
           subject_type="exemption_request", subject_id=request.id,
           detail={"allocation_state": allocation.state.value})
    announce_withdrawal(session, request, now=now)


def announce_withdrawal(session: Session, request: ExemptionRequest, *, now: dt.datetime) -> None:
    """Edit every message that asked for a decision on a withdrawn request (once per message)."""
    _edit_asks(session, request, request_context(session, request, stage="decided", now=now), now=now)


def _reallocate(
    session: Session, request: ExemptionRequest, allocation: Allocation, settings: Settings, *, now: dt.datetime
) -> None:
    exclude = exempted_auditors(session, allocation.id) | {request.auditor_id}
    choice = choose_auditor(session, allocation.id, settings, exclude=exclude)
    if isinstance(choice, AuditorChoice):
        hand_over(session, request, allocation, choice.auditor_id, choice.reason, settings, now=now)
    elif allocation.second_auditor_id is not None:
        # One of a pair: the other auditor carries on alone until the QA team names a partner.
        if allocation.auditor_id == request.auditor_id:
            allocation.auditor_id = allocation.second_auditor_id
        allocation.second_auditor_id = None
    else:
        allocation.state = AllocationState.EXEMPTED


def hand_over(
    session: Session, request: ExemptionRequest, allocation: Allocation, auditor_id: int, reason: str,
    settings: Settings, *, now: dt.datetime,
) -> None:
    """Give the audit to ``auditor_id`` with a fair deadline: the later of the original and
    ``reallocation_working_days`` working days from today (never overdue on arrival)."""
    calendar = WorkingCalendar.from_settings(settings)
    fair = calendar.add_working_days(calendar.local_date(now), settings.reallocation_working_days)
    if fair > allocation.due_date:
        allocation.due_date = fair
    if allocation.auditor_id == request.auditor_id:
        allocation.auditor_id = auditor_id
    else:
        allocation.second_auditor_id = auditor_id
    allocation.state, allocation.reason = AllocationState.ALLOCATED, reason
    request.reallocated_to_id = auditor_id
    session.flush()
    session.expire(allocation)
    fresh = load_allocation(session, allocation.id)
    assert fresh is not None
    notify_allocation(session, fresh, now=now, reallocated=True, key_prefix=f"realloc:{request.id}", auditors={auditor_id})


def _announce(session: Session, request: ExemptionRequest, settings: Settings, *, now: dt.datetime) -> None:
    """Edit every message that asked for the decision; tell the auditor and the QA team."""
    context = request_context(session, request, stage="decided", now=now)
    _edit_asks(session, request, context, now=now)
    enqueue(session, key=f"exempt:{request.id}:outcome:{request.auditor_id}", template=Template.EXEMPTION_OUTCOME,
            context=context, now=now, recipient_id=request.auditor_id)
    qa_context = {k: v for k, v in context.items() if k not in ("reason", "comment")}  # free text stays in the circle
    if request.state == RequestState.APPROVED and request.kind == RequestKind.EXEMPTION and request.reallocated_to_id is None:
        allocation = load_allocation(session, request.allocation_id)
        assert allocation is not None
        qa_context["choices"] = [
            {"id": c.auditor_id, "name": c.name, "reason": c.reason}
            for c in eligible_auditors(
                session, allocation.id, settings, exclude=exempted_auditors(session, allocation.id), relaxed=True
            )[:100]
        ]
    for qa in qa_coordinators(session):
        enqueue(session, key=f"exempt:{request.id}:qa:{qa.id}", template=Template.EXEMPTION_QA, context=qa_context,
                now=now, recipient_id=qa.id)


def _edit_asks(session: Session, request: ExemptionRequest, context: dict[str, object], *, now: dt.datetime) -> None:
    """Queue an in-place edit of each message that asked for a decision (ask, re-send, escalation)."""
    asked = session.scalars(
        select(Notification).where(
            Notification.idempotency_key.like(f"exempt:{request.id}:%"),
            Notification.template == Template.EXEMPTION_ASK.value,
        )
    ).all()
    for row in asked:
        enqueue(session, key=f"{row.idempotency_key}:decided", template=Template.EXEMPTION_DECIDED, context=context,
                now=now, recipient_id=row.recipient_id, replaces_key=row.idempotency_key)
