"""Building the state moderation starts from, directly in the store: a challenge the auditor
kept, which the challenger has taken to moderation (the challenge UI is built elsewhere)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.services.moderation.requests import start_challenge_moderation
from bot.settings import Settings
from store.models import Allocation, Person
from store.records import (
    AuditChallenge,
    AuditGradeEvent,
    AuditModeration,
    AuditRecord,
    AuditSectionGrade,
    ChallengeState,
    GradeStage,
    RecordSource,
)

BRADFORD_SECTIONS = ("risk_and_need", "assessments", "plans_and_reviews", "voice_of_the_child", "family_engagement",
                     "partner_collaboration", "management_oversight", "records", "impact")


def stored_record(session: Session, allocation: Allocation, *, now: dt.datetime, overall: str = "good") -> AuditRecord:
    """A Bradford record of ``allocation`` (all sections Good), as if submitted at ``now``."""
    record = AuditRecord(allocation_id=allocation.id, scheme="bradford", scheme_version=1, overall_grade=overall,
                         rationale="Plans are clear.", strengths="Timely visits.", source=RecordSource.CHAT,
                         submitted_by_id=allocation.auditor_id, submitted_at=now, reply_closes_on=now.date())
    record.sections = [AuditSectionGrade(section_key=k, grade="good") for k in BRADFORD_SECTIONS]
    record.grades = [AuditGradeEvent(stage=GradeStage.SUBMITTED, grade=overall, by_id=allocation.auditor_id, at=now)]
    session.add(record)
    session.flush()
    return record


def kept_challenge_to_moderation(
    session: Session, record: AuditRecord, challenger: Person, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, target: str = "overall", key: str | None = None, proposed: str | None = "outstanding",
) -> tuple[AuditChallenge, AuditModeration]:
    """The auditor kept the grade; the challenger asked for moderation: what the reply flow does."""
    challenge = AuditChallenge(
        record_id=record.id, challenger_id=challenger.id, target=target, target_key=key, proposed_grade=proposed,
        reason="The direct work with the family was exceptional.", state=ChallengeState.MODERATION, raised_at=now,
        due_on=calendar.local_date(now), auditor_decision="keep", auditor_reason="Good is right: the plan drifted for a month.",
        auditor_at=now, challenger_decision="moderation", challenger_at=now,
    )
    session.add(challenge)
    session.flush()
    session.refresh(record)
    return challenge, start_challenge_moderation(session, challenge, settings, calendar, now=now)
