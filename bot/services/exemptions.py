"""Exemptions and extensions: asked by the auditor, routed to the approver, decided once.

(shared/domain.md step 5; Hull A.4-5, 30.) Slack-free: every message is an outbox row, and
the approver's message is edited in place through the outbox when the request is decided.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock, Template
from bot.services.allocation_rules import last_day
from bot.services.approvers import active_delegate, find_approver
from bot.services.authz import Decision, Permission, RefusalCode, check
from bot.services.notices import allocation_context, notify_allocation
from bot.services.reallocation import AuditorChoice, choose_auditor, eligible_auditors
from bot.settings import Settings
from store.audit import record
from store.models import (
    Allocation,
    AllocationState,
    Case,
    ExemptionRequest,
    Notification,
    Person,
    RequestKind,
    RequestState,
)
from store.outbox import enqueue, person_ref
from store.queries import load_allocation, qa_coordinators

MAX_TEXT = 1000


@dataclass(frozen=True)
class RequestForm:
    """What the auditor typed into the request modal."""

    kind: RequestKind | None
    new_due_date: dt.date | None
    reason: str


@dataclass
class Outcome:
    """A service answer: a refusal, field errors for a modal, or what happened."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    request: ExemptionRequest | None = None
    already: bool = False


def open_allocation_for(session: Session, person: Person | None, reference: str) -> Allocation | None:
    """The person's open allocation of the case with ``reference`` (for ``/audit exempt REF``)."""
    if person is None:
        return None
    allocation_id = session.scalar(
        select(Allocation.id)
        .join(Case, Case.id == Allocation.case_id)
        .where(
            func.upper(Case.reference) == reference.strip().upper(),
            Allocation.state == AllocationState.ALLOCATED,
            (Allocation.auditor_id == person.id) | (Allocation.second_auditor_id == person.id),
        )
        .order_by(Allocation.due_date.desc())
    )
    return load_allocation(session, allocation_id) if allocation_id else None


def original_deadline(allocation: Allocation) -> dt.date:
    """The deadline the audit was allocated with: the last day of its month."""
    return last_day(allocation.month_start)


def latest_extension_date(allocation: Allocation, calendar: WorkingCalendar, settings: Settings) -> dt.date:
    """The furthest new deadline an extension may ask for, counted from the original deadline
    (not a deadline already moved), so extensions cannot be chained past the limit."""
    return calendar.add_working_days(original_deadline(allocation), settings.max_extension_working_days)


def start_request(
    session: Session, allocation: Allocation | None, person: Person | None, settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime, actor_ref: str,
) -> tuple[Decision, dict[str, object]]:  # fmt: skip
    """May ``person`` ask about ``allocation``? If so, the request modal's context."""
    if allocation is None:
        return Decision(False, RefusalCode.UNKNOWN_CASE), {}
    decision = check(
        session, person, Permission.REQUEST_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="allocation",
        subject_id=allocation.id, allocation=allocation,
    )  # fmt: skip
    if not decision.allowed:
        return decision, {}
    if allocation.state != AllocationState.ALLOCATED:
        return Decision(False, RefusalCode.AUDIT_CLOSED), {}
    assert person is not None
    if _pending(session, allocation.id, person.id) is not None:
        return Decision(False, RefusalCode.REQUEST_PENDING), {}
    return decision, {
        "allocation_id": allocation.id,
        "reference": allocation.case.reference,
        "due_date": allocation.due_date.isoformat(),
        "original_due_date": original_deadline(allocation).isoformat(),
        "latest": latest_extension_date(allocation, calendar, settings).isoformat(),
        "max_days": settings.max_extension_working_days,
    }


def _pending(session: Session, allocation_id: int, auditor_id: int) -> ExemptionRequest | None:
    """The auditor's own undecided request about the allocation (each of a pair may have one)."""
    return session.scalar(
        select(ExemptionRequest).where(
            ExemptionRequest.allocation_id == allocation_id,
            ExemptionRequest.auditor_id == auditor_id,
            ExemptionRequest.state == RequestState.PENDING,
        )
    )


def exempted_auditors(session: Session, allocation_id: int) -> frozenset[int]:
    """Everyone with an approved exemption from this allocation: never given the case again."""
    return frozenset(
        session.scalars(
            select(ExemptionRequest.auditor_id).where(
                ExemptionRequest.allocation_id == allocation_id,
                ExemptionRequest.kind == RequestKind.EXEMPTION,
                ExemptionRequest.state == RequestState.APPROVED,
            )
        )
    )


def validate(form: RequestForm, allocation: Allocation, settings: Settings, calendar: WorkingCalendar, today: dt.date) -> dict[str, str]:
    """Field errors for the request modal, keyed by block id (empty when the form is fine)."""
    errors: dict[str, str] = {}
    if form.kind is None:
        errors[FormBlock.KIND] = "Choose an exemption or an extension."
    if not form.reason.strip():
        errors[FormBlock.REASON] = "Say briefly why (not the child's name or case details)."
    elif len(form.reason) > MAX_TEXT:
        errors[FormBlock.REASON] = f"Please keep it under {MAX_TEXT} characters."
    if form.kind == RequestKind.EXTENSION:
        latest = latest_extension_date(allocation, calendar, settings)
        if form.new_due_date is None:
            errors[FormBlock.NEW_DATE] = "Choose the new deadline you need."
        elif form.new_due_date < today:
            errors[FormBlock.NEW_DATE] = "That date is in the past."
        elif form.new_due_date <= allocation.due_date:
            errors[FormBlock.NEW_DATE] = f"Choose a date after the current deadline ({allocation.due_date:%d/%m/%Y})."
        elif form.new_due_date > latest:
            errors[FormBlock.NEW_DATE] = (
                f"An extension can be at most {settings.max_extension_working_days} working days past the original "
                f"deadline ({original_deadline(allocation):%d/%m/%Y}), counting any extension already given: "
                f"{latest:%d/%m/%Y} at the latest."
            )
    return errors


def exemptions_this_year(session: Session, auditor_id: int, now: dt.datetime) -> int:
    """Approved exemptions the auditor had in the last 12 months."""
    return session.scalar(
        select(func.count()).select_from(ExemptionRequest).where(
            ExemptionRequest.auditor_id == auditor_id,
            ExemptionRequest.kind == RequestKind.EXEMPTION,
            ExemptionRequest.state == RequestState.APPROVED,
            ExemptionRequest.created_at >= now - dt.timedelta(days=365),
        )
    ) or 0


def request_context(session: Session, request: ExemptionRequest, *, stage: str, now: dt.datetime) -> dict[str, object]:
    """What the approver's, auditor's and QA messages about a request show."""
    allocation = load_allocation(session, request.allocation_id)
    assert allocation is not None
    context = allocation_context(allocation, co_auditor=None, reallocated=False)
    context.update(
        request_id=request.id,
        stage=stage,
        kind=request.kind.value,
        reason=request.reason,
        new_due_date=request.new_due_date.isoformat() if request.new_due_date else None,
        original_due_date=request.due_date.isoformat(),
        requester=person_ref(request.auditor),
        approver=person_ref(request.approver),
        routed_to=person_ref(request.routed_to),
        escalated_to=person_ref(request.escalated_to),
        asked_on=request.created_at.isoformat(),
        exemptions_this_year=exemptions_this_year(session, request.auditor_id, now),
        state=request.state.value,
        decided_by=person_ref(request.decided_by),
        decided_at=request.decided_at.isoformat() if request.decided_at else None,
        comment=request.decision_comment,
        reallocated_to=person_ref(session.get(Person, request.reallocated_to_id)) if request.reallocated_to_id else None,
        audit_state=allocation.state.value,
    )
    return context


def submit_request(
    session: Session, allocation_id: int, person: Person | None, form: RequestForm, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> Outcome:  # fmt: skip
    """Check the form, route the request to its approver (or their delegate), tell them.

    The allocation row is locked first (SQLite: the transaction is BEGIN IMMEDIATE), so two
    simultaneous submissions are serialised and the second sees the first's pending request."""
    allocation = load_allocation(session, allocation_id, lock=True)
    decision, _ = start_request(session, allocation, person, settings, calendar, now=now, actor_ref=actor_ref)
    if not decision.allowed:
        return Outcome(decision)
    assert allocation is not None and person is not None
    today = calendar.local_date(now)
    errors = validate(form, allocation, settings, calendar, today)
    if errors:
        return Outcome(decision, errors=errors)
    approver = find_approver(session, person, settings)
    if approver is None:
        _tell_qa_no_approver(session, person, now=now)
        return Outcome(Decision(False, RefusalCode.NO_APPROVER))
    delegate = active_delegate(session, approver.id, today)
    if delegate is not None and delegate.id == person.id:
        delegate = None  # nobody decides their own request
    assert form.kind is not None
    request = ExemptionRequest(
        allocation_id=allocation.id, auditor_id=person.id, kind=form.kind, reason=form.reason.strip(),
        due_date=allocation.due_date, new_due_date=form.new_due_date if form.kind == RequestKind.EXTENSION else None,
        state=RequestState.PENDING, approver_id=approver.id, routed_to_id=(delegate or approver).id, created_at=now,
    )  # fmt: skip
    session.add(request)
    session.flush()
    record(
        session, now=now, action=f"{form.kind.value}.request", actor=person, actor_ref=actor_ref,
        subject_type="exemption_request", subject_id=request.id,
        detail={"case": allocation.case.reference, "approver": approver.email, "routed_to": (delegate or approver).email},
    )  # fmt: skip
    context = request_context(session, request, stage="ask", now=now)
    enqueue(session, key=f"exempt:{request.id}:ask:{request.routed_to_id}", template=Template.EXEMPTION_ASK,
            context=context, now=now, recipient_id=request.routed_to_id)  # fmt: skip
    enqueue(session, key=f"exempt:{request.id}:submitted:{person.id}", template=Template.EXEMPTION_SUBMITTED,
            context=context, now=now, recipient_id=person.id)  # fmt: skip
    return Outcome(decision, request=request)


def _tell_qa_no_approver(session: Session, person: Person, *, now: dt.datetime) -> None:
    for qa in qa_coordinators(session):
        enqueue(session, key=f"noapprover:{person.id}:{qa.id}", template=Template.NO_APPROVER,
                context={"person": person_ref(person), "email": person.email}, now=now, recipient_id=qa.id)  # fmt: skip


def may_decide(
    session: Session, request_id: int, person: Person | None, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> tuple[Decision, ExemptionRequest | None]:
    """Whether ``person`` may decide the request (logging a refusal), before asking for a comment."""
    request = session.get(ExemptionRequest, request_id)
    if request is None:
        return Decision(False, RefusalCode.AUDIT_CLOSED), None
    delegate = active_delegate(session, request.approver_id, calendar.local_date(now))
    decision = check(
        session, person, Permission.DECIDE_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="exemption_request",
        subject_id=request.id, request=request, delegate_id=delegate.id if delegate else None,
    )  # fmt: skip
    if decision.allowed and request.state == RequestState.WITHDRAWN:
        announce_withdrawal(session, request, now=now)  # idempotent: the asking messages say so
    return decision, request


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
    settings: Settings, calendar: WorkingCalendar, now: dt.datetime, actor_ref: str,
) -> Outcome:  # fmt: skip
    """Approve or decline, once. A second decision (double click, a racing approver) changes
    nothing and reports the first; so does a request withdrawn because the audit closed.

    Locks the allocation, then the request -- the same order as completing the audit -- so the
    two cannot deadlock on PostgreSQL."""
    allocation, request = lock_request(session, request_id)
    if request is None or allocation is None:
        return Outcome(Decision(False, RefusalCode.AUDIT_CLOSED))
    today = calendar.local_date(now)
    delegate = active_delegate(session, request.approver_id, today)
    decision = check(
        session, person, Permission.DECIDE_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="exemption_request",
        subject_id=request.id, request=request, delegate_id=delegate.id if delegate else None,
    )  # fmt: skip
    if not decision.allowed:
        return Outcome(decision, request=request)
    if request.state == RequestState.PENDING and allocation.state != AllocationState.ALLOCATED:
        _withdraw(session, request, allocation, now=now, actor=None, actor_ref="bot")
    elif request.state == RequestState.WITHDRAWN:
        announce_withdrawal(session, request, now=now)  # idempotent: the asking messages say so
    if request.state != RequestState.PENDING:
        return Outcome(decision, request=request, already=True)
    assert person is not None
    if not approve and not (comment or "").strip():
        return Outcome(decision, errors={FormBlock.COMMENT: "Please say why, so the auditor knows."}, request=request)
    if approve and request.kind == RequestKind.EXTENSION and request.new_due_date is not None and request.new_due_date < today:
        # Approving would set a deadline already missed: the approver declines instead.
        record(
            session, now=now, action="extension.approve", outcome="refused", actor=person, actor_ref=actor_ref,
            subject_type="exemption_request", subject_id=request.id,
            detail={"reason": RefusalCode.EXTENSION_DATE_PASSED.value, "new_due_date": request.new_due_date.isoformat()},
        )  # fmt: skip
        return Outcome(Decision(False, RefusalCode.EXTENSION_DATE_PASSED), request=request)
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
    )  # fmt: skip
    _announce(session, request, settings, now=now)
    return Outcome(decision, request=request)


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
) -> None:  # fmt: skip
    request.state = RequestState.WITHDRAWN
    session.flush()
    record(session, now=now, action=f"{request.kind.value}.withdrawn", actor=actor, actor_ref=actor_ref,
           subject_type="exemption_request", subject_id=request.id,
           detail={"allocation_state": allocation.state.value})  # fmt: skip
    announce_withdrawal(session, request, now=now)


def announce_withdrawal(session: Session, request: ExemptionRequest, *, now: dt.datetime) -> None:
    """Edit every message that asked for a decision on a withdrawn request (once per message)."""
    _edit_asks(session, request, request_context(session, request, stage="decided", now=now), now=now)


def _reallocate(session: Session, request: ExemptionRequest, allocation: Allocation, settings: Settings, *, now: dt.datetime) -> None:
    exclude = exempted_auditors(session, allocation.id) | {request.auditor_id}
    choice = choose_auditor(session, allocation.id, settings, exclude=exclude)
    if isinstance(choice, AuditorChoice):
        hand_over(session, request, allocation, choice.auditor_id, choice.reason, now=now)
    elif allocation.second_auditor_id is not None:
        # One of a pair: the other auditor carries on alone until the QA team names a partner.
        if allocation.auditor_id == request.auditor_id:
            allocation.auditor_id = allocation.second_auditor_id
        allocation.second_auditor_id = None
    else:
        allocation.state = AllocationState.EXEMPTED


def hand_over(
    session: Session, request: ExemptionRequest, allocation: Allocation, auditor_id: int, reason: str, *, now: dt.datetime
) -> None:
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
            context=context, now=now, recipient_id=request.auditor_id)  # fmt: skip
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
                now=now, recipient_id=qa.id)  # fmt: skip


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
                now=now, recipient_id=row.recipient_id, replaces_key=row.idempotency_key)  # fmt: skip
