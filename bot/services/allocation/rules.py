"""The allocation rules as pure functions: who may audit which case, and the words for why.

Nothing here touches the database. ``bot.services.allocation.service`` loads the facts from the store
and calls these rules (shared/domain.md, The monthly cycle, step 1).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from store.models import CaseType

#: Case types sampled for the monthly control sample (Hull App. D).
CONTROL_CASE_TYPES: frozenset[CaseType] = frozenset({CaseType.CIN, CaseType.CP, CaseType.CLA})

_MONTH_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_FILTER_KEYS = ("type", "team", "service")


class RequestError(ValueError):
    """An allocation request that cannot be planned, explained in one line."""


# --- months ---------------------------------------------------------------------------------


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` to the first day of that month; RequestError naming the bad value."""
    match = _MONTH_RE.match(text or "")
    if not match:
        raise RequestError(f"month must look like YYYY-MM, not {text!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise RequestError(f"month must look like YYYY-MM with a month from 01 to 12, not {text!r}")
    return dt.date(year, month, 1)


def add_months(month: dt.date, delta: int) -> dt.date:
    """The first day of the month ``delta`` months after ``month`` (negative for before)."""
    index = month.year * 12 + (month.month - 1) + delta
    return dt.date(index // 12, index % 12 + 1, 1)


def last_day(month: dt.date) -> dt.date:
    """The last calendar day of ``month``: the audit deadline (Hull A.6)."""
    return dt.date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])


def month_label(month: dt.date) -> str:
    """``June 2026``."""
    return f"{calendar.month_name[month.month]} {month.year}"


# --- the thematic filter --------------------------------------------------------------------


@dataclass(frozen=True)
class ThematicFilter:
    """Which active cases a thematic sample draws from. Empty sets mean "any".

    The filter runs in SQL (``allocation_plan``), names compared without regard to case.
    """

    case_types: frozenset[CaseType] = frozenset()
    teams: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()

    def describe(self) -> str:
        """The filter written back as ``key=value;...``."""
        parts = []
        if self.case_types:
            parts.append("type=" + ",".join(sorted(t.value for t in self.case_types)))
        if self.teams:
            parts.append("team=" + ",".join(sorted(self.teams)))
        if self.services:
            parts.append("service=" + ",".join(sorted(self.services)))
        return ";".join(parts) or "all active cases"


def _case_type(value: str) -> CaseType:
    wanted = value.strip().casefold().replace("-", "_").replace(" ", "_")
    for case_type in CaseType:
        if case_type.value.casefold() == wanted:
            return case_type
    choices = ", ".join(t.value for t in CaseType)
    raise RequestError(f"unknown case type {value.strip()!r} in the filter (use one of {choices})")


def parse_thematic_filter(text: str) -> ThematicFilter:
    """Parse ``key=value[;key=value]`` (keys type, team, service; commas separate alternatives)."""
    found: dict[str, list[str]] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().casefold()
        if not sep:
            raise RequestError(f"filter part {part.strip()!r} is not key=value (keys: type, team, service)")
        if key not in _FILTER_KEYS:
            raise RequestError(f"unknown filter key {key!r} in {part.strip()!r} (keys: type, team, service)")
        if key in found:
            raise RequestError(f"filter key {key!r} is given twice; separate alternatives with commas")
        values = [v.strip() for v in value.split(",") if v.strip()]
        if not values:
            raise RequestError(f"filter part {part.strip()!r} has no value")
        found[key] = values
    if not found:
        raise RequestError("the thematic filter is empty; use e.g. type=CP;team=Assessment Team North")
    return ThematicFilter(
        case_types=frozenset(_case_type(v) for v in found.get("type", [])),
        teams=frozenset(found.get("team", [])),
        services=frozenset(found.get("service", [])),
    )


# --- facts and rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about a case."""

    case_id: int
    reference: str
    case_type: CaseType
    team_id: int
    team_name: str
    service_id: int | None
    worker_id: int | None
    previous_worker_id: int | None
    team_manager_id: int | None
    iro_id: int | None
    worker_line_manager_id: int | None
    active: bool


@dataclass(frozen=True)
class AuditorFacts:
    """What the rules need to know about an auditor."""

    person_id: int
    name: str
    team_id: int | None
    service_id: int | None
    #: Holds the service manager or head of service role (manages every team of ``service_id``).
    manages_service: bool


class Rule(StrEnum):
    """Why an auditor may not audit a case, in the order they are checked."""

    INVOLVED = "involved"
    OWN_TEAM = "own_team"
    LINE_MANAGER = "line_manager"
    ON_BREAK = "on_break"
    YEARLY_LIMIT = "yearly_limit"


@dataclass(frozen=True)
class RuleSettings:
    """The programme settings the rules read (from ``Settings``, which holds the defaults)."""

    exclude_own_team: bool
    exclude_line_reports: bool
    max_audits_per_year: int


def static_exclusion(
    case: CaseFacts, auditor: AuditorFacts, rules: RuleSettings, *, on_break: bool
) -> Rule | None:
    """The first rule that stops ``auditor`` auditing ``case`` this month, ignoring load."""
    involved = {case.worker_id, case.previous_worker_id, case.team_manager_id, case.iro_id} - {None}
    if auditor.person_id in involved:
        return Rule.INVOLVED
    if rules.exclude_own_team and (
        auditor.team_id == case.team_id
        or (auditor.manages_service and case.service_id is not None and auditor.service_id == case.service_id)
    ):
        return Rule.OWN_TEAM
    if rules.exclude_line_reports and case.worker_line_manager_id == auditor.person_id:
        return Rule.LINE_MANAGER
    if on_break:
        return Rule.ON_BREAK
    return None


def at_yearly_limit(year_load: int, rules: RuleSettings) -> bool:
    """True if one more audit would break the rolling-year cap (Hull A.2)."""
    return year_load >= rules.max_audits_per_year


# --- words ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """An auditor's load when chosen: audits this month and in the rolling year, before this one."""

    name: str
    month: int
    year: int


def choice_reason(case: CaseFacts, rules: RuleSettings, chosen: list[Load]) -> str:
    """Why these auditors: the rules satisfied and the loads (shown to the auditor)."""
    parts: list[str] = []
    if rules.exclude_own_team:
        parts.append(f"not in {case.team_name} or its management line")
    if rules.exclude_line_reports and case.worker_id is not None:
        parts.append("not the social worker's line manager")
    limit = rules.max_audits_per_year
    if len(chosen) == 1:
        load = chosen[0]
        parts.append(f"{load.year} of {limit} audits in the last 12 months")
        parts.append(f"lowest load this month ({load.month})")
    else:
        for load in chosen:
            parts.append(f"{load.name}: {load.year} of {limit} audits in the last 12 months, {load.month} this month")
        parts.append("lowest loads this month")
    return "; ".join(parts)


_RULE_WORDS: Mapping[Rule, str] = {
    Rule.INVOLVED: "involved in the case (worker, previous worker, team manager or IRO)",
    Rule.OWN_TEAM: "in the case's team or managing it",
    Rule.LINE_MANAGER: "the social worker's line manager",
    Rule.ON_BREAK: "on an audit break",
    Rule.YEARLY_LIMIT: "at the yearly limit of {limit}",
}


@dataclass(frozen=True)
class Exclusions:
    """How many auditors each rule excluded for one case."""

    counts: Mapping[Rule, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> Exclusions:
        """Count an iterable of rules."""
        counter = Counter(rules)
        return cls({rule: counter[rule] for rule in Rule if counter[rule]})

    def describe(self, rules: RuleSettings) -> str:
        """``12 in the case's team or managing it, 3 at the yearly limit of 10``."""
        words = [
            f"{n} " + _RULE_WORDS[rule].format(limit=rules.max_audits_per_year)
            for rule, n in self.counts.items()
        ]
        return ", ".join(words)


def no_auditor_reason(exclusions: Exclusions, rules: RuleSettings, *, eligible: int, needed: int) -> str:
    """Why a case got no auditor (or no pair)."""
    if not exclusions.counts and eligible == 0:
        return "no eligible auditor: there are no active auditors"
    head = "no eligible auditor" if needed == 1 or eligible == 0 else f"only {eligible} eligible auditor for a pair"
    detail = exclusions.describe(rules)
    return f"{head}: {detail}" if detail else head
