"""Chasing a moderation step nobody has answered (``answer_working_days``, 3 by default): the
person is reminded on the first working day after it was due, and the QA team is told one
working day later. Keyed by (step, person, due date), so a repeated tick plans nothing twice and a
new due date plans afresh. Also hands a challenge taken to a Head of Service on once someone
holds the role, when nobody did at the time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.moderation.context import moderation_context
from bot.services.moderation.decisions import head_of_service_for, send_to_head_of_service
from bot.services.moderation.requests import load_locked
from bot.services.replies.lifecycle import lock_record
from bot.settings import Settings
from store.models import Person
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import AuditChallenge, AuditModeration, ChallengeState, ModerationState


def _chase(
    session: Session, key: str, context: dict[str, Any], person: Person | None, due_on: dt.date, today: dt.date,
    calendar: WorkingCalendar, *, now: dt.datetime,
) -> int:
    """Remind ``person`` once the step is overdue; tell the QA team a working day after that."""
    late = calendar.working_days_between(due_on, today)
    if late < 1:
        return 0
    context = {**context, "waiting": person_ref(person), "days": late}
    written = 0
    if person is not None and person.active:
        written += enqueue(session, key=f"{key}:remind:{person.id}:{due_on}", template=Template.MODERATION_CHASE,
                           context={**context, "stage": "remind"}, now=now, recipient_id=person.id)
    if late >= 2 or person is None or not person.active:
        for qa in qa_coordinators(session):
            written += enqueue(session, key=f"{key}:late:{due_on}:{qa.id}", template=Template.MODERATION_CHASE,
                               context={**context, "stage": "late"}, now=now, recipient_id=qa.id)
    return written


def plan_moderation_chasers(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Remind moderators, challengers and Heads of Service who are past their answer days."""
    today = calendar.local_date(now)
    written = 0
    waiting = session.scalars(
        select(AuditModeration.id).where(AuditModeration.state == ModerationState.WITH_MODERATOR, AuditModeration.due_on < today)
        .order_by(AuditModeration.id)
    ).all()
    for moderation_id in waiting:
        moderation = load_locked(session, moderation_id)
        if moderation is None or moderation.state != ModerationState.WITH_MODERATOR or moderation.due_on is None:
            continue
        context = {**moderation_context(session, moderation, settings, calendar), "step": "moderator"}
        written += _chase(session, f"moderation:{moderation.id}", context, moderation.moderator, moderation.due_on, today,
                          calendar, now=now)
    written += _chase_unchosen(session, settings, calendar, today=today, now=now)
    challenges = session.scalars(
        select(AuditChallenge.id).where(AuditChallenge.state.in_((ChallengeState.MODERATION, ChallengeState.HEAD_OF_SERVICE)))
        .order_by(AuditChallenge.id)
    ).all()
    for challenge_id in challenges:
        written += _chase_challenge(session, challenge_id, settings, calendar, today=today, now=now)
    return written


def _chase_unchosen(
    session: Session, settings: Settings, calendar: WorkingCalendar, *, today: dt.date, now: dt.datetime
) -> int:
    """A moderation the QA team has not chosen a moderator for within the answer days: the QA team
    is reminded, once for each moderation."""
    written = 0
    choosing = session.scalars(select(AuditModeration).where(AuditModeration.state == ModerationState.CHOOSING)
                               .order_by(AuditModeration.id)).all()
    for moderation in choosing:
        due = calendar.add_working_days(calendar.local_date(moderation.created_at), settings.answer_working_days)
        late = calendar.working_days_between(due, today)
        if late < 1:
            continue
        context = {**moderation_context(session, moderation, settings, calendar), "step": "choose", "stage": "unchosen",
                   "waiting": None, "days": late}
        for qa in qa_coordinators(session):
            written += enqueue(session, key=f"moderation:{moderation.id}:unchosen:{qa.id}", template=Template.MODERATION_CHASE,
                               context=context, now=now, recipient_id=qa.id)
    return written


def _chase_challenge(
    session: Session, challenge_id: int, settings: Settings, calendar: WorkingCalendar, *, today: dt.date, now: dt.datetime
) -> int:
    challenge = session.get(AuditChallenge, challenge_id)
    if challenge is None:
        return 0
    lock_record(session, challenge.record_id)
    session.refresh(challenge)
    moderation = session.scalar(
        select(AuditModeration).where(AuditModeration.challenge_id == challenge.id).order_by(AuditModeration.id.desc()).limit(1)
    )
    if moderation is None or moderation.state != ModerationState.DECIDED:
        return 0  # with the QA team or the moderator: chased as a moderation
    written = 0
    if challenge.state == ChallengeState.HEAD_OF_SERVICE and challenge.head_of_service_id is None:
        head = head_of_service_for(session, challenge)
        if head is None:
            return 0  # the QA team was told when it was taken further
        challenge.head_of_service_id = head.id
        challenge.due_on = calendar.add_working_days(today, settings.answer_working_days)
        session.flush()
        session.refresh(challenge)
        return send_to_head_of_service(session, challenge, moderation, settings, calendar, now=now)
    person: Person | None
    if challenge.state == ChallengeState.MODERATION:
        step, person = "challenger", challenge.challenger
    else:
        step, person = "head_of_service", challenge.head_of_service
    context = {**moderation_context(session, moderation, settings, calendar), "step": step}
    written += _chase(session, f"challenge:{challenge.id}:{step}", context, person, challenge.due_on, today, calendar, now=now)
    return written
