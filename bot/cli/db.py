"""``auditbot db ...``: schema migrations."""

from __future__ import annotations

import click
from sqlalchemy.exc import DBAPIError

from bot.cli import Context, database_unreachable, pass_context
from store.db import upgrade


def register(group: click.Group) -> None:
    """Add the ``db`` commands."""

    @group.group("db")
    def db() -> None:
        """Database schema commands."""

    @db.command("upgrade")
    @pass_context
    def db_upgrade(ctx: Context) -> None:
        """Create or upgrade the database schema to the latest migration."""
        try:
            upgrade(ctx.engine)
        except DBAPIError as exc:
            raise database_unreachable(ctx.engine, exc) from None
        click.echo(f"database at {ctx.engine.url.render_as_string(hide_password=True)} is up to date")
