"""``auditbot import staff|cases|outcomes FILE.csv`` and ``auditbot demo-data``."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.cli import Context, pass_context
from bot.services.audits.outcomes import OutcomesReport, import_outcomes
from bot.services.staff.demo import generate_demo
from bot.services.staff.importer import ImportFailed, ImportReport, Progress, import_cases, import_staff

#: Above this many rows a progress bar is shown even when output is not a terminal.
LARGE_FILE_ROWS = 5000
#: At most this many problems are printed; the rest are counted.
MAX_PROBLEMS_SHOWN = 200

Importer = Callable[..., ImportReport | OutcomesReport]


def count_rows(path: Path) -> int:
    """A quick estimate of a CSV file's data rows (its lines after the header)."""
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def _print_report(report: ImportReport | OutcomesReport) -> None:
    click.echo(report.summary())
    for warning in report.warnings:
        click.echo(f"warning: {warning}")


def _fail(path: Path, exc: ImportFailed) -> None:
    """Print every problem (up to a limit) and exit with status 1."""
    problems = exc.problems
    click.echo(f"{path.name}: {len(problems)} problem(s) found; nothing was imported", err=True)
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(str(problem), err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"... and {len(problems) - MAX_PROBLEMS_SHOWN} more", err=True)
    click.get_current_context().exit(1)


def run_import(
    importer: Importer, sessions: sessionmaker[Session], path: Path, now: dt.datetime
) -> ImportReport | OutcomesReport:
    """Run one import with a progress bar when useful; exit 1 with the problems on failure."""
    rows = count_rows(path)
    try:
        if sys.stdout.isatty() or rows > LARGE_FILE_ROWS:
            with click.progressbar(length=rows, label=f"Importing {path.name}") as bar:
                progress: Progress = bar.update
                report = importer(sessions, path, now=now, progress=progress)
        else:
            report = importer(sessions, path, now=now)
    except ImportFailed as exc:
        _fail(path, exc)
        raise  # unreachable: _fail exits
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    _print_report(report)
    return report


def register(group: click.Group) -> None:
    """Add the ``import`` group and the ``demo-data`` command."""
    csv_file = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)

    @group.group("import")
    def import_group() -> None:
        """Import staff, cases and audit outcomes from CSV files (see examples/README.md)."""

    @import_group.command("staff")
    @click.argument("file", type=csv_file)
    @pass_context
    def import_staff_cmd(ctx: Context, file: Path) -> None:
        """Create or update people, teams and services from a staff CSV file."""
        run_import(import_staff, ctx.sessions, file, ctx.now())

    @import_group.command("cases")
    @click.argument("file", type=csv_file)
    @pass_context
    def import_cases_cmd(ctx: Context, file: Path) -> None:
        """Create or update cases from a case CSV file (import staff first)."""
        run_import(import_cases, ctx.sessions, file, ctx.now())

    @import_group.command("outcomes")
    @click.argument("file", type=csv_file)
    @pass_context
    def import_outcomes_cmd(ctx: Context, file: Path) -> None:
        """Record audits done in the case system from an outcomes CSV file (grades, findings, actions)."""
        settings = ctx.settings
        importer = functools.partial(import_outcomes, settings=settings, calendar=WorkingCalendar.from_settings(settings))
        run_import(importer, ctx.sessions, file, ctx.now())

    @group.command("demo-data")
    @click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Directory for staff.csv and cases.csv [default: DATA_DIR/demo].")
    @click.option("--seed", type=int, default=2026, show_default=True, help="Random seed; same seed, same council.")
    @click.option("--load/--no-load", default=True, show_default=True, help="Import the files into the database.")
    @click.option("--case-system-extras", is_flag=True,
                  help="Add fake child_name and date_of_birth columns, as a case system export has.")
    @pass_context
    def demo_data(ctx: Context, out: Path | None, seed: int, load: bool, case_system_extras: bool) -> None:
        """Write a fictional council's staff and cases as CSV and (by default) import them."""
        now = ctx.now()
        out_dir = out if out is not None else ctx.settings.data_dir / "demo"
        today = now.astimezone(ctx.settings.tz).date()
        staff_path, cases_path = generate_demo(
            out_dir, seed=seed, with_case_system_extras=case_system_extras, reference_date=today
        )
        click.echo(f"wrote {staff_path} and {cases_path}")
        if load:
            sessions = ctx.sessions
            run_import(import_staff, sessions, staff_path, now)
            run_import(import_cases, sessions, cases_path, now)
