"""``auditbot alerts --month YYYY-MM``: every safeguarding alert and how fast it was acknowledged."""

from __future__ import annotations

import click

from bot.cli import Context, pass_context
from bot.services.alerts.report import alerts_in_month
from bot.services.allocation.rules import RequestError, parse_month


def register(group: click.Group) -> None:
    """Add the ``alerts`` command."""

    @group.command("alerts")
    @click.option("--month", "month_text", required=True, metavar="YYYY-MM")
    @pass_context
    def alerts(ctx: Context, month_text: str) -> None:
        """List a month's safeguarding alerts with time-to-acknowledge (notes are not shown)."""
        try:
            month = parse_month(month_text)
        except RequestError as exc:
            raise click.BadParameter(str(exc), param_hint="--month") from None
        tz = ctx.settings.tz
        with ctx.sessions() as session:
            lines = alerts_in_month(session, month, tz)
        if not lines:
            click.echo(f"no safeguarding alerts in {month:%B %Y}")
        for line in lines:
            if line.acknowledged_after is None:
                ack = "NOT acknowledged by the team manager"
            else:
                minutes = int(line.acknowledged_after.total_seconds() // 60)
                ack = f"acknowledged after {minutes // 60}h {minutes % 60:02d}m"
            extra = f", escalated x{line.escalation_level}" if line.escalation_level else ""
            extra += ", corrective action recorded" if line.corrective_action else ""
            click.echo(
                f"{line.raised_at.astimezone(tz):%Y-%m-%d %H:%M}  {line.reference}  {line.urgency}  "
                f"raised by {line.raised_by}  lead {line.lead}: {ack}{extra}"
            )
