"""Recording that an audit is complete (shared/domain.md steps 3-4: the deadline and late audits)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.services.audits.completion import Completion, complete_allocation
from bot.services.authz import RefusalCode
from store.models import Allocation, AllocationState, AuditLog, CaseType, Person, Role
from tests.allocation_fixtures import Council

LONDON = ZoneInfo("Europe/London")
DEC = dt.date(2026, 12, 1)
DUE = dt.date(2026, 12, 31)
NOW = dt.datetime(2026, 12, 10, 10, 0, tzinfo=dt.UTC)


@dataclass
class World:
    allocation: int
    auditor: int
    second: int
    qa: int
    other: int
    worker: int
    manager: int


def world(
    sessions: sessionmaker[Session],
    *,
    state: AllocationState = AllocationState.ALLOCATED,
    month: dt.date = DEC,
    due: dt.date = DUE,
) -> World:
    """One case allocated to a pair of auditors; a QA coordinator and bystanders."""
    with sessions() as s, s.begin():
        c = Council(s)
        case_team = c.team("Assessment Team North", c.service("Children in Need"))
        audit_team = c.team("Leaving Care Team North", c.service("Children in Care"))
        manager = c.person("Tess Manager", Role.TEAM_MANAGER, team=case_team)
        worker = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=case_team, line_manager=manager)
        case = c.case("CMS-104233", case_team, CaseType.CP, worker=worker, team_manager=manager)
        auditor = c.auditor("Sam Patel", team=audit_team)
        second = c.auditor("Rita Singh", team=audit_team)
        other = c.auditor("Omar Other", team=audit_team)
        qa = c.person("Quinn QA", Role.QA_COORDINATOR)
        allocation = c.allocation(case, auditor, month, second=second, state=state)
        allocation.due_date = due
        s.flush()
        return World(allocation.id, auditor.id, second.id, qa.id, other.id, worker.id, manager.id)


def complete(
    sessions: sessionmaker[Session], allocation_id: int, person_id: int | None, *, now: dt.datetime = NOW
) -> Completion:
    with sessions() as s, s.begin():
        person = s.get(Person, person_id) if person_id is not None else None
        return complete_allocation(s, allocation_id, person, now=now, tz=LONDON, actor_ref="U-slack")


def stored(sessions: sessionmaker[Session], allocation_id: int) -> tuple[AllocationState, dt.datetime | None, int | None]:
    with sessions() as s:
        row = s.get_one(Allocation, allocation_id)
        return row.state, row.completed_at, row.completed_by_id


def log(sessions: sessionmaker[Session]) -> list[tuple[str, str, int | None, str, str, int | None, dict[str, Any]]]:
    with sessions() as s:
        rows = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(r.action, r.outcome, r.actor_id, r.actor_ref, r.subject_type, r.subject_id, r.detail) for r in rows]


def test_the_auditor_completes_their_audit(session_factory: sessionmaker[Session]) -> None:
    w = world(session_factory)

    done = complete(session_factory, w.allocation, w.auditor)

    assert (done.decision.allowed, done.decision.code, done.already) == (True, None, False)
    assert done.context is not None
    assert done.context["allocation_id"] == w.allocation
    assert done.context["case"] == {"reference": "CMS-104233", "type": "CP", "team": "Assessment Team North"}
    assert done.context["audit"] == {"type": "control", "theme": None, "month": "2026-12-01", "due_date": "2026-12-31"}
    assert done.context["auditor"] == {"id": w.auditor, "name": "Sam Patel"}
    assert {k: done.context[k] for k in ("completed_by", "completed_on", "days_late", "already")} == {
        "completed_by": {"id": w.auditor, "name": "Sam Patel"},
        "completed_on": "2026-12-10",
        "days_late": 0,
        "already": False,
    }
    assert stored(session_factory, w.allocation) == (AllocationState.COMPLETED, NOW, w.auditor)
    assert log(session_factory) == [
        (
            "allocation.complete", "ok", w.auditor, "U-slack", "allocation", w.allocation,
            {"case": "CMS-104233", "due_date": "2026-12-31"},
        )
    ]


@pytest.mark.parametrize("who", ["second", "qa"])
def test_the_second_auditor_or_a_qa_coordinator_may_complete(session_factory: sessionmaker[Session], who: str) -> None:
    w = world(session_factory)
    person_id, name = (w.second, "Rita Singh") if who == "second" else (w.qa, "Quinn QA")

    done = complete(session_factory, w.allocation, person_id)

    assert (done.decision.allowed, done.already) == (True, False)
    assert done.context is not None
    assert done.context["completed_by"] == {"id": person_id, "name": name}
    assert stored(session_factory, w.allocation) == (AllocationState.COMPLETED, NOW, person_id)
    assert [(a, o, actor) for a, o, actor, *_ in log(session_factory)] == [("allocation.complete", "ok", person_id)]


@pytest.mark.parametrize("who", ["other auditor", "worker", "team manager"])
def test_anyone_else_is_refused_and_the_refusal_logged(session_factory: sessionmaker[Session], who: str) -> None:
    w = world(session_factory)
    person_id = {"other auditor": w.other, "worker": w.worker, "team manager": w.manager}[who]

    refused = complete(session_factory, w.allocation, person_id)

    assert (refused.decision.allowed, refused.decision.code, refused.already, refused.context) == (
        False, RefusalCode.NOT_YOUR_AUDIT, False, None,
    )
    assert stored(session_factory, w.allocation) == (AllocationState.ALLOCATED, None, None)
    assert log(session_factory) == [
        ("complete_audit", "refused", person_id, "U-slack", "allocation", w.allocation, {"reason": "not_your_audit"})
    ]


def test_an_unknown_person_is_refused(session_factory: sessionmaker[Session]) -> None:
    w = world(session_factory)
    refused = complete(session_factory, w.allocation, None)
    assert (refused.decision.allowed, refused.decision.code) == (False, RefusalCode.UNKNOWN_PERSON)
    assert stored(session_factory, w.allocation) == (AllocationState.ALLOCATED, None, None)
    assert log(session_factory) == [
        ("complete_audit", "refused", None, "U-slack", "allocation", w.allocation, {"reason": "unknown_person"})
    ]


def test_a_second_click_reports_who_completed_it_first(session_factory: sessionmaker[Session]) -> None:
    w = world(session_factory)
    first = complete(session_factory, w.allocation, w.auditor)
    assert first.already is False

    later = NOW + dt.timedelta(days=30)  # after the deadline: still reports the first completion
    again = complete(session_factory, w.allocation, w.second, now=later)

    assert (again.decision.allowed, again.already) == (True, True)
    assert again.context is not None
    assert {k: again.context[k] for k in ("completed_by", "completed_on", "days_late", "already")} == {
        "completed_by": {"id": w.auditor, "name": "Sam Patel"},
        "completed_on": "2026-12-10",
        "days_late": 0,
        "already": True,
    }
    assert stored(session_factory, w.allocation) == (AllocationState.COMPLETED, NOW, w.auditor)
    assert [(a, actor) for a, _, actor, *_ in log(session_factory)] == [("allocation.complete", w.auditor)]


@pytest.mark.parametrize("state", [AllocationState.EXEMPTED, AllocationState.CANCELLED])
def test_a_closed_allocation_cannot_be_completed(session_factory: sessionmaker[Session], state: AllocationState) -> None:
    w = world(session_factory, state=state)

    closed = complete(session_factory, w.allocation, w.auditor)

    assert (closed.decision.allowed, closed.decision.code, closed.context) == (False, RefusalCode.AUDIT_CLOSED, None)
    assert stored(session_factory, w.allocation) == (state, None, None)
    assert log(session_factory) == [
        ("complete_audit", "refused", w.auditor, "U-slack", "allocation", w.allocation, {"reason": "audit_closed"})
    ]


def test_no_such_allocation(session_factory: sessionmaker[Session]) -> None:
    w = world(session_factory)
    missing = complete(session_factory, w.allocation + 1000, w.auditor)
    assert (missing.decision.allowed, missing.decision.code) == (False, RefusalCode.AUDIT_CLOSED)
    assert stored(session_factory, w.allocation) == (AllocationState.ALLOCATED, None, None)


@pytest.mark.parametrize(
    ("month", "due", "now", "completed_on", "days_late"),
    [
        # 22:59 UTC is 23:59 BST on the deadline: on time.
        (dt.date(2026, 6, 1), dt.date(2026, 6, 30), dt.datetime(2026, 6, 30, 22, 59, tzinfo=dt.UTC), "2026-06-30", 0),
        # 23:30 UTC on the deadline is 00:30 BST on 1 July: a day late in London.
        (dt.date(2026, 6, 1), dt.date(2026, 6, 30), dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC), "2026-07-01", 1),
        # Winter: London is on UTC.
        (DEC, DUE, dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC), "2026-12-31", 0),
        (DEC, DUE, dt.datetime(2027, 1, 4, 10, 0, tzinfo=dt.UTC), "2027-01-04", 4),
    ],
)
def test_completed_on_is_the_local_date_and_days_late_counts_from_the_deadline(
    session_factory: sessionmaker[Session],
    month: dt.date,
    due: dt.date,
    now: dt.datetime,
    completed_on: str,
    days_late: int,
) -> None:
    w = world(session_factory, month=month, due=due)

    done = complete(session_factory, w.allocation, w.auditor, now=now)

    assert done.context is not None
    assert (done.context["completed_on"], done.context["days_late"]) == (completed_on, days_late)
    assert stored(session_factory, w.allocation) == (AllocationState.COMPLETED, now, w.auditor)
    again = complete(session_factory, w.allocation, w.auditor, now=now + dt.timedelta(days=10))
    assert again.context is not None
    assert (again.already, again.context["completed_on"], again.context["days_late"]) == (True, completed_on, days_late)
