"""The report's charts (issue 17): PNG files with alt text giving every number, drawn from the same
figures as the text and CSV (Stockton's quarter and Surrey's paused months, built as in test_report)."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.services.audits.schemes import current_scheme
from bot.services.reports.charts import ALT_TEXT_LIMIT, DPI, SIZE_INCHES, Chart, charts
from bot.services.reports.figures import Report, figures
from tests.test_report import Q1_2015, SETTINGS, STOCKTON_NOW, SURREY_MONTHS, run, stockton, surrey

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STOCKTON_AS_OF = dt.date(2015, 4, 20)


def stockton_report(sessions: sessionmaker[Session], tmp_path: Path) -> tuple[Report, list[str]]:
    references = stockton(sessions, tmp_path)
    with sessions() as s:
        return figures(s, Q1_2015[0], Q1_2015[-1], SETTINGS, as_of=STOCKTON_AS_OF), references


def by_name(made: list[Chart]) -> dict[str, Chart]:
    return {c.name: c for c in made}


def test_the_programmes_three_charts_are_pngs_of_the_fixed_size_and_give_stocktons_numbers(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    report, references = stockton_report(session_factory, tmp_path)
    made = charts(report)
    assert [c.name for c in made] == ["completion_by_month", "grades_by_month", "grades_by_service"]
    assert [c.filename for c in made] == [
        "audit-report-2015-01..2015-03-completion-by-month.png", "audit-report-2015-01..2015-03-grades-by-month.png",
        "audit-report-2015-01..2015-03-grades-by-service.png",
    ]
    width, height = (round(SIZE_INCHES[0] * DPI), round(SIZE_INCHES[1] * DPI))
    for chart in made:
        assert chart.png.startswith(PNG_SIGNATURE)
        assert imread(io.BytesIO(chart.png), format="png").shape[:2] == (height, width)
        assert b"Software" not in chart.png and b"tEXt" not in chart.png  # no metadata: the same report, the same bytes
        assert " " not in chart.filename and len(chart.alt_text) <= ALT_TEXT_LIMIT
        assert chart.title in chart.alt_text and "January 2015 to March 2015" in chart.title
        assert not [ref for ref in references if ref in chart.alt_text + chart.title]
        assert "STK-" not in chart.alt_text and "Sam Patel" not in chart.alt_text

    charted = by_name(made)
    completion = charted["completion_by_month"].alt_text
    # January 7 of 7, February 6 of 7 (the twentieth case was never audited), March 6 of 6: 19 of 20 in all.
    assert "January 2015: 100% (7 of 7 owed). February 2015: 86% (6 of 7 owed). March 2015: 100% (6 of 6 owed)." in completion
    by_service = charted["grades_by_service"].alt_text
    # Stockton's final grades: 12 Good / 6 RI / 1 Inadequate, the scheme's labels in the scheme's order.
    assert "Children's Services: Outstanding 0, Good 12, Requires Improvement 6, Inadequate 1 (19 audits)." in by_service
    labels = [g.label for g in current_scheme(SETTINGS.grading_scheme).overall_scale]
    for chart in (charted["grades_by_month"], charted["grades_by_service"]):
        assert all(f"{label} " in chart.alt_text for label in labels)
    by_month = charted["grades_by_month"].alt_text
    counts = [int(n) for n in re.findall(r"\((\d+) audits\)", by_month)]
    assert counts == [7, 6, 6] and sum(counts) == 19


def test_the_same_report_gives_the_same_bytes(session_factory: sessionmaker[Session], tmp_path: Path) -> None:
    report, _ = stockton_report(session_factory, tmp_path)
    first, second = charts(report), charts(report)
    assert [c.png for c in first] == [c.png for c in second]
    assert len({c.png for c in first}) == 3  # three different pictures


def test_a_paused_month_is_drawn_as_paused_never_0_percent(session_factory: sessionmaker[Session]) -> None:
    surrey(session_factory)
    with session_factory() as s:
        report = figures(s, SURREY_MONTHS[0], SURREY_MONTHS[-1], SETTINGS, as_of=dt.date(2020, 11, 1))
    made = by_name(charts(report))
    completion = made["completion_by_month"].alt_text
    assert len(completion) <= ALT_TEXT_LIMIT
    for month in ("March 2020", "April 2020", "May 2020"):
        assert f"{month}: paused." in completion
        assert f"{month}: paused." in made["grades_by_month"].alt_text
    assert " 0%" not in completion and "0 of 0" not in completion
    assert "February 2020: " in completion and "June 2020: " in completion
    # Every month not paused appears with its rate and counts; the months' owed add up to Surrey's 1632.
    owed = [int(n) for n in re.findall(r"\(\d+ of (\d+) owed\)", completion)]
    assert len(owed) == 19 and sum(owed) == 1632
    done = [int(n) for n in re.findall(r"\((\d+) of \d+ owed\)", completion)]
    assert sum(done) == 1298


def test_a_services_charts_show_only_its_own_teams(session_factory: sessionmaker[Session]) -> None:
    surrey(session_factory)
    with session_factory() as s:
        report = figures(s, SURREY_MONTHS[0], SURREY_MONTHS[-1], SETTINGS, as_of=dt.date(2020, 11, 1))
    made = charts(report, service="Surrey Service A")
    assert [c.name for c in made] == ["completion_by_team", "grades_by_team"]
    assert [c.filename for c in made] == ["audit-report-2018-12..2020-09-surrey-service-a-completion-by-team.png",
                                          "audit-report-2018-12..2020-09-surrey-service-a-grades-by-team.png"]
    teams = {t.team: t for t in report.teams if t.service == "Surrey Service A"}
    assert set(teams) == {"Surrey Team 0", "Surrey Team 2"}
    for chart in made:
        assert chart.png.startswith(PNG_SIGNATURE) and "Surrey Service A" in chart.title
        assert "Surrey Team 0: " in chart.alt_text and "Surrey Team 2: " in chart.alt_text
        assert "Surrey Team 1" not in chart.alt_text and "Surrey Team 3" not in chart.alt_text
    for name, team in teams.items():
        c = team.counts
        assert f"{name}: {team.completion_rate}% ({c.completed} of {c.owed} owed)." in made[0].alt_text
    assert sum(t.counts.owed for t in teams.values()) < 1632
    assert charts(report, service="No Such Service") == []


def test_the_command_writes_the_charts_and_prints_their_alt_text(
    session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    report, references = stockton_report(session_factory, tmp_path)
    out = tmp_path / "charts" / "2015Q1"  # made, with its parent
    result = run(engine, ["report", "--quarter", "2015Q1", "--as-of", "2015-04-20", "--format", "png", "--out", str(out)],
                 clock=STOCKTON_NOW)
    assert result.exit_code == 0, result.output
    expected = charts(report)
    lines = result.stdout.splitlines()
    assert lines == [line for c in expected for line in (f"wrote {out / c.filename}", f"  {c.alt_text}")]
    for chart in expected:
        assert (out / chart.filename).read_bytes() == chart.png
    assert sorted(p.name for p in out.iterdir()) == sorted(c.filename for c in expected)
    assert not [ref for ref in references if ref in result.stdout]


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_out_goes_only_with_png(engine: Engine, tmp_path: Path, fmt: str) -> None:
    result = run(engine, ["report", "--month", "2026-12", "--format", fmt, "--out", str(tmp_path / "x")],
                 clock=dt.datetime(2026, 12, 30, tzinfo=dt.UTC))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == "auditbot report: --out goes with --format png (the charts' folder)"
    assert not (tmp_path / "x").exists()


def test_importing_the_charts_does_not_import_matplotlib() -> None:
    """The bot does not pay for matplotlib until a chart is drawn."""
    code = "import sys, bot.cli.report, bot.services.reports.charts; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert done.stdout.strip() == "False"


def test_a_grade_only_a_later_service_has_is_drawn_in_the_stack_and_the_legend() -> None:
    """A grade no longer on the scheme (old records) that the first service lacks still gets its band."""
    from bot.services.reports.charts import _scale
    from bot.services.reports.model import Counts, Figures, GradeCount

    def service(name: str, *grades: GradeCount) -> Figures:
        return Figures(month=None, service=name, team=None, paused=False, counts=Counts(), final_grades=grades,
                       original_grades=grades, minutes_to_acknowledge=None)

    on_scheme = [GradeCount("good", "Good", 2, 100), GradeCount("inadequate", "Inadequate", 0, 0)]
    rows = [("A", "A", service("A", *on_scheme)), ("B", "B", service("B", *on_scheme, GradeCount("met", "met", 3, 100)))]
    assert [g.value for g in _scale(rows)] == ["good", "inadequate", "met"]
