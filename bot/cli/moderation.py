"""``auditbot moderation --month YYYY-MM | --year YYYY``: calibration for the QA team — per
auditor how many audits were challenged or moderated and which way the grade moved, per
moderator how often they agreed with the auditor."""

from __future__ import annotations

import datetime as dt

import click

from bot.cli import Context, pass_context
from bot.services.allocation.rules import RequestError, add_months, parse_month
from bot.services.moderation.calibration import calibration, describe_auditor, describe_moderator


def register(group: click.Group) -> None:
    """Add the ``moderation`` command."""

    @group.command("moderation")
    @click.option("--month", "month_text", metavar="YYYY-MM", help="one month's audits")
    @click.option("--year", type=click.IntRange(2000, 2999), metavar="YYYY", help="a calendar year's audits")
    @pass_context
    def moderation(ctx: Context, month_text: str | None, year: int | None) -> None:
        """Calibration: challenges, moderations and grade movement per auditor; agreement per moderator."""
        if (month_text is None) == (year is None):
            raise click.UsageError("give --month YYYY-MM or --year YYYY")
        if month_text is not None:
            try:
                start = parse_month(month_text)
            except RequestError as exc:
                raise click.BadParameter(str(exc), param_hint="--month") from None
            end, period = add_months(start, 1), f"{start:%B %Y}"
        else:
            assert year is not None
            start, end, period = dt.date(year, 1, 1), dt.date(year + 1, 1, 1), str(year)
        with ctx.sessions() as session:
            auditors, moderators = calibration(session, start, end, ctx.settings)
        if not auditors:
            click.echo(f"no audits recorded for {period}")
            return
        click.echo(f"Moderation calibration, audits of {period} (for the QA team: not to be shared)")
        click.echo("Auditors:")
        for line in auditors:
            click.echo(f"  {describe_auditor(line)}")
        click.echo("Moderators:" if moderators else "Moderators: no moderation decided yet")
        for m in moderators:
            click.echo(f"  {describe_moderator(m)}")
