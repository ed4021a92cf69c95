"""Who decides an approver's own exemption requests when the rules name nobody above them."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.services.exemptions.approvers import find_approver
from bot.settings import load_settings
from store.models import Person, Role
from tests.allocation_fixtures import Council


def _council(sessions: sessionmaker[Session], *, director_active: bool = True, strategic_lead: bool = True) -> dict[str, int]:
    """Three services, each with its Assistant Director under one Director; the third AD audits."""
    with sessions() as s, s.begin():
        c = Council(s)
        director = c.person("Dora Director", active=director_active)
        ids = {"director": director.id}
        for n in (1, 2):
            ids[f"ad{n}"] = c.person(f"Ann Director{n}", Role.ASSISTANT_DIRECTOR, service=c.service(f"Service {n}"),
                                     line_manager=director).id
        ids["auditing_ad"] = c.auditor(
            "Ada Auditor", Role.ASSISTANT_DIRECTOR, service=c.service("Service 3"), line_manager=director
        ).id
        ids["auditor"] = c.auditor("Sam Plain", service=c.service("Service 4"), line_manager=director).id
        if strategic_lead:
            ids["lead"] = c.person("Sol Lead", Role.STRATEGIC_LEAD, line_manager=director).id
        return ids


def _approver(sessions: sessionmaker[Session], person_id: int) -> int | None:
    settings = load_settings(database_url="sqlite://")
    with sessions() as s:
        found = find_approver(s, s.get_one(Person, person_id), settings)
        return found.id if found is not None else None


def test_an_auditing_assistant_director_goes_to_their_own_line_manager(session_factory: sessionmaker[Session]) -> None:
    ids = _council(session_factory)
    assert _approver(session_factory, ids["auditing_ad"]) == ids["director"]


def test_with_no_active_line_manager_an_auditing_assistant_director_goes_to_the_strategic_lead(
    session_factory: sessionmaker[Session],
) -> None:
    ids = _council(session_factory, director_active=False)
    assert _approver(session_factory, ids["auditing_ad"]) == ids["lead"]


def test_nobody_left_means_no_approver_never_the_auditor_themselves(session_factory: sessionmaker[Session]) -> None:
    ids = _council(session_factory, director_active=False, strategic_lead=False)
    assert _approver(session_factory, ids["auditing_ad"]) is None


def test_an_ordinary_auditor_with_no_approver_in_their_line_or_service_goes_to_the_strategic_lead(
    session_factory: sessionmaker[Session],
) -> None:
    ids = _council(session_factory)  # several ADs, none theirs: not a guess among them
    assert _approver(session_factory, ids["auditor"]) == ids["lead"]


def test_with_no_strategic_lead_the_qa_team_decides(session_factory: sessionmaker[Session]) -> None:
    ids = _council(session_factory, strategic_lead=False)
    with session_factory() as s, s.begin():
        qa = Council(s).person("Quinn Qa", Role.QA_COORDINATOR).id
    assert _approver(session_factory, ids["auditor"]) == qa
    assert _approver(session_factory, qa) is None, "a QA coordinator never decides their own request"
