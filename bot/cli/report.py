"""``auditbot report --month YYYY-MM | --quarter YYYYQn | --from YYYY-MM --to YYYY-MM``: the
programme's figures for the QA team (shared/domain.md step 12), as text or CSV, or its charts as
PNG files (``--format png --out DIR``) each printed with its alt text; ``--post`` posts a month as the
schedule does."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import click

from bot.calendar import WorkingCalendar
from bot.cli import Context, pass_context
from bot.services.allocation.rules import RequestError, add_months, parse_month
from bot.services.reports.charts import charts
from bot.services.reports.figures import figures
from bot.services.reports.model import Report
from bot.services.reports.output import as_csv, as_text
from bot.services.reports.publish import post_month, report_day

_QUARTER = re.compile(r"^(\d{4})Q([1-4])$")


class BadArguments(click.UsageError):
    """A bad option: one line on stderr, exit status 2."""

    def show(self, file: object = None) -> None:
        click.echo(f"auditbot report: {self.format_message()}", err=True)


def parse_quarter(text: str) -> tuple[dt.date, dt.date]:
    """``2026Q4`` to its first and last months (October and December 2026); RequestError if malformed."""
    match = _QUARTER.match(text or "")
    if not match:
        raise RequestError(f"quarter must look like YYYYQn (n from 1 to 4), not {text!r}")
    first = dt.date(int(match.group(1)), 3 * int(match.group(2)) - 2, 1)
    return first, add_months(first, 2)


def period(month: str | None, quarter: str | None, start: str | None, end: str | None) -> tuple[dt.date, dt.date]:
    """The report's first and last months from exactly one of --month, --quarter or --from/--to."""
    given = [name for name, value in (("--month", month), ("--quarter", quarter), ("--from/--to", start or end)) if value]
    if len(given) != 1:
        raise BadArguments("give one of --month YYYY-MM, --quarter YYYYQn, or --from YYYY-MM --to YYYY-MM")
    try:
        if month is not None:
            first = parse_month(month)
            return first, first
        if quarter is not None:
            return parse_quarter(quarter)
        if start is None or end is None:
            raise BadArguments("--from and --to go together: give both, as YYYY-MM")
        first, last = parse_month(start), parse_month(end)
    except RequestError as exc:
        raise BadArguments(str(exc)) from None
    if last < first:
        raise BadArguments(f"--to ({end}) is before --from ({start})")
    return first, last


def parse_day(text: str) -> dt.date:
    """--as-of's YYYY-MM-DD; BadArguments if it is not a real day."""
    try:
        return dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else dt.date.fromisoformat("")
    except ValueError:
        raise BadArguments(f"--as-of must be a day as YYYY-MM-DD, not {text!r}") from None


def register(group: click.Group) -> None:
    """Add the ``report`` command."""

    @group.command("report")
    @click.option("--month", "month", metavar="YYYY-MM", help="one month's allocations")
    @click.option("--quarter", "quarter", metavar="YYYYQn", help="a quarter's (2026Q4: October to December 2026)")
    @click.option("--from", "start", metavar="YYYY-MM", help="from this month's allocations...")
    @click.option("--to", "end", metavar="YYYY-MM", help="...to this month's, inclusive")
    @click.option("--format", "fmt", metavar="text|csv|png", default="text", show_default=True,
                  help="png: the charts, one file each, written to --out")
    @click.option("--out", "out", metavar="DIR", type=click.Path(path_type=Path),
                  help="with --format png: the folder for the charts (made if missing; default the current folder)")
    @click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
                  help="overdue actions, audits and oversight as they stood on this day (default today)")
    @click.option("--post", is_flag=True,
                  help="with --month: post the month's report now as the schedule does (before its report day: the month so far)")
    @pass_context
    def report(
        ctx: Context, month: str | None, quarter: str | None, start: str | None, end: str | None, fmt: str,
        out: Path | None, as_of: str | None, post: bool,
    ) -> None:
        """Completion, grades, re-audits, actions, moderation, concerns, exemptions and reflection, by month, service and team."""
        first, last = period(month, quarter, start, end)
        if post:
            if month is None or as_of is not None or out is not None or fmt != "text":
                raise BadArguments("--post goes with --month alone (the report is posted as it stands today)")
            post_now(ctx, first)
            return
        if fmt not in ("text", "csv", "png"):
            raise BadArguments(f"--format is text, csv or png, not {fmt!r}")
        if out is not None and fmt != "png":
            raise BadArguments("--out goes with --format png (the charts' folder)")
        day = parse_day(as_of) if as_of is not None else WorkingCalendar.from_settings(ctx.settings).local_date(ctx.now())
        with ctx.sessions() as session:
            result = figures(session, first, last, ctx.settings, as_of=day)
        if fmt == "png":
            write_charts(result, out or Path("."))
        else:
            click.echo(as_csv(result) if fmt == "csv" else as_text(result), nl=False)


def post_now(ctx: Context, month: dt.date) -> None:
    """Plan the month's posts in one transaction and say what was planned (the running bot sends them)."""
    calendar = WorkingCalendar.from_settings(ctx.settings)
    with ctx.sessions() as session, session.begin():
        posted = post_month(session, month, ctx.settings, calendar, now=ctx.now())
    if posted.why_not is not None:
        click.echo(f"{month:%B %Y}: nothing posted: {posted.why_not}")
        return
    where = "the QA channel" if ctx.settings.qa_channel else "the QA coordinators"
    assert posted.starts is not None
    so_far = f" so far (its report is posted on {report_day(month, ctx.settings, calendar):%a %d %b %Y})" if posted.so_far else ""
    click.echo(f"{month:%B %Y}{so_far}: {posted.planned} message(s) and file(s) planned for {posted.destinations} destination(s) "
               f"({where}, and each Head of Service whose service had audits); sent from "
               f"{calendar.local(posted.starts):%a %d %b %Y %H:%M} by the running bot")


def write_charts(report: Report, folder: Path) -> list[Path]:
    """Write the programme's charts into ``folder`` (made if missing), printing "wrote PATH" and the
    chart's alt text under it (what a screen reader would read in Slack)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for chart in charts(report):
            path = folder / chart.filename
            path.write_bytes(chart.png)
            written.append(path)
            click.echo(f"wrote {path}")
            click.echo(f"  {chart.alt_text}")
    except OSError as exc:
        raise click.ClickException(f"cannot write the charts to {folder}: {exc.strerror or exc}") from None
    return written
