"""Exemptions and extensions: asked by the auditor and routed to the approver.

(shared/domain.md step 5; Hull A.4-5, 30.) Slack-free: every message is an outbox row. The
decision and its consequences are in ``exemption_decisions``; chasing in ``exemption_followups``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock, Template
from bot.services.allocation.rules import last_day
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.exemptions.approvers import active_delegate, find_approver
from bot.services.guardrail import check_text
from bot.services.notices import allocation_context
from bot.settings import Settings
from store.audit import record
from store.models import (
    Allocation,
    AllocationState,
    Case,
    ExemptionRequest,
    Person,
    RequestKind,
    RequestState,
)
from store.outbox import enqueue, person_ref
from store.queries import latest_allocation_id, load_allocation, qa_coordinators

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


def open_request_form(
    session: Session, person: Person | None, settings: Settings, calendar: WorkingCalendar, *,
    allocation_id: int | None = None, reference: str = "", now: dt.datetime, actor_ref: str,
) -> tuple[Decision, dict[str, object]]:
    """The button (``allocation_id``) or ``/audit exempt REF`` (``reference``): may ``person``
    ask about that audit? If so, the request modal's context. Every refusal is logged."""
    if allocation_id is not None:
        allocation = load_allocation(session, allocation_id)
        if allocation is None:
            return _missing_allocation(session, person, allocation_id, now=now, actor_ref=actor_ref), {}
        return start_request(session, allocation, person, settings, calendar, now=now, actor_ref=actor_ref)
    allocation = open_allocation_for(session, person, reference)
    if allocation is not None:
        return start_request(session, allocation, person, settings, calendar, now=now, actor_ref=actor_ref)
    return _refuse_reference(session, person, reference, now=now, actor_ref=actor_ref), {}


def _missing_allocation(
    session: Session, person: Person | None, allocation_id: int, *, now: dt.datetime, actor_ref: str
) -> Decision:
    """A forged or stale allocation id: told, as for any case not theirs, that there is none."""
    return refuse(session, person, Permission.REQUEST_EXEMPTION, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                  subject_type="allocation", subject_id=allocation_id, told=RefusalCode.UNKNOWN_CASE)


def _refuse_reference(session: Session, person: Person | None, reference: str, *, now: dt.datetime, actor_ref: str) -> Decision:
    """``/audit exempt REF`` found no open audit of the person's: the answer is the same whatever
    the reason (no such case, no audit of it, someone else's, closed); the log has the true one."""
    told = RefusalCode.UNKNOWN_CASE
    wanted = reference.strip().upper()
    case_id = session.scalar(select(Case.id).where(func.upper(Case.reference) == wanted)) if wanted else None
    if case_id is None:
        return refuse(session, person, Permission.REQUEST_EXEMPTION, RefusalCode.UNKNOWN_CASE, now=now, actor_ref=actor_ref,
                      subject_type="case")
    latest = latest_allocation_id(session, reference)
    allocation = load_allocation(session, latest) if latest is not None else None
    if allocation is None:
        return refuse(session, person, Permission.REQUEST_EXEMPTION, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                      subject_type="case", subject_id=case_id, told=told)
    decision = check(session, person, Permission.REQUEST_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="allocation",
                     subject_id=allocation.id, allocation=allocation, told=told)
    if not decision.allowed:
        return decision
    return refuse(session, person, Permission.REQUEST_EXEMPTION, RefusalCode.AUDIT_CLOSED, now=now, actor_ref=actor_ref,
                  subject_type="allocation", subject_id=allocation.id, told=told)


def start_request(
    session: Session, allocation: Allocation, person: Person | None, settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime, actor_ref: str,
) -> tuple[Decision, dict[str, object]]:
    """May ``person`` ask about ``allocation``? If so, the request modal's context."""
    decision = check(
        session, person, Permission.REQUEST_EXEMPTION, now=now, actor_ref=actor_ref, subject_type="allocation",
        subject_id=allocation.id, allocation=allocation,
    )
    if not decision.allowed:
        return decision, {}
    assert person is not None
    refused: RefusalCode | None = None
    if allocation.state != AllocationState.ALLOCATED:
        refused = RefusalCode.AUDIT_CLOSED
    elif _pending(session, allocation.id, person.id) is not None:
        refused = RefusalCode.REQUEST_PENDING
    if refused is not None:
        return refuse(session, person, Permission.REQUEST_EXEMPTION, refused, now=now, actor_ref=actor_ref,
                      subject_type="allocation", subject_id=allocation.id), {}
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


def validate(
    form: RequestForm, allocation: Allocation, settings: Settings, calendar: WorkingCalendar, today: dt.date
) -> dict[str, str]:
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
        elif not calendar.is_working_day(form.new_due_date):
            errors[FormBlock.NEW_DATE] = _not_a_working_day(form.new_due_date, allocation.due_date, latest, calendar)
    return errors


def _not_a_working_day(day: dt.date, due: dt.date, latest: dt.date, calendar: WorkingCalendar) -> str:
    """The field error for a new deadline on a weekend or bank holiday, naming a working day to
    choose: the last one before it, or, when that is not after the current deadline, the first
    one after it (never past ``latest``, which is itself a working day)."""
    holiday = calendar.holiday_name(day)
    what = f"a bank holiday ({holiday})" if holiday else f"a {day:%A}"
    before = calendar.add_working_days(day, -1)
    instead = before if before > due else min(calendar.next_working_day(day), latest)
    return f"{day:%d/%m/%Y} is {what}: choose a working day, e.g. {instead:%A} {instead:%d/%m/%Y}."


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
) -> Outcome:
    """Check the form, route the request to its approver (or their delegate), tell them.

    The allocation row is locked first (SQLite: the transaction is BEGIN IMMEDIATE), so two
    simultaneous submissions are serialised and the second sees the first's pending request."""
    allocation = load_allocation(session, allocation_id, lock=True)
    if allocation is None:
        return Outcome(_missing_allocation(session, person, allocation_id, now=now, actor_ref=actor_ref))
    decision, _ = start_request(session, allocation, person, settings, calendar, now=now, actor_ref=actor_ref)
    if not decision.allowed:
        return Outcome(decision)
    assert person is not None
    today = calendar.local_date(now)
    errors = validate(form, allocation, settings, calendar, today)
    if FormBlock.REASON not in errors and (
        identifying := check_text(session, form.reason, today=today, level=settings.privacy_guardrail)
    ):
        errors[FormBlock.REASON] = identifying
    if errors:
        return Outcome(decision, errors=errors)
    approver = find_approver(session, person, settings)
    if approver is None:
        _tell_qa_no_approver(session, person, now=now)
        return Outcome(refuse(session, person, Permission.REQUEST_EXEMPTION, RefusalCode.NO_APPROVER, now=now,
                              actor_ref=actor_ref, subject_type="allocation", subject_id=allocation.id))
    delegate = active_delegate(session, approver.id, today)
    if delegate is not None and delegate.id == person.id:
        delegate = None  # nobody decides their own request
    assert form.kind is not None
    request = ExemptionRequest(
        allocation_id=allocation.id, auditor_id=person.id, kind=form.kind, reason=form.reason.strip(),
        due_date=allocation.due_date, new_due_date=form.new_due_date if form.kind == RequestKind.EXTENSION else None,
        state=RequestState.PENDING, approver_id=approver.id, routed_to_id=(delegate or approver).id, created_at=now,
    )
    session.add(request)
    session.flush()
    record(
        session, now=now, action=f"{form.kind.value}.request", actor=person, actor_ref=actor_ref,
        subject_type="exemption_request", subject_id=request.id,
        detail={"case": allocation.case.reference, "approver": approver.email, "routed_to": (delegate or approver).email},
    )
    context = request_context(session, request, stage="ask", now=now)
    enqueue(session, key=f"exempt:{request.id}:ask:{request.routed_to_id}", template=Template.EXEMPTION_ASK,
            context=context, now=now, recipient_id=request.routed_to_id)
    enqueue(session, key=f"exempt:{request.id}:submitted:{person.id}", template=Template.EXEMPTION_SUBMITTED,
            context=context, now=now, recipient_id=person.id)
    return Outcome(decision, request=request)


def _tell_qa_no_approver(session: Session, person: Person, *, now: dt.datetime) -> None:
    for qa in qa_coordinators(session):
        enqueue(session, key=f"noapprover:{person.id}:{qa.id}", template=Template.NO_APPROVER,
                context={"person": person_ref(person), "email": person.email}, now=now, recipient_id=qa.id)
