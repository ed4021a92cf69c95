"""``auditbot oversight [--month YYYY-MM]``: the final audits still waiting for the team manager's
oversight or action sign-off (Hull 23, 27), for the QA team."""

from __future__ import annotations

import click

from bot.calendar import WorkingCalendar
from bot.cli import Context, pass_context
from bot.services.actions.report import describe, waiting
from bot.services.allocation.rules import RequestError, parse_month


def register(group: click.Group) -> None:
    """Add the ``oversight`` command."""

    @group.command("oversight")
    @click.option("--month", "month_text", metavar="YYYY-MM", help="only audits finalised in this month")
    @pass_context
    def oversight(ctx: Context, month_text: str | None) -> None:
        """Final audits still open: oversight not recorded, or actions not signed off."""
        month = None
        if month_text is not None:
            try:
                month = parse_month(month_text)
            except RequestError as exc:
                raise click.BadParameter(str(exc), param_hint="--month") from None
        calendar = WorkingCalendar.from_settings(ctx.settings)
        with ctx.sessions() as session:
            rows, closed = waiting(session, calendar, month)
        today = calendar.local_date(ctx.clock())
        period = f" finalised in {month:%B %Y}" if month is not None else ""
        click.echo(f"{len(rows)} final audit(s){period} still open (oversight or action sign-off outstanding); {closed} closed")
        for row in rows:
            click.echo(f"  {describe(row, today)}")
