"""``auditbot outbox``: what is waiting, what failed, and putting failed messages back."""

from __future__ import annotations

import click
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from bot.cli import Context, pass_context
from store.audit import record
from store.db import changed
from store.models import Notification, NotificationState


def register(group: click.Group) -> None:
    """Add the ``outbox`` command."""

    @group.command("outbox")
    @click.option("--failed", is_flag=True, help="List every message that could not be delivered.")
    @click.option("--cancelled", is_flag=True, help="List every message cancelled as no longer true, with why.")
    @click.option("--retry", "retry_ids", multiple=True, type=int, metavar="ID", help="Queue a failed message again.")
    @pass_context
    def outbox(ctx: Context, failed: bool, cancelled: bool, retry_ids: tuple[int, ...]) -> None:
        """Show the notification outbox: counts by state, failures, retries."""
        now = ctx.now()
        with ctx.sessions() as session, session.begin():
            if retry_ids:
                result = session.execute(
                    update(Notification)
                    .where(Notification.id.in_(retry_ids), Notification.state == NotificationState.FAILED)
                    .values(state=NotificationState.PENDING, attempts=0, next_attempt_at=now, claimed_by=None)
                    .execution_options(synchronize_session=False)
                )
                record(session, now=now, action="outbox.retry", actor_ref="cli", detail={"ids": list(retry_ids)})
                click.echo(f"{changed(result)} failed message(s) queued again")
            counts = dict(session.execute(select(Notification.state, func.count()).group_by(Notification.state)).all())
            click.echo("  ".join(f"{state.value}: {counts.get(state, 0)}" for state in NotificationState))
            for wanted, state in ((failed, NotificationState.FAILED), (cancelled, NotificationState.CANCELLED)):
                if not wanted:
                    continue
                rows = session.scalars(
                    select(Notification)
                    .options(joinedload(Notification.recipient))
                    .where(Notification.state == state)
                    .order_by(Notification.id)
                ).all()
                if not rows:
                    click.echo(f"no {state.value} messages")
                for row in rows:
                    to = row.recipient.email if row.recipient is not None else row.channel
                    click.echo(f"#{row.id}  {row.idempotency_key}  to {to}  after {row.attempts} attempt(s): {row.last_error}")
