"""Challenges, with the auditor first (Hull 21; Stockton 4.1-4.3): someone the findings went to
challenges a section grade, the overall grade or an action, with a reason (and, optionally, the
grade they propose); the auditor changes it or keeps it, with a reason; the challenger accepts
the answer or asks for moderation. Each step is one decision under the record's lock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.audits.findings import record_context
from bot.services.audits.schemes import Scheme, scheme_of
from bot.services.authz import Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.moderation.requests import start_challenge_moderation
from bot.services.replies.lifecycle import (
    ACTION,
    OVERALL,
    SECTION,
    change_grade,
    current_grade,
    lock_record,
    settle,
    withdraw_action,
)
from bot.services.replies.replies import ReplyOutcome, late_context, open_for, role_of, show_findings
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Person, Priority
from store.outbox import enqueue, person_ref
from store.records import (
    ActionStatus,
    AuditChallenge,
    AuditRecord,
    AuditReply,
    ChallengeState,
    GradeStage,
    ReplyKind,
)

MAX_REASON = 1000
CHANGE, KEEP = "change", "keep"
ACCEPT, MODERATION = "accept", "moderation"


def text_problem(session: Session, text: str, empty: str, settings: Settings, calendar: WorkingCalendar, *,
                 now: dt.datetime) -> str | None:
    """Why a typed reason can't be kept: empty (``empty`` says what to write), too long, or the guardrail's finding."""
    if not text:
        return empty
    if len(text) > MAX_REASON:
        return f"Keep this to {MAX_REASON} characters."
    return check_text(session, text, today=calendar.local_date(now), level=settings.privacy_guardrail)


def targets(record: AuditRecord, scheme: Scheme) -> list[dict[str, str]]:
    """What can be challenged: the overall grade, each section, each action still in the record."""
    found = [{"value": OVERALL, "label": "The overall grade"}]
    found += [{"value": f"{SECTION}:{s.key}", "label": f"Section: {s.label}"} for s in scheme.sections]
    found += [{"value": f"{ACTION}:{a.id}", "label": f"Action {n}: {a.text}"}
              for n, a in enumerate(record.actions, 1) if a.status != ActionStatus.WITHDRAWN]
    return found


def scale_for(scheme: Scheme, target: str) -> list[dict[str, str]]:
    """The grades a target takes (none for an action)."""
    scale = scheme.overall_scale if target == OVERALL else scheme.section_scale if target == SECTION else ()
    return [{"value": g.value, "label": g.label} for g in scale]


def challenge_form(record: AuditRecord, settings: Settings) -> dict[str, Any]:
    """The challenge modal's context."""
    scheme = scheme_of(record, settings)
    return {"record_id": record.id, "reference": record.allocation.case.reference, "targets": targets(record, scheme),
            "overall_scale": scale_for(scheme, OVERALL), "section_scale": scale_for(scheme, SECTION)}


def open_challenge(
    session: Session, record_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, actor_ref: str,
) -> tuple[ReplyOutcome, dict[str, Any] | None]:
    """May ``person`` challenge now? If so, the modal's context."""
    outcome = open_for(session, record_id, person, Permission.REPLY, settings, calendar, now=now, actor_ref=actor_ref)
    record = outcome.record
    if record is None or person is None:
        return outcome, None
    mine = next((r for r in record.replies if r.person_id == person.id), None)
    if mine is not None and mine.kind != ReplyKind.CHALLENGE:
        outcome.late = late_context(record, "answered", reply=mine, calendar=calendar, settings=settings)
        return outcome, None
    return outcome, challenge_form(record, settings)


def raise_challenge(
    session: Session, record_id: int, person: Person | None, target_value: str, proposed: str, reason: str,
    settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> ReplyOutcome:
    """The challenge is sent to the auditor (or field errors)."""
    outcome, form = open_challenge(session, record_id, person, settings, calendar, now=now, actor_ref=actor_ref)
    record = outcome.record
    if form is None or record is None or person is None:
        return outcome
    scheme = scheme_of(record, settings)
    target, _, key = target_value.partition(":")
    errors: dict[str, str] = {}
    if target_value not in {t["value"] for t in form["targets"]}:
        errors["target"] = "Choose what you are challenging."
    scale_of, _, proposed = proposed.rpartition(":") if proposed.startswith(f"{SECTION}:") else ("", "", proposed)
    grades = {g["value"] for g in scale_for(scheme, target)}
    if proposed and target == ACTION:
        errors["proposed"] = "An action has no grade: leave this empty and say in the reason what should change."
    elif proposed and (scale_of == SECTION) != (target == SECTION):
        errors["proposed"] = "Choose from the section grades for a section." if target == SECTION else (
            "Choose from the overall grades for the overall grade.")
    elif proposed and proposed not in grades:
        errors["proposed"] = "That grade is not on the scale for what you are challenging."
    elif proposed and proposed == current_grade(record, target, key or None):
        errors["proposed"] = "That is the grade it has now."
    reason = reason.strip()
    problem = text_problem(session, reason, "Say why you disagree.", settings, calendar, now=now)
    if problem:
        errors["reason"] = problem
    if not errors and any(c.challenger_id == person.id and c.target == target and (c.target_key or "") == key
                          and c.state != ChallengeState.SETTLED for c in record.challenges):
        errors["target"] = "You have already challenged this, and the challenge is still open."
    if errors:
        outcome.errors = errors
        return outcome
    if not any(r.person_id == person.id for r in record.replies):
        record.replies.append(AuditReply(person_id=person.id, role=role_of(record, person) or "", kind=ReplyKind.CHALLENGE,
                                         text="", at=now))
    challenge = AuditChallenge(
        challenger_id=person.id, target=target, target_key=key or None, proposed_grade=proposed or None, reason=reason,
        state=ChallengeState.WITH_AUDITOR, raised_at=now,
        due_on=calendar.add_working_days(calendar.local_date(now), settings.answer_working_days),
    )
    record.challenges.append(challenge)
    session.flush()
    audit_log(session, now=now, action="audit.challenge", actor=person, actor_ref=actor_ref, subject_type="audit_challenge",
              subject_id=challenge.id, detail={"record": record.id, "target": target, "key": key or None})
    show_findings(session, record, person, settings, calendar, now=now)
    context = challenge_context(challenge, settings, calendar)
    for auditor in auditors(record):
        enqueue(session, key=f"challenge:{challenge.id}:auditor:{auditor.id}", template=Template.CHALLENGE_AUDITOR,
                context={**context, "stage": "ask"}, now=now, recipient_id=auditor.id, priority=Priority.NORMAL,
                not_before=calendar.next_working_moment(now))
    return outcome


def auditors(record: AuditRecord) -> list[Person]:
    """The record's active auditors."""
    allocation = record.allocation
    return [p for p in (allocation.auditor, allocation.second_auditor) if p is not None and p.active]


def challenge_context(challenge: AuditChallenge, settings: Settings, calendar: WorkingCalendar) -> dict[str, Any]:
    """What every message about a challenge shows: the case, what is challenged, by whom, the
    grade it has and the one proposed, the reason, and the auditor's answer once given."""
    record = challenge.record
    scheme = scheme_of(record, settings)
    labels = {t["value"]: t["label"] for t in targets(record, scheme)}
    value = challenge.target if challenge.target == OVERALL else f"{challenge.target}:{challenge.target_key}"
    action = next((a for a in record.actions if str(a.id) == challenge.target_key), None) if challenge.target == ACTION else None
    scale = {g["value"]: g["label"] for g in scale_for(scheme, challenge.target)}
    grade = current_grade(record, challenge.target, challenge.target_key) if challenge.target != ACTION else None
    return {
        **{k: v for k, v in record_context(record, scheme, calendar.tz).items()
           if k in ("case", "audit", "auditor", "record_id")},
        "challenge_id": challenge.id,
        "target": challenge.target,
        "about": labels.get(value) or (f"Action: {action.text}" if action else value),
        "grade": scale.get(grade or "", grade),
        "proposed": scale.get(challenge.proposed_grade or "", challenge.proposed_grade),
        "reason": challenge.reason,
        "challenger": person_ref(challenge.challenger),
        "raised_at": challenge.raised_at.isoformat(),
        "state": challenge.state.value,
        "due_on": challenge.due_on.isoformat(),
        "answer": None if challenge.auditor_decision is None else {
            "decision": challenge.auditor_decision, "grade": scale.get(challenge.auditor_grade or "", challenge.auditor_grade),
            "reason": challenge.auditor_reason, "at": challenge.auditor_at.isoformat() if challenge.auditor_at else None,
        },
        "decision": challenge.challenger_decision,
        "scale": [{"value": k, "label": v} for k, v in scale.items()],
    }


def lock_challenge(session: Session, challenge_id: int) -> AuditChallenge | None:
    """The challenge with its record locked (the record first: the order every writer uses)."""
    record_id = session.scalar(select(AuditChallenge.record_id).where(AuditChallenge.id == challenge_id))
    if record_id is None or lock_record(session, record_id) is None:
        return None
    return session.get(AuditChallenge, challenge_id, populate_existing=True)


def _late(challenge: AuditChallenge, settings: Settings, calendar: WorkingCalendar) -> dict[str, Any]:
    return {"what": "challenge", "reference": challenge.record.allocation.case.reference, "submitted": False, "at": None,
            **challenge_context(challenge, settings, calendar)}


def answer_challenge(
    session: Session, challenge_id: int, person: Person | None, decision: str, grade: str, reason: str,
    settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str, check_only: bool = False,
) -> ReplyOutcome:
    """The auditor changes the grade (or takes the action out) or keeps it, with a reason.
    ``check_only``: may they answer now? (to open the modal)."""
    challenge = lock_challenge(session, challenge_id)
    if challenge is None:
        return ReplyOutcome(refuse(session, person, Permission.ANSWER_CHALLENGE, RefusalCode.NO_SUCH_AUDIT, now=now,
                                   actor_ref=actor_ref, subject_type="audit_challenge", subject_id=challenge_id,
                                   told=RefusalCode.NOT_THE_AUDITOR))
    record = challenge.record
    allowed = check(session, person, Permission.ANSWER_CHALLENGE, now=now, actor_ref=actor_ref,
                    subject_type="audit_challenge", subject_id=challenge.id, allocation=record.allocation)
    outcome = ReplyOutcome(allowed, record=record)
    if not allowed.allowed:
        return outcome
    if challenge.state != ChallengeState.WITH_AUDITOR:
        outcome.late = _late(challenge, settings, calendar)
        return outcome
    if check_only:
        return outcome
    scheme = scheme_of(record, settings)
    errors = _answer_errors(session, challenge, record, scheme, decision, grade, reason, settings, calendar, now=now)
    if errors:
        outcome.errors = errors
        return outcome
    if decision == CHANGE and challenge.target == ACTION:
        withdraw_action(session, record, int(challenge.target_key or 0), by=person, now=now)
    elif decision == CHANGE:
        change_grade(session, record, challenge.target, challenge.target_key, grade, stage=GradeStage.AFTER_REPLY, by=person,
                     reason=reason.strip(), now=now)
    challenge.auditor_decision, challenge.auditor_grade = decision, (grade or None) if decision == CHANGE else None
    challenge.auditor_reason, challenge.auditor_at = reason.strip(), now
    challenge.state = ChallengeState.ANSWERED
    challenge.due_on = calendar.add_working_days(calendar.local_date(now), settings.answer_working_days)
    session.flush()
    audit_log(session, now=now, action=f"audit.challenge.{decision}", actor=person, actor_ref=actor_ref,
              subject_type="audit_challenge", subject_id=challenge.id)
    context = challenge_context(challenge, settings, calendar)
    for auditor in auditors(record):  # the auditors' copies lose their buttons and say what was decided
        enqueue(session, key=f"challenge:{challenge.id}:auditor:{auditor.id}:answered", template=Template.CHALLENGE_AUDITOR,
                context={**context, "stage": "answered", "by": person_ref(person)}, now=now, recipient_id=auditor.id,
                replaces_key=f"challenge:{challenge.id}:auditor:{auditor.id}")
    enqueue(session, key=f"challenge:{challenge.id}:answer", template=Template.CHALLENGE_ANSWERED,
            context={**context, "stage": "ask"}, now=now, recipient_id=challenge.challenger_id, priority=Priority.NORMAL,
            not_before=calendar.next_working_moment(now))
    return outcome


def _answer_errors(
    session: Session, challenge: AuditChallenge, record: AuditRecord, scheme: Scheme, decision: str, grade: str,
    reason: str, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime,
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if decision not in (CHANGE, KEEP):
        errors["reason"] = "Choose whether to change or keep it."
    elif decision == CHANGE and challenge.target != ACTION:
        if grade not in {g["value"] for g in scale_for(scheme, challenge.target)}:
            errors["grade"] = "Choose the new grade."
        elif grade == current_grade(record, challenge.target, challenge.target_key):
            errors["grade"] = "That is the grade it has now: choose another, or keep it instead."
    problem = text_problem(session, reason.strip(), "Say why.", settings, calendar, now=now)
    if problem:
        errors["reason"] = problem
    return errors


def decide_answer(
    session: Session, challenge_id: int, person: Person | None, choice: str, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> ReplyOutcome:
    """The challenger accepts the auditor's answer (the challenge is settled) or asks for moderation."""
    challenge = lock_challenge(session, challenge_id)
    if challenge is None:
        return ReplyOutcome(refuse(session, person, Permission.DECIDE_CHALLENGE, RefusalCode.NO_SUCH_AUDIT, now=now,
                                   actor_ref=actor_ref, subject_type="audit_challenge", subject_id=challenge_id,
                                   told=RefusalCode.NOT_YOUR_CHALLENGE))
    allowed = check(session, person, Permission.DECIDE_CHALLENGE, now=now, actor_ref=actor_ref,
                    subject_type="audit_challenge", subject_id=challenge.id, lead_id=challenge.challenger_id)
    outcome = ReplyOutcome(allowed, record=challenge.record)
    if not allowed.allowed:
        return outcome
    if challenge.state != ChallengeState.ANSWERED:
        outcome.late = _late(challenge, settings, calendar)
        return outcome
    challenge.challenger_decision, challenge.challenger_at = choice, now
    audit_log(session, now=now, action=f"audit.challenge.{choice}", actor=person, actor_ref=actor_ref,
              subject_type="audit_challenge", subject_id=challenge.id)
    if choice == ACCEPT:
        settle(session, challenge, settings, calendar, now=now)
    else:
        challenge.state = ChallengeState.MODERATION
        session.flush()
        start_challenge_moderation(session, challenge, settings, calendar, now=now)
    context = challenge_context(challenge, settings, calendar)
    enqueue(session, key=f"challenge:{challenge.id}:answer:{choice}", template=Template.CHALLENGE_ANSWERED,
            context={**context, "stage": "decided"}, now=now, recipient_id=challenge.challenger_id,
            replaces_key=f"challenge:{challenge.id}:answer")
    return outcome
