"""The audit record's tables (issue 13): a record keeps its scheme and version, its section
grades, its grade history and its SMART actions; one record per allocation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from store.models import Role
from store.records import (
    ActionStatus,
    AuditAction,
    AuditGradeEvent,
    AuditRecord,
    AuditSectionGrade,
    GradeStage,
    RecordSource,
)
from tests.allocation_fixtures import Council

NOW = dt.datetime(2026, 12, 15, 11, 0, tzinfo=dt.UTC)


def record_for(allocation_id: int, by_id: int) -> AuditRecord:
    return AuditRecord(
        allocation_id=allocation_id, scheme="bradford", scheme_version=1, overall_grade="good", rationale="r",
        strengths="Direct work", flags=["good_practice_example"], seen_roles=["social_worker", "team_manager"],
        family_views={"sought": "yes", "by_role": "social_worker", "view": "positive", "child_feedback": True},
        source=RecordSource.CHAT, submitted_by_id=by_id, submitted_at=NOW,
        sections=[AuditSectionGrade(section_key="records", grade="requires_improvement")],
        grades=[AuditGradeEvent(stage=GradeStage.SUBMITTED, grade="good", by_id=by_id, at=NOW)],
        actions=[AuditAction(text="Update the chronology", owner_id=by_id, due_date=dt.date(2027, 1, 15), created_at=NOW)],
    )


def test_a_record_keeps_its_scheme_grades_history_and_actions(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        team = c.team("Assessment Team North", c.service("Children in Need"))
        sam = c.auditor("Sam Patel", Role.TEAM_MANAGER, team=c.team("Leaving Care Team North"))
        allocation = c.allocation(c.case("CMS-1", team), sam, dt.date(2026, 12, 1))
        s.add(record_for(allocation.id, sam.id))
        ids = allocation.id, sam.id

    with session_factory() as s:
        record = s.scalars(select(AuditRecord)).one()
        assert (record.scheme, record.scheme_version, record.overall_grade) == ("bradford", 1, "good")
        assert [(g.section_key, g.grade) for g in record.sections] == [("records", "requires_improvement")]
        assert [(g.stage, g.grade) for g in record.grades] == [(GradeStage.SUBMITTED, "good")]
        assert [(a.text, a.owner.display_name, a.status) for a in record.actions] == [
            ("Update the chronology", "Sam Patel", ActionStatus.OPEN)
        ]
        assert record.family_views["child_feedback"] is True

    with pytest.raises(IntegrityError), session_factory() as s, s.begin():  # one record per allocation
        s.add(record_for(*ids))
