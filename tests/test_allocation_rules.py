"""The allocation rules as pure functions: months, the thematic filter, who may audit which
case, the yearly cap and the words that explain a choice or a gap (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.services.allocation.rules import (
    AuditorFacts,
    CaseFacts,
    Exclusions,
    Load,
    RequestError,
    Rule,
    RuleSettings,
    ThematicFilter,
    add_months,
    at_yearly_limit,
    choice_reason,
    last_day,
    month_label,
    no_auditor_reason,
    parse_month,
    parse_thematic_filter,
    static_exclusion,
)
from store.models import CaseType

RULES = RuleSettings(exclude_own_team=True, exclude_line_reports=True, max_audits_per_year=10)
LAX = RuleSettings(exclude_own_team=False, exclude_line_reports=False, max_audits_per_year=10)

WORKER, PREVIOUS, MANAGER, IRO, LINE_MANAGER, AUDITOR = 1, 2, 3, 4, 5, 6
CASE_TEAM, OTHER_TEAM, CASE_SERVICE, OTHER_SERVICE = 100, 101, 200, 201


def case(**changes: object) -> CaseFacts:
    values: dict[str, object] = {
        "case_id": 1, "reference": "CMS-1", "case_type": CaseType.CP, "team_id": CASE_TEAM, "team_name": "Assessment Team North",
        "service_id": CASE_SERVICE, "worker_id": WORKER, "previous_worker_id": PREVIOUS, "team_manager_id": MANAGER,
        "iro_id": IRO,
        "worker_line_manager_id": LINE_MANAGER, "active": True,
    }
    values.update(changes)
    return CaseFacts(**values)  # type: ignore[arg-type]


def auditor(person_id: int = AUDITOR, *, team: int | None = OTHER_TEAM, service: int | None = OTHER_SERVICE,
            manages_service: bool = False) -> AuditorFacts:
    return AuditorFacts(person_id, f"Auditor {person_id}", team, service, manages_service)


# --- months -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "month"), [("2026-12", dt.date(2026, 12, 1)), (" 2027-1 ", dt.date(2027, 1, 1)),
                                             ("2027-01", dt.date(2027, 1, 1))])
def test_parse_month(text: str, month: dt.date) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-00", "2026-13", "2026-0", "2026", "26-12", "2026/12", "", "December"])
def test_parse_month_refuses_what_is_not_a_month(text: str) -> None:
    with pytest.raises(RequestError, match="YYYY-MM"):
        parse_month(text)


def test_month_zero_and_thirteen_name_the_range() -> None:
    for text in ("2026-00", "2026-13"):
        with pytest.raises(RequestError, match=f"month from 01 to 12, not '{text}'"):
            parse_month(text)


@pytest.mark.parametrize(
    ("month", "delta", "expected"),
    [((2026, 12), 1, (2027, 1)), ((2026, 1), -1, (2025, 12)), ((2026, 11), 0, (2026, 11)), ((2026, 6), 12, (2027, 6)),
     ((2026, 6), -13, (2025, 5)), ((2026, 1), 11, (2026, 12))],
)
def test_add_months(month: tuple[int, int], delta: int, expected: tuple[int, int]) -> None:
    assert add_months(dt.date(*month, 1), delta) == dt.date(*expected, 1)


def test_last_day_is_the_deadline_including_leap_februaries() -> None:
    assert [last_day(dt.date(2026, m, 1)).day for m in range(1, 13)] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert last_day(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)


def test_month_label() -> None:
    assert (month_label(dt.date(2026, 12, 1)), month_label(dt.date(2027, 1, 1))) == ("December 2026", "January 2027")


# --- the thematic filter -------------------------------------------------------------------------


def test_thematic_filter_parses_and_describes_itself() -> None:
    parsed = parse_thematic_filter(" type=cp, CLA ; team=Assessment Team North;service= Children in Care ")
    assert parsed == ThematicFilter(
        case_types=frozenset({CaseType.CP, CaseType.CLA}),
        teams=frozenset({"Assessment Team North"}),
        services=frozenset({"Children in Care"}),
    )
    assert parsed.describe() == "type=CLA,CP;team=Assessment Team North;service=Children in Care"
    assert parse_thematic_filter("type=care-leaver").case_types == {CaseType.CARE_LEAVER}
    assert ThematicFilter().describe() == "all active cases"


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "the thematic filter is empty"), (" ; ", "the thematic filter is empty"),
     ("type=CP;teamNorth", "filter part 'teamNorth' is not key=value"),
     ("colour=red", "unknown filter key 'colour' in 'colour=red'"), ("type=CP;type=CIN", "filter key 'type' is given twice"),
     ("team= , ", "filter part 'team= ,' has no value"), ("type=XYZ", "unknown case type 'XYZ' in the filter")],
)
def test_thematic_filter_names_the_bad_part(text: str, problem: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_thematic_filter(text)
    assert str(info.value).startswith(problem)


# --- who may audit which case -------------------------------------------------------------------


@pytest.mark.parametrize("person", [WORKER, PREVIOUS, MANAGER, IRO])
def test_anyone_involved_in_the_case_is_excluded_first(person: int) -> None:
    assert static_exclusion(case(), auditor(person), LAX, on_break=True) == Rule.INVOLVED


def test_a_case_with_nobody_named_does_not_exclude_an_auditor_with_no_id_match() -> None:
    bare = case(worker_id=None, previous_worker_id=None, team_manager_id=None, iro_id=None, worker_line_manager_id=None)
    assert static_exclusion(bare, auditor(), RULES, on_break=False) is None


def test_own_team_and_the_managers_of_its_service_are_excluded_when_the_rule_is_on() -> None:
    assert static_exclusion(case(), auditor(team=CASE_TEAM), RULES, on_break=False) == Rule.OWN_TEAM
    manager = auditor(team=None, service=CASE_SERVICE, manages_service=True)
    assert static_exclusion(case(), manager, RULES, on_break=False) == Rule.OWN_TEAM
    assert static_exclusion(case(), auditor(team=CASE_TEAM), LAX, on_break=False) is None
    assert static_exclusion(case(), manager, LAX, on_break=False) is None


def test_a_manager_of_another_service_or_a_non_manager_in_the_service_may_audit() -> None:
    other_manager = auditor(team=None, service=OTHER_SERVICE, manages_service=True)
    assert static_exclusion(case(), other_manager, RULES, on_break=False) is None
    assert static_exclusion(case(), auditor(team=OTHER_TEAM, service=CASE_SERVICE), RULES, on_break=False) is None
    no_service = case(service_id=None)
    assert static_exclusion(no_service, auditor(team=None, service=None, manages_service=True), RULES, on_break=False) is None


def test_the_workers_line_manager_is_excluded_when_the_rule_is_on() -> None:
    assert static_exclusion(case(), auditor(LINE_MANAGER), RULES, on_break=False) == Rule.LINE_MANAGER
    assert static_exclusion(case(), auditor(LINE_MANAGER), LAX, on_break=False) is None


def test_an_auditor_on_break_is_excluded_last() -> None:
    assert static_exclusion(case(), auditor(), RULES, on_break=True) == Rule.ON_BREAK
    assert static_exclusion(case(), auditor(team=CASE_TEAM), RULES, on_break=True) == Rule.OWN_TEAM
    assert static_exclusion(case(), auditor(), RULES, on_break=False) is None


def test_the_yearly_cap() -> None:
    assert [at_yearly_limit(n, RULES) for n in (0, 9, 10, 11)] == [False, False, True, True]
    one = RuleSettings(exclude_own_team=True, exclude_line_reports=True, max_audits_per_year=1)
    assert (at_yearly_limit(0, one), at_yearly_limit(1, one)) == (False, True)


# --- words ---------------------------------------------------------------------------------------


def test_choice_reason_for_one_auditor() -> None:
    assert choice_reason(case(), RULES, [Load("Amy", 0, 3)]) == (
        "not in Assessment Team North or its management line; not the social worker's line manager; "
        "3 of 10 audits in the last 12 months; lowest load this month (0)"
    )


def test_choice_reason_for_a_pair_and_without_the_optional_rules() -> None:
    assert choice_reason(case(worker_id=None), LAX, [Load("Amy", 1, 3), Load("Ben", 0, 9)]) == (
        "Amy: 3 of 10 audits in the last 12 months, 1 this month; "
        "Ben: 9 of 10 audits in the last 12 months, 0 this month; lowest loads this month"
    )
    assert choice_reason(case(worker_id=None), RULES, [Load("Amy", 0, 0)]).startswith(
        "not in Assessment Team North or its management line; 0 of 10"
    ), "no line-manager words for a case without a worker"


def test_exclusions_count_each_rule_in_rule_order() -> None:
    counted = Exclusions.of([Rule.YEARLY_LIMIT, Rule.OWN_TEAM, Rule.OWN_TEAM, Rule.INVOLVED])
    assert list(counted.counts.items()) == [(Rule.INVOLVED, 1), (Rule.OWN_TEAM, 2), (Rule.YEARLY_LIMIT, 1)]
    assert counted.describe(RULES) == (
        "1 involved in the case (worker, previous worker, team manager or IRO), 2 in the case's team or managing it, "
        "1 at the yearly limit of 10"
    )


def test_no_auditor_reason_names_the_gap() -> None:
    assert no_auditor_reason(Exclusions(), RULES, eligible=0, needed=1) == "no eligible auditor: there are no active auditors"
    on_break = Exclusions.of([Rule.ON_BREAK, Rule.ON_BREAK])
    assert no_auditor_reason(on_break, RULES, eligible=0, needed=1) == "no eligible auditor: 2 on an audit break"
    assert no_auditor_reason(on_break, RULES, eligible=1, needed=2) == "only 1 eligible auditor for a pair: 2 on an audit break"
    assert no_auditor_reason(on_break, RULES, eligible=0, needed=2) == "no eligible auditor: 2 on an audit break"
    assert no_auditor_reason(Exclusions(), RULES, eligible=1, needed=2) == "only 1 eligible auditor for a pair"
    assert no_auditor_reason(Exclusions(), RULES, eligible=0, needed=2) == "no eligible auditor: there are no active auditors"
