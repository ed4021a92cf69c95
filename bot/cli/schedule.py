"""``auditbot tick``, ``auditbot worker`` and ``auditbot month``: the cycle without the chat."""

from __future__ import annotations

import datetime as dt
import signal
import threading

import click

from bot.calendar import CalendarError, WorkingCalendar
from bot.cli import Context, pass_context
from bot.logs import configure, log_level_option
from bot.scheduler.tick import tick
from bot.services.allocation.rules import RequestError, parse_month
from bot.services.allocation.types import describe_request
from bot.services.cycle.months import UNSET, month_status, set_month
from store.heartbeats import serving


def _calendar(ctx: Context) -> WorkingCalendar:
    try:
        return WorkingCalendar.from_settings(ctx.settings)
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from None


def _month(text: str) -> dt.date:
    try:
        return parse_month(text)
    except RequestError as exc:
        raise click.BadParameter(str(exc), param_hint="MONTH") from None


#: ``--at`` within this of the real time counts as now (the operator typed this minute).
_SAME_MINUTE = dt.timedelta(minutes=1)


def _local_time(calendar: WorkingCalendar, text: str) -> dt.datetime:
    try:
        local = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time like 2026-12-01 08:30", param_hint="--at") from None
    if local.tzinfo is not None:
        raise click.BadParameter(f"{text!r}: give the local time without a zone, like 2026-12-01 08:30", param_hint="--at")
    return calendar.utc(local.date(), local.time())


def register(group: click.Group) -> None:
    """Add ``tick``, ``worker`` and ``month``."""

    @group.command("tick")
    @click.option("--at", "at_text", metavar='"YYYY-MM-DD HH:MM"', help="Local time to tick at (default: now).")
    @click.option("--write", is_flag=True,
                  help="With --at: really plan the work (refused for a future time while a bot serves this database).")
    @pass_context
    def tick_command(ctx: Context, at_text: str | None, write: bool) -> None:
        """Plan what is due once, as the scheduler would (messages go to the outbox).

        With --at it only shows what it would plan, unless --write. Safeguarding escalations
        always run at the real time, whatever --at says.
        """
        calendar = _calendar(ctx)
        real_now = ctx.now()
        if not at_text:
            report = tick(ctx.sessions, ctx.settings, calendar, real_now)
        else:
            at = _local_time(calendar, at_text)
            if write and at > real_now + _SAME_MINUTE:
                with ctx.sessions() as session:
                    bots = serving(session, now=real_now, tick_interval=dt.timedelta(seconds=ctx.settings.tick_interval_seconds))
                if bots:
                    raise click.ClickException(
                        f"a bot is serving this database (last seen {calendar.local(bots[0].seen_at):%d %b %H:%M}): "
                        f"a tick at a future time would send real messages early; leave out --write to see what it would plan"
                    )
            report = tick(ctx.sessions, ctx.settings, calendar, at, real_now=real_now, dry_run=not write)
        click.echo(report.summary())
        if report.dry_run:
            click.echo("Nothing was written (a preview); add --write to plan it.")
        if report.errors:
            raise SystemExit(1)

    @group.command("worker")
    @log_level_option
    @pass_context
    def worker(ctx: Context, log_level: str) -> None:
        """Run only the scheduler and the outbox senders (no HTTP), e.g. beside web processes."""
        from bot.runtime import make_home_publisher, make_senders, start_background

        configure(log_level)
        settings = ctx.settings
        if settings.local_mode or settings.slack_bot_token is None:
            raise click.ClickException("auditbot worker needs Slack credentials; "
                                       "locally, `auditbot run` already runs the scheduler")
        _calendar(ctx)
        token = settings.slack_bot_token.get_secret_value()
        homes = make_home_publisher(settings, ctx.sessions, token, settings.slack_api_url, ctx.now)
        senders = make_senders(settings, ctx.sessions, token, settings.slack_api_url, homes=homes)
        runner, timer = start_background(settings, ctx.sessions, senders, ctx.now, kind="worker")
        homes.start()
        click.echo(f"auditbot worker ticking every {settings.tick_interval_seconds}s; Ctrl+C to stop")
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        timer.shutdown(wait=False)
        runner.stop()
        homes.stop()

    @group.group("month")
    def month() -> None:
        """A month of the programme: its figures, theme and pause."""

    @month.command("show")
    @click.argument("month_text", metavar="YYYY-MM")
    @click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), metavar="YYYY-MM-DD",
                  help="The figures as they stood on this day (default today), e.g. after a month driven with tick --at.")
    @pass_context
    def show(ctx: Context, month_text: str, as_of: dt.datetime | None) -> None:
        """Completion figures, non-completions and audit breaks for a month."""
        wanted = _month(month_text)
        today = as_of.date() if as_of is not None else _calendar(ctx).local_date(ctx.now())
        with ctx.sessions() as session:
            status = month_status(session, wanted, today=today, tz=ctx.settings.tz)
        click.echo(f"{wanted:%B %Y}" + (" (paused)" if status.paused else "")
                   + (f" — theme: {status.theme}" if status.theme else ""))
        exempted = f"exempted {status.exempted}" + (f" ({status.reallocated} reallocated)" if status.exempted else "")
        click.echo(
            f"allocated {status.allocated}, completed {status.completed} ({status.completion_rate}; "
            f"{status.completed_late} late), open {status.open}, overdue {status.overdue}, {exempted}"
            + (f", {status.not_owed} no longer owed" if status.not_owed else "")
        )
        click.echo(f"non-completions: {status.non_completions}")
        names = ", ".join(name for name, _ in status.breaks) or "none"
        click.echo(f"audit breaks ({len(status.breaks)}): {names}")
        if status.prepared is not None:
            click.echo(
                f"prepared for the first working day: {describe_request(status.prepared.request)} "
                f"(by {status.prepared.prepared_by}, {_calendar(ctx).local(status.prepared.prepared_at):%d %b %Y %H:%M})"
            )

    @month.command("set")
    @click.argument("month_text", metavar="YYYY-MM")
    @click.option("--theme", help="The month's theme ('' to clear).")
    @click.option("--thematic", "thematic_filter", metavar="FILTER",
                  help="Standing thematic filter, e.g. type=CP,CIN ('' to clear).")
    @click.option("--pause/--resume", "paused", default=None, help="Pause the programme for the month, or resume it.")
    @pass_context
    def set_command(ctx: Context, month_text: str, theme: str | None, thematic_filter: str | None, paused: bool | None) -> None:
        """Set a month's theme, standing thematic filter, or pause."""
        wanted = _month(month_text)
        try:
            with ctx.sessions() as session, session.begin():
                row = set_month(
                    session, wanted, _calendar(ctx), now=ctx.now(), actor_ref="cli",
                    theme=UNSET if theme is None else (theme or None),
                    thematic_filter=UNSET if thematic_filter is None else (thematic_filter or None),
                    paused=paused,
                )
                line = f"{wanted:%B %Y}: theme {row.theme or 'none'}, thematic filter {row.thematic_filter or 'none'}, " + (
                    "PAUSED: nothing is allocated or chased" if row.paused else "running"
                )
        except RequestError as exc:
            raise click.BadParameter(str(exc), param_hint="--thematic") from None
        click.echo(line)
