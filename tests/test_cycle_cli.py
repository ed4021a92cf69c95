"""The programme's months from the command line: ``allocate --prepare``, ``month set/show`` and ``tick``
(shared/domain.md step 1, steps 3-4, "Working days and dates")."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import Context
from bot.cli import allocate as allocate_cli
from bot.cli import schedule as schedule_cli
from bot.services.allocation.service import AllocationRequest, ThematicFilter
from bot.services.cycle.months import month_request
from bot.settings import load_settings
from store.models import (
    Allocation,
    AllocationState,
    AuditLog,
    AuditMonth,
    AuditType,
    BreakState,
    CaseType,
    ExemptionRequest,
    Notification,
    RequestKind,
    RequestState,
    Role,
)
from tests.allocation_fixtures import Council

DEC = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
RULES = load_settings(database_url="sqlite://")


def run(engine: Engine, args: list[str], *, clock: dt.datetime = NOW, **overrides: object) -> Result:
    group = click.Group("auditbot")
    allocate_cli.register(group)
    schedule_cli.register(group)
    url = engine.url.render_as_string(hide_password=False)
    context = Context(load_settings(database_url=url, **overrides), _engine=engine, clock=lambda: clock)
    return CliRunner().invoke(group, args, obj=context)


def month_row(sessions: sessionmaker[Session], month: dt.date = DEC) -> AuditMonth | None:
    with sessions() as s:
        return s.scalar(select(AuditMonth).where(AuditMonth.month == month))


def log(sessions: sessionmaker[Session], action: str) -> list[tuple[str, str, str, int | None, dict[str, Any]]]:
    with sessions() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()
        return [(r.outcome, r.actor_ref, r.subject_type, r.subject_id, r.detail) for r in rows]


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def council(sessions: sessionmaker[Session], cases: int = 4) -> None:
    """Cases held by team A; two auditors in team B (no workers or managers: one message per allocation)."""
    with sessions() as s, s.begin():
        c = Council(s)
        team_a = c.team("Assessment Team North", c.service("Children in Need"))
        team_b = c.team("Leaving Care Team North", c.service("Children in Care"))
        c.auditor("Sam Patel", team=team_b)
        c.auditor("Rita Singh", team=team_b)
        for i in range(cases):
            c.case(f"CMS-10{i}", team_a, CaseType.CP)


# --- allocate --prepare and the month's request -------------------------------------------------


def test_prepare_keeps_the_request_and_shows_the_plan_without_allocating(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    council(session_factory)

    result = run(engine, ["allocate", "--month", "2026-12", "--control", "3", "--prepare"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "prepared: this request will be allocated on the first working day of December 2026"
    assert lines[1] == "Allocation plan for December 2026: due 2026-12-31, seed 202612"
    assert lines[2] == "control (3):"
    assert len([line for line in lines if line.startswith("  CMS-10")]) == 3
    row = month_row(session_factory)
    assert row is not None
    assert row.prepared_request == {
        "month": "2026-12-01", "control": 3, "thematic_filter": None, "theme": None, "thematic_count": None,
        "cases": [], "cases_type": "dip", "allow_recent": False, "seed": None,
    }
    assert (row.prepared_by, row.prepared_at, row.auto_allocated_at) == ("cli", NOW, None)
    assert count(session_factory, Allocation) == 0
    assert count(session_factory, Notification) == 0
    assert log(session_factory, "allocation.prepare") == [("ok", "cli", "audit_month", row.id, row.prepared_request)]
    assert log(session_factory, "allocation.commit") == []

    request, source = month_request(row, RULES)
    assert source == "prepared"
    assert request == AllocationRequest(month=DEC, control=3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--thematic", "type=CP"], "Error: a thematic sample needs a theme and December 2026 has none set"),
        (
            ["--thematic", "team=Nope", "--theme", "Neglect"],
            "Error: the thematic filter names no team called 'Nope'",
        ),
    ],
)
def test_a_request_that_cannot_be_planned_is_not_prepared(
    engine: Engine, session_factory: sessionmaker[Session], args: list[str], message: str
) -> None:
    council(session_factory)

    result = run(engine, ["allocate", "--month", "2026-12", *args, "--prepare"])

    assert result.exit_code == 2
    assert result.output.splitlines() == [message]
    row = month_row(session_factory)
    assert row is None or row.prepared_request is None
    assert log(session_factory, "allocation.prepare") == []


def test_preparing_again_replaces_the_request(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    council(session_factory)
    assert run(engine, ["allocate", "--month", "2026-12", "--control", "3", "--prepare"]).exit_code == 0
    second = run(
        engine,
        ["allocate", "--month", "2026-12", "--control", "1", "--thematic", "type=CP", "--theme", "Neglect",
         "--thematic-count", "2", "--seed", "7", "--prepare"],
    )
    assert second.exit_code == 0, second.output
    row = month_row(session_factory)
    assert row is not None
    request, source = month_request(row, RULES)
    assert source == "prepared"
    assert request == AllocationRequest(
        month=DEC, control=1, thematic_filter=ThematicFilter(case_types=frozenset({CaseType.CP})),
        theme="Neglect", thematic_count=2, seed=7,
    )
    assert len(log(session_factory, "allocation.prepare")) == 2


@pytest.mark.parametrize(
    ("theme", "thematic", "expected"),
    [
        (None, None, AllocationRequest(month=DEC, control=40)),
        ("Neglect", None, AllocationRequest(month=DEC, control=40)),  # a theme alone samples nothing thematic
        (None, "type=CP", AllocationRequest(month=DEC, control=40)),  # a filter without a theme neither
        (
            "Neglect",
            "type=CP,CIN",
            AllocationRequest(
                month=DEC, control=40, thematic_filter=ThematicFilter(case_types=frozenset({CaseType.CP, CaseType.CIN})),
                theme="Neglect", thematic_count=20,
            ),
        ),
    ],
)
def test_without_a_prepared_request_the_standing_rules_apply(
    session_factory: sessionmaker[Session], theme: str | None, thematic: str | None, expected: AllocationRequest
) -> None:
    with session_factory() as s, s.begin():
        row = Council(s).month(DEC, theme=theme)
        row.thematic_filter = thematic
    row = month_row(session_factory)
    assert row is not None

    assert month_request(row, RULES) == (expected, "standing")


def test_standing_rules_follow_the_settings(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        row = Council(s).month(DEC, theme="Neglect")
        row.thematic_filter = "type=CLA"
    row = month_row(session_factory)
    assert row is not None
    rules = load_settings(database_url="sqlite://", control_sample_size=5, thematic_sample_size=3)
    request, source = month_request(row, rules)
    assert (source, request.control, request.thematic_count, request.theme) == ("standing", 5, 3, "Neglect")


# --- month set ------------------------------------------------------------------------------


def test_month_set_theme_filter_pause_and_resume(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    themed = run(engine, ["month", "set", "2026-12", "--theme", "Neglect", "--thematic", "type=CP"])
    assert themed.exit_code == 0, themed.output
    assert themed.output == "December 2026: theme Neglect, thematic filter type=CP, running\n"
    row = month_row(session_factory)
    assert row is not None
    assert (row.theme, row.thematic_filter, row.paused) == ("Neglect", "type=CP", False)

    paused = run(engine, ["month", "set", "2026-12", "--pause"])
    assert paused.exit_code == 0, paused.output
    assert paused.output == (
        "December 2026: theme Neglect, thematic filter type=CP, PAUSED: nothing is allocated or chased\n"
    )
    row = month_row(session_factory)
    assert row is not None
    assert (row.theme, row.thematic_filter, row.paused) == ("Neglect", "type=CP", True)

    resumed = run(engine, ["month", "set", "2026-12", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.output == "December 2026: theme Neglect, thematic filter type=CP, running\n"

    cleared = run(engine, ["month", "set", "2026-12", "--theme", "", "--thematic", ""])
    assert cleared.output == "December 2026: theme none, thematic filter none, running\n"
    row = month_row(session_factory)
    assert row is not None
    assert (row.theme, row.thematic_filter, row.paused) == (None, None, False)

    assert log(session_factory, "month.set") == [
        ("ok", "cli", "audit_month", row.id, {"month": "2026-12-01", "theme": "Neglect", "thematic_filter": "type=CP"}),
        ("ok", "cli", "audit_month", row.id, {"month": "2026-12-01", "paused": True}),
        ("ok", "cli", "audit_month", row.id, {"month": "2026-12-01", "deadlines_moved_by_working_days": 0, "paused": False}),
        ("ok", "cli", "audit_month", row.id, {"month": "2026-12-01", "theme": None, "thematic_filter": None}),
    ]


def test_month_set_with_a_bad_filter_exits_2_naming_the_problem(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    assert run(engine, ["month", "set", "2026-12", "--theme", "Neglect"]).exit_code == 0

    result = run(engine, ["month", "set", "2026-12", "--theme", "Exploitation", "--thematic", "colour=red"])

    assert result.exit_code == 2
    assert (
        "Invalid value for --thematic: unknown filter key 'colour' in 'colour=red' (keys: type, team, service)"
        in result.output
    )
    row = month_row(session_factory)
    assert row is not None
    assert (row.theme, row.thematic_filter) == ("Neglect", None)  # nothing of the bad command was kept
    assert len(log(session_factory, "month.set")) == 1


def test_month_set_refuses_a_filter_naming_no_team_or_service(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    council(session_factory)

    unknown = run(engine, ["month", "set", "2026-12", "--theme", "Neglect", "--thematic", "team=Nope"])
    assert unknown.exit_code == 2
    assert "Invalid value for --thematic: the thematic filter names no team called 'Nope'" in unknown.output
    no_service = run(engine, ["month", "set", "2026-12", "--theme", "Neglect", "--thematic", "service=Nowhere"])
    assert no_service.exit_code == 2
    assert "Invalid value for --thematic: the thematic filter names no service called 'Nowhere'" in no_service.output
    assert month_row(session_factory) is None
    assert log(session_factory, "month.set") == []

    known = run(engine, ["month", "set", "2026-12", "--theme", "Neglect", "--thematic", "team=assessment team north"])
    assert known.exit_code == 0, known.output
    assert known.output == "December 2026: theme Neglect, thematic filter team=assessment team north, running\n"
    # ... so the first working day's tick can allocate the standing thematic sample.
    tick = run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], control_sample_size=1, thematic_sample_size=2)
    assert tick.exit_code == 0, tick.output
    assert "3 allocation(s) with 3 message(s)" in tick.output
    with session_factory() as s:
        kinds = sorted((a.audit_type.value, a.theme) for a in s.scalars(select(Allocation)))
    assert kinds == [("control", None), ("thematic", "Neglect"), ("thematic", "Neglect")]


def test_month_set_with_a_bad_month_exits_2(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    result = run(engine, ["month", "set", "2026-13", "--pause"])
    assert result.exit_code == 2
    assert "Invalid value for MONTH: month must look like YYYY-MM with a month from 01 to 12, not '2026-13'" in result.output
    assert count(session_factory, AuditMonth) == 0


# --- month show -----------------------------------------------------------------------------


def test_month_show_prints_the_figures(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        team_a = c.team("Assessment Team North", c.service("Children in Need"))
        team_b = c.team("Leaving Care Team North", c.service("Children in Care"))
        sam = c.auditor("Sam Patel", team=team_b)
        c.month(DEC, theme="Neglect")
        states = [
            AllocationState.COMPLETED,
            AllocationState.COMPLETED,
            AllocationState.ALLOCATED,
            AllocationState.EXEMPTED,
            AllocationState.CANCELLED,  # not counted at all
        ]
        rows = [c.allocation(c.case(f"CMS-20{i}", team_a), sam, DEC, state=st) for i, st in enumerate(states)]
        for row in rows:
            row.due_date = dt.date(2026, 12, 31)
        # Two exemptions agreed: one reallocated to Rita (still owed: rows[2]), one left with no auditor
        # (rows[3]: no longer owed); a declined one and an extension are not exemptions.
        rita = c.auditor("Rita Singh", team=team_b)
        ad = c.person("Amy Director", Role.ASSISTANT_DIRECTOR)
        for row, kind, state, to in (
            (rows[2], RequestKind.EXEMPTION, RequestState.APPROVED, rita),
            (rows[3], RequestKind.EXEMPTION, RequestState.APPROVED, None),
            (rows[2], RequestKind.EXEMPTION, RequestState.DECLINED, None),
            (rows[0], RequestKind.EXTENSION, RequestState.APPROVED, None),
        ):
            s.add(ExemptionRequest(
                allocation_id=row.id, auditor_id=sam.id, kind=kind, reason="r", due_date=dt.date(2026, 12, 31),
                state=state, approver_id=ad.id, routed_to_id=ad.id, created_at=NOW,
                reallocated_to_id=to.id if to else None,
            ))
        rows[0].completed_at = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)  # on the deadline, in London
        rows[1].completed_at = dt.datetime(2027, 1, 5, 11, 0, tzinfo=dt.UTC)  # late
        c.allocation(c.case("CMS-300", team_a), sam, dt.date(2027, 1, 1))  # another month
        c.audit_break(c.auditor("zoe Adams", team=team_b), DEC)
        c.audit_break(c.auditor("Bea Brown", team=team_b), DEC)
        c.audit_break(c.auditor("Refused Rob", team=team_b), DEC, BreakState.REFUSED)
        c.audit_break(c.auditor("January Jo", team=team_b), dt.date(2027, 1, 1))

    result = run(engine, ["month", "show", "2026-12"], clock=dt.datetime(2027, 1, 10, 12, 0, tzinfo=dt.UTC))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "December 2026 — theme: Neglect",
        # 2 of the 3 still owed after the exemption left with no auditor (Hull 30: 67%, rounded half up)
        "allocated 4, completed 2 (67%; 1 late), open 0, overdue 1, exempted 2 (1 reallocated), 1 no longer owed",
        "non-completions: 2",  # the overdue one and the one completed late (Hull 30: it stays a non-completion)
        "audit breaks (2): Bea Brown, zoe Adams",
    ]

    # Before the deadline the open audit is not yet overdue; only the late completion counts.
    during = run(engine, ["month", "show", "2026-12"], clock=dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC))
    assert during.output.splitlines()[1:3] == [
        "allocated 4, completed 2 (67%; 1 late), open 1, overdue 0, exempted 2 (1 reallocated), 1 no longer owed",
        "non-completions: 1",
    ]


def test_month_show_for_an_empty_paused_month(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        Council(s).month(DEC, paused=True)
    result = run(engine, ["month", "show", "2026-12"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "December 2026 (paused)",
        "allocated 0, completed 0 (n/a; 0 late), open 0, overdue 0, exempted 0",
        "non-completions: 0",
        "audit breaks (0): none",
    ]


def test_resuming_a_paused_month_moves_owed_deadlines_by_the_paused_working_days(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        team_a = c.team("Assessment Team North", c.service("Children in Need"))
        sam = c.auditor("Sam Patel", team=c.team("Leaving Care Team North", c.service("Children in Care")))
        owed = c.allocation(c.case("CMS-201", team_a), sam, DEC)
        done = c.allocation(c.case("CMS-202", team_a), sam, DEC, state=AllocationState.COMPLETED)
        for row in (owed, done):
            row.due_date = dt.date(2026, 12, 31)
        owed_id, done_id = owed.id, done.id

    paused_on = dt.datetime(2026, 12, 10, 10, 0, tzinfo=dt.UTC)  # Thursday
    assert run(engine, ["month", "set", "2026-12", "--pause"], clock=paused_on).exit_code == 0
    # Paused past the deadline: the audit still owed is not overdue while the programme is paused.
    shown = run(engine, ["month", "show", "2026-12"], clock=dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.UTC))
    assert shown.output.splitlines()[:2] == [
        "December 2026 (paused)", "allocated 2, completed 1 (50%; 0 late), open 1, overdue 0, exempted 0",
    ]
    resumed_on = dt.datetime(2026, 12, 17, 10, 0, tzinfo=dt.UTC)  # Thursday: Fri 11, Mon 14 - Thu 17 lost
    assert run(engine, ["month", "set", "2026-12", "--resume"], clock=resumed_on).exit_code == 0
    with session_factory() as s:
        assert s.get(Allocation, owed_id).due_date == dt.date(2027, 1, 8)  # 5 working days on; 1 January is a holiday
        assert s.get(Allocation, done_id).due_date == dt.date(2026, 12, 31)
    assert log(session_factory, "month.set")[-1][-1] == {"month": "2026-12-01", "deadlines_moved_by_working_days": 5,
                                                         "paused": False}
    later = run(engine, ["month", "show", "2026-12"], clock=dt.datetime(2027, 1, 5, 12, 0, tzinfo=dt.UTC))
    assert later.output.splitlines()[1] == "allocated 2, completed 1 (50%; 0 late), open 1, overdue 0, exempted 0"
    # --as-of: the figures on another day, whatever the clock says
    asked = run(engine, ["month", "show", "2026-12", "--as-of", "2027-01-11"], clock=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert asked.output.splitlines()[1] == "allocated 2, completed 1 (50%; 0 late), open 0, overdue 1, exempted 0"
    bad = run(engine, ["month", "show", "2026-12", "--as-of", "11/01/2027"])
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_month_show_with_a_bad_month_exits_2(engine: Engine) -> None:
    result = run(engine, ["month", "show", "December"])
    assert result.exit_code == 2
    assert "Invalid value for MONTH: month must look like YYYY-MM, not 'December'" in result.output


# --- tick -----------------------------------------------------------------------------------


def test_tick_on_a_saturday_is_outside_working_hours(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    council(session_factory)
    result = run(engine, ["tick", "--at", "2026-12-05 10:00", "--write"])
    assert result.exit_code == 0, result.output
    assert result.output == "Sat 05 Dec 2026 10:00 is outside working hours: nothing planned\n"
    assert count(session_factory, Allocation) == 0
    assert count(session_factory, Notification) == 0


def test_tick_before_working_hours_plans_nothing(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    council(session_factory)
    result = run(engine, ["tick", "--at", "2026-12-01 08:29", "--write"])
    assert result.output == "Tue 01 Dec 2026 08:29 is outside working hours: nothing planned\n"
    assert count(session_factory, Allocation) == 0


def test_tick_on_the_first_working_day_allocates_the_standing_control_sample(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    council(session_factory, cases=4)

    result = run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], control_sample_size=3)

    assert result.exit_code == 0, result.output
    assert result.output == (
        "Tue 01 Dec 2026 09:00: planned 0 preview message(s), 3 allocation(s) with 3 message(s), "
        "0 reminder(s), 0 overdue notice(s), 0 exemption reminder(s)/escalation(s)\n"
    )
    with session_factory() as s:
        allocations = s.scalars(select(Allocation)).all()
        assert [(a.month_start, a.audit_type, a.due_date, a.state) for a in allocations] == [
            (DEC, AuditType.CONTROL, dt.date(2026, 12, 31), AllocationState.ALLOCATED)
        ] * 3
    row = month_row(session_factory)
    assert row is not None
    assert row.auto_allocated_at == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    commits = log(session_factory, "allocation.commit")
    assert [(actor, detail["created"], detail["requested"]["control"]) for _, actor, _, _, detail in commits] == [
        ("scheduler (standing allocation)", 3, 3)
    ]

    again = run(engine, ["tick", "--at", "2026-12-01 09:01", "--write"], control_sample_size=3)
    assert again.output == (
        "Tue 01 Dec 2026 09:01: planned 0 preview message(s), 0 allocation(s) with 0 message(s), "
        "0 reminder(s), 0 overdue notice(s), 0 exemption reminder(s)/escalation(s)\n"
    )
    assert count(session_factory, Allocation) == 3


def test_tick_allocates_a_prepared_request(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    council(session_factory, cases=4)
    assert run(engine, ["allocate", "--month", "2026-12", "--control", "2", "--prepare"]).exit_code == 0

    result = run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], clock=dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC))

    assert result.exit_code == 0, result.output
    assert "2 allocation(s) with 2 message(s)" in result.output
    assert count(session_factory, Allocation) == 2
    commits = log(session_factory, "allocation.commit")
    assert [actor for _, actor, *_ in commits] == ["scheduler (prepared allocation)"]


def test_tick_in_a_paused_month_allocates_nothing(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    council(session_factory)
    assert run(engine, ["month", "set", "2026-12", "--pause"]).exit_code == 0

    result = run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], control_sample_size=3)

    assert result.exit_code == 0, result.output
    assert result.output == "Tue 01 Dec 2026 09:00: the programme is paused this month: nothing allocated or chased\n"
    assert count(session_factory, Allocation) == 0


@pytest.mark.parametrize("at", ["tomorrow", "2026-12-32 09:00"])
def test_tick_with_a_bad_time_exits_2(engine: Engine, session_factory: sessionmaker[Session], at: str) -> None:
    result = run(engine, ["tick", "--at", at, "--write"])
    assert result.exit_code == 2
    assert f"Invalid value for --at: {at!r} is not a time like 2026-12-01 08:30" in result.output
    assert count(session_factory, Allocation) == 0


# --- a month allocated by hand before its first working day ----------------------------------


def test_tick_adds_nothing_to_a_month_allocated_by_hand(
    engine: Engine, session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """`allocate --control 1` early, then the first working day: the standing 3 are not topped up."""
    council(session_factory, cases=4)
    with session_factory() as s, s.begin():
        from store.models import Role

        Council(s).person("Quinn QA", Role.QA_COORDINATOR)
    by_hand = run(engine, ["allocate", "--month", "2026-12", "--control", "1"])
    assert by_hand.exit_code == 0, by_hand.output
    assert by_hand.output.startswith("1 allocations created, 1 messages queued")
    messages = count(session_factory, Notification)

    preview = run(engine, ["tick", "--at", "2026-11-26 09:00", "--write"], control_sample_size=3)  # the preview's day
    assert preview.exit_code == 0, preview.output
    assert "planned 0 preview message(s)" in preview.output, "no preview of a top-up that will not happen"

    result = run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], control_sample_size=3)

    assert result.exit_code == 0, result.output
    assert "0 allocation(s) with 0 message(s)" in result.output
    assert count(session_factory, Allocation) == 1
    with session_factory() as s:  # allocated on 23 Nov with no reflection meeting arranged: only the auditor's nudge is new
        added = s.scalars(select(Notification.idempotency_key).order_by(Notification.id).offset(messages)).all()
    assert [k.split(":")[:2] for k in added] == [["meeting", "nudge"]]
    row = month_row(session_factory)
    assert row is not None and row.auto_allocated_at == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # not retried
    assert log(session_factory, "allocation.scheduled") == [
        ("skipped", "scheduler", "audit_month", row.id,
         {"month": "2026-12-01", "reason": "allocated_by_hand", "existing": 1}),
    ]
    assert [c[-1]["created"] for c in log(session_factory, "allocation.commit")] == [1]  # only the one by hand
    assert "December 2026 already has 1 allocation(s) committed by hand" in caplog.text

    later = run(engine, ["tick", "--at", "2026-12-02 09:00", "--write"], control_sample_size=3)  # a catch-up day
    assert "0 allocation(s) with 0 message(s)" in later.output
    assert count(session_factory, Allocation) == 1
    assert len(log(session_factory, "allocation.scheduled")) == 1


def test_a_prepared_request_is_committed_on_top_of_allocations_by_hand(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """A prepared request wins: its sizes are targets for the whole month, so it only tops up to them."""
    council(session_factory, cases=4)
    assert run(engine, ["allocate", "--month", "2026-12", "--control", "1"]).exit_code == 0
    prepared = run(engine, ["allocate", "--month", "2026-12", "--control", "3", "--prepare"])
    assert prepared.exit_code == 0, prepared.output

    result = run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], control_sample_size=40)

    assert "2 allocation(s) with 2 message(s)" in result.output
    with session_factory() as s:
        cases = s.scalars(select(Allocation.case_id)).all()
    assert len(cases) == 3 and len(set(cases)) == 3
    assert [(actor, c["created"]) for _, actor, _, _, c in log(session_factory, "allocation.commit")] == [
        ("cli", 1), ("scheduler (prepared allocation)", 2)
    ]
    row = month_row(session_factory)
    assert row is not None
    assert log(session_factory, "allocation.scheduled") == [
        ("topped_up", "scheduler", "audit_month", row.id,
         {"month": "2026-12-01", "reason": "allocated_by_hand", "existing": 1, "created": 2}),
    ]


# --- --prepare when the scheduler will never use it ------------------------------------------


def test_prepare_is_refused_once_the_scheduler_has_allocated_the_month(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    council(session_factory, cases=4)
    assert run(engine, ["tick", "--at", "2026-12-01 09:00", "--write"], control_sample_size=2).exit_code == 0

    result = run(engine, ["allocate", "--month", "2026-12", "--control", "3", "--prepare"])

    assert result.exit_code == 1
    assert result.output == (
        "Error: the scheduled allocation of December 2026 already ran (Tue 01 Dec 2026), so a prepared request "
        "would never be used: commit it directly (the same command without --prepare)\n"
    )
    row = month_row(session_factory)
    assert row is not None and row.prepared_request is None
    assert log(session_factory, "allocation.prepare") == []


def test_prepare_is_refused_after_the_first_working_day(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    council(session_factory, cases=4)
    on_the_day = run(
        engine, ["allocate", "--month", "2026-12", "--control", "1", "--prepare"],
        clock=dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC),
    )
    assert on_the_day.exit_code == 0, on_the_day.output  # before the day's scheduled run: still used

    result = run(
        engine, ["allocate", "--month", "2026-12", "--control", "3", "--prepare"],
        clock=dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC),
    )

    assert result.exit_code == 1
    assert result.output == (
        "Error: the first working day of December 2026 (Tue 01 Dec 2026) has passed, so a prepared request would "
        "never be used: commit it directly (the same command without --prepare)\n"
    )
    row = month_row(session_factory)
    assert row is not None and row.prepared_request is not None and row.prepared_request["control"] == 1
    assert len(log(session_factory, "allocation.prepare")) == 1
    assert count(session_factory, Allocation) == 0


# --- non-completions --------------------------------------------------------------------------


def test_an_audit_completed_late_stays_a_non_completion(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    """Hull 30: not done by the deadline is a non-completion for the month, even once it is done."""
    with session_factory() as s, s.begin():
        c = Council(s)
        team_a = c.team("Assessment Team North", c.service("Children in Need"))
        sam = c.auditor("Sam Patel", team=c.team("Leaving Care Team North"))
        late = c.allocation(c.case("CMS-200", team_a), sam, DEC)
        late.due_date = dt.date(2026, 12, 31)
        late_id = late.id
    jan_10 = dt.datetime(2027, 1, 10, 12, 0, tzinfo=dt.UTC)

    before = run(engine, ["month", "show", "2026-12"], clock=jan_10)
    with session_factory() as s, s.begin():
        done = s.get_one(Allocation, late_id)
        done.state, done.completed_at = AllocationState.COMPLETED, dt.datetime(2027, 1, 8, 10, 0, tzinfo=dt.UTC)
    after = run(engine, ["month", "show", "2026-12"], clock=jan_10)

    assert before.output.splitlines()[1:3] == [
        "allocated 1, completed 0 (0%; 0 late), open 0, overdue 1, exempted 0",
        "non-completions: 1",
    ]
    assert after.output.splitlines()[1:3] == [
        "allocated 1, completed 1 (100%; 1 late), open 0, overdue 0, exempted 0",
        "non-completions: 1",
    ]


def test_the_completion_rate_rounds_half_up() -> None:
    from bot.services.cycle.months import MonthStatus

    assert MonthStatus(DEC, False, None, allocated=8, completed=1).completion_rate == "13%"  # 12.5
    assert MonthStatus(DEC, False, None, allocated=8, completed=1, not_owed=8).completion_rate == "n/a"


def test_a_second_prepare_says_what_it_replaces_and_month_show_shows_the_prepared_request(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    council(session_factory, cases=4)
    first = run(engine, ["allocate", "--month", "2026-12", "--control", "2", "--prepare"])
    assert first.exit_code == 0 and "replaces" not in first.output

    later = NOW + dt.timedelta(hours=2)
    second = run(engine, ["allocate", "--month", "2026-12", "--control", "3", "--prepare"], clock=later)

    assert second.exit_code == 0, second.output
    assert second.output.splitlines()[:2] == [
        "prepared: this request will be allocated on the first working day of December 2026",
        "it replaces the request prepared by cli on 23 Nov 2026 10:00: control 2",
    ]
    assert [d.get("replaced", {}).get("control") for *_, d in log(session_factory, "allocation.prepare")] == [None, 2]
    shown = run(engine, ["month", "show", "2026-12"], clock=later)
    assert shown.output.splitlines()[-1] == "prepared for the first working day: control 3 (by cli, 23 Nov 2026 12:00)"
