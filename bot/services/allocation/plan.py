"""Planning a month's allocations from the store, without writing (see bot.services.allocation.service)."""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session, aliased

from bot.services.allocation.rules import (
    CONTROL_CASE_TYPES,
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
)
from bot.services.allocation.types import AllocationPlan, AllocationRequest, PlannedAllocation, Unallocated
from bot.settings import Settings
from store.models import (
    HEADS_OF_SERVICE,
    SERVICE_MANAGER_RUNG,
    Allocation,
    AllocationState,
    AuditBreak,
    AuditMonth,
    AuditType,
    BreakState,
    Case,
    Person,
    PersonRole,
    Role,
    Service,
    Team,
)

#: Allocations in these states did not use up an audit (they do not count towards load or re-sampling).
_NOT_COUNTED = (AllocationState.CANCELLED, AllocationState.EXEMPTED)


def rule_settings(settings: Settings) -> RuleSettings:
    """The rule settings out of the bot's settings."""
    return RuleSettings(
        exclude_own_team=settings.exclude_own_team,
        exclude_line_reports=settings.exclude_line_reports,
        max_audits_per_year=settings.max_audits_per_year,
    )


# --- reading the store ----------------------------------------------------------------------


#: The social worker's row, for their line manager.
_WORKER = aliased(Person, name="worker")

#: The columns the rules read, labelled as CaseFacts' fields, in their order.
_FACT_COLUMNS = (
    Case.id.label("case_id"),
    Case.reference,
    Case.case_type,
    Case.team_id,
    Team.name.label("team_name"),
    Team.service_id,
    Case.allocated_worker_id.label("worker_id"),
    Case.previous_worker_id,
    Case.team_manager_id,
    Case.iro_id,
    _WORKER.line_manager_id.label("worker_line_manager_id"),
    Case.active,
)


def _case_facts(session: Session, *criteria: ColumnElement[bool]) -> list[CaseFacts]:
    """The cases matching ``criteria`` as CaseFacts, by reference: columns only, no ORM objects."""
    stmt = (
        select(*_FACT_COLUMNS)
        .join(Team, Case.team_id == Team.id)
        .outerjoin(_WORKER, _WORKER.id == Case.allocated_worker_id)
        .where(*criteria)
        .order_by(Case.reference)
    )
    # (mypy cannot see a row of _FACT_COLUMNS as CaseFacts' fields: one cast for all the rows, not one a row)
    rows = cast("Iterable[tuple[Any, ...]]", session.execute(stmt))
    return [CaseFacts(*row) for row in rows]


#: Cases fetched by id per query (well under SQLite's limit on bound parameters).
_BATCH = 900


def _facts_of(session: Session, case_ids: list[int]) -> list[CaseFacts]:
    """CaseFacts for ``case_ids``, in their order (those drawn from a pool)."""
    found: dict[int, CaseFacts] = {}
    for start in range(0, len(case_ids), _BATCH):
        found.update((c.case_id, c) for c in _case_facts(session, Case.id.in_(case_ids[start : start + _BATCH])))
    return [found[case_id] for case_id in case_ids]


def _pool(session: Session, *criteria: ColumnElement[bool], join_service: bool = False) -> list[Row[int, str]]:
    """A sample's pool as (case_id, reference) rows, unordered: only what drawing needs, for up to every case
    of the council (the rules' facts are read for the drawn cases alone). ``join_service`` lets the criteria
    name Service (Team is always joined)."""
    stmt = select(Case.id.label("case_id"), Case.reference).join(Team, Case.team_id == Team.id)
    if join_service:
        stmt = stmt.outerjoin(Service, Team.service_id == Service.id)
    return list(session.execute(stmt.where(*criteria)))


def _auditors(session: Session) -> list[AuditorFacts]:
    people = session.scalars(
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(Person.active.is_(True), PersonRole.role == Role.AUDITOR)
        .order_by(Person.id)
    ).all()
    return [
        AuditorFacts(
            person_id=p.id,
            name=p.display_name,
            team_id=p.team_id,
            service_id=p.service_id,
            manages_service=bool(p.roles & (SERVICE_MANAGER_RUNG | HEADS_OF_SERVICE)),
        )
        for p in people
    ]


@dataclass
class _Loads:
    month: Counter[int] = field(default_factory=Counter)
    year: Counter[int] = field(default_factory=Counter)


def _loads(session: Session, month: dt.date) -> _Loads:
    """Audits per auditor this month and in the 12 months ending with it (Hull A.2)."""
    loads = _Loads()
    rows = session.execute(
        select(Allocation.auditor_id, Allocation.second_auditor_id, Allocation.month_start).where(
            Allocation.month_start >= add_months(month, -11),
            Allocation.month_start <= month,
            Allocation.state.not_in(_NOT_COUNTED),
        )
    )
    for first, second, start in rows:
        for person_id in (first, second):
            if person_id is None:
                continue
            loads.year[person_id] += 1
            if start == month:
                loads.month[person_id] += 1
    return loads


def _on_break(session: Session, month: dt.date) -> set[int]:
    """People with an approved audit break for ``month``."""
    return set(
        session.scalars(select(AuditBreak.person_id).where(AuditBreak.month == month, AuditBreak.state == BreakState.APPROVED))
    )


def _ranks(seed: str, person_ids: Iterable[int]) -> dict[int, int]:
    """Person id -> seeded tiebreak rank (lower first), the same for the same seed and people."""
    ranks = sorted(person_ids)
    random.Random(seed).shuffle(ranks)
    return {person_id: i for i, person_id in enumerate(ranks)}


def _recently_audited(session: Session, month: dt.date, resample_months: int) -> dict[int, dt.date]:
    """Case id -> latest month it was allocated within ``resample_months`` before (or in) ``month``."""
    rows = session.execute(
        select(Allocation.case_id, func.max(Allocation.month_start))
        .where(
            Allocation.month_start >= add_months(month, -resample_months),
            Allocation.month_start <= month,
            Allocation.state != AllocationState.CANCELLED,
        )
        .group_by(Allocation.case_id)
    )
    return dict(rows.all())


def _check_filter_names(session: Session, thematic: ThematicFilter) -> None:
    for label, model, names in (("team", Team, thematic.teams), ("service", Service, thematic.services)):
        if not names:
            continue
        lowered = [n.lower() for n in names]
        known = {n.casefold() for n in session.scalars(select(model.name).where(func.lower(model.name).in_(lowered)))}
        unknown = sorted(n for n in names if n.casefold() not in known)
        if unknown:
            raise RequestError(f"the thematic filter names no {label} called {unknown[0]!r}")


def _thematic_cases(session: Session, thematic: ThematicFilter) -> list[Row[int, str]]:
    criteria: list[ColumnElement[bool]] = [Case.active.is_(True)]
    if thematic.case_types:
        criteria.append(Case.case_type.in_(sorted(thematic.case_types)))
    if thematic.teams:
        criteria.append(func.lower(Team.name).in_([t.lower() for t in thematic.teams]))
    if thematic.services:
        criteria.append(func.lower(Service.name).in_([s.lower() for s in thematic.services]))
    return _pool(session, *criteria, join_service=True)


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    case: CaseFacts
    audit_type: AuditType
    theme: str | None


@dataclass
class _Sample:
    """The outcome of drawing one sample, for the notes."""

    wanted: int
    pool: int
    recent: int
    taken: int
    #: The drawn cases' ids, in the order drawn.
    drawn: list[int]


def _draw(
    candidates: list[Row[int, str]],
    wanted: int,
    *,
    claimed: set[int],
    recent: dict[int, dt.date],
    allow_recent: bool,
    rng: random.Random,
) -> _Sample:
    """Sample ``wanted`` of the candidates not yet claimed (nor, unless allowed, recently audited), drawn from
    them sorted by reference; claim them. Rows are (case_id, reference)."""
    free = [c for c in candidates if c[0] not in claimed]
    fresh = free if allow_recent else [c for c in free if c[0] not in recent]
    fresh.sort(key=itemgetter(1))
    drawn = [c[0] for c in (fresh if wanted >= len(fresh) else rng.sample(fresh, wanted))]
    claimed.update(drawn)
    return _Sample(wanted, len(fresh), len(free) - len(fresh), len(candidates) - len(free), drawn)


def _shortfall_note(kind: str, sample: _Sample, resample_months: int) -> str | None:
    if sample.pool >= sample.wanted:
        return None
    why = []
    if sample.taken:
        why.append(f"{sample.taken} already allocated this month")
    if sample.recent:
        why.append(f"{sample.recent} audited in the last {resample_months} months")
    tail = f" ({', '.join(why)})" if why else ""
    return f"only {sample.pool} cases {kind}{tail}"


def _explicit_cases(
    session: Session,
    request: AllocationRequest,
    plan: AllocationPlan,
    *,
    month_cases: set[int],
    recent: dict[int, dt.date],
    resample_months: int,
    avoid_recent: bool,
) -> list[_Slot]:
    """Resolve the named cases: unknown, closed and already allocated ones drop out, and recently
    audited ones too when the council chose so (never a re-audit)."""
    refs = list(dict.fromkeys(r.strip() for r in request.cases if r.strip()))
    found = {c.reference: c for c in _case_facts(session, Case.reference.in_(refs))}
    slots: list[_Slot] = []
    already = 0
    for ref in refs:
        case = found.get(ref)
        kind = request.cases_type
        if case is None:
            plan.unallocated.append(Unallocated(ref, "no such case", audit_type=kind))
        elif case.case_id in month_cases:
            already += 1
            plan.notes.append(f"{ref} is already allocated for {month_label(plan.month)}")
        elif not case.active:
            plan.unallocated.append(Unallocated(ref, "case is closed", case.case_id, kind))
        elif avoid_recent and kind != AuditType.RE_AUDIT and not request.allow_recent and case.case_id in recent:
            when = month_label(recent[case.case_id])
            reason = f"audited in {when}, within the last {resample_months} months (allow-recent to include it)"
            plan.unallocated.append(Unallocated(ref, reason, case.case_id, kind))
        else:
            month_cases.add(case.case_id)
            slots.append(_Slot(case, kind, None))
    plan.already_allocated[request.cases_type.value] = already
    return slots


@dataclass(frozen=True)
class _Verdicts:
    """Which auditors the static rules exclude from one slot: each rule's count (the first rule that
    applies to each auditor, as ``static_exclusion`` checks them) and all of them together."""

    counts: tuple[tuple[Rule, int], ...]
    excluded: frozenset[int]


class _Eligibility:
    """``static_exclusion`` for one case against every auditor at once, by set operations.

    An auditor is excluded by the first of: involvement, own team (or managing its service), being the
    worker's line manager, a break. Indexes by team and service keep each case to a few small sets."""

    def __init__(self, auditors: list[AuditorFacts], on_break: set[int], rules: RuleSettings) -> None:
        self.ids = frozenset(a.person_id for a in auditors)
        self.rules = rules
        self.on_break = frozenset(on_break) & self.ids
        self.by_team: dict[int, set[int]] = {}
        self.managing: dict[int, set[int]] = {}
        for a in auditors:
            if a.team_id is not None:
                self.by_team.setdefault(a.team_id, set()).add(a.person_id)
            if a.manages_service and a.service_id is not None:
                self.managing.setdefault(a.service_id, set()).add(a.person_id)

    def of(self, case: CaseFacts) -> _Verdicts:
        """The auditors the static rules exclude from ``case``, counted by rule."""
        involved = self.ids.intersection((case.worker_id, case.previous_worker_id, case.team_manager_id, case.iro_id))
        excluded = set(involved)
        counts = [(Rule.INVOLVED, len(involved))]
        if self.rules.exclude_own_team:
            own = self.by_team.get(case.team_id, set())
            if case.service_id is not None:
                own = own | self.managing.get(case.service_id, set())
            own = own - excluded
            counts.append((Rule.OWN_TEAM, len(own)))
            excluded |= own
        manager = case.worker_line_manager_id
        if self.rules.exclude_line_reports and manager is not None and manager in self.ids and manager not in excluded:
            counts.append((Rule.LINE_MANAGER, 1))
            excluded.add(manager)
        resting = self.on_break - excluded
        counts.append((Rule.ON_BREAK, len(resting)))
        excluded |= resting
        return _Verdicts(tuple((rule, n) for rule, n in counts if n), frozenset(excluded))


class _Ladder:
    """The auditors not at the yearly limit, least loaded first by (month load, year load, seeded rank)."""

    def __init__(self, loads: _Loads, rank: dict[int, int], capped: set[int]) -> None:
        self.loads, self.rank = loads, rank
        self.order = sorted((self.key(p), p) for p in rank if p not in capped)

    def key(self, person_id: int) -> tuple[int, int, int]:
        return (self.loads.month[person_id], self.loads.year[person_id], self.rank[person_id])

    def first(self, needed: int, excluded: frozenset[int]) -> list[int]:
        """The ``needed`` least-loaded auditors not in ``excluded`` (fewer if there are not so many)."""
        chosen: list[int] = []
        for _, person_id in self.order:
            if person_id not in excluded:
                chosen.append(person_id)
                if len(chosen) == needed:
                    break
        return chosen

    def move(self, person_id: int, before: tuple[int, int, int], *, capped: bool) -> None:
        """Re-place ``person_id`` after its load changed from ``before`` (drop it once capped)."""
        del self.order[bisect_left(self.order, (before, person_id))]
        if not capped:
            insort(self.order, (self.key(person_id), person_id))


def _assign(
    plan: AllocationPlan,
    slots: list[_Slot],
    auditors: list[AuditorFacts],
    on_break: set[int],
    loads: _Loads,
    rules: RuleSettings,
    *,
    pairs: bool,
) -> None:
    """Give each slot the least-loaded eligible auditor(s), most constrained case first.

    Most constrained = fewest eligible auditors not at the yearly limit, ties by reference. That count is
    (auditors - capped) - (statically excluded - capped): the first term is common to every slot, so the
    slots wait in a heap keyed by -(excluded - capped), which only rises as auditors are capped; a popped
    slot whose key went stale is pushed back with its fresh key (lazy invalidation)."""
    names = {a.person_id: a.name for a in auditors}
    rank = _ranks(f"{plan.seed}:auditors", names)
    eligibility = _Eligibility(auditors, on_break, rules)
    verdicts = {slot.case.case_id: eligibility.of(slot.case) for slot in slots}
    capped = {p for p in names if at_yearly_limit(loads.year[p], rules)}
    ladder = _Ladder(loads, rank, capped)
    needed = 2 if pairs else 1
    by_id = {slot.case.case_id: slot for slot in slots}

    def key(case_id: int) -> int:
        excluded = verdicts[case_id].excluded
        return -(len(excluded) - len(excluded & capped)) if capped else -len(excluded)

    waiting = [(key(s.case.case_id), s.case.reference, s.case.case_id) for s in slots]
    heapify(waiting)
    while waiting:
        stale, reference, case_id = heappop(waiting)
        fresh = key(case_id)
        if fresh != stale:
            heappush(waiting, (fresh, reference, case_id))
            continue
        slot = by_id[case_id]
        case, verdict = slot.case, verdicts[case_id]
        chosen = ladder.first(needed, verdict.excluded)
        if len(chosen) < needed:
            limited = len(capped - verdict.excluded)
            exclusions = Exclusions.of([r for r, n in verdict.counts for _ in range(n)] + [Rule.YEARLY_LIMIT] * limited)
            reason = no_auditor_reason(exclusions, rules, eligible=len(chosen), needed=needed)
            plan.unallocated.append(Unallocated(case.reference, reason, case.case_id, slot.audit_type, dict(exclusions.counts)))
            continue
        before = [Load(names[p], loads.month[p], loads.year[p]) for p in chosen]
        for p in chosen:
            old = ladder.key(p)
            loads.month[p] += 1
            loads.year[p] += 1
            if at_yearly_limit(loads.year[p], rules):
                capped.add(p)
            ladder.move(p, old, capped=p in capped)
        second = chosen[1] if pairs else None
        plan.items.append(
            PlannedAllocation(
                reference=case.reference,
                case_id=case.case_id,
                case_type=case.case_type,
                team=case.team_name,
                audit_type=slot.audit_type,
                theme=slot.theme,
                auditor_id=chosen[0],
                auditor_name=names[chosen[0]],
                second_auditor_id=second,
                second_auditor_name=names[second] if second is not None else None,
                due_date=plan.due_date,
                reason=choice_reason(case, rules, before),
            )
        )


_KIND_ORDER = {AuditType.DIP: 0, AuditType.RE_AUDIT: 0, AuditType.THEMATIC: 1, AuditType.CONTROL: 2}


def _count_note(plan: AllocationPlan, label: str, kind: AuditType, requested: int, existing: int) -> str:
    planned = sum(1 for i in plan.items if i.audit_type == kind)
    failed = sum(1 for u in plan.unallocated if u.audit_type == kind)
    note = f"{label}: {requested} requested, {existing} already allocated, {planned} planned"
    return note + (f", {failed} could not be allocated" if failed else "")


def _thematic_sample(
    session: Session,
    plan: AllocationPlan,
    thematic: ThematicFilter,
    month_row: AuditMonth | None,
    slots: list[_Slot],
    claimed: set[int],
    live: list[tuple[AuditType, str | None]],
    recent: dict[int, dt.date],
    settings: Settings,
) -> tuple[str, AuditType, int, int, str | None]:
    """Draw the thematic sample towards its target; returns what the notes need."""
    theme, target = plan.theme, plan.thematic_target or 0
    existing = sum(1 for kind, th in live if kind == AuditType.THEMATIC and th == theme)
    plan.already_allocated[AuditType.THEMATIC.value] = existing
    if month_row is not None and month_row.theme and month_row.theme != theme:
        plan.notes.append(f"{month_label(plan.month)}'s theme is {month_row.theme!r}; this thematic sample is for {theme!r}")
    candidates = _thematic_cases(session, thematic)
    rng = random.Random(f"{plan.seed}:thematic")
    wanted = max(target - existing, 0)
    allow_recent = plan.request.allow_recent or not settings.avoid_recent_thematic
    sample = _draw(candidates, wanted, claimed=claimed, recent=recent, allow_recent=allow_recent, rng=rng)
    slots += [_Slot(c, AuditType.THEMATIC, theme) for c in _facts_of(session, sample.drawn)]
    kind = "match the thematic filter" if sample.pool == len(candidates) else "matching the thematic filter can be sampled"
    label = f"thematic sample {theme!r} ({thematic.describe()})"
    return label, AuditType.THEMATIC, target, existing, _shortfall_note(kind, sample, settings.resample_months)


def plan_allocation(session: Session, request: AllocationRequest, settings: Settings, *, now: dt.datetime) -> AllocationPlan:
    """Plan the month's allocations from the store without writing anything."""
    month = request.month
    month_row = session.scalar(select(AuditMonth).where(AuditMonth.month == month))
    theme = request.theme or (month_row.theme if month_row is not None else None)
    if request.thematic_filter is not None and not theme:
        raise RequestError(f"a thematic sample needs a theme and {month_label(month)} has none set")
    if request.thematic_filter is not None:
        _check_filter_names(session, request.thematic_filter)
    thematic_target = None
    if request.thematic_filter is not None:
        thematic_target = request.thematic_count if request.thematic_count is not None else settings.thematic_sample_size
    plan = AllocationPlan(
        request=request,
        month=month,
        due_date=last_day(month),
        seed=request.effective_seed,
        theme=theme if request.thematic_filter is not None else None,
        thematic_target=thematic_target,
        paused=bool(month_row is not None and month_row.paused),
    )
    if plan.paused:
        plan.notes.append(f"the programme is paused for {month_label(month)}: this plan cannot be committed")
    if plan.due_date < now.date():
        plan.notes.append(f"the deadline for {month_label(month)} ({plan.due_date.isoformat()}) has already passed")
    month_rows = session.execute(
        select(Allocation.case_id, Allocation.audit_type, Allocation.theme, Allocation.state).where(
            Allocation.month_start == month
        )
    ).all()
    claimed = {case_id for case_id, *_ in month_rows}
    live = [(kind, th) for _, kind, th, state in month_rows if state != AllocationState.CANCELLED]
    recent = _recently_audited(session, month, settings.resample_months)

    slots: list[_Slot] = []
    if request.cases:
        slots += _explicit_cases(
            session, request, plan, month_cases=claimed, recent=recent, resample_months=settings.resample_months,
            avoid_recent=settings.avoid_recent_named,
        )
    samples: list[tuple[str, AuditType, int, int, str | None]] = []
    if request.thematic_filter is not None and thematic_target is not None:
        samples.append(
            _thematic_sample(session, plan, request.thematic_filter, month_row, slots, claimed, live, recent, settings)
        )
    if request.control is not None:
        existing = sum(1 for kind, _ in live if kind == AuditType.CONTROL)
        plan.already_allocated[AuditType.CONTROL.value] = existing
        control_types = sorted(CONTROL_CASE_TYPES)
        candidates = _pool(session, Case.active.is_(True), Case.case_type.in_(control_types))
        rng = random.Random(f"{plan.seed}:control")
        wanted = max(request.control - existing, 0)
        allow_recent = request.allow_recent or not settings.avoid_recent_control
        sample = _draw(candidates, wanted, claimed=claimed, recent=recent, allow_recent=allow_recent, rng=rng)
        slots += [_Slot(c, AuditType.CONTROL, None) for c in _facts_of(session, sample.drawn)]
        shortfall = _shortfall_note("of type CIN, CP or CLA can be sampled", sample, settings.resample_months)
        samples.append(("control sample", AuditType.CONTROL, request.control, existing, shortfall))

    auditors, on_break = _auditors(session), _on_break(session, month)
    _assign(plan, slots, auditors, on_break, _loads(session, month), rule_settings(settings), pairs=settings.auditor_pairs)
    plan.items.sort(key=lambda i: (_KIND_ORDER[i.audit_type], i.reference))
    plan.unallocated.sort(key=lambda u: (_KIND_ORDER[u.audit_type] if u.audit_type else 0, u.reference))
    if request.cases:
        kind = request.cases_type
        requested = len(set(request.cases))
        plan.notes.insert(0, _count_note(plan, f"{kind.value} cases", kind, requested, plan.already_allocated[kind.value]))
    for label, kind, requested, existing, shortfall in samples:
        plan.notes.append(_count_note(plan, label, kind, requested, existing))
        if shortfall:
            plan.notes.append(shortfall)
    plan.rules.extend(_recent_rules(request, settings))
    return plan


def _recent_rules(request: AllocationRequest, settings: Settings) -> list[str]:
    """Say, for each kind of sample requested, whether recently audited cases were left out (a council's choice)."""
    asked = [("control sample", request.control is not None, settings.avoid_recent_control, "AUDITBOT_AVOID_RECENT_CONTROL"),
             ("thematic sample", request.thematic_filter is not None, settings.avoid_recent_thematic,
              "AUDITBOT_AVOID_RECENT_THEMATIC"),
             ("named cases", bool(request.cases) and request.cases_type != AuditType.RE_AUDIT, settings.avoid_recent_named,
              "AUDITBOT_AVOID_RECENT_NAMED")]
    notes = []
    for label, requested, avoid, setting in asked:
        if not requested:
            continue
        if request.allow_recent:
            notes.append(f"{label}: cases audited in the last {settings.resample_months} months may be chosen (--allow-recent)")
        elif avoid:
            notes.append(f"{label}: cases audited in the last {settings.resample_months} months are left out "
                         f"(the council's choice, {setting}=true)")
        else:
            notes.append(f"{label}: cases audited recently may be chosen again (the council's choice, {setting}=false)")
    return notes
