"""``auditbot doctor``: who the programme cannot reach or route, before the month starts."""

from __future__ import annotations

import click

from bot.cli import Context, pass_context
from bot.services.staff.doctor import examine


def register(group: click.Group) -> None:
    """Add the ``doctor`` command."""

    @group.command("doctor")
    @pass_context
    def doctor(ctx: Context) -> None:
        """List auditors with no exemption approver or no line manager, and people not on Slack.

        Exits 1 when anything is listed, so it can guard a deployment.
        """
        with ctx.sessions() as session:
            found = examine(session, ctx.settings)
        sections = [
            ("auditors whose exemption requests would reach nobody", found.no_approver),
            ("auditors with no active line manager (reminders copy nobody)", found.no_line_manager),
            ("people Slack did not know when last messaged", found.no_slack_account),
        ]
        for title, people in sections:
            click.echo(f"{title}: {len(people)}")
            for name, email in people:
                click.echo(f"  {name} <{email}>")
        if not found.clean:
            raise SystemExit(1)
