"""Allocation planning and committing (shared/domain.md, The monthly cycle, step 1)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import Context
from bot.cli.allocate import register
from bot.services.allocation.rules import Rule, add_months
from bot.services.allocation.service import (
    AllocationPlan,
    AllocationRequest,
    MonthPaused,
    RequestError,
    allocate,
    commit_allocation,
    parse_thematic_filter,
    plan_allocation,
)
from bot.settings import Settings, load_settings
from store.models import (
    Allocation,
    AllocationState,
    AuditLog,
    AuditMonth,
    AuditType,
    BreakState,
    CaseType,
    Notification,
    Person,
    Role,
    Service,
    Team,
)
from tests.allocation_fixtures import Council

MONTH = dt.date(2026, 12, 1)
#: When the command-line tests run: a week before the month they allocate.
CLI_NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
TEAM_A = "Assessment Team North"
TEAM_B = "Leaving Care Team North"
PLAIN_REASON = (
    "not in Assessment Team North or its management line; "
    "{year} of 10 audits in the last 12 months; lowest load this month ({month})"
)
WORKER_REASON = (
    "not in Assessment Team North or its management line; not the social worker's line manager; "
    "{year} of 10 audits in the last 12 months; lowest load this month ({month})"
)


def settings(**overrides: object) -> Settings:
    """Default programme settings (with overrides)."""
    return load_settings(database_url="sqlite://", **overrides)


def back(months: int) -> dt.date:
    """The first of the month ``months`` before MONTH."""
    return add_months(MONTH, -months)


def make_plan(
    session_factory: sessionmaker[Session], now: dt.datetime, rules: Settings | None = None, **request: object
) -> AllocationPlan:
    """Plan for MONTH in a throwaway session."""
    with session_factory() as session:
        return plan_allocation(session, AllocationRequest(month=MONTH, **request), rules or settings(), now=now)  # type: ignore[arg-type]


def assigned(plan: AllocationPlan) -> list[tuple[str, str]]:
    """(reference, auditor) per planned item."""
    return [(i.reference, i.auditor_name) for i in plan.items]


def load(plan: AllocationPlan) -> Counter[str]:
    """Planned audits per auditor (a pair counts for each)."""
    names = [i.auditor_name for i in plan.items] + [i.second_auditor_name for i in plan.items if i.second_auditor_name]
    return Counter(names)


def deactivate(session_factory: sessionmaker[Session], *names: str) -> None:
    """Mark people as having left."""
    with session_factory() as s, s.begin():
        s.execute(update(Person).where(Person.display_name.in_(names)).values(active=False))


@dataclass
class Base:
    """Two services with one team each; case-holding team A, auditors usually in team B."""

    svc_a: Service
    team_a: Team
    svc_b: Service
    team_b: Team


def base(c: Council) -> Base:
    """The two-team council most tests start from."""
    svc_a, svc_b = c.service("Children in Need"), c.service("Children in Care")
    return Base(svc_a, c.team(TEAM_A, svc_a), svc_b, c.team(TEAM_B, svc_b))


# --- parsing and validation -----------------------------------------------------------------


def test_request_validation() -> None:
    assert AllocationRequest(month=MONTH, control=3).effective_seed == 202612
    assert AllocationRequest(month=MONTH, control=3, seed=5).effective_seed == 5
    with pytest.raises(RequestError, match=r"^nothing requested"):
        AllocationRequest(month=MONTH)
    with pytest.raises(RequestError, match="first day, not 2026-12-15"):
        AllocationRequest(month=dt.date(2026, 12, 15), control=1)
    with pytest.raises(RequestError, match="dip or re_audit, not control"):
        AllocationRequest(month=MONTH, cases=("CMS-1",), cases_type=AuditType.CONTROL)
    with pytest.raises(RequestError, match="needs a thematic filter"):
        AllocationRequest(month=MONTH, control=1, theme="Neglect")
    with pytest.raises(RequestError, match=r"cannot be negative \(-1\)"):
        AllocationRequest(month=MONTH, control=-1)


# --- eligibility rules ----------------------------------------------------------------------

#: relation of the excluded auditor to the cases -> the words counting them when nobody else is left
RELATIONS = {
    "team member": "in the case's team or managing it",
    "service manager": "in the case's team or managing it",
    "head of service": "in the case's team or managing it",
    "line manager": "the social worker's line manager",
    "case team manager": "involved in the case (worker, previous worker, team manager or IRO)",
    "iro": "involved in the case (worker, previous worker, team manager or IRO)",
    "worker": "involved in the case (worker, previous worker, team manager or IRO)",
    "previous worker": "involved in the case (worker, previous worker, team manager or IRO)",
}


@pytest.mark.parametrize("relation", sorted(RELATIONS))
def test_rule_excludes_auditor(session_factory: sessionmaker[Session], now: dt.datetime, relation: str) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Frank Free", team=b.team_b)
        manager = c.person("Tina Manager", Role.TEAM_MANAGER, team=b.team_a)
        excluded = {
            "team member": lambda: c.auditor("Ed Excluded", Role.TEAM_MANAGER, team=b.team_a),
            "service manager": lambda: c.auditor("Ed Excluded", Role.SERVICE_MANAGER, service=b.svc_a),
            "head of service": lambda: c.auditor("Ed Excluded", Role.HEAD_OF_SERVICE, service=b.svc_a),
            "line manager": lambda: c.auditor("Ed Excluded", Role.TEAM_MANAGER, team=b.team_b),
            "case team manager": lambda: c.auditor("Ed Excluded", Role.TEAM_MANAGER),
            "iro": lambda: c.auditor("Ed Excluded", Role.IRO),
            "worker": lambda: c.auditor("Ed Excluded", Role.SOCIAL_WORKER),
            "previous worker": lambda: c.auditor("Ed Excluded", Role.SOCIAL_WORKER),
        }[relation]()
        lm = excluded if relation == "line manager" else manager
        worker = (
            excluded
            if relation == "worker"
            else c.person("Wendy Worker", Role.SOCIAL_WORKER, team=b.team_a, line_manager=lm)
        )
        for n in (1, 2, 3):
            c.case(
                f"CMS-{n}",
                b.team_a,
                worker=worker,
                previous_worker=excluded if relation == "previous worker" else None,
                team_manager=excluded if relation == "case team manager" else manager,
                iro=excluded if relation == "iro" else None,
            )
    refs = ("CMS-1", "CMS-2", "CMS-3")

    plan = make_plan(session_factory, now, cases=refs)
    assert assigned(plan) == [("CMS-1", "Frank Free"), ("CMS-2", "Frank Free"), ("CMS-3", "Frank Free")]
    assert [i.reason for i in plan.items] == [WORKER_REASON.format(year=n, month=n) for n in (0, 1, 2)]
    assert plan.unallocated == []

    deactivate(session_factory, "Frank Free")
    plan = make_plan(session_factory, now, cases=refs)
    assert plan.items == []
    assert [(u.reference, u.reason) for u in plan.unallocated] == [
        (ref, f"no eligible auditor: 1 {RELATIONS[relation]}") for ref in refs
    ]


def test_service_manager_may_audit_other_services(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Sue Service", Role.SERVICE_MANAGER, service=b.svc_a)
        c.auditor("Pat Principal", service=b.svc_a)  # in the service, but manages nothing
        c.case("CMS-A1", b.team_a)
        c.case("CMS-A2", b.team_a)
        c.case("CMS-B1", b.team_b)
    plan = make_plan(session_factory, now, cases=("CMS-A1", "CMS-A2", "CMS-B1"))
    assert assigned(plan) == [("CMS-A1", "Pat Principal"), ("CMS-A2", "Pat Principal"), ("CMS-B1", "Sue Service")]
    assert plan.items[2].reason == (
        "not in Leaving Care Team North or its management line; 0 of 10 audits in the last 12 months; "
        "lowest load this month (0)"
    )


def test_team_and_line_manager_rules_can_be_turned_off(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Ina Inside", team=b.team_a)
        lee = c.auditor("Lee Linemanager", team=b.team_b)
        worker = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=b.team_a, line_manager=lee)
        c.case("CMS-1", b.team_a, worker=worker)
        c.case("CMS-2", b.team_a, worker=worker)

    strict = make_plan(session_factory, now, cases=("CMS-1", "CMS-2"))
    assert strict.items == []
    assert [u.reason for u in strict.unallocated] == [
        "no eligible auditor: 1 in the case's team or managing it, 1 the social worker's line manager"
    ] * 2
    assert strict.unallocated[0].excluded == {Rule.OWN_TEAM: 1, Rule.LINE_MANAGER: 1}

    relaxed = make_plan(
        session_factory, now, settings(exclude_own_team=False, exclude_line_reports=False), cases=("CMS-1", "CMS-2")
    )
    assert load(relaxed) == Counter({"Ina Inside": 1, "Lee Linemanager": 1})
    assert relaxed.items[0].reason == "0 of 10 audits in the last 12 months; lowest load this month (0)"


def test_yearly_cap(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        capped = c.auditor("Cap Ten", team=b.team_b)
        c.history(capped, [back(k) for k in range(2, 12)], b.team_b)  # 10 in Jan..Oct 2026
        nina = c.auditor("Nina Nine", team=b.team_b)
        # 9 inside the rolling year, and two just outside it (12 and 13 months ago).
        c.history(nina, [back(k) for k in range(1, 10)] + [back(12), back(13)], b.team_b)
        c.case("CMS-1", b.team_a)
        c.case("CMS-2", b.team_a)
    plan = make_plan(session_factory, now, cases=("CMS-1", "CMS-2"))
    assert assigned(plan) == [("CMS-1", "Nina Nine")]
    assert plan.items[0].reason == PLAIN_REASON.format(year=9, month=0)
    # Nina reaches 10 with CMS-1, so CMS-2 finds both auditors at the limit.
    assert [(u.reference, u.reason) for u in plan.unallocated] == [
        ("CMS-2", "no eligible auditor: 2 at the yearly limit of 10")
    ]
    assert plan.unallocated[0].excluded == {Rule.YEARLY_LIMIT: 2}


def test_cancelled_and_exempted_allocations_do_not_count_towards_the_cap(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        auditor = c.auditor("Cara Cancelled", team=b.team_b)
        rows = c.history(auditor, [back(k) for k in range(1, 11)], b.team_b)
        rows[0].state = AllocationState.CANCELLED
        rows[1].state = AllocationState.EXEMPTED
        c.case("CMS-1", b.team_a)
    plan = make_plan(session_factory, now, cases=("CMS-1",))
    assert assigned(plan) == [("CMS-1", "Cara Cancelled")]
    assert plan.items[0].reason == PLAIN_REASON.format(year=8, month=0)


def test_audit_break_honoured(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.audit_break(c.auditor("Bea Break", team=b.team_b), MONTH)
        c.audit_break(c.auditor("Rita Refused", team=b.team_b), MONTH, BreakState.REFUSED)
        c.audit_break(c.auditor("Nat Next", team=b.team_b), add_months(MONTH, 1))
        for n in range(1, 5):
            c.case(f"CMS-{n}", b.team_a)
    refs = ("CMS-1", "CMS-2", "CMS-3", "CMS-4")
    plan = make_plan(session_factory, now, cases=refs)
    assert load(plan) == Counter({"Rita Refused": 2, "Nat Next": 2})

    deactivate(session_factory, "Rita Refused", "Nat Next")
    plan = make_plan(session_factory, now, cases=refs)
    assert [u.reason for u in plan.unallocated] == ["no eligible auditor: 1 on an audit break"] * 4


def test_unallocatable_case_reports_counts(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Ann A", team=b.team_a)
        c.auditor("Bob A", team=b.team_a)
        c.auditor("Sue Service", Role.SERVICE_MANAGER, service=b.svc_a)
        c.audit_break(c.auditor("Bea Break", team=b.team_b), MONTH)
        c.history(c.auditor("Cap Ten", team=b.team_b), [back(k) for k in range(1, 11)], b.team_b)
        iro = c.auditor("Ivy Iro", Role.IRO)
        c.case("CMS-1", b.team_a, iro=iro)
    plan = make_plan(session_factory, now, cases=("CMS-1",), cases_type=AuditType.RE_AUDIT)
    assert plan.items == []
    [entry] = plan.unallocated
    assert (entry.reference, entry.audit_type) == ("CMS-1", AuditType.RE_AUDIT)
    assert entry.reason == (
        "no eligible auditor: 1 involved in the case (worker, previous worker, team manager or IRO), "
        "3 in the case's team or managing it, 1 on an audit break, 1 at the yearly limit of 10"
    )
    assert entry.excluded == {Rule.INVOLVED: 1, Rule.OWN_TEAM: 3, Rule.ON_BREAK: 1, Rule.YEARLY_LIMIT: 1}
    assert plan.notes == ["re_audit cases: 1 requested, 0 already allocated, 0 planned, 1 could not be allocated"]


# --- spreading the load ---------------------------------------------------------------------


def test_even_spread(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        for name in ("Ann", "Ben", "Cal", "Dee"):
            c.auditor(f"{name} Auditor", team=b.team_b)
        for n in range(12):
            c.case(f"CMS-{n:02d}", b.team_a, CaseType.CIN if n % 2 else CaseType.CLA)
    plan = make_plan(session_factory, now, control=12)
    assert len(plan.items) == 12
    assert {i.audit_type for i in plan.items} == {AuditType.CONTROL}
    assert {i.due_date for i in plan.items} == {dt.date(2026, 12, 31)}
    assert load(plan) == Counter({"Ann Auditor": 3, "Ben Auditor": 3, "Cal Auditor": 3, "Dee Auditor": 3})
    assert plan.notes == ["control sample: 12 requested, 0 already allocated, 12 planned"]
    assert plan.already_allocated == {"control": 0}


def test_most_constrained_case_first(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        xena = c.auditor("Xena Nine", team=b.team_b)
        c.history(xena, [back(k) for k in range(1, 10)], b.team_b)  # one audit left this year
        yan = c.auditor("Yan Busy", team=b.team_b)
        c.allocation(c.case("CMS-0", b.team_b), yan, MONTH)  # already one this month
        c.case("CMS-1", b.team_a)  # Xena or Yan
        c.case("CMS-2", b.team_a, iro=yan)  # only Xena
    plan = make_plan(session_factory, now, cases=("CMS-1", "CMS-2"))
    # Reference order would give CMS-1 to Xena (lower load this month) and strand CMS-2.
    assert assigned(plan) == [("CMS-1", "Yan Busy"), ("CMS-2", "Xena Nine")]
    assert plan.unallocated == []
    assert plan.items[0].reason == PLAIN_REASON.format(year=1, month=1)
    assert plan.items[1].reason == PLAIN_REASON.format(year=9, month=0)


def test_pairs(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Ina Inside", team=b.team_a)
        for name in ("Ann", "Ben", "Cal", "Dee"):
            c.auditor(f"{name} Auditor", team=b.team_b)
        for n in range(1, 6):
            c.case(f"CMS-{n}", b.team_a)
    rules = settings(auditor_pairs=True)
    request = AllocationRequest(month=MONTH, cases=("CMS-1", "CMS-2", "CMS-3", "CMS-4"))
    plan, result = allocate(session_factory, request, rules, now=now, preview=False)
    assert result is not None
    assert (result.created, result.messages) == (4, 8)
    assert all(i.second_auditor_id is not None and i.second_auditor_id != i.auditor_id for i in plan.items)
    assert load(plan) == Counter({"Ann Auditor": 2, "Ben Auditor": 2, "Cal Auditor": 2, "Dee Auditor": 2})
    first = plan.items[0]
    assert first.reason == (
        f"not in Assessment Team North or its management line; "
        f"{first.auditor_name}: 0 of 10 audits in the last 12 months, 0 this month; "
        f"{first.second_auditor_name}: 0 of 10 audits in the last 12 months, 0 this month; lowest loads this month"
    )
    with session_factory() as s:
        rows = s.scalars(select(Allocation).order_by(Allocation.id)).all()
        assert [(a.auditor_id, a.second_auditor_id) for a in rows] == [
            (i.auditor_id, i.second_auditor_id) for i in plan.items
        ]
        keys = set(s.scalars(select(Notification.idempotency_key)))
        assert keys == {f"alloc:{a.id}:auditor:{p}" for a in rows for p in (a.auditor_id, a.second_auditor_id)}

    deactivate(session_factory, "Ben Auditor", "Cal Auditor", "Dee Auditor")
    plan = make_plan(session_factory, now, rules, cases=("CMS-5",))
    assert [(u.reference, u.reason) for u in plan.unallocated] == [
        ("CMS-5", "only 1 eligible auditor for a pair: 1 in the case's team or managing it")
    ]


# --- sampling -------------------------------------------------------------------------------


def test_recent_case_not_resampled(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        auditor = c.auditor("Ann Auditor", team=b.team_b)
        recent = c.case("CMS-1", b.team_a)
        c.allocation(recent, auditor, back(3), state=AllocationState.COMPLETED)
        old = c.case("CMS-5", b.team_a)
        c.allocation(old, auditor, back(13), state=AllocationState.COMPLETED)
        for n in (2, 3, 4):
            c.case(f"CMS-{n}", b.team_a)
        c.case("CMS-6", b.team_a, CaseType.EARLY_HELP)  # never in a control sample
        c.case("CMS-7", b.team_a, active=False)  # closed

    plan = make_plan(session_factory, now, control=6)
    assert [i.reference for i in plan.items] == ["CMS-2", "CMS-3", "CMS-4", "CMS-5"]
    assert plan.notes == [
        "control sample: 6 requested, 0 already allocated, 4 planned",
        "only 4 cases of type CIN, CP or CLA can be sampled (1 audited in the last 12 months)",
    ]
    plan = make_plan(session_factory, now, control=6, allow_recent=True)
    assert [i.reference for i in plan.items] == ["CMS-1", "CMS-2", "CMS-3", "CMS-4", "CMS-5"]

    assert plan.rules == ["control sample: cases audited in the last 12 months may be chosen (--allow-recent)"]

    # Named cases: re-sampling is allowed unless the council chose otherwise (a choice, not a seed rule).
    dip = make_plan(session_factory, now, cases=("CMS-1",))
    assert [i.reference for i in dip.items] == ["CMS-1"]
    assert dip.rules == [
        "named cases: cases audited recently may be chosen again (the council's choice, AUDITBOT_AVOID_RECENT_NAMED=false)"
    ]
    strict = settings(avoid_recent_named=True)
    dip = make_plan(session_factory, now, rules=strict, cases=("CMS-1",))
    assert dip.items == []
    assert [(u.reference, u.reason) for u in dip.unallocated] == [
        ("CMS-1", "audited in September 2026, within the last 12 months (allow-recent to include it)")
    ]
    allowed = make_plan(session_factory, now, rules=strict, cases=("CMS-1",), allow_recent=True)
    assert [i.reference for i in allowed.items] == ["CMS-1"]
    re_audit = make_plan(session_factory, now, rules=strict, cases=("CMS-1",), cases_type=AuditType.RE_AUDIT)
    assert [(i.reference, i.audit_type) for i in re_audit.items] == [("CMS-1", AuditType.RE_AUDIT)]
    assert re_audit.rules == [], "a re-audit is recent by nature: no rule to explain"


def test_the_re_sampling_choices_are_settings_and_the_preview_says_so(
    session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        auditor = c.auditor("Ann Auditor", team=b.team_b)
        recent = c.case("CMS-1", b.team_a, CaseType.CP)
        c.allocation(recent, auditor, back(3), state=AllocationState.COMPLETED)
    thematic = parse_thematic_filter("type=CP")
    plan = make_plan(session_factory, now, control=1, thematic_filter=thematic, theme="Neglect", thematic_count=1)
    assert [(i.reference, i.audit_type) for i in plan.items] == [("CMS-1", AuditType.THEMATIC)]
    assert plan.rules == [
        "control sample: cases audited in the last 12 months are left out "
        "(the council's choice, AUDITBOT_AVOID_RECENT_CONTROL=true)",
        "thematic sample: cases audited recently may be chosen again "
        "(the council's choice, AUDITBOT_AVOID_RECENT_THEMATIC=false)",
    ]
    strict = make_plan(session_factory, now, rules=settings(avoid_recent_thematic=True, avoid_recent_control=False),
                       thematic_filter=thematic, theme="Neglect", thematic_count=1, control=1)
    assert [(i.reference, i.audit_type) for i in strict.items] == [("CMS-1", AuditType.CONTROL)]


def test_determinism(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        for name in ("Ann", "Ben", "Cal", "Dee", "Eve"):
            c.auditor(f"{name} Auditor", team=b.team_b)
        for n in range(40):
            c.case(f"CMS-{n:03d}", b.team_a, (CaseType.CIN, CaseType.CP, CaseType.CLA)[n % 3])
    first = make_plan(session_factory, now, control=10, seed=7)
    again = make_plan(session_factory, now, control=10, seed=7)
    other = make_plan(session_factory, now, control=10, seed=8)
    default = make_plan(session_factory, now, control=10)
    assert len(first.items) == 10
    assert first.items == again.items
    assert first.notes == again.notes
    assert {i.reference for i in first.items} != {i.reference for i in other.items}
    assert (first.seed, other.seed, default.seed) == (7, 8, 202612)
    assert load(first) == Counter({f"{n} Auditor": 2 for n in ("Ann", "Ben", "Cal", "Dee", "Eve")})


def test_thematic_sample_and_month_theme(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Ann Auditor", team=b.team_b)
        c.auditor("Ben Auditor", team=b.team_a)
        for n in (1, 2, 3):
            c.case(f"CMS-A{n}", b.team_a, CaseType.CP)
        c.case("CMS-A4", b.team_a, CaseType.CIN)
        c.case("CMS-A5", b.team_a, CaseType.CP, active=False)
        c.case("CMS-B1", b.team_b, CaseType.CP)
    thematic = parse_thematic_filter("type=CP;team=assessment team north")

    with pytest.raises(RequestError, match="needs a theme and December 2026 has none set"):
        make_plan(session_factory, now, thematic_filter=thematic)
    with pytest.raises(RequestError, match="names no team called 'Nowhere'"):
        make_plan(session_factory, now, thematic_filter=parse_thematic_filter("team=Nowhere"), theme="Neglect")

    request = AllocationRequest(month=MONTH, thematic_filter=thematic, theme="Neglect", thematic_count=5)
    plan, result = allocate(session_factory, request, settings(), now=now, preview=False)
    assert result is not None and result.created == 3
    assert [(i.reference, i.audit_type, i.theme, i.auditor_name) for i in plan.items] == [
        (f"CMS-A{n}", AuditType.THEMATIC, "Neglect", "Ann Auditor") for n in (1, 2, 3)
    ]
    assert plan.notes == [
        "thematic sample 'Neglect' (type=CP;team=assessment team north): 5 requested, 0 already allocated, 3 planned",
        "only 3 cases match the thematic filter",
    ]
    with session_factory() as s:
        assert s.scalar(select(AuditMonth.theme).where(AuditMonth.month == MONTH)) == "Neglect"
        assert set(s.scalars(select(Allocation.theme))) == {"Neglect"}

    # No --theme: the month's theme is used, and the target is already as met as it can be.
    again = make_plan(session_factory, now, thematic_filter=thematic, thematic_count=5)
    assert (again.theme, again.items, again.already_allocated) == ("Neglect", [], {"thematic": 3})
    assert again.notes[1] == "only 0 cases matching the thematic filter can be sampled (3 already allocated this month)"


def test_named_cases(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        ann = c.auditor("Ann Auditor", team=b.team_b)
        c.allocation(c.case("CMS-1", b.team_a), ann, MONTH)
        c.case("CMS-2", b.team_a, active=False)
        c.case("CMS-3", b.team_a, CaseType.FOSTERING)
    plan = make_plan(session_factory, now, cases=("CMS-1", "CMS-2", "CMS-3", "CMS-404", "CMS-3"))
    assert [(i.reference, i.audit_type, i.auditor_name) for i in plan.items] == [("CMS-3", AuditType.DIP, "Ann Auditor")]
    assert [(u.reference, u.reason) for u in plan.unallocated] == [("CMS-2", "case is closed"), ("CMS-404", "no such case")]
    assert plan.already_allocated == {"dip": 1}
    assert plan.notes == [
        "dip cases: 4 requested, 1 already allocated, 1 planned, 2 could not be allocated",
        "CMS-1 is already allocated for December 2026",
    ]
    assert plan.items[0].reason == PLAIN_REASON.format(year=1, month=1)


# --- committing -----------------------------------------------------------------------------


def _targets_council(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        for name in ("Ann", "Ben", "Cal"):
            c.auditor(f"{name} Auditor", team=b.team_b)
        manager = c.person("Tina Manager", Role.TEAM_MANAGER, team=b.team_a)
        worker = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=b.team_a, line_manager=manager)
        for n in range(10):
            c.case(f"CMS-{n:02d}", b.team_a, worker=worker, team_manager=manager)
        return worker.id, manager.id


def test_targets_not_increments(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    worker_id, manager_id = _targets_council(session_factory)
    rules = settings()

    plan, result = allocate(session_factory, AllocationRequest(month=MONTH, control=5), rules, now=now, preview=False)
    assert result is not None
    assert (result.created, result.skipped, result.messages, result.already_allocated) == (5, 0, 15, 0)
    with session_factory() as s:
        rows = s.scalars(select(Allocation).order_by(Allocation.id)).all()
        assert [a.case.reference for a in rows] == [i.reference for i in plan.items]
        assert {(a.state, a.audit_type, a.due_date, a.month_start, a.created_at) for a in rows} == {
            (AllocationState.ALLOCATED, AuditType.CONTROL, dt.date(2026, 12, 31), MONTH, now)
        }
        assert [a.reason for a in rows] == [i.reason for i in plan.items]
        assert list(result.allocation_ids) == [a.id for a in rows]
        keys = sorted(s.scalars(select(Notification.idempotency_key)))
        expected = sorted(
            key
            for a in rows
            for key in (
                f"alloc:{a.id}:auditor:{a.auditor_id}",
                f"alloc:{a.id}:worker:{worker_id}",
                f"alloc:{a.id}:team_manager:{manager_id}",
            )
        )
        assert keys == expected

    replan, again = allocate(session_factory, AllocationRequest(month=MONTH, control=5), rules, now=now, preview=False)
    assert again is not None
    assert (again.created, again.skipped, again.messages, again.already_allocated) == (0, 0, 0, 5)
    assert replan.items == []
    assert replan.notes == ["control sample: 5 requested, 5 already allocated, 0 planned"]

    _, more = allocate(session_factory, AllocationRequest(month=MONTH, control=7), rules, now=now, preview=False)
    assert more is not None
    assert (more.created, more.messages, more.already_allocated) == (2, 6, 5)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 7
        assert s.scalar(select(func.count()).select_from(Notification)) == 21
        assert s.scalar(select(func.count()).select_from(AuditMonth)) == 1
        logs = s.scalars(select(AuditLog).where(AuditLog.action == "allocation.commit").order_by(AuditLog.id)).all()
        assert [(log.actor_ref, log.outcome, log.detail["created"]) for log in logs] == [
            ("cli", "ok", 5),
            ("cli", "ok", 0),
            ("cli", "ok", 2),
        ]
        assert logs[2].detail["month"] == "2026-12-01"
        assert logs[2].detail["requested"]["control"] == 7
        assert logs[2].detail["requested"]["seed"] == 202612
        assert logs[2].subject_type == "audit_month"


def test_commit_revalidates_a_stale_plan(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    _targets_council(session_factory)
    same_a = make_plan(session_factory, now, control=5, seed=1)
    same_b = make_plan(session_factory, now, control=5, seed=1)
    other = make_plan(session_factory, now, control=5, seed=2)
    assert {i.reference for i in same_a.items} != {i.reference for i in other.items}
    results = []
    for plan in (same_a, same_b, other):
        with session_factory() as s, s.begin():
            results.append(commit_allocation(s, plan, now=now, actor_ref="U123"))
    # The same cases are skipped; different cases are skipped because the target is met.
    assert [(r.created, r.skipped) for r in results] == [(5, 0), (0, 5), (0, 5)]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 5
        assert s.scalar(select(func.count()).select_from(Notification)) == 15
        assert list(s.scalars(select(AuditLog.actor_ref))) == ["U123"] * 3


def test_paused_month_refuses(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    _targets_council(session_factory)
    with session_factory() as s, s.begin():
        Council(s).month(MONTH, paused=True)
    preview, nothing = allocate(session_factory, AllocationRequest(month=MONTH, control=3), settings(), now=now, preview=True)
    assert nothing is None
    assert preview.paused is True
    assert preview.notes[0] == "the programme is paused for December 2026: this plan cannot be committed"
    with pytest.raises(MonthPaused, match="paused for December 2026"):
        allocate(session_factory, AllocationRequest(month=MONTH, control=3), settings(), now=now, preview=False)
    with pytest.raises(MonthPaused), session_factory() as s, s.begin():
        commit_allocation(s, preview, now=now)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 0
        assert s.scalar(select(func.count()).select_from(Notification)) == 0
        assert s.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_concurrent_commit_waits_for_the_month_lock(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    _targets_council(session_factory)
    rules = settings()
    outcome: dict[str, int] = {}

    def second_run() -> None:
        _, result = allocate(session_factory, AllocationRequest(month=MONTH, control=5, seed=99), rules, now=now, preview=False)
        outcome["created"] = result.created if result else -1

    with session_factory() as s, s.begin():
        plan = plan_allocation(s, AllocationRequest(month=MONTH, control=5, seed=1), rules, now=now)
        assert commit_allocation(s, plan, now=now).created == 5
        thread = threading.Thread(target=second_run)
        thread.start()
        thread.join(timeout=0.5)  # it cannot finish: it is blocked on the month lock until we commit
        assert thread.is_alive()
    thread.join(timeout=30)
    assert outcome == {"created": 0}
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 5


# --- command line ---------------------------------------------------------------------------


def _run(engine: Engine, args: list[str], **overrides: object) -> Result:
    group = click.Group("auditbot")
    register(group)
    url = engine.url.render_as_string(hide_password=False)
    context = Context(load_settings(database_url=url, **overrides), _engine=engine, clock=lambda: CLI_NOW)
    return CliRunner().invoke(group, ["allocate", *args], obj=context)


def test_cli_preview_and_commit(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Sam Patel", team=b.team_b)
        c.case("CMS-104233", b.team_a, CaseType.CP)
        c.case("CMS-104234", b.team_a, CaseType.CLA)

    preview = _run(engine, ["--month", "2026-12", "--control", "2", "--cases", "CMS-9", "--preview"])
    assert preview.exit_code == 0, preview.output
    lines = preview.output.splitlines()
    assert lines[0] == "Allocation plan for December 2026: due 2026-12-31, seed 202612"
    assert lines[1] == "control (2):"
    assert lines[2] == f"  CMS-104233  CP   {TEAM_A}  → Sam Patel  ({PLAIN_REASON.format(year=0, month=0)})"
    assert lines[3] == f"  CMS-104234  CLA  {TEAM_A}  → Sam Patel  ({PLAIN_REASON.format(year=1, month=1)})"
    assert lines[4:7] == ["Not allocated (1):", "  CMS-9  no such case", "Notes:"]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Allocation)) == 0

    committed = _run(engine, ["--month", "2026-12", "--control"], control_sample_size=2)
    assert committed.exit_code == 0, committed.output
    assert committed.output == "2 allocations created, 2 messages queued; already allocated: 0\n"
    rerun = _run(engine, ["--month", "2026-12", "--control", "2"])
    assert (rerun.exit_code, rerun.output) == (1, (
        "0 allocations created, 0 messages queued; already allocated: 2\n"
        "Error: nothing was allocated: the month already has what was asked\n"
    ))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--month", "2026-13", "--control", "3"],
            "Error: --month: month must look like YYYY-MM with a month from 01 to 12, not '2026-13'",
        ),
        (
            ["--month", "2026-12", "--thematic", "colour=red", "--theme", "X"],
            "Error: --thematic: unknown filter key 'colour' in 'colour=red' (keys: type, team, service)",
        ),
        (
            ["--month", "2026-12"],
            "Error: nothing requested: give a control sample size, a thematic filter or case references",
        ),
        (["--month", "2026-12", "--control", "lots"], "Error: --control: expected a number of cases, not 'lots'"),
        (
            ["--month", "2026-12", "--thematic", "type=CP"],
            "Error: a thematic sample needs a theme and December 2026 has none set",
        ),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(engine: Engine, args: list[str], message: str) -> None:
    result = _run(engine, args)
    assert result.exit_code == 2
    assert result.output.splitlines() == [message]


def test_cli_paused_month(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        Council(s).month(MONTH, paused=True)
    result = _run(engine, ["--month", "2026-12", "--control", "3"])
    assert result.exit_code == 1
    assert result.output == "Error: the programme is paused for December 2026: nothing is allocated while paused\n"


def test_a_month_whose_deadline_has_passed_is_refused_without_late(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        b = base(c)
        c.auditor("Ann Auditor", team=b.team_b)
        c.case("CMS-1", b.team_a)
    refused = _run(engine, ["--month", "2020-01", "--control", "1"])
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: the deadline for January 2020 (2020-01-31) has passed, so every audit would be overdue at once: "
        "nothing was allocated (add --late to allocate it anyway)\n"
    )
    preview = _run(engine, ["--month", "2020-01", "--control", "1", "--preview"])
    assert preview.exit_code == 0 and "the deadline for January 2020 (2020-01-31) has already passed" in preview.output
    with session_factory() as s:
        assert s.scalar(select(func.count(Allocation.id))) == 0
    late = _run(engine, ["--month", "2020-01", "--control", "1", "--late"])
    assert late.exit_code == 0, late.output
    with session_factory() as s:
        assert s.scalar(select(func.count(Allocation.id))) == 1
