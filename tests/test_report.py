"""The report's figures (issue 17, shared/domain.md step 12), checked against the councils' own
published figures: Stockton's quarter (Q1 2015) and Surrey's totals (December 2018 to September 2020)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.cli import Context
from bot.cli import report as report_cli
from bot.services.audits.outcomes import import_outcomes
from bot.services.moderation.sample import sample_target
from bot.services.replies.lifecycle import OVERALL, change_grade
from bot.services.reports.figures import Report, figures
from bot.services.reports.output import as_csv, as_text
from bot.services.reports.rates import percent, percent_text
from bot.settings import load_settings
from store.followup import CycleState, InadequateCycle
from store.models import (
    AlertUrgency,
    Allocation,
    AllocationState,
    AuditBreak,
    AuditMonth,
    AuditType,
    BreakState,
    Case,
    CaseType,
    ExemptionRequest,
    RequestKind,
    RequestState,
    Role,
    SafeguardingAlert,
)
from store.records import (
    ActionStatus,
    AuditAction,
    AuditModeration,
    AuditRecord,
    GradeStage,
    ModerationKind,
    ModerationState,
    RecordState,
)
from tests.allocation_fixtures import CREATED, Council
from tests.moderation_fixtures import BRADFORD_SECTIONS, stored_record

SETTINGS = load_settings(database_url="sqlite://")


def run(engine: Engine, args: list[str], *, clock: dt.datetime) -> Result:
    group = click.Group("auditbot")
    report_cli.register(group)
    url = engine.url.render_as_string(hide_password=False)
    context = Context(load_settings(database_url=url), _engine=engine, clock=lambda: clock)
    return CliRunner().invoke(group, args, obj=context)


def rows(text: str) -> dict[tuple[str, str, str, str], str]:
    """The CSV as (period, service, team, measure) → value."""
    return {(r["period"], r["service"], r["team"], r["measure"]): r["value"] for r in csv.DictReader(io.StringIO(text))}


# --- rounding ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(2, 3, 67), (1, 8, 13), (5, 8, 63), (3, 8, 38), (1, 3, 33), (1298, 1632, 80), (361, 456, 79), (19, 20, 95), (0, 5, 0),
     (1, 200, 1), (1, 201, 0)],
)
def test_percentages_round_half_up(part: int, whole: int, expected: int) -> None:
    assert percent(part, whole) == expected


def test_nothing_to_divide_by_is_not_a_percentage() -> None:
    assert percent(0, 0) is None
    assert percent_text(0, 0) == "n/a"
    assert percent_text(1, 8) == "13%"


# --- Stockton: Q1 2015, 20 selected, 19 completed; final 12 / 6 / 1, original 12 / 5 / 2 ----------

Q1_2015 = [dt.date(2015, 1, 1), dt.date(2015, 2, 1), dt.date(2015, 3, 1)]
STOCKTON_NOW = dt.datetime(2015, 4, 20, 10, 0, tzinfo=dt.UTC)
LABEL = {"good": "Good", "requires_improvement": "Requires Improvement", "inadequate": "Inadequate"}


def stockton(sessions: sessionmaker[Session], tmp_path: Path) -> list[str]:
    """Twenty cases selected over the quarter; nineteen audits imported from the case system (12
    Good, 5 Requires Improvement, 2 Inadequate), one changed Inadequate → Requires Improvement
    after reply. The case references (for the privacy check)."""
    with sessions() as s, s.begin():
        c = Council(s)
        service = c.service("Children's Services")
        north, south = c.team("Stockton North", service), c.team("Stockton South", service)
        auditor = c.auditor("Sam Patel", team=c.team("QA Team", c.service("Quality Assurance")))
        references = []
        for i in range(20):
            month = Q1_2015[i % 3]
            case = c.case(f"STK-{i:04d}", north if i % 2 else south, CaseType.CIN)
            allocation = c.allocation(case, auditor, month)
            allocation.created_at = dt.datetime.combine(month, dt.time(9), tzinfo=dt.UTC)
            allocation.due_date = month.replace(day=28)
            references.append(case.reference)
    grades = ["good"] * 12 + ["requires_improvement"] * 5 + ["inadequate"] * 2
    lines = ["case_reference,month,submitted_on," + ",".join(BRADFORD_SECTIONS)
             + ",overall,rationale,good_practice,seen,family_sought,family_by,family_view,child_feedback,no_actions_reason"]
    for i, grade in enumerate(grades):  # the twentieth case (i = 19) was never audited
        month = Q1_2015[i % 3]
        label = LABEL[grade]
        lines.append(f"STK-{i:04d},{month:%Y-%m},{month.replace(day=20).isoformat()},"
                     + ",".join([label] * len(BRADFORD_SECTIONS))
                     + f",{label},The plan is reviewed on time.,Timely visits.,worker,"
                       f"{'yes,parent,positive' if i < 10 else 'no,,'},no,"
                       "The plan already covers what is needed.")
    path = tmp_path / "stockton.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    calendar = WorkingCalendar.from_settings(SETTINGS)
    report = import_outcomes(sessions, path, settings=SETTINGS, calendar=calendar, now=STOCKTON_NOW)
    assert report.recorded == 19
    with sessions() as s, s.begin():  # the auditor changed one Inadequate on a challenge in the reply window
        record = s.scalar(select(AuditRecord).join(Allocation).join(Case).where(Case.reference == "STK-0017"))
        assert record is not None and record.overall_now() == "inadequate"
        assert change_grade(s, record, OVERALL, None, "requires_improvement", stage=GradeStage.AFTER_REPLY, by=None,
                            reason="The plan was updated before the audit.", now=STOCKTON_NOW)
    return references


def test_stocktons_quarter_is_reproduced(session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path) -> None:
    references = stockton(session_factory, tmp_path)
    with session_factory() as s:
        report = figures(s, Q1_2015[0], Q1_2015[-1], SETTINGS, as_of=dt.date(2015, 4, 20))
    overall = report.overall
    assert (overall.counts.allocated, overall.counts.owed, overall.counts.completed) == (20, 20, 19)
    assert overall.completion_rate == 95 and overall.completion_text == "95%"
    final = {g.value: (g.count, g.percent) for g in overall.final_grades}
    original = {g.value: (g.count, g.percent) for g in overall.original_grades}
    assert final == {"outstanding": (0, 0), "good": (12, 63), "requires_improvement": (6, 32), "inadequate": (1, 5)}
    assert original == {"outstanding": (0, 0), "good": (12, 63), "requires_improvement": (5, 26), "inadequate": (2, 11)}
    assert (overall.counts.changed_after_reply, overall.counts.changed_after_moderation) == (1, 0)
    assert overall.counts.overdue == 1 and overall.counts.late == 0 and overall.counts.on_time == 19
    assert overall.counts.family_views_sought == 10
    assert [m.counts.completed for m in report.months] == [7, 6, 6]  # case 19 (March) not audited
    assert sum(t.counts.allocated for t in report.teams) == 20 and {t.team for t in report.teams} == {"Stockton North",
                                                                                                        "Stockton South"}

    text = run(engine, ["report", "--quarter", "2015Q1", "--as-of", "2015-04-20"], clock=STOCKTON_NOW)
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[0].startswith("Case file audits: January 2015 to March 2015 (as of 20 Apr 2015")
    assert "19 of 20 completed (95%)" in text.output
    assert "final: Good 12 (63%), Requires Improvement 6 (32%), Inadequate 1 (5%)" in text.output
    assert "original: Good 12 (63%), Requires Improvement 5 (26%), Inadequate 2 (11%)" in text.output
    assert "changed after reply: 1; after moderation: 0" in text.output
    table = run(engine, ["report", "--from", "2015-01", "--to", "2015-03", "--format", "csv", "--as-of", "2015-04-20"],
                clock=STOCKTON_NOW)
    assert table.exit_code == 0, table.output
    got = rows(table.output)
    whole = ("2015-01..2015-03", "", "")
    assert [got[(*whole, m)] for m in ("allocated", "owed", "completed", "completion_rate_percent")] == ["20", "20", "19", "95"]
    assert [got[(*whole, f"final_grade:{g}")] for g in ("good", "requires_improvement", "inadequate")] == ["12", "6", "1"]
    assert [got[(*whole, f"original_grade:{g}")] for g in ("good", "requires_improvement", "inadequate")] == ["12", "5", "2"]
    assert got[("2015-03", "", "", "completed")] == "6"
    by_month_team = [(t.month, t.team, t.counts.allocated, t.counts.completed) for t in report.month_teams]
    assert len(by_month_team) == 6 and sum(n for *_, n, _ in by_month_team) == 20 and sum(n for *_, n in by_month_team) == 19
    assert all(t.month is not None and t.team and t.service for t in report.month_teams)
    first = report.month_teams[0]
    assert got[(f"{first.month:%Y-%m}", first.service, first.team, "allocated")] == str(first.counts.allocated)
    assert "By month and team:" in text.output and f"  Jan 2015, {first.team} (" in text.output

    for output in (text.output, table.output, as_text(report), as_csv(report)):  # never a case reference or a name
        assert not [ref for ref in references if ref in output]
        assert "STK-" not in output and "Sam Patel" not in output


# --- Surrey: December 2018 to September 2020; 1298 of 1632 = 80%; re-audits 361 of 456 = 79% -----

SURREY_MONTHS = [dt.date(2018 + (11 + i) // 12, (11 + i) % 12 + 1, 1) for i in range(22)]  # Dec 2018 .. Sep 2020
SURREY_PAUSED = {dt.date(2020, 3, 1), dt.date(2020, 4, 1), dt.date(2020, 5, 1)}


def surrey(sessions: sessionmaker[Session]) -> None:
    """1632 allocations over the 19 months not paused, inserted in bulk: the first 456 are re-audits
    (361 completed), the other 1176 control audits (937 completed)."""
    with sessions() as s, s.begin():
        c = Council(s)
        auditor = c.auditor("Sam Patel", team=c.team("QA Team", c.service("Quality Assurance")))
        services = [c.service("Surrey Service A"), c.service("Surrey Service B")]
        teams = [c.team(f"Surrey Team {n}", services[n % 2]) for n in range(4)]
        s.execute(insert(Case), [{"reference": f"SRY-{i:04d}", "case_type": CaseType.CP, "team_id": teams[i % 4].id,
                                  "active": True} for i in range(90)])
        case_ids = s.scalars(select(Case.id).order_by(Case.id)).all()
        s.execute(insert(AuditMonth), [{"month": m, "paused": m in SURREY_PAUSED} for m in SURREY_MONTHS])
        month_ids = dict(s.execute(select(AuditMonth.month, AuditMonth.id)).all())
        active = [m for m in SURREY_MONTHS if m not in SURREY_PAUSED]
        sizes = [86] * 17 + [85] * 2
        assert len(active) == len(sizes) and sum(sizes) == 1632
        allocations, n = [], 0
        for k in range(max(sizes)):  # the n-th allocation made goes round the months: each has re-audits, done and not
            for month, size in zip(active, sizes, strict=True):
                if k >= size:
                    continue
                due = month.replace(day=28)
                reaudit = n < 456
                done = n < 361 if reaudit else n - 456 < 937
                allocations.append({
                    "month_id": month_ids[month], "month_start": month, "case_id": case_ids[k], "auditor_id": auditor.id,
                    "audit_type": AuditType.RE_AUDIT if reaudit else AuditType.CONTROL, "due_date": due,
                    "state": AllocationState.COMPLETED if done else AllocationState.ALLOCATED, "reason": "bulk",
                    "created_at": CREATED, "completed_at": dt.datetime.combine(due, dt.time(10), tzinfo=dt.UTC) if done else None,
                })
                n += 1
        s.execute(insert(Allocation), allocations)


def test_surreys_totals_are_reproduced_with_the_paused_months_shown_as_paused(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    surrey(session_factory)
    with session_factory() as s:
        report = figures(s, SURREY_MONTHS[0], SURREY_MONTHS[-1], SETTINGS, as_of=dt.date(2020, 11, 1))
    overall = report.overall
    assert (overall.counts.completed, overall.counts.owed) == (1298, 1632)
    assert overall.completion_rate == 80  # 79.53...: half up, and not truncated to 79
    assert (overall.counts.reaudits_completed, overall.counts.reaudits_owed, overall.reaudit_rate) == (361, 456, 79)
    assert overall.counts.overdue == 1632 - 1298 and overall.counts.non_completions == 1632 - 1298
    assert len(report.months) == 22
    paused = [m for m in report.months if m.paused]
    assert [m.month for m in paused] == sorted(SURREY_PAUSED)
    assert all(m.completion_text == "paused" and m.completion_rate is None for m in paused)
    assert all(m.completion_text.endswith("%") and m.completion_text != "0%" for m in report.months if not m.paused)
    assert sum(s.counts.allocated for s in report.services) == 1632 == sum(t.counts.allocated for t in report.teams)

    text = run(engine, ["report", "--from", "2018-12", "--to", "2020-09", "--as-of", "2020-11-01"],
               clock=dt.datetime(2020, 11, 1, tzinfo=dt.UTC))
    assert text.exit_code == 0, text.output
    assert "1298 of 1632 completed (80%)" in text.output
    assert "re-audits: 361 of 456 completed (79%)" in text.output
    for month in ("Mar 2020", "Apr 2020", "May 2020"):
        assert f"  {month}: paused\n" in text.output
    assert "(0%)" not in text.output
    table = run(engine, ["report", "--from", "2018-12", "--to", "2020-09", "--format", "csv", "--as-of", "2020-11-01"],
                clock=dt.datetime(2020, 11, 1, tzinfo=dt.UTC))
    got = rows(table.output)
    whole = ("2018-12..2020-09", "", "")
    assert [got[(*whole, m)] for m in ("completed", "owed", "completion_rate_percent")] == ["1298", "1632", "80"]
    assert [got[(*whole, m)] for m in ("reaudits_completed", "reaudits_owed", "reaudit_rate_percent")] == ["361", "456", "79"]
    assert [got[(m, "", "", "completion_rate_percent")] for m in ("2020-03", "2020-04", "2020-05")] == ["paused"] * 3
    assert got[("2020-02", "", "", "paused")] == "no" and got[("2020-03", "", "", "paused")] == "yes"
    assert "SRY-" not in text.output + table.output


# --- on time and late, exemptions and cancellations, the rest of the figures ---------------------

JUNE = dt.date(2026, 6, 1)


def test_late_is_judged_by_the_local_date_and_exemptions_and_cancellations_are_not_owed(
    session_factory: sessionmaker[Session],
) -> None:
    """Due Tuesday 30 June 2026 (BST): done at 23:30 local (22:30 UTC) is on time, at 00:30 on 1 July late."""
    with session_factory() as s, s.begin():
        c = Council(s)
        team = c.team("Assessment Team North", c.service("Children in Need"))
        auditor = c.auditor("Sam Patel", team=team)
        states = [AllocationState.COMPLETED] * 2 + [AllocationState.EXEMPTED, AllocationState.CANCELLED,
                                                    AllocationState.ALLOCATED]
        made = [c.allocation(c.case(f"CMS-{i}", team), auditor, JUNE, state=state) for i, state in enumerate(states)]
        for a in made:
            a.due_date = dt.date(2026, 6, 30)
        made[0].completed_at = dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)
        made[1].completed_at = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)
    with session_factory() as s:
        before = figures(s, JUNE, JUNE, SETTINGS, as_of=dt.date(2026, 6, 30)).overall
        after = figures(s, JUNE, JUNE, SETTINGS, as_of=dt.date(2026, 7, 1)).overall
    assert (before.counts.allocated, before.counts.cancelled, before.counts.exempted, before.counts.owed) == (4, 1, 1, 3)
    assert (before.counts.on_time, before.counts.late, before.counts.overdue) == (1, 1, 0)
    assert before.completion_rate == 67  # 2 of 3
    assert (after.counts.overdue, after.counts.non_completions) == (1, 2)


def test_a_paused_month_counts_nothing_overdue_and_shows_paused(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        team = c.team("Assessment Team North", c.service("Children in Need"))
        auditor = c.auditor("Sam Patel", team=team)
        c.month(JUNE, paused=True)
        c.allocation(c.case("CMS-1", team), auditor, JUNE)
    with session_factory() as s:
        report = figures(s, JUNE, JUNE, SETTINGS, as_of=dt.date(2026, 8, 1))
    assert report.overall.paused and report.months[0].paused
    assert report.overall.completion_text == "paused" and report.overall.counts.overdue == 0
    assert "completion_rate_percent,paused" in as_csv(report)
    assert "paused (1 allocated, 0 completed)" in as_text(report)


def test_actions_moderation_concerns_requests_breaks_and_cycles_are_counted(session_factory: sessionmaker[Session]) -> None:
    now = dt.datetime(2026, 6, 10, 9, 0, tzinfo=dt.UTC)
    with session_factory() as s, s.begin():
        c = Council(s)
        team = c.team("Assessment Team North", c.service("Children in Need"))
        other = c.team("Children in Care Team 1", c.service("Children in Care"))
        auditor = c.auditor("Sam Patel", team=other)
        c.person("Hana Head", Role.HEAD_OF_SERVICE, team=other)
        c.person("Hugo Head", Role.HEAD_OF_SERVICE_QA, team=other)
        made = [c.allocation(c.case(f"CMS-{i}", team), auditor, JUNE, state=AllocationState.COMPLETED) for i in range(12)]
        records = [stored_record(s, a, now=now, overall="inadequate" if i == 0 else "good") for i, a in enumerate(made)]
        for r in records[:11]:
            r.state, r.finalised_at = RecordState.FINALISED, now
        records[3].closed_at = now  # oversight recorded and every action signed off: no longer awaiting the manager
        records[0].oversight_due, records[1].oversight_due = dt.date(2026, 6, 20), dt.date(2026, 7, 20)
        records[2].oversight_due, records[2].oversight_recorded_at = dt.date(2026, 6, 20), now
        for status, due in ((ActionStatus.OPEN, dt.date(2026, 6, 20)), (ActionStatus.OPEN, dt.date(2026, 8, 1)),
                            (ActionStatus.DONE, dt.date(2026, 6, 20)), (ActionStatus.SIGNED_OFF, dt.date(2026, 6, 20)),
                            (ActionStatus.WITHDRAWN, dt.date(2026, 6, 20))):
            s.add(AuditAction(record_id=records[0].id, text="Update the plan", owner_id=auditor.id, due_date=due, status=status,
                              created_at=now))
        for agrees, state, kind in ((True, ModerationState.DECIDED, ModerationKind.SAMPLE),
                                    (False, ModerationState.DECIDED, ModerationKind.CHALLENGE),
                                    (None, ModerationState.WITH_MODERATOR, ModerationKind.SAMPLE)):
            s.add(AuditModeration(record_id=records[1].id, kind=kind, state=state, agrees=agrees, created_at=now))
        s.add(InadequateCycle(case_id=made[0].case_id, record_id=records[0].id, state=CycleState.REVIEW_DUE, opened_at=now))
        s.add(InadequateCycle(case_id=made[1].case_id, record_id=records[1].id, state=CycleState.CLOSED, opened_at=now))
        for kind, state in ((RequestKind.EXEMPTION, RequestState.APPROVED), (RequestKind.EXEMPTION, RequestState.DECLINED),
                            (RequestKind.EXEMPTION, RequestState.PENDING), (RequestKind.EXTENSION, RequestState.APPROVED)):
            s.add(ExemptionRequest(allocation_id=made[3].id, auditor_id=auditor.id, kind=kind, reason="On leave",
                                   due_date=JUNE, state=state, approver_id=auditor.id, routed_to_id=auditor.id, created_at=now))
        for raised, acknowledged in ((now, now + dt.timedelta(minutes=10)), (now, now + dt.timedelta(minutes=40)),
                                     (now, now + dt.timedelta(minutes=20)), (now, None),
                                     (dt.datetime(2026, 7, 1, 9, tzinfo=dt.UTC), None)):
            s.add(SafeguardingAlert(case_id=made[4].case_id, raised_by_id=auditor.id, urgency=AlertUrgency.IMMEDIATE,
                                    note="Visit today", raised_at=raised, lead_acknowledged_at=acknowledged))
        for k, state in enumerate((BreakState.APPROVED, BreakState.REFUSED, BreakState.CANCELLED)):
            s.add(AuditBreak(person_id=c.auditor(f"Break Taker {k}", team=other).id, month=JUNE, state=state, requested_at=now))
    with session_factory() as s:
        report = figures(s, JUNE, JUNE, SETTINGS, as_of=dt.date(2026, 7, 1))
    fig, n = report.overall, report.overall.counts
    assert (n.actions_open, n.actions_overdue, n.actions_done, n.actions_signed_off) == (2, 1, 1, 1)
    assert n.oversight_overdue == 1
    assert n.awaiting_confirmation == 10  # finalised and not closed; the twelfth is still in its reply window
    assert (n.moderated, n.moderated_sample, n.moderation_agreed, fig.moderation_agreement) == (2, 1, 1, 50)
    assert fig.programme is not None and fig.programme.finalised == 11
    assert fig.programme.moderation_target == 2 + 2  # ceil(10% of 11) + one per Head of Service
    assert n.open_inadequate_cycles == 1
    assert (n.exemptions_asked, n.exemptions_agreed, n.exemptions_declined) == (3, 1, 1)
    assert (n.extensions_asked, n.extensions_agreed, n.extensions_declined) == (1, 1, 0)
    assert (n.concerns_raised, n.concerns_acknowledged, fig.minutes_to_acknowledge) == (4, 3, 20)  # July's is another month
    assert (fig.programme.breaks_asked, fig.programme.breaks_agreed, fig.programme.breaks_declined) == (3, 1, 1)
    assert (n.graded, n.in_reply_window) == (12, 1)
    assert {t.team: t.counts.allocated for t in report.teams} == {"Assessment Team North": 12}
    text = as_text(report)
    assert "moderation: 1 of a target of 4 (11 finalised); 2 moderated in all, the moderator agreed in 1 (50%)" in text
    assert "safeguarding concerns: 4 raised, 3 acknowledged; median time to acknowledge: 20 minutes" in text
    assert "awaiting the team manager's final confirmation (oversight or every action done): 10" in text
    assert "awaiting_team_manager_confirmation,10" in as_csv(report)
    assert report.month_teams == () and "By month and team" not in text  # one month: the teams are the breakdown
    assert "CMS-" not in text + as_csv(report) and "Sam Patel" not in text + as_csv(report)


def test_an_empty_period_reports_nothing_owed(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s:
        report: Report = figures(s, JUNE, dt.date(2026, 8, 1), SETTINGS, as_of=dt.date(2026, 9, 1))
    assert [m.month for m in report.months] == [JUNE, dt.date(2026, 7, 1), dt.date(2026, 8, 1)]
    assert report.overall.completion_text == "n/a" and not report.services and not report.teams
    assert as_text(report).splitlines()[0] == ("Case file audits: June 2026 to August 2026 "
                                               "(as of 01 Sep 2026; grades on the bradford scheme)")


# --- the command's arguments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [([], "give one of --month"), (["--month", "2026-13"], "2026-13"), (["--quarter", "2026Q5"], "2026Q5"),
     (["--month", "2026-12", "--quarter", "2026Q4"], "give one of"), (["--from", "2026-12"], "--from and --to go together"),
     (["--from", "2026-12", "--to", "2026-10"], "is before --from"), (["--month", "2026-12", "--as-of", "2027-02-30"], "--as-of"),
     (["--month", "2026-12", "--format", "pdf"], "pdf"),
     (["--month", "2026-12", "--out", "charts"], "--out goes with --format png"),
     (["--month", "2026-12", "--format", "csv", "--out", "charts"], "--out goes with --format png")],
)
def test_bad_arguments_exit_2_with_one_line(engine: Engine, args: list[str], says: str) -> None:
    result = run(engine, ["report", *args], clock=dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC))
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in result.stderr
    assert result.stdout == ""


def test_a_quarter_is_its_three_months() -> None:
    assert report_cli.parse_quarter("2026Q4") == (dt.date(2026, 10, 1), dt.date(2026, 12, 1))
    assert report_cli.parse_quarter("2015Q1") == (dt.date(2015, 1, 1), dt.date(2015, 3, 1))


def test_the_moderation_target_is_the_samples() -> None:
    assert sample_target(0, 10, 2) == 0  # nothing finalised: nothing to moderate
    assert sample_target(11, 10, 2) == 2 + 2  # ceil(1.1) + one per Head of Service
    assert sample_target(60, 10, 0) == 6
