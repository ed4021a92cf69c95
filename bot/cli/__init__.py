"""The ``auditbot`` command line. Each submodule adds its commands with ``register(group)``."""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from functools import cached_property

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import CalendarError, WorkingCalendar
from bot.clock import Clock, system_clock
from bot.services.audits.schemes import SchemeError, load_scheme
from bot.services.meetings.reflection import ReflectionError, questions
from bot.settings import Settings, SettingsError, load_settings
from store.db import NotMigrated, check_migrated, make_engine, make_sessionmaker

_URL_EXAMPLE = "e.g. postgresql+psycopg://auditbot@db/auditbot or sqlite:///data/auditbot.db"


def check_settings(settings: Settings) -> None:
    """What the settings model cannot check alone (working hours, holidays file, database URL,
    grading scheme; and the reflection sheet's questions file).

    Raises SettingsError naming the setting, so no command starts with a traceback later.
    """
    start, end = settings.working_hours_start, settings.working_hours_end
    if start.tzinfo is not None or end.tzinfo is not None:
        raise SettingsError("AUDITBOT_WORKING_HOURS_START/END: give local times without a time zone, e.g. 08:30")
    if not start < end:
        raise SettingsError(
            f"AUDITBOT_WORKING_HOURS_START ({start:%H:%M}) must be before AUDITBOT_WORKING_HOURS_END ({end:%H:%M})"
        )
    try:
        WorkingCalendar.from_settings(settings)
    except CalendarError as exc:
        raise SettingsError(f"AUDITBOT_HOLIDAYS_OVERRIDE_FILE: {exc}") from None
    try:
        make_url(settings.database_url)
    except ArgumentError:  # the URL itself may hold a password: never echoed
        raise SettingsError(f"AUDITBOT_DATABASE_URL: not a database URL ({_URL_EXAMPLE})") from None
    try:
        load_scheme(settings.grading_scheme)
    except SchemeError as exc:
        raise SettingsError(f"AUDITBOT_GRADING_SCHEME: {exc}") from None
    try:
        questions()  # the reflection sheet's questions (data, not a setting): a bad file stops every command here
    except ReflectionError as exc:
        raise SettingsError(f"the reflection sheet's questions: {exc}") from None


def database_unreachable(engine: Engine, exc: DBAPIError) -> click.ClickException:
    """One line for a database that cannot be reached with AUDITBOT_DATABASE_URL."""
    detail = str(exc.orig if exc.orig is not None else exc).strip()
    reason = detail.splitlines()[0] if detail else type(exc).__name__
    where = engine.url.render_as_string(hide_password=True)
    return click.ClickException(f"AUDITBOT_DATABASE_URL: cannot use the database at {where}: {reason}")


@dataclass
class Context:
    """What every command needs: settings, the clock, and the database opened on first use."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)
    clock: Clock = field(default=system_clock, repr=False)

    @property
    def engine(self) -> Engine:
        """The database engine (created lazily)."""
        if self._engine is None:
            try:
                self._engine = make_engine(self.settings.database_url)
            except (ArgumentError, NoSuchModuleError, ImportError) as exc:
                raise click.ClickException(
                    f"configuration problem: AUDITBOT_DATABASE_URL: cannot open it ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}; {_URL_EXAMPLE})"
                ) from None
        return self._engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """A session factory on a migrated database; exits with the command to run if not."""
        try:
            check_migrated(self.engine)
        except NotMigrated as exc:
            raise click.ClickException(str(exc)) from None
        except DBAPIError as exc:
            raise database_unreachable(self.engine, exc) from None
        return make_sessionmaker(self.engine)

    def now(self) -> dt.datetime:
        """The current time in UTC, from the context's clock."""
        return self.clock()


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.version_option(package_name="auditbot", prog_name="auditbot", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run the case file audit programme bot and its operator commands."""
    try:
        settings = load_settings()
        check_settings(settings)
    except SettingsError as exc:
        raise click.ClickException(f"configuration problem: {exc}") from None
    ctx.obj = Context(settings)


def _register_all() -> None:
    from bot.cli import (
        alerts,
        allocate,
        db,
        doctor,
        imports,
        meetings,
        moderation,
        outbox,
        oversight,
        report,
        run,
        schedule,
        workspace,
    )

    for module in (db, imports, allocate, outbox, run, schedule, alerts, moderation, oversight, meetings, report, doctor,
                   workspace):
        module.register(cli)


def main() -> None:
    """Console-script entry point."""
    _register_all()
    sys.exit(cli.main(standalone_mode=True))
