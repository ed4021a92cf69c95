"""``auditbot run``: the bot, against Slack or (with no credentials) the local workspace."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bot.calendar import CalendarError
from bot.cli import Context, database_unreachable, pass_context
from bot.logs import configure, log_level_option
from bot.runtime import StartupError, start_runtime
from store.db import NotMigrated


def register(group: click.Group) -> None:
    """Add the ``run`` command."""

    @group.command("run")
    @log_level_option
    @pass_context
    def run(ctx: Context, log_level: str) -> None:
        """Run the bot until interrupted."""
        configure(log_level)
        settings = ctx.settings
        prepare: Callable[[Engine], None] | None = None
        if settings.local_mode:
            from bot.local import prepare_local_store

            def seed(engine: Engine) -> None:  # once the ports are bound: nothing is seeded for a bot that can't start
                prepare_local_store(engine, settings, now=ctx.now(), echo=click.echo)

            prepare = seed

        try:
            runtime = start_runtime(settings, engine=ctx.engine, prepare=prepare)
        except StartupError as exc:
            raise click.ClickException(str(exc)) from None
        except NotMigrated as exc:
            raise click.ClickException(str(exc)) from None
        except CalendarError as exc:  # normally caught with the other settings before any command runs
            raise click.ClickException(f"configuration problem: {exc}") from None
        except DBAPIError as exc:
            raise database_unreachable(ctx.engine, exc) from None
        except OSError as exc:
            raise click.ClickException(f"could not start: {exc}") from None
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        assert runtime.server is not None
        if runtime.workspace is not None:
            from bot.local import describe_local

            click.echo(describe_local(runtime))
        else:
            mode = "Socket Mode" if runtime.socket_handler is not None else f"HTTP on {runtime.server.url}/slack/events"
            click.echo(f"auditbot connected to Slack ({mode}); health check at {runtime.server.url}/healthz")
        try:
            stop.wait()
        finally:
            click.echo("stopping…")
            runtime.stop()
