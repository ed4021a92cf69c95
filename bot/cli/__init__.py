"""The ``auditbot`` command line. Each submodule adds its commands with ``register(group)``."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from functools import cached_property

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings, SettingsError, load_settings
from store.db import NotMigrated, check_migrated, make_engine, make_sessionmaker


@dataclass
class Context:
    """What every command needs: settings, and the database opened on first use."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        """The database engine (created lazily)."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """A session factory on a migrated database; exits with the command to run if not."""
        try:
            check_migrated(self.engine)
        except NotMigrated as exc:
            raise click.ClickException(str(exc)) from None
        return make_sessionmaker(self.engine)

    @staticmethod
    def now() -> dt.datetime:
        """The current time in UTC."""
        return dt.datetime.now(dt.UTC)


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run the case file audit programme bot and its operator commands."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration problem: {exc}") from None
    ctx.obj = Context(settings)


def _register_all() -> None:
    from bot.cli import alerts, allocate, db, imports, outbox, run, schedule, workspace

    for module in (db, imports, allocate, outbox, run, schedule, alerts, workspace):
        module.register(cli)


def main() -> None:
    """Console-script entry point."""
    _register_all()
    sys.exit(cli.main(standalone_mode=True))
