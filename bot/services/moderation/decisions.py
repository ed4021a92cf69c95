"""The moderator's decision, the challenger's answer to it, and (Bradford §3) the Head of
Service's final word. Each is one decision under the record's row lock: a second submission, a
double click or a stale message changes nothing and is told who decided and when.

Hull (``moderation_final = moderator``): the moderator's judgement is final, so the challenge is
settled with it. Bradford (``head_of_service``): a challenger the moderation did not satisfy may
take a grade disagreement to the Head of Service QA, an actions disagreement to the Head of
Service of the case-holding area; that answer is final.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import FormBlock, Template
from bot.services.audits.findings import scheme_context
from bot.services.audits.form import Step, check_step
from bot.services.audits.record import action_owners
from bot.services.audits.schemes import scheme_of
from bot.services.authz import Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.moderation.context import grade_scale, moderation_context, step_key, target_of, tell_step
from bot.services.moderation.requests import Outcome, late_context, load_locked, moderator_key
from bot.services.replies.lifecycle import ACTION, change_grade, current_grade, lock_record, settle, withdraw_action
from bot.services.staff.people import holder_in_service
from bot.settings import ModerationFinal, Settings
from store.audit import record as audit_log
from store.models import Person, PersonRole, Priority, Role
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import (
    ActionStatus,
    AuditAction,
    AuditChallenge,
    AuditModeration,
    ChallengeState,
    GradeStage,
    ModerationState,
)

#: Extra actions a moderator may add.
EXTRA_ACTIONS = 3
#: The longest comment (the modal enforces the same).
MAX_COMMENT = 1000
AGREE, DISAGREE = "agree", "disagree"


def _moderator_check(session: Session, moderation_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str,
                     ) -> tuple[Outcome, AuditModeration | None]:
    moderation = load_locked(session, moderation_id)
    if moderation is None:
        return Outcome(refuse(session, person, Permission.MODERATE, RefusalCode.NO_SUCH_MODERATION, now=now, actor_ref=actor_ref,
                              subject_type="audit_moderation", subject_id=moderation_id,
                              told=RefusalCode.NOT_THE_MODERATOR)), None
    deciders = {moderation.moderator_id} if moderation.moderator_id is not None else set()
    decision = check(session, person, Permission.MODERATE, now=now, actor_ref=actor_ref, subject_type="audit_moderation",
                     subject_id=moderation.id, deciders=deciders)
    if not decision.allowed:
        return Outcome(decision), None
    if moderation.state == ModerationState.DECIDED:
        return Outcome(decision, late=late_context(session, moderation, "moderated")), None
    return Outcome(decision), moderation


def form_context(session: Session, moderation: AuditModeration, settings: Settings, calendar: WorkingCalendar,
                 *, who: str, challenge_id: int | None = None) -> dict[str, Any]:
    """The moderation form: agree or disagree, the grade (not for an action), a comment, and for
    the moderator up to three extra actions."""
    record = moderation.record
    scheme = scheme_of(record, settings)
    target, key = target_of(moderation)
    owners = action_owners(session, record.allocation) if who == "moderator" else []
    return {
        "acting": who,
        "moderation_id": moderation.id,
        "challenge_id": challenge_id,
        "kind": moderation.kind.value,
        "reference": record.allocation.case.reference,
        "target": target,
        "grades": grade_scale(scheme, target),
        "current": current_grade(record, target, key) if target != ACTION else None,
        "owners": [{"id": p.id, "name": p.display_name} for p in owners],
        "slots": list(range(1, EXTRA_ACTIONS + 1)) if who == "moderator" and owners else [],
        "scheme": scheme_context(scheme)["name"],
    }


def open_moderation_form(
    session: Session, moderation_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """**Record the moderation…**: the form, or a refusal, or who decided it already."""
    outcome, moderation = _moderator_check(session, moderation_id, person, now=now, actor_ref=actor_ref)
    if moderation is None:
        return outcome
    outcome.view = form_context(session, moderation, settings, calendar, who="moderator")
    return outcome


def _read_decision(
    session: Session, values: Mapping[str, Any], *, target: str, current: str | None, grades: list[dict[str, str]],
    settings: Settings, today: dt.date,
) -> tuple[dict[str, str], bool | None, str | None, str]:
    """Check agree / grade / comment: field errors, and what was given."""
    errors: dict[str, str] = {}
    agrees_text = values.get(FormBlock.AGREES)
    agrees = {AGREE: True, DISAGREE: False}.get(str(agrees_text)) if agrees_text else None
    grade = values.get(FormBlock.GRADE) or None
    comment = str(values.get(FormBlock.COMMENT) or "").strip()
    if agrees is None:
        errors[FormBlock.AGREES] = "Say whether you agree."
    if target != ACTION:
        if grade is None or grade not in {g["value"] for g in grades}:
            errors[FormBlock.GRADE] = "Choose the grade you think is right."
        elif agrees is True and grade != current:
            errors[FormBlock.GRADE] = "You agree, so the grade stays as it is: choose it, or say you disagree."
        elif agrees is False and grade == current:
            errors[FormBlock.GRADE] = "You disagree: choose the grade you think is right."
    if not comment:
        errors[FormBlock.COMMENT] = "Say briefly why."
    elif len(comment) > MAX_COMMENT:
        errors[FormBlock.COMMENT] = f"Keep this to {MAX_COMMENT} characters (it has {len(comment)})."
    elif (problem := check_text(session, comment, today=today, level=settings.privacy_guardrail)) is not None:
        errors[FormBlock.COMMENT] = problem
    return errors, agrees, (str(grade) if grade else None), comment


def record_moderation(
    session: Session, moderation_id: int, person: Person | None, values: Mapping[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """The moderator's decision: the grade changed (after moderation) if it differs, an action
    withdrawn if the moderator sides with its challenger, extra actions added; then the challenge
    settled (Hull) or offered to the challenger to accept or take further (Bradford)."""
    outcome, moderation = _moderator_check(session, moderation_id, person, now=now, actor_ref=actor_ref)
    if moderation is None:
        return outcome
    assert person is not None
    record = moderation.record
    today = calendar.local_date(now)
    target, key = target_of(moderation)
    scheme = scheme_of(record, settings)
    current = current_grade(record, target, key) if target != ACTION else None
    errors, agrees, grade, comment = _read_decision(session, values, target=target, current=current,
                                                    grades=grade_scale(scheme, target), settings=settings, today=today)
    owners = {p.id for p in action_owners(session, record.allocation)}
    filled = {k: v for k, v in values.items() if str(k).startswith("action_") and v}
    extra: list[Any] = []
    if filled:
        action_errors, form = check_step(Step.ACTIONS, filled, scheme, today=today, owners=owners, slots=EXTRA_ACTIONS,
                                         guard=lambda text: check_text(session, text, today=today,
                                                                       level=settings.privacy_guardrail))
        errors.update({k: v for k, v in action_errors.items() if k.startswith("action_")})
        extra = form.actions
    if errors:
        return Outcome(outcome.decision, errors=errors)
    assert agrees is not None
    moderation.state, moderation.agrees, moderation.grade = ModerationState.DECIDED, agrees, grade
    moderation.comment, moderation.decided_at = comment, now
    challenge = moderation.challenge
    why = f"Moderated by {person.display_name}: {comment}"
    if grade is not None:
        change_grade(session, record, target, key, grade, stage=GradeStage.AFTER_MODERATION, by=person, reason=why, now=now)
    elif challenge is not None and not agrees and key is not None and key.isdigit():
        withdraw_action(session, record, int(key), by=person, now=now)
    for line in extra:
        record.actions.append(AuditAction(text=line.text, owner_id=line.owner_id, due_date=line.due_date,
                                          status=ActionStatus.OPEN, created_at=now, moderation_id=moderation.id))
    session.flush()
    audit_log(session, now=now, action="moderation.decided", actor=person, actor_ref=actor_ref, subject_type="audit_moderation",
              subject_id=moderation.id, detail={"agrees": agrees, "grade": grade, "extra_actions": len(extra)})
    offer_to = None
    if challenge is not None:
        if settings.moderation_final == ModerationFinal.HEAD_OF_SERVICE and not _satisfied(challenge, moderation):
            challenge.due_on = calendar.add_working_days(today, settings.answer_working_days)
            offer_to = challenge.challenger_id
        else:
            settle(session, challenge, settings, calendar, now=now)
    session.flush()
    session.refresh(record)
    context = moderation_context(session, moderation, settings, calendar)
    enqueue(session, key=f"{moderator_key(moderation)}:decided", template=Template.MODERATION_REQUEST,
            context={**context, "stage": "decided", "acting": "moderator"}, now=now, recipient_id=person.id,
            replaces_key=moderator_key(moderation))
    tell_step(session, moderation, context, "moderated", calendar, now=now, offer_to=offer_to)
    return outcome


def _satisfied(challenge: AuditChallenge, moderation: AuditModeration) -> bool:
    """The moderation gave the challenger what they asked: nothing left to take further."""
    if challenge.target == ACTION:
        return moderation.agrees is False
    if challenge.proposed_grade:
        return moderation.grade == challenge.proposed_grade
    return moderation.agrees is False


def _challenger_check(
    session: Session, challenge_id: int, person: Person | None, permission: Permission, *, now: dt.datetime, actor_ref: str
) -> tuple[Outcome, AuditChallenge | None, AuditModeration | None]:
    """The challenge locked, and whether ``person`` may act on it at this step."""
    challenge = session.get(AuditChallenge, challenge_id)
    told = RefusalCode.NOT_THE_CHALLENGER if permission == Permission.ANSWER_MODERATION else RefusalCode.NOT_THE_HEAD_OF_SERVICE
    if challenge is None:
        return Outcome(refuse(session, person, permission, RefusalCode.NO_SUCH_MODERATION, now=now, actor_ref=actor_ref,
                              subject_type="audit_challenge", subject_id=challenge_id, told=told)), None, None
    lock_record(session, challenge.record_id)
    session.refresh(challenge)
    deciders = {challenge.challenger_id} if permission == Permission.ANSWER_MODERATION else {challenge.head_of_service_id}
    decision = check(session, person, permission, now=now, actor_ref=actor_ref, subject_type="audit_challenge",
                     subject_id=challenge.id, deciders={i for i in deciders if i is not None})
    if not decision.allowed:
        return Outcome(decision), None, None
    moderation = session.scalar(
        select(AuditModeration).where(AuditModeration.challenge_id == challenge.id).order_by(AuditModeration.id.desc()).limit(1)
    )
    return Outcome(decision), challenge, moderation


def _late_answer(challenge: AuditChallenge, moderation: AuditModeration | None) -> dict[str, Any]:
    """What a late click on the challenger's or Head of Service's buttons is told."""
    hos = challenge.head_of_service
    what: str | None
    by: Person | None
    at: dt.datetime | None
    if challenge.head_of_service_at is not None:
        what, by, at = "head_of_service_decided", hos, challenge.head_of_service_at
    elif challenge.challenger_decision in ("accept", "head_of_service"):
        what, by, at = challenge.challenger_decision, challenge.challenger, challenge.challenger_at
    else:
        what, by, at = "settled", None, challenge.settled_at
    return {"what": what, "reference": challenge.record.allocation.case.reference, "to": person_ref(hos), "by": person_ref(by),
            "at": at.isoformat() if at else None, "submitted": False}


def answer_moderation(
    session: Session, challenge_id: int, person: Person | None, *, accept: bool, settings: Settings,
    calendar: WorkingCalendar, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """Bradford: the challenger accepts the moderation (settled), or takes it to the Head of
    Service (grades: the Head of Service QA; actions: the case's Head of Service)."""
    outcome, challenge, moderation = _challenger_check(session, challenge_id, person, Permission.ANSWER_MODERATION, now=now,
                                                       actor_ref=actor_ref)
    if challenge is None:
        return outcome
    waiting = (challenge.state == ChallengeState.MODERATION and moderation is not None
               and moderation.state == ModerationState.DECIDED)
    if not waiting or challenge.challenger_decision in ("accept", "head_of_service"):
        return Outcome(outcome.decision, late=_late_answer(challenge, moderation))
    assert moderation is not None
    challenge.challenger_at = now
    challenge.challenger_decision = "accept" if accept else "head_of_service"
    stage = "accepted"
    if accept:
        settle(session, challenge, settings, calendar, now=now)
    else:
        stage = "taken_further"
        challenge.state = ChallengeState.HEAD_OF_SERVICE
        challenge.due_on = calendar.add_working_days(calendar.local_date(now), settings.answer_working_days)
        hos = head_of_service_for(session, challenge)
        challenge.head_of_service_id = hos.id if hos is not None else None
    session.flush()
    session.refresh(challenge)
    audit_log(session, now=now, action=f"moderation.{stage}", actor=person, actor_ref=actor_ref, subject_type="audit_challenge",
              subject_id=challenge.id, detail={"head_of_service_id": challenge.head_of_service_id})
    context = moderation_context(session, moderation, settings, calendar)
    assert person is not None
    enqueue(session, key=f"{step_key(moderation, 'moderated', person.id)}:answered", template=Template.MODERATION_OUTCOME,
            context={**context, "stage": "moderated", "offer": False, "recipient": person_ref(person)}, now=now,
            recipient_id=person.id, replaces_key=step_key(moderation, "moderated", person.id))
    tell_step(session, moderation, context, stage, calendar, now=now)
    if not accept:
        send_to_head_of_service(session, challenge, moderation, settings, calendar, now=now)
    return outcome


def head_of_service_for(session: Session, challenge: AuditChallenge) -> Person | None:
    """Bradford §3: grades go to the Head of Service QA, actions to the case's area's Head of Service."""
    if challenge.target == ACTION:
        return holder_in_service(session, Role.HEAD_OF_SERVICE, challenge.record.allocation.case.team.service_id)
    return session.scalars(
        select(Person).where(Person.active.is_(True), Person.role_rows.any(PersonRole.role == Role.HEAD_OF_SERVICE_QA))
        .order_by(Person.id)
    ).first()


def hos_key(challenge: AuditChallenge) -> str:
    """The key of the Head of Service's request (edited in place when decided)."""
    return f"challenge:{challenge.id}:head_of_service:{challenge.head_of_service_id}"


def send_to_head_of_service(
    session: Session, challenge: AuditChallenge, moderation: AuditModeration, settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime,
) -> int:
    """The Head of Service gets the audit, the challenge and the moderation; with nobody in the
    role, the QA team is told (the chaser hands it on once someone holds it)."""
    context = moderation_context(session, moderation, settings, calendar)
    if challenge.head_of_service_id is None:
        return sum(
            enqueue(session, key=f"challenge:{challenge.id}:no_head_of_service:{qa.id}", template=Template.MODERATION_CHASE,
                    context={**context, "stage": "no_head_of_service", "waiting": None, "days": 0}, now=now, recipient_id=qa.id)
            for qa in qa_coordinators(session)
        )
    return int(enqueue(session, key=hos_key(challenge), template=Template.MODERATION_REQUEST,
                       context={**context, "stage": "ask", "acting": "head_of_service"}, now=now,
                       recipient_id=challenge.head_of_service_id, priority=Priority.NORMAL,
                       not_before=calendar.next_working_moment(now)))


def open_head_of_service_form(
    session: Session, challenge_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """**Record your decision…** for the Head of Service: the form, a refusal, or who decided."""
    outcome, challenge, moderation = _challenger_check(session, challenge_id, person, Permission.DECIDE_AS_HEAD_OF_SERVICE,
                                                       now=now, actor_ref=actor_ref)
    if challenge is None:
        return outcome
    if challenge.state != ChallengeState.HEAD_OF_SERVICE or moderation is None:
        return Outcome(outcome.decision, late=_late_answer(challenge, moderation))
    outcome.view = form_context(session, moderation, settings, calendar, who="head_of_service", challenge_id=challenge.id)
    return outcome


def record_head_of_service(
    session: Session, challenge_id: int, person: Person | None, values: Mapping[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """The Head of Service's answer, which is final: the grade changed (after Head of Service) if it
    differs, an action withdrawn if they side with the challenger, and the challenge settled."""
    outcome, challenge, moderation = _challenger_check(session, challenge_id, person, Permission.DECIDE_AS_HEAD_OF_SERVICE,
                                                       now=now, actor_ref=actor_ref)
    if challenge is None:
        return outcome
    if challenge.state != ChallengeState.HEAD_OF_SERVICE or moderation is None:
        return Outcome(outcome.decision, late=_late_answer(challenge, moderation))
    assert person is not None
    record = challenge.record
    target, key = challenge.target, challenge.target_key
    scheme = scheme_of(record, settings)
    current = current_grade(record, target, key) if target != ACTION else None
    errors, agrees, grade, comment = _read_decision(session, values, target=target, current=current,
                                                    grades=grade_scale(scheme, target), settings=settings,
                                                    today=calendar.local_date(now))
    if errors:
        return Outcome(outcome.decision, errors=errors)
    challenge.head_of_service_agrees, challenge.head_of_service_grade = agrees, grade
    challenge.head_of_service_comment, challenge.head_of_service_at = comment, now
    why = f"Decided by {person.display_name} (Head of Service): {comment}"
    if grade is not None:
        change_grade(session, record, target, key, grade, stage=GradeStage.AFTER_HEAD_OF_SERVICE, by=person, reason=why, now=now)
    elif not agrees and key is not None and key.isdigit():
        withdraw_action(session, record, int(key), by=person, now=now)
    settle(session, challenge, settings, calendar, now=now)
    session.flush()
    session.refresh(record)
    audit_log(session, now=now, action="moderation.head_of_service_decided", actor=person, actor_ref=actor_ref,
              subject_type="audit_challenge", subject_id=challenge.id, detail={"agrees": agrees, "grade": grade})
    context = moderation_context(session, moderation, settings, calendar)
    enqueue(session, key=f"{hos_key(challenge)}:decided", template=Template.MODERATION_REQUEST,
            context={**context, "stage": "decided", "acting": "head_of_service"}, now=now, recipient_id=person.id,
            replaces_key=hos_key(challenge))
    tell_step(session, moderation, context, "head_of_service_decided", calendar, now=now)
    return outcome
