"""Recording an audit in chat: open the form, move through its steps keeping a draft, submit.

(shared/domain.md steps 7 and 10; lifecycle "submitted".) Only the allocation's auditor (or
co-auditor) records it, while it is open or was marked complete without a record. Submitting
stores the record on the scheme it was graded on, counts the audit as done on time at that
moment, stops the chasers and sends the findings (``findings``). A second submission, from a
double click, a retry or another copy of the form, changes nothing and says who recorded it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case as case_
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.services.audits.completion import mark_completed
from bot.services.audits.findings import notify_findings, scheme_context
from bot.services.audits.form import (
    TEXT_FIELDS,
    RecordForm,
    Step,
    check_record,
    check_step,
    step_fields,
)
from bot.services.audits.schemes import Scheme, current_scheme
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.inadequate.outcomes import check_outcomes, previous_actions, previous_context, store_outcomes
from bot.services.meetings.reflection import meeting_has_been_held, sheet_context, sheet_of
from bot.services.replies.window import closes_on
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Allocation, AllocationState, Case, Person
from store.outbox import person_ref
from store.queries import latest_allocation_id, load_allocation
from store.records import AuditAction, AuditDraft, AuditGradeEvent, AuditRecord, AuditSectionGrade, GradeStage, RecordSource

#: States in which an audit can still be recorded (completed: marked done before it had a record).
RECORDABLE = (AllocationState.ALLOCATED, AllocationState.COMPLETED)
#: The most people the action-owner menu lists (Slack's limit for a static select).
MAX_OWNERS = 100


@dataclass
class FormOutcome:
    """A service answer: refused; recorded already (``late``: by whom, when); field errors; the
    next step's view context; or the record made."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    view: dict[str, Any] | None = None
    late: dict[str, Any] | None = None
    record: AuditRecord | None = None


def _guard(session: Session, settings: Settings, today: dt.date) -> Callable[[str], str | None]:
    return lambda text: check_text(session, text, today=today, level=settings.privacy_guardrail)


def action_owners(session: Session, allocation: Allocation) -> list[Person]:
    """Who can own an action: the case's circle and the active people of its team, by name."""
    case = allocation.case
    circle = {case.allocated_worker_id, case.team_manager_id, case.iro_id, allocation.auditor_id, allocation.second_auditor_id}
    manager = case.team_manager.line_manager_id if case.team_manager is not None else None
    ids = {i for i in circle | {manager} if i is not None}
    in_circle = Person.id.in_(ids)
    people = session.scalars(  # the circle first, so a large team never crowds it out of the menu
        select(Person)
        .where(Person.active.is_(True), in_circle | (Person.team_id == case.team_id))
        .order_by(case_((in_circle, 0), else_=1), Person.display_name, Person.id)
        .limit(MAX_OWNERS)
    ).all()
    return sorted(people, key=lambda p: (p.display_name, p.id))


def _late(record: AuditRecord) -> dict[str, Any]:
    return {"what": "recorded", "reference": record.allocation.case.reference, "by": person_ref(record.submitted_by),
            "at": record.submitted_at.isoformat(), "submitted": False}


def _existing(session: Session, allocation_id: int) -> AuditRecord | None:
    return session.scalar(select(AuditRecord).where(AuditRecord.allocation_id == allocation_id))


def _may_record(
    session: Session, allocation: Allocation | None, person: Person | None, *, allocation_id: int | None, now: dt.datetime,
    actor_ref: str,
) -> FormOutcome:
    """Refused, or recorded already (``late``), or allowed (an empty outcome)."""
    if allocation is None:
        return FormOutcome(refuse(session, person, Permission.RECORD_AUDIT, RefusalCode.NO_SUCH_AUDIT, now=now,
                                  actor_ref=actor_ref, subject_type="allocation", subject_id=allocation_id,
                                  told=RefusalCode.UNKNOWN_CASE))
    decision = check(session, person, Permission.RECORD_AUDIT, now=now, actor_ref=actor_ref, subject_type="allocation",
                     subject_id=allocation.id, allocation=allocation)
    if not decision.allowed:
        return FormOutcome(decision)
    existing = _existing(session, allocation.id)
    if existing is not None:
        return FormOutcome(decision, late=_late(existing))
    if allocation.state not in RECORDABLE:
        return FormOutcome(refuse(session, person, Permission.RECORD_AUDIT, RefusalCode.AUDIT_CLOSED, now=now,
                                  actor_ref=actor_ref, subject_type="allocation", subject_id=allocation.id))
    return FormOutcome(decision)


def _allocation_for(session: Session, person: Person | None, reference: str) -> int | None:
    """``/audit record REF``: the person's newest audit of that case, else the case's newest."""
    if person is not None and reference.strip():
        mine = session.scalar(
            select(Allocation.id).join(Case, Case.id == Allocation.case_id)
            .where(Case.reference.ilike(reference.strip()), Allocation.state.in_(RECORDABLE),
                   (Allocation.auditor_id == person.id) | (Allocation.second_auditor_id == person.id))
            .order_by(Allocation.due_date.desc(), Allocation.id.desc())
        )
        if mine is not None:
            return mine
    return latest_allocation_id(session, reference) if reference.strip() else None


def open_record_form(
    session: Session, person: Person | None, settings: Settings, *, allocation_id: int | None = None,
    reference: str = "", now: dt.datetime,
    actor_ref: str,
) -> FormOutcome:
    """The button (``allocation_id``) or ``/audit record REF``: the first step's view context,
    filled in from the person's draft if they closed the form before."""
    if allocation_id is None:
        allocation_id = _allocation_for(session, person, reference)
        if allocation_id is None:
            return FormOutcome(refuse(session, person, Permission.RECORD_AUDIT, RefusalCode.UNKNOWN_CASE, now=now,
                                      actor_ref=actor_ref, subject_type="case"))
    allocation = load_allocation(session, allocation_id)
    outcome = _may_record(session, allocation, person, allocation_id=allocation_id, now=now, actor_ref=actor_ref)
    if outcome.decision.allowed and outcome.late is None:
        assert allocation is not None and person is not None
        outcome.view = step_view(session, allocation, person, Step.GRADES, current_scheme(settings.grading_scheme),
                                 settings, now=now)
    return outcome


def asks_no_meeting(session: Session, allocation: Allocation, *, now: dt.datetime, amending: bool = False) -> bool:
    """Does the form ask why there was no reflection meeting? When none has been held (or begun), unless amending
    (an amendment keeps the reason already stored)."""
    return not amending and not meeting_has_been_held(session, allocation.id, now=now)


def step_view(
    session: Session, allocation: Allocation, person: Person, step: Step, scheme: Scheme, settings: Settings, *,
    now: dt.datetime, amending: bool = False,
) -> dict[str, Any]:
    """What a step's modal shows: the case, the scheme, the draft so far, (first step) the worker's
    reflection sheet and whether it asks why there was no meeting, and (last step) who can own an action."""
    draft = _draft(session, allocation.id, person.id)
    sheet = sheet_of(session, allocation.id) if step == Step.GRADES else None
    case = allocation.case
    context: dict[str, Any] = {
        "step": step.value,
        "allocation_id": allocation.id,
        "case": {"reference": case.reference, "team": case.team.name, "type": case.case_type.value},
        "audit": {"type": allocation.audit_type.value, "due_date": allocation.due_date.isoformat()},
        "scheme": scheme_context(scheme),
        "draft": dict(draft.values) if draft is not None else {},
        "draft_saved_at": draft.updated_at.isoformat() if draft is not None and step == Step.GRADES else None,
        "today": now.astimezone(settings.tz).date().isoformat(),
        "reflection": sheet_context(sheet) if sheet is not None else None,
        "ask_no_meeting": step == Step.GRADES and asks_no_meeting(session, allocation, now=now, amending=amending),
    }
    if step == Step.ACTIONS:
        context["owners"] = [{"id": p.id, "name": p.display_name} for p in action_owners(session, allocation)]
        context["slots"] = list(range(1, len([f for f in step_fields(step, scheme) if f.endswith("_what")]) + 1))
        context["previous_actions"] = previous_context(previous_actions(session, allocation))
    return context


def _draft(session: Session, allocation_id: int, person_id: int, *, lock: bool = False) -> AuditDraft | None:
    query = select(AuditDraft).where(AuditDraft.allocation_id == allocation_id, AuditDraft.person_id == person_id)
    return session.scalar(query.with_for_update() if lock else query)


def _keep_draft(
    session: Session, allocation: Allocation, person: Person, step: Step, values: dict[str, Any], scheme: Scheme,
    guard: Any, *, now: dt.datetime,
) -> None:
    """Merge one step's values into the person's draft. Text that the guardrail stops is not kept."""
    kept = {k: v for k, v in values.items() if k in step_fields(step, scheme) and v not in (None, "", [])}
    for key in TEXT_FIELDS:
        if isinstance(kept.get(key), str) and kept[key].strip() and guard(kept[key]) is not None:
            kept.pop(key)
    draft = _draft(session, allocation.id, person.id, lock=True)
    if draft is None:
        draft = AuditDraft(allocation_id=allocation.id, person_id=person.id, values={})
        session.add(draft)
    merged = {k: v for k, v in (draft.values or {}).items() if k not in step_fields(step, scheme)}
    draft.values = {**merged, **kept}
    draft.updated_at = now


def _locked(
    session: Session, allocation_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str
) -> tuple[FormOutcome, Allocation | None]:
    """The allocation, locked, when ``person`` may record it now; else None and why not."""
    allocation = load_allocation(session, allocation_id, lock=True)
    outcome = _may_record(session, allocation, person, allocation_id=allocation_id, now=now, actor_ref=actor_ref)
    return outcome, (allocation if outcome.decision.allowed and outcome.late is None else None)


def advance(
    session: Session, allocation_id: int, person: Person | None, step: Step, values: dict[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> FormOutcome:
    """A step was submitted: its field errors, or the draft kept and the next step's view; the
    last step submits the audit."""
    outcome, allocation = _locked(session, allocation_id, person, now=now, actor_ref=actor_ref)
    if allocation is None or person is None:
        return outcome
    scheme = current_scheme(settings.grading_scheme)
    form = take_step(session, allocation, person, step, values, scheme, settings, outcome, now=now)
    earlier = previous_actions(session, allocation) if step == Step.ACTIONS else []
    problems, judged = check_outcomes(values, earlier)  # a re-audit: did the previous audit's actions work?
    if problems:
        outcome.errors = {**outcome.errors, **problems}
        return outcome
    if form is None:
        return outcome
    try:
        outcome.record = store_record(session, allocation, form, scheme, settings, calendar, source=RecordSource.CHAT,
                                      by=person, now=now, actor_ref=actor_ref)
        if earlier:
            store_outcomes(session, outcome.record, judged, earlier, now=now)
    except RecordedMeanwhile:
        existing = _existing(session, allocation.id)
        assert existing is not None
        outcome.late = _late(existing)
    return outcome


def take_step(
    session: Session, allocation: Allocation, person: Person, step: Step, values: dict[str, Any], scheme: Scheme,
    settings: Settings, outcome: FormOutcome, *, now: dt.datetime, amending: bool = False,
) -> RecordForm | None:
    """One step of the form by ``person`` (allowed, the allocation locked by the caller): the draft
    kept, and the step's field errors or the next step's view put in ``outcome``. On the last
    step, the whole form checked from the draft; None while anything needs a change."""
    today = now.astimezone(settings.tz).date()
    guard = _guard(session, settings, today)
    owners = {p.id for p in action_owners(session, allocation)} if step == Step.ACTIONS else set()
    ask = step in (Step.GRADES, Step.ACTIONS) and asks_no_meeting(session, allocation, now=now, amending=amending)
    errors, _ = check_step(step, values, scheme, today=today, owners=owners, guard=guard, ask_no_meeting=ask)
    _keep_draft(session, allocation, person, step, values, scheme, guard, now=now)
    if errors:
        outcome.errors = errors
        return None
    if step != Step.ACTIONS:
        following = list(Step)[list(Step).index(step) + 1]
        outcome.view = step_view(session, allocation, person, following, scheme, settings, now=now, amending=amending)
        return None
    draft = _draft(session, allocation.id, person.id)
    everything = dict(draft.values) if draft is not None else {}
    errors, form = check_record(everything, scheme, today=today, owners=owners, guard=guard, ask_no_meeting=ask)
    if errors:  # an earlier step no longer passes (its draft was lost, or the scheme changed meanwhile)
        first = next(iter(errors.values()))
        outcome.errors = {step_fields(Step.ACTIONS, scheme)[0]: f"Go back: an earlier step needs a change. {first}"}
        return None
    return form


def close_form(
    session: Session, allocation_id: int, person: Person | None, step: Step, values: dict[str, Any], settings: Settings,
    *, now: dt.datetime, actor_ref: str,
) -> bool:
    """The form was closed unsent: keep what was typed as a draft (True), if the person may record it."""
    _, allocation = _locked(session, allocation_id, person, now=now, actor_ref=actor_ref)
    if allocation is None or person is None:
        return False
    keep_draft(session, allocation, person, step, values, current_scheme(settings.grading_scheme), settings, now=now)
    return True


def keep_draft(
    session: Session, allocation: Allocation, person: Person, step: Step, values: dict[str, Any], scheme: Scheme,
    settings: Settings, *, now: dt.datetime,
) -> None:
    """Merge one step's values into the person's draft (text the guardrail stops is not kept)."""
    guard = _guard(session, settings, now.astimezone(settings.tz).date())
    _keep_draft(session, allocation, person, step, values, scheme, guard, now=now)


def store_record(
    session: Session, allocation: Allocation, form: RecordForm, scheme: Scheme, settings: Settings,
    calendar: WorkingCalendar, *, source: RecordSource, by: Person | None, now: dt.datetime, actor_ref: str,
    submitted_at: dt.datetime | None = None,
) -> AuditRecord:
    """Store a checked record (from chat or an import) for ``allocation`` (locked, with none yet):
    the audit is done at ``submitted_at`` (default now), the draft goes, the findings are sent."""
    at = submitted_at or now
    record = AuditRecord(
        allocation_id=allocation.id, scheme=scheme.id, scheme_version=scheme.version, overall_grade=form.overall or "",
        rationale=form.rationale, strengths=form.good_practice, good_elements=form.elements, rule_reason=form.reason,
        flags=list(form.flags), seen_roles=list(form.seen), family_views=dict(form.family),
        no_actions_reason=form.no_actions_reason or None, no_meeting_reason=form.no_meeting_reason or None, source=source,
        submitted_by_id=by.id if by else None, submitted_at=at,
        reply_closes_on=closes_on(calendar, at, settings.reply_window_working_days),
    )
    record.sections = [AuditSectionGrade(section_key=k, grade=v) for k, v in form.sections.items() if v]
    record.grades = [AuditGradeEvent(stage=GradeStage.SUBMITTED, grade=record.overall_grade, by_id=record.submitted_by_id,
                                     at=at, reason=form.reason)]
    record.actions = [AuditAction(text=a.text, owner_id=a.owner_id, due_date=a.due_date, created_at=now) for a in form.actions]
    session.add(record)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # another process recorded it between our check and now: theirs stands
        session.expunge(record)
        raise RecordedMeanwhile(allocation.id) from None
    if allocation.state == AllocationState.ALLOCATED:
        mark_completed(session, allocation, by, now=now, actor_ref=actor_ref, at=at)
    session.execute(delete(AuditDraft).where(AuditDraft.allocation_id == allocation.id)
                    .execution_options(synchronize_session=False))
    audit_log(session, now=now, action="audit.record", actor=by, actor_ref=actor_ref, subject_type="audit_record",
              subject_id=record.id, detail={"allocation": allocation.id, "scheme": f"{scheme.id}@{scheme.version}",
                                            "source": source.value, "actions": len(record.actions)})
    notify_findings(session, record, scheme, calendar, now=now)
    return record


class RecordedMeanwhile(Exception):
    """The allocation got its record from another submission while this one was being stored."""

    def __init__(self, allocation_id: int) -> None:
        super().__init__(f"allocation {allocation_id} was recorded meanwhile")
        self.allocation_id = allocation_id
