"""Who can take over one allocation's case when its auditor is exempted (Hull A.4-5).

The same rules and load balancing as the monthly plan (``allocation_plan``), for a single case
in the allocation's month: not the case's team or its management line, not the worker's line
manager, not involved in the case, not on an approved break, under the yearly cap (existing
allocations count; the allocation being reallocated does not), least loaded first. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.services.allocation.plan import _NOT_COUNTED, _auditors, _case_facts, _loads, _on_break, _ranks, rule_settings
from bot.services.allocation.rules import (
    AuditorFacts,
    Exclusions,
    Load,
    Rule,
    at_yearly_limit,
    choice_reason,
    no_auditor_reason,
    static_exclusion,
)
from bot.settings import Settings
from store.models import Allocation, Case

__all__ = ["AuditorChoice", "NoAuditor", "choose_auditor", "eligible_auditors"]


@dataclass(frozen=True)
class AuditorChoice:
    """An auditor who may take over the case, and why (worded like a planned allocation)."""

    auditor_id: int
    name: str
    reason: str


@dataclass(frozen=True)
class NoAuditor:
    """Nobody may take over the case, and why (counts per rule, like an unallocated case)."""

    reason: str


def _survey(
    session: Session, allocation_id: int, settings: Settings, exclude: frozenset[int], relaxed: bool = False
) -> tuple[list[AuditorChoice], str]:
    """The eligible auditors, best first, and the reason to give if there are none."""
    allocation = session.get(Allocation, allocation_id)
    if allocation is None:
        raise LookupError(f"there is no allocation {allocation_id}")
    month = allocation.month_start
    (case,) = _case_facts(session, Case.id == allocation.case_id)
    rules = rule_settings(settings)
    current = {p for p in (allocation.auditor_id, allocation.second_auditor_id) if p is not None}
    loads = _loads(session, month)
    if allocation.state not in _NOT_COUNTED:
        for person_id in current:
            loads.month[person_id] -= 1
            loads.year[person_id] -= 1
    auditors = _auditors(session)
    rank = _ranks(f"realloc:{allocation_id}:auditors", (a.person_id for a in auditors))
    on_break = _on_break(session, month)
    ruled_out: list[Rule] = []
    eligible: list[AuditorFacts] = []
    for auditor in auditors:
        p = auditor.person_id
        if p in current or p in exclude:
            continue
        rule = static_exclusion(case, auditor, rules, on_break=p in on_break)
        if rule is None and not relaxed and at_yearly_limit(loads.year[p], rules):
            rule = Rule.YEARLY_LIMIT
        if rule is None:
            eligible.append(auditor)
        else:
            ruled_out.append(rule)
    eligible.sort(key=lambda a: (loads.month[a.person_id], loads.year[a.person_id], rank[a.person_id]))
    choices = [
        AuditorChoice(
            a.person_id,
            a.name,
            choice_reason(case, rules, [Load(a.name, loads.month[a.person_id], loads.year[a.person_id])]),
        )
        for a in eligible
    ]
    if not ruled_out and auditors and not eligible:
        return choices, "no eligible auditor: no other active auditors"
    return choices, no_auditor_reason(Exclusions.of(ruled_out), rules, eligible=len(eligible), needed=1)


def eligible_auditors(
    session: Session,
    allocation_id: int,
    settings: Settings,
    *,
    exclude: frozenset[int] = frozenset(),
    relaxed: bool = False,
) -> list[AuditorChoice]:
    """Every auditor who could take over this allocation's case in its month, best first.

    Best is least loaded this month, then in the rolling year, then a tiebreak seeded from the
    allocation id. The allocation's current auditor(s) and ``exclude`` are never included, and
    the allocation itself does not count towards anyone's load. ``relaxed`` lets auditors at
    the yearly limit through (for a QA coordinator choosing by hand); the other rules always
    hold. LookupError if there is no such allocation.
    """
    return _survey(session, allocation_id, settings, exclude, relaxed)[0]


def choose_auditor(
    session: Session, allocation_id: int, settings: Settings, *, exclude: frozenset[int] = frozenset()
) -> AuditorChoice | NoAuditor:
    """The best auditor to take over this allocation's case, or why there is none.

    The NoAuditor reason counts the auditors each rule ruled out; the current auditor(s) and
    ``exclude`` are not counted (if nobody else is active it says so).
    """
    choices, reason = _survey(session, allocation_id, settings, exclude)
    return choices[0] if choices else NoAuditor(reason)
