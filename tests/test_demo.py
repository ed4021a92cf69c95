"""The demo council: deterministic, realistic in shape, and loadable on both backends."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.services.staff.demo import DEMO_REFERENCE_DATE, generate_demo, load_demo
from store.models import Case, CaseType, Person, Role, Service, Team


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    staff_path, cases_path = generate_demo(tmp_path_factory.mktemp("demo"))
    return _read(staff_path), _read(cases_path)


def test_generation_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = generate_demo(tmp_path / "a", seed=11)
    again = generate_demo(tmp_path / "b", seed=11)
    other = generate_demo(tmp_path / "c", seed=12)
    assert [p.name for p in first] == ["staff.csv", "cases.csv"]
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    assert first[0].read_bytes() != other[0].read_bytes()
    assert first[1].read_bytes() != other[1].read_bytes()


def test_shape_of_the_council(demo: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    staff, cases = demo
    services = {r["service"] for r in staff if r["service"]}
    assert services == {"Assessment and Intervention", "Children in Care", "Care Leavers and Adolescents", "Early Help"}
    case_teams = {r["team"] for r in cases}
    assert len(case_teams) == 10
    assert {r["team"] for r in staff if r["team"]} - case_teams == {"Independent Reviewing Team", "Quality Assurance Team"}
    assert 70 <= len(staff) <= 90
    assert len(cases) == 500
    roles = Counter(role for r in staff for role in r["roles"].split(";"))
    # Every role but the two a council names differently: the demo calls the rung Service Manager
    # (Hull's Group Manager) and its QA service has no Head of Service QA.
    assert set(roles) == {r.value for r in Role} - {Role.GROUP_MANAGER, Role.HEAD_OF_SERVICE_QA}
    assert (roles["assistant_director"], roles["head_of_service"], roles["service_manager"]) == (2, 4, 4)
    assert (roles["team_manager"], roles["strategic_lead"], roles["qa_coordinator"], roles["iro"]) == (10, 1, 2, 5)
    for r in staff:  # every leader is an auditor; workers and QA coordinators are not
        leads = set(r["roles"].split(";")) - {"social_worker", "qa_coordinator"}
        assert ("auditor" in r["roles"]) == bool(leads), r
    workers = Counter(r["team"] for r in staff if r["roles"] == "social_worker")
    assert set(workers) == case_teams and all(4 <= n <= 7 for n in workers.values())
    emails = [r["email"] for r in staff]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+@council\.example", e) for e in emails)
    assert all(r["active"] == "yes" for r in staff)


def test_line_management_is_a_tree(demo: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    staff, _ = demo
    manager = {r["email"]: r["line_manager_email"] for r in staff}
    roles = {r["email"]: set(r["roles"].split(";")) for r in staff}
    roots = [e for e, m in manager.items() if not m]
    assert len(roots) == 1 and next(r for r in staff if r["email"] == roots[0])["job_title"] == "Director of Children's Services"
    assert all(m in manager for m in manager.values() if m)
    for email in manager:
        seen = [email]
        while manager[seen[-1]]:
            seen.append(manager[seen[-1]])
            assert len(seen) == len(set(seen)), f"cycle: {seen}"
        assert seen[-1] == roots[0]
    for email in (e for e, r in roles.items() if r == {"social_worker"}):
        chain = [email]
        while manager[chain[-1]]:
            chain.append(manager[chain[-1]])
        assert [sorted(roles[e] - {"auditor"}) for e in chain[1:5]] == [
            ["team_manager"], ["service_manager"], ["head_of_service"], ["assistant_director"]
        ]
    team_of = {r["email"]: r["team"] for r in staff}
    for r in staff:
        if r["roles"] == "social_worker":
            assert team_of[r["line_manager_email"]] == r["team"]


def test_cases_match_their_teams(demo: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    staff, cases = demo
    by_email = {r["email"]: r for r in staff}
    allowed = {
        "Assessment": {"CIN", "CP"}, "Safeguarding": {"CIN", "CP"}, "Adolescent": {"CIN", "CP"},
        "Children in Care": {"CLA"}, "Permanence": {"CLA"}, "Leaving Care": {"care_leaver"}, "Early Help": {"early_help"},
    }
    references = [c["case_reference"] for c in cases]
    assert len(set(references)) == 500 and all(re.fullmatch(r"CMS-\d{6}", r) for r in references)
    changed = 0
    for c in cases:
        assert c["case_type"] in next(v for k, v in allowed.items() if c["team"].startswith(k)), c
        worker = by_email[c["allocated_worker_email"]]
        assert (worker["team"], worker["roles"]) == (c["team"], "social_worker")
        tm = by_email[c["team_manager_email"]]
        assert (tm["team"], tm["roles"]) == (c["team"], "team_manager;auditor")
        needs_iro = c["case_type"] in ("CP", "CLA")
        assert bool(c["iro_email"]) == needs_iro
        if needs_iro:
            assert "iro" in by_email[c["iro_email"]]["roles"]
        if c["previous_worker_email"]:
            changed += 1
            previous = by_email[c["previous_worker_email"]]
            assert previous["team"] == c["team"] and previous["email"] != worker["email"]
            days = (DEMO_REFERENCE_DATE - dt.date.fromisoformat(c["worker_changed_on"])).days
            assert 0 <= days <= 42
        else:
            assert c["worker_changed_on"] == ""
    assert 10 <= changed <= 40  # about 5%
    types = Counter(c["case_type"] for c in cases)
    assert set(types) == {"CIN", "CP", "CLA", "care_leaver", "early_help"}


def test_case_system_extras_are_obviously_fake(tmp_path: Path) -> None:
    _, cases_path = generate_demo(tmp_path, with_case_system_extras=True)
    rows = _read(cases_path)
    assert list(rows[0])[:3] == ["case_reference", "child_name", "date_of_birth"]
    assert all(re.fullmatch(r"(Testchild|Fakechild|Samplechild|Demochild) Fakesurname\d{4}", r["child_name"]) for r in rows)
    assert len({r["child_name"] for r in rows}) == 500
    births = [dt.datetime.strptime(r["date_of_birth"], "%d/%m/%Y").date() for r in rows]
    assert all(dt.date(2005, 1, 1) < b < DEMO_REFERENCE_DATE for b in births)
    plain = _read(generate_demo(tmp_path / "plain")[1])
    assert [{k: v for k, v in r.items() if k not in ("child_name", "date_of_birth")} for r in rows] == plain


@pytest.mark.parametrize("extras", [False, True])
def test_demo_loads_cleanly(
    extras: bool, tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    staff_path, _ = generate_demo(tmp_path, with_case_system_extras=extras)
    staff_rows = len(_read(staff_path))
    staff, cases = load_demo(session_factory, tmp_path, now=now)
    assert (staff.created, staff.updated, staff.warnings) == (staff_rows, 0, [])
    assert (staff.teams_created, staff.services_created) == (12, 4)
    assert (cases.created, cases.updated) == (500, 0)
    expected = ["column(s) child_name, date_of_birth ignored: the bot does not hold children's personal details"]
    assert cases.warnings == (expected if extras else [])
    with session_factory() as session:
        def count(model: object) -> int | None:
            return session.scalar(select(func.count()).select_from(model))
        assert (count(Service), count(Team), count(Person), count(Case)) == (4, 12, staff_rows, 500)
        assert session.scalar(select(func.count()).where(Case.team_manager_id.is_(None))) == 0
        assert session.scalar(select(func.count()).where(Case.case_type == CaseType.CLA, Case.iro_id.is_(None))) == 0
        mismatched = (
            select(func.count())
            .select_from(Case)
            .join(Person, Person.id == Case.allocated_worker_id)
            .where(Person.team_id != Case.team_id)
        )
        assert session.scalar(mismatched) == 0
        orphans = select(func.count()).select_from(Person).where(Person.line_manager_id.is_(None))
        assert session.scalar(orphans) == 1
    again_staff, again_cases = load_demo(session_factory, tmp_path, now=now)
    assert (again_staff.unchanged, again_cases.unchanged) == (staff_rows, 500)


def test_the_demo_allocates_a_month_with_working_days_left() -> None:
    from zoneinfo import ZoneInfo

    from bot.calendar import WorkingCalendar
    from bot.local import demo_month
    from bot.settings import Nation

    calendar = WorkingCalendar(Nation.ENGLAND_AND_WALES, ZoneInfo("Europe/London"))
    assert demo_month(calendar, dt.date(2026, 11, 2)) == dt.date(2026, 11, 1)
    assert demo_month(calendar, dt.date(2026, 11, 30)) == dt.date(2026, 12, 1), "the last day: next month"
    assert demo_month(calendar, dt.date(2026, 11, 23)) == dt.date(2026, 11, 1)  # 5 working days left
    assert demo_month(calendar, dt.date(2026, 11, 24)) == dt.date(2026, 12, 1)  # 4 left


def test_a_reminder_due_today_says_so() -> None:
    from bot.ids import Template
    from bot.render import render
    from tests.test_render import CONTEXTS

    auditor = render(Template.REMINDER_AUDITOR, {**CONTEXTS[Template.REMINDER_AUDITOR], "days_left": 0})
    manager = render(Template.REMINDER_MANAGER, {**CONTEXTS[Template.REMINDER_MANAGER], "days_left": 0})
    assert auditor["text"].startswith("Reminder: audit due today: case ")
    assert "is due today (" in str(manager["blocks"]) and "0 days" not in str(manager["blocks"])
