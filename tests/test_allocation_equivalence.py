"""The fast planner decides exactly as the straightforward one did: same auditors, order, reasons and gaps.

``reference_assign`` is the planner's assignment as it was before it was made near-linear (every
(case, auditor) pair through ``static_exclusion``; the most constrained case found by a scan of every
pending case on each pass; the least-loaded auditor by a scan of every candidate). Random councils
small enough to cap auditors mid-plan, with breaks, pairs and the rules on and off, must plan the same
under both (no database)."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest

from bot.services.allocation.plan import _assign, _Loads, _ranks, _Slot
from bot.services.allocation.rules import (
    AuditorFacts,
    CaseFacts,
    Exclusions,
    Load,
    Rule,
    RuleSettings,
    at_yearly_limit,
    choice_reason,
    no_auditor_reason,
    static_exclusion,
)
from bot.services.allocation.types import AllocationPlan, AllocationRequest, PlannedAllocation, Unallocated
from store.models import AuditType, CaseType

MONTH = dt.date(2026, 6, 1)


def reference_assign(plan: AllocationPlan, slots: list[_Slot], auditors: list[AuditorFacts], on_break: set[int],
                     loads: _Loads, rules: RuleSettings, *, pairs: bool) -> None:
    """The assignment before it was made fast, kept verbatim as the oracle."""
    names = {a.person_id: a.name for a in auditors}
    rank = _ranks(f"{plan.seed}:auditors", names)
    eligible: dict[int, frozenset[int]] = {}
    excluded: dict[int, list[Rule]] = {}
    for slot in slots:
        verdicts = {a.person_id: static_exclusion(slot.case, a, rules, on_break=a.person_id in on_break) for a in auditors}
        eligible[slot.case.case_id] = frozenset(p for p, rule in verdicts.items() if rule is None)
        excluded[slot.case.case_id] = [rule for rule in verdicts.values() if rule is not None]
    capped = {p for p in names if at_yearly_limit(loads.year[p], rules)}
    needed = 2 if pairs else 1
    pending = {slot.case.case_id: slot for slot in slots}
    while pending:
        slot = min(pending.values(), key=lambda s: (len(eligible[s.case.case_id] - capped), s.case.reference))
        case = slot.case
        del pending[case.case_id]
        candidates = set(eligible[case.case_id] - capped)
        if len(candidates) < needed:
            limited = len(eligible[case.case_id] & capped)
            exclusions = Exclusions.of(excluded[case.case_id] + [Rule.YEARLY_LIMIT] * limited)
            reason = no_auditor_reason(exclusions, rules, eligible=len(candidates), needed=needed)
            plan.unallocated.append(Unallocated(case.reference, reason, case.case_id, slot.audit_type, dict(exclusions.counts)))
            continue
        chosen: list[int] = []
        for _ in range(needed):
            best = min(candidates, key=lambda p: (loads.month[p], loads.year[p], rank[p]))
            candidates.discard(best)
            chosen.append(best)
        before = [Load(names[p], loads.month[p], loads.year[p]) for p in chosen]
        for p in chosen:
            loads.month[p] += 1
            loads.year[p] += 1
            if at_yearly_limit(loads.year[p], rules):
                capped.add(p)
        second = chosen[1] if pairs else None
        plan.items.append(
            PlannedAllocation(
                reference=case.reference, case_id=case.case_id, case_type=case.case_type, team=case.team_name,
                audit_type=slot.audit_type, theme=slot.theme, auditor_id=chosen[0], auditor_name=names[chosen[0]],
                second_auditor_id=second, second_auditor_name=names[second] if second is not None else None,
                due_date=plan.due_date, reason=choice_reason(case, rules, before),
            )
        )


def council(rng: random.Random) -> tuple[list[_Slot], list[AuditorFacts], set[int], _Loads, RuleSettings, bool]:
    """A small random council: people 1..40 in 5 teams of 3 services, some of them auditors, and cases."""
    people = range(1, 41)
    service_of = {t: rng.choice([1, 2, 3, None]) for t in range(1, 6)}
    auditors = [
        AuditorFacts(p, f"Auditor {p}", rng.choice([1, 2, 3, 4, 5, None]), rng.choice([1, 2, 3, None]), rng.random() < 0.2)
        for p in sorted(rng.sample(people, rng.randint(0, 14)))
    ]

    def someone() -> int | None:
        return rng.choice(people) if rng.random() < 0.7 else None

    slots = []
    for n in rng.sample(range(1000), rng.randint(1, 45)):
        team = rng.randint(1, 5)
        worker = someone()
        facts = CaseFacts(n, f"CMS-{n:04d}", rng.choice(list(CaseType)), team, f"Team {team}", service_of[team], worker,
                          someone(), someone(), someone(), someone() if worker is not None else None, True)
        slots.append(_Slot(facts, rng.choice([AuditType.CONTROL, AuditType.THEMATIC, AuditType.DIP]), None))
    rules = RuleSettings(rng.random() < 0.8, rng.random() < 0.8, rng.randint(1, 7))
    loads = _Loads()
    for a in auditors:
        loads.month[a.person_id] = rng.randint(0, 2)
        loads.year[a.person_id] = loads.month[a.person_id] + rng.randint(0, rules.max_audits_per_year)
    on_break = {p for p in people if rng.random() < 0.1}
    return slots, auditors, on_break, loads, rules, rng.random() < 0.3


def blank(seed: int) -> AllocationPlan:
    request = AllocationRequest(month=MONTH, control=1, seed=seed)
    return AllocationPlan(request=request, month=MONTH, due_date=dt.date(2026, 6, 30), seed=seed, theme=None,
                          thematic_target=None, paused=False)


@pytest.mark.parametrize("seed", range(400))
def test_the_fast_assignment_plans_what_the_reference_planned(seed: int) -> None:
    slots, auditors, on_break, loads, rules, pairs = council(random.Random(seed))
    expected, actual = blank(seed), blank(seed)
    expected_loads = _Loads(Counter(loads.month), Counter(loads.year))
    reference_assign(expected, slots, auditors, on_break, expected_loads, rules, pairs=pairs)
    _assign(actual, slots, auditors, on_break, loads, rules, pairs=pairs)
    assert actual.items == expected.items
    assert actual.unallocated == expected.unallocated
    assert (loads.month, loads.year) == (expected_loads.month, expected_loads.year)


def test_the_random_councils_reach_every_branch() -> None:
    """The councils above cap auditors mid-plan, leave cases unallocated for each rule, and plan pairs."""
    seen: Counter[str] = Counter()
    for seed in range(400):
        slots, auditors, on_break, loads, rules, pairs = council(random.Random(seed))
        capped_before = sum(at_yearly_limit(loads.year[a.person_id], rules) for a in auditors)
        plan = blank(seed)
        _assign(plan, slots, auditors, on_break, loads, rules, pairs=pairs)
        capped_after = sum(at_yearly_limit(loads.year[a.person_id], rules) for a in auditors)
        seen["capped mid-plan"] += capped_after > capped_before
        seen["pairs planned"] += pairs and bool(plan.items)
        for gap in plan.unallocated:
            seen.update(rule.value for rule in gap.excluded)
    assert all(seen[k] >= 5 for k in ("capped mid-plan", "pairs planned", *(rule.value for rule in Rule))), seen


def test_most_constrained_first_then_by_reference_and_least_loaded_by_month_year_rank() -> None:
    """Two auditors; CMS-0002 can only go to A (B is its worker), so it goes first though CMS-0001 sorts before
    it, and A's month load becomes 1. CMS-0001 and CMS-0003 tie on constraint and go by reference: CMS-0001 to
    B (month loads tie at 1, B's year load is lower), CMS-0003 to A (month load 1 against B's 2)."""
    rules = RuleSettings(exclude_own_team=True, exclude_line_reports=True, max_audits_per_year=12)
    a, b = AuditorFacts(1, "A", None, None, False), AuditorFacts(2, "B", None, None, False)

    def slot(n: int, worker: int | None) -> _Slot:
        return _Slot(CaseFacts(n, f"CMS-{n:04d}", CaseType.CP, 9, "Team 9", None, worker, None, None, None, None, True),
                     AuditType.CONTROL, None)

    loads = _Loads(Counter({1: 0, 2: 1}), Counter({1: 9, 2: 1}))
    plan = blank(1)
    _assign(plan, [slot(1, None), slot(2, 2), slot(3, None)], [a, b], set(), loads, rules, pairs=False)
    assert [(i.reference, i.auditor_name) for i in plan.items] == [("CMS-0002", "A"), ("CMS-0001", "B"), ("CMS-0003", "A")]
