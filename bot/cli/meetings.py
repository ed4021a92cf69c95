"""``auditbot meetings --month YYYY-MM``: the month's reflection meetings and sheets, counted for
the report (never a name, a case reference or an answer)."""

from __future__ import annotations

import click

from bot.cli import Context, pass_context
from bot.services.allocation.rules import RequestError, parse_month
from bot.services.meetings.reflection import questions
from bot.services.meetings.summary import month_summary


def register(group: click.Group) -> None:
    """Add the ``meetings`` command."""

    @group.command("meetings")
    @click.option("--month", "month_text", metavar="YYYY-MM", required=True, help="the month the audits were allocated in")
    @pass_context
    def meetings(ctx: Context, month_text: str) -> None:
        """Reflection meetings booked, held and cancelled; escalations; audits without a meeting; sheets answered."""
        try:
            month = parse_month(month_text)
        except RequestError as exc:
            raise click.BadParameter(str(exc), param_hint="--month") from None
        with ctx.sessions() as session:
            summary = month_summary(session, month)
        texts = {q.key: q.text for q in questions()}
        click.echo(f"Reflection meetings for the {summary.allocations} audit(s) allocated in {month:%B %Y}")
        click.echo(f"  meetings booked: {summary.booked}")
        click.echo(f"  meetings held: {summary.held}")
        click.echo(f"  meetings cancelled: {summary.cancelled}")
        click.echo(f"  invitees escalated to a group manager: {summary.escalated}")
        click.echo(f"  audits recorded without a meeting: {summary.without_meeting}")
        click.echo(f"  reflection sheets answered: {summary.sheets}")
        for key, count in summary.answered.items():
            click.echo(f"    {count} answered: {texts.get(key, f'(a question no longer asked: {key})')}")
