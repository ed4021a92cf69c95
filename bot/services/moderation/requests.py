"""Moderation starts (Hull 22): a challenge the auditor and challenger could not settle goes to the
QA team, who choose a moderator from the eligible senior managers (the suggestion first); the
moderator is then sent the audit, the challenge and the auditor's answer.

One choice wins: the choice locks the record, re-checks the moderation's state, and edits the
other QA coordinators' copies in place; a late choice is told who chose whom.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.moderation.context import moderation_context
from bot.services.moderation.eligibility import eligible_moderators
from bot.services.replies.lifecycle import lock_record
from bot.settings import Settings
from store.audit import last_entry
from store.audit import record as audit_log
from store.models import Person, Priority
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import AuditChallenge, AuditModeration, ModerationKind, ModerationState


@dataclass
class Outcome:
    """A moderation service's answer: refused; done already (``late``: what to tell them); field
    errors; a form to open (``view``); or done."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    late: dict[str, Any] | None = None
    view: dict[str, Any] | None = None


def qa_key(moderation: AuditModeration, qa_id: int) -> str:
    """The key of the QA team's menu message for a moderation (edited in place when chosen)."""
    return f"moderation:{moderation.id}:qa:{qa_id}"


def moderator_key(moderation: AuditModeration) -> str:
    """The key of the moderator's request (edited in place when decided)."""
    return f"moderation:{moderation.id}:moderator:{moderation.moderator_id}"


def start_challenge_moderation(
    session: Session, challenge: AuditChallenge, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime
) -> AuditModeration:
    """The challenger asked for moderation (the caller has set the challenge to MODERATION in
    this unit of work): the QA team is asked to choose a moderator, the suggestion first."""
    record = challenge.record
    choices = eligible_moderators(session, record, settings, calendar, now=now, challenger_id=challenge.challenger_id)
    moderation = AuditModeration(
        record_id=record.id, challenge_id=challenge.id, kind=ModerationKind.CHALLENGE, state=ModerationState.CHOOSING,
        suggested_id=choices[0].id if choices else None, created_at=now,
    )
    session.add(moderation)
    session.flush()
    session.refresh(moderation)
    audit_log(session, now=now, action="moderation.requested", actor=challenge.challenger, subject_type="audit_moderation",
              subject_id=moderation.id, detail={"challenge_id": challenge.id, "eligible": len(choices)})
    ask_qa_to_choose(session, moderation, choices, settings, calendar, now=now)
    return moderation


def ask_qa_to_choose(
    session: Session, moderation: AuditModeration, choices: list[Person], settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime,
) -> int:
    """DM each QA coordinator the case with a menu of eligible moderators (or that nobody is)."""
    context = {
        **moderation_context(session, moderation, settings, calendar),
        "stage": "choosing",
        "choices": [{"id": p.id, "name": p.display_name, "suggested": n == 0} for n, p in enumerate(choices)],
    }
    return sum(
        enqueue(session, key=qa_key(moderation, qa.id), template=Template.MODERATION_QA, context=context, now=now,
                recipient_id=qa.id, priority=Priority.NORMAL)
        for qa in qa_coordinators(session)
    )


def load_locked(session: Session, moderation_id: int) -> AuditModeration | None:
    """The moderation with its record row-locked (the record first, as every review writer does)."""
    moderation = session.get(AuditModeration, moderation_id)
    if moderation is None:
        return None
    lock_record(session, moderation.record_id)
    session.refresh(moderation)
    return moderation


def choose_moderator(
    session: Session, moderation_id: int, person: Person | None, moderator_id: int, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """A QA coordinator picked the moderator from the menu: the first choice wins."""
    decision = check(session, person, Permission.CHOOSE_MODERATOR, now=now, actor_ref=actor_ref,
                     subject_type="audit_moderation", subject_id=moderation_id)
    if not decision.allowed:
        return Outcome(decision)
    moderation = load_locked(session, moderation_id)
    if moderation is None:
        return Outcome(refuse(session, person, Permission.CHOOSE_MODERATOR, RefusalCode.NO_SUCH_MODERATION, now=now,
                              actor_ref=actor_ref, subject_type="audit_moderation", subject_id=moderation_id))
    if moderation.state != ModerationState.CHOOSING:
        return Outcome(decision, late=late_context(session, moderation, "chosen"))
    challenger = moderation.challenge.challenger_id if moderation.challenge else None
    eligible = {p.id: p for p in eligible_moderators(session, moderation.record, settings, calendar, now=now,
                                                     challenger_id=challenger)}
    if moderator_id not in eligible:
        return Outcome(decision, errors={"moderator": "That person can no longer moderate this audit; choose another."})
    assign(session, moderation, eligible[moderator_id], person, settings, calendar, now=now)
    context = {**moderation_context(session, moderation, settings, calendar), "stage": "chosen", "choices": []}
    for qa in qa_coordinators(session):
        enqueue(session, key=f"{qa_key(moderation, qa.id)}:chosen", template=Template.MODERATION_QA, context=context,
                now=now, recipient_id=qa.id, replaces_key=qa_key(moderation, qa.id))
    return Outcome(decision)


def assign(
    session: Session, moderation: AuditModeration, moderator: Person, by: Person | None, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime,
) -> None:
    """Give the moderation to ``moderator`` (due in the answer days) and send them the audit."""
    today = calendar.local_date(now)
    moderation.moderator_id = moderator.id
    moderation.chosen_by_id = by.id if by is not None else None
    moderation.chosen_at = now
    moderation.due_on = calendar.add_working_days(today, settings.answer_working_days)
    moderation.state = ModerationState.WITH_MODERATOR
    session.flush()
    session.refresh(moderation)
    audit_log(session, now=now, action="moderation.assigned", actor=by, actor_ref="" if by else "scheduler",
              subject_type="audit_moderation", subject_id=moderation.id, detail={"moderator_id": moderator.id})
    context = {**moderation_context(session, moderation, settings, calendar), "stage": "ask", "acting": "moderator"}
    enqueue(session, key=moderator_key(moderation), template=Template.MODERATION_REQUEST, context=context, now=now,
            recipient_id=moderator.id, priority=Priority.NORMAL, not_before=calendar.next_working_moment(now))


def late_context(session: Session, moderation: AuditModeration, what: str) -> dict[str, Any]:
    """What a late click is told: who chose (or decided) and when."""
    record = moderation.record
    if what == "chosen":
        by, at = session.get(Person, moderation.chosen_by_id) if moderation.chosen_by_id else None, moderation.chosen_at
    else:
        by, at = moderation.moderator, moderation.decided_at
    return {"what": what, "reference": record.allocation.case.reference, "to": person_ref(moderation.moderator),
            "by": person_ref(by), "at": at.isoformat() if at else None, "submitted": False}


def sample_sent_by(session: Session, month_id: int) -> tuple[Person | None, dt.datetime | None]:
    """Who sent a month's sample to the moderators, and when."""
    entry = last_entry(session, action="moderation.sample_sent", subject_type="audit_month", subject_id=month_id)
    if entry is None:
        return None, None
    return (session.get(Person, entry.actor_id) if entry.actor_id else None), entry.at
