"""Group Manager (Hull's name for the Service Manager rung) and Head of Service QA are staff roles:
imported by name, and the Group Manager stands where a Service Manager would (issue 13)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.services.alerts.concerns import chain_for
from bot.services.staff.importer import import_staff
from store.models import Case, CaseType, Person, Role
from tests.allocation_fixtures import Council

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def test_the_new_roles_import_by_their_names(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    path.write_text(
        "email,name,roles,team,service,line_manager_email\n"
        "gina.gm@council.example,Gina Gm,Group Manager;auditor,,Children in Need,\n"
        "hanif.qa@council.example,Hanif Qa,head of service QA;Auditor,,Quality Assurance,\n"
    )
    report = import_staff(session_factory, path, now=NOW)
    assert report.created == 2, report
    with session_factory() as s:
        roles = {p.email: p.roles for p in s.query(Person)}
    assert roles == {
        "gina.gm@council.example": {Role.GROUP_MANAGER, Role.AUDITOR},
        "hanif.qa@council.example": {Role.HEAD_OF_SERVICE_QA, Role.AUDITOR},
    }


def test_a_group_manager_stands_where_a_service_manager_would_in_the_alert_chain(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        service = c.service("Children in Need")
        team = c.team("Assessment Team North", service)
        gm = c.person("Gina Gm", Role.GROUP_MANAGER, service=service)
        tm = c.person("Tara Teamlead", Role.TEAM_MANAGER, team=team)  # no line manager recorded
        worker = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=team, line_manager=tm)
        case = c.case("CMS-1", team, CaseType.CP, worker=worker, team_manager=tm)
        chain = chain_for(s, s.get_one(Case, case.id))
        assert [(step, p.display_name if p else None) for step, p in chain][:3] == [
            ("worker", "Wendy Worker"), ("team_manager", "Tara Teamlead"), ("service_manager", gm.display_name)
        ]
