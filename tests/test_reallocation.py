"""Reallocating one exempted allocation's case to another eligible auditor (Hull A.4-5)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.services.allocation.rules import add_months
from bot.services.exemptions.reallocation import AuditorChoice, NoAuditor, choose_auditor, eligible_auditors
from bot.settings import Settings, load_settings
from store.models import AllocationState, BreakState, CaseType, Role
from tests.allocation_fixtures import Council

MONTH = dt.date(2026, 12, 1)
TEAM_A = "Assessment Team North"
TEAM_B = "Leaving Care Team North"
REASON = (
    "not in Assessment Team North or its management line; not the social worker's line manager; "
    "{year} of 10 audits in the last 12 months; lowest load this month ({month})"
)
ALL_RULES = (
    "no eligible auditor: 1 involved in the case (worker, previous worker, team manager or IRO), "
    "2 in the case's team or managing it, 1 the social worker's line manager, 1 on an audit break, "
    "1 at the yearly limit of 10"
)


def settings(**overrides: object) -> Settings:
    """Default programme settings (with overrides)."""
    return load_settings(database_url="sqlite://", **overrides)


def back(months: int) -> dt.date:
    """The first of the month ``months`` before MONTH."""
    return add_months(MONTH, -months)


@dataclass
class Scene:
    """The exempted allocation and the ids of the people around it."""

    allocation_id: int
    ids: dict[str, int]


def council(
    session_factory: sessionmaker[Session], *, pair: bool = False, state: AllocationState = AllocationState.ALLOCATED
) -> Scene:
    """A case in team A allocated to Ed, with one auditor ruled out by each rule and three eligible.

    Eligible: Paul (0 this month, 2 in the year), Olive (1, 1), Quinn (1, 4).
    """
    with session_factory() as s, s.begin():
        c = Council(s)
        svc_a, svc_b = c.service("Children in Need"), c.service("Children in Care")
        team_a, team_b = c.team(TEAM_A, svc_a), c.team(TEAM_B, svc_b)
        lena = c.auditor("Lena Lead", Role.TEAM_MANAGER, team=team_b)
        worker = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=team_a, line_manager=lena)
        iris = c.auditor("Iris Iro", Role.IRO, team=team_b)
        ann = c.auditor("Ann Same", team=team_a)
        sam = c.auditor("Sam Service", Role.SERVICE_MANAGER, service=svc_a)
        bea = c.auditor("Bea Break", team=team_b)
        cap = c.auditor("Cap Full", team=team_b)
        ed = c.auditor("Ed Exempted", team=team_b)
        olive = c.auditor("Olive Other", team=team_b)
        paul = c.auditor("Paul Free", team=team_b)
        quinn = c.auditor("Quinn Busy", team=team_b)
        c.person("Gone Auditor", Role.AUDITOR, team=team_b, active=False)
        case = c.case("CMS-1", team_a, CaseType.CP, worker=worker, iro=iris)
        allocation = c.allocation(case, ed, MONTH, second=olive if pair else None, state=state)
        # Existing load: this month's allocations and the rolling year's history.
        for i, person in enumerate([olive, quinn, cap, ed]):
            c.allocation(c.case(f"CMS-NOW-{i}", team_a, CaseType.CIN), person, MONTH)
        c.history(paul, [back(1), back(2)], team_a)
        c.history(quinn, [back(1), back(3), back(5)], team_a)
        c.history(cap, [back(m) for m in range(1, 10)], team_a)  # 9 + this month's = the cap of 10
        c.history(olive, [back(12)], team_a)  # outside the rolling year
        c.audit_break(bea, MONTH)
        c.audit_break(olive, MONTH, BreakState.REFUSED)
        c.audit_break(paul, back(1))
        people = [lena, iris, ann, sam, bea, cap, ed, olive, paul, quinn]
        return Scene(allocation.id, {p.display_name.split()[0]: p.id for p in people})


def choose(
    session_factory: sessionmaker[Session], scene: Scene, *exclude: str, **overrides: object
) -> AuditorChoice | NoAuditor:
    """choose_auditor in a throwaway session, excluding people by first name."""
    with session_factory() as s:
        ids = frozenset(scene.ids[n] for n in exclude)
        return choose_auditor(s, scene.allocation_id, settings(**overrides), exclude=ids)


def eligible(session_factory: sessionmaker[Session], scene: Scene, *exclude: str) -> list[AuditorChoice]:
    """eligible_auditors in a throwaway session, excluding people by first name."""
    with session_factory() as s:
        ids = frozenset(scene.ids[n] for n in exclude)
        return eligible_auditors(s, scene.allocation_id, settings(), exclude=ids)


def test_least_loaded_other_auditor_is_chosen_with_a_reason(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory)
    choice = choose(session_factory, scene)
    assert choice == AuditorChoice(scene.ids["Paul"], "Paul Free", REASON.format(year=2, month=0))


def test_eligible_auditors_are_ordered_by_load(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory)
    choices = eligible(session_factory, scene)
    assert [(c.name, c.reason) for c in choices] == [
        ("Paul Free", REASON.format(year=2, month=0)),
        ("Olive Other", REASON.format(year=1, month=1)),
        ("Quinn Busy", REASON.format(year=4, month=1)),
    ]
    assert choose(session_factory, scene) == choices[0]


def test_rules_and_the_exempted_auditor_rule_people_out(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory)
    names = {c.name for c in eligible(session_factory, scene)}
    for ruled_out in ("Ed Exempted", "Lena Lead", "Iris Iro", "Ann Same", "Sam Service", "Bea Break", "Cap Full"):
        assert ruled_out not in names
    assert "Gone Auditor" not in names


def test_exclude_is_honoured(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory)
    choice = choose(session_factory, scene, "Paul")
    assert isinstance(choice, AuditorChoice) and choice.name == "Olive Other"
    assert [c.name for c in eligible(session_factory, scene, "Olive")] == ["Paul Free", "Quinn Busy"]


def test_no_one_eligible_counts_each_rule(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory)
    assert choose(session_factory, scene, "Paul", "Olive", "Quinn") == NoAuditor(ALL_RULES)
    assert eligible(session_factory, scene, "Paul", "Olive", "Quinn") == []


def test_rules_follow_the_settings(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory)
    # Without the own-team and line-manager rules Ann, Sam and Lena become eligible (0 this month).
    choice = choose(session_factory, scene, "Paul", exclude_own_team=False, exclude_line_reports=False)
    assert isinstance(choice, AuditorChoice)
    assert choice.name in {"Ann Same", "Sam Service", "Lena Lead"}
    assert choice.reason == "0 of 10 audits in the last 12 months; lowest load this month (0)"
    # A higher cap lets Cap take it.
    names = {c.name for c in eligible(session_factory, scene)}
    assert "Cap Full" not in names
    with session_factory() as s:
        raised = eligible_auditors(s, scene.allocation_id, settings(max_audits_per_year=11))
    assert "Cap Full" in {c.name for c in raised}


def test_pair_allocation_excludes_both_auditors(session_factory: sessionmaker[Session]) -> None:
    scene = council(session_factory, pair=True)
    assert [c.name for c in eligible(session_factory, scene)] == ["Paul Free", "Quinn Busy"]


@pytest.mark.parametrize("state", [AllocationState.ALLOCATED, AllocationState.EXEMPTED])
def test_same_answer_before_and_after_the_exemption_is_recorded(
    session_factory: sessionmaker[Session], state: AllocationState
) -> None:
    scene = council(session_factory, state=state)
    expected = AuditorChoice(scene.ids["Paul"], "Paul Free", REASON.format(year=2, month=0))
    assert choose(session_factory, scene) == expected


def test_only_the_exempted_auditor_or_own_team(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        svc_a, svc_b = c.service("Children in Need"), c.service("Children in Care")
        team_a, team_b = c.team(TEAM_A, svc_a), c.team(TEAM_B, svc_b)
        ed = c.auditor("Ed Exempted", team=team_b)
        ann = c.auditor("Ann Same", team=team_a)
        allocation_id = c.allocation(c.case("CMS-1", team_a), ed, MONTH).id
        ann_id = ann.id
    with session_factory() as s:
        assert choose_auditor(s, allocation_id, settings()) == NoAuditor(
            "no eligible auditor: 1 in the case's team or managing it"
        )
        assert choose_auditor(s, allocation_id, settings(), exclude=frozenset({ann_id})) == NoAuditor(
            "no eligible auditor: no other active auditors"
        )


def test_ties_are_broken_deterministically(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        team_a, team_b = c.team(TEAM_A), c.team(TEAM_B)
        ed = c.auditor("Ed Exempted", team=team_b)
        for name in ("Tia One", "Tom Two", "Tess Three", "Ted Four"):
            c.auditor(name, team=team_b)
        allocation_id = c.allocation(c.case("CMS-1", team_a), ed, MONTH).id
    with session_factory() as s:
        first = [c.auditor_id for c in eligible_auditors(s, allocation_id, settings())]
        again = [c.auditor_id for c in eligible_auditors(s, allocation_id, settings())]
        assert first == again and len(first) == 4
        # Excluding the best keeps the others' order.
        rest = eligible_auditors(s, allocation_id, settings(), exclude=frozenset({first[0]}))
        assert [c.auditor_id for c in rest] == first[1:]
        choice = choose_auditor(s, allocation_id, settings(), exclude=frozenset({first[0]}))
        assert isinstance(choice, AuditorChoice) and choice.auditor_id == first[1]


def test_unknown_allocation(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, pytest.raises(LookupError, match="no allocation 999"):
        choose_auditor(s, 999, settings())
