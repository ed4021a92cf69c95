"""What moderation messages show, and who is told at each step. Grades and notes go only to the
case's circle, the QA team and the moderator, always as direct messages (never a channel)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.audits.findings import record_context
from bot.services.audits.schemes import Scheme, scheme_of
from bot.services.replies.lifecycle import ACTION, OVERALL, SECTION, current_grade
from bot.settings import Settings
from store.models import Person, Priority
from store.outbox import enqueue, person_ref
from store.records import AuditChallenge, AuditModeration, AuditRecord


def label(scheme: Scheme, target: str, value: str | None) -> str | None:
    """A grade's words on the scale of ``target`` (the overall grade, or a section)."""
    if value is None:
        return None
    scale = scheme.section_scale if target == SECTION else scheme.overall_scale
    return next((g.label for g in scale if g.value == value), value)


def target_of(moderation: AuditModeration) -> tuple[str, str | None]:
    """What is moderated: the challenged grade or action, or (a sample) the overall grade."""
    challenge = moderation.challenge
    if challenge is None:
        return OVERALL, None
    return challenge.target, challenge.target_key


def grade_scale(scheme: Scheme, target: str) -> list[dict[str, str]]:
    """The options of the grade menu for ``target``; none for an action."""
    if target == ACTION:
        return []
    scale = scheme.section_scale if target == SECTION else scheme.overall_scale
    return [{"value": g.value, "label": g.label} for g in scale]


def challenge_context(record: AuditRecord, challenge: AuditChallenge, scheme: Scheme) -> dict[str, Any]:
    """A challenge as the moderation messages show it: what, why, and the auditor's answer."""
    target, key = challenge.target, challenge.target_key
    if target == SECTION:
        about = next((s.label for s in scheme.sections if s.key == key), key or "")
    elif target == ACTION:
        about = next((a.text for a in record.actions if str(a.id) == str(key)), "an action")
    else:
        about = ""
    return {
        "id": challenge.id,
        "target": target,
        "about": about,
        "current": label(scheme, target, current_grade(record, target, key)) if target != ACTION else None,
        "proposed": label(scheme, target, challenge.proposed_grade),
        "reason": challenge.reason,
        "challenger": person_ref(challenge.challenger),
        "auditor_decision": challenge.auditor_decision,
        "auditor_grade": label(scheme, target, challenge.auditor_grade),
        "auditor_reason": challenge.auditor_reason or "",
        "state": challenge.state.value,
        "head_of_service": person_ref(challenge.head_of_service),
        "head_of_service_agrees": challenge.head_of_service_agrees,
        "head_of_service_grade": label(scheme, target, challenge.head_of_service_grade),
        "head_of_service_comment": challenge.head_of_service_comment or "",
        "due_on": challenge.due_on.isoformat() if challenge.due_on else None,
    }


def moderation_context(
    session: Session, moderation: AuditModeration, settings: Settings, calendar: WorkingCalendar
) -> dict[str, Any]:
    """Everything a moderation message can show: the audit as it stands, the challenge (if any),
    and the moderation so far."""
    record = moderation.record
    scheme = scheme_of(record, settings)
    target, key = target_of(moderation)
    return {
        **record_context(record, scheme, calendar.tz),
        "moderation_id": moderation.id,
        "kind": moderation.kind.value,
        "state": moderation.state.value,
        "final": settings.moderation_final.value,
        "challenge": challenge_context(record, moderation.challenge, scheme) if moderation.challenge else None,
        "target": target,
        "current": label(scheme, target, current_grade(record, target, key)) if target != ACTION else None,
        "moderator": person_ref(moderation.moderator),
        "suggested": person_ref(moderation.suggested),
        "chosen_by": person_ref(session.get(Person, moderation.chosen_by_id)) if moderation.chosen_by_id else None,
        "due_on": moderation.due_on.isoformat() if moderation.due_on else None,
        "agrees": moderation.agrees,
        "grade": label(scheme, target, moderation.grade),
        "comment": moderation.comment or "",
        "decided_at": moderation.decided_at.isoformat() if moderation.decided_at else None,
        "extra_actions": [{"text": a.text, "owner": person_ref(a.owner), "due_date": a.due_date.isoformat()}
                          for a in record.actions if a.moderation_id == moderation.id],
    }


def told_of_steps(record: AuditRecord, challenge: AuditChallenge | None) -> list[Person]:
    """Who hears of each step: the auditor, team manager and worker, and the challenger."""
    allocation = record.allocation
    people = [allocation.auditor, allocation.case.team_manager, allocation.case.allocated_worker,
              challenge.challenger if challenge is not None else None]
    return list({p.id: p for p in people if p is not None and p.active}.values())


def tell_step(
    session: Session, moderation: AuditModeration, context: dict[str, Any], stage: str, calendar: WorkingCalendar,
    *, now: dt.datetime, offer_to: int | None = None,
) -> int:
    """One step's outcome to the auditor, team manager, worker and challenger; ``offer_to`` (the
    challenger, under the Bradford setting) gets the buttons to accept it or take it further."""
    written = 0
    for person in told_of_steps(moderation.record, moderation.challenge):
        written += enqueue(session, key=step_key(moderation, stage, person.id), template=Template.MODERATION_OUTCOME,
                           context={**context, "stage": stage, "offer": person.id == offer_to, "recipient": person_ref(person)},
                           now=now, recipient_id=person.id, priority=Priority.NORMAL,
                           not_before=now if person.id == offer_to else calendar.next_working_moment(now))
    return written


def step_key(moderation: AuditModeration, stage: str, person_id: int) -> str:
    """The idempotency key of a step's message to one person (an edit replaces it by this key)."""
    return f"moderation:{moderation.id}:{stage}:{person_id}"
