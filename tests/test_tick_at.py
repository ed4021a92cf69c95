"""``auditbot tick --at``: a tick at another time never stops or delays real work (issue 12, item 1).

By default it only shows what it would plan; ``--write`` plans it, but not for a future time on a
database a bot is serving; and safeguarding escalations always run at the real time.
"""

from __future__ import annotations

import datetime as dt

import click
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.cli import Context
from bot.cli import schedule as schedule_cli
from bot.scheduler.timer import make_timer
from bot.services.alerts.concerns import raise_alert
from bot.settings import load_settings
from store.heartbeats import beat, serving
from store.models import AlertUrgency, Allocation, Notification, Person, ProcessHeartbeat, SafeguardingAlert
from tests.simulation import small_council

RULES = load_settings(database_url="sqlite://")
CAL = WorkingCalendar.from_settings(RULES)
#: The real time in these tests: Monday 30 November 2026, 08:40 in London.
REAL = CAL.utc(dt.date(2026, 11, 30), dt.time(8, 40))


def tick_cli(engine: Engine, *args: str, clock: dt.datetime = REAL) -> Result:
    group = click.Group("auditbot")
    schedule_cli.register(group)
    url = engine.url.render_as_string(hide_password=False)
    context = Context(load_settings(database_url=url, control_sample_size=2), _engine=engine, clock=lambda: clock)
    return CliRunner().invoke(group, ["tick", *args], obj=context)


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_tick_at_only_shows_what_it_would_plan(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    small_council(session_factory)

    result = tick_cli(engine, "--at", "2026-12-01 09:00")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Tue 01 Dec 2026 09:00: would plan 0 preview message(s), 2 allocation(s) with 6 message(s), "
        "0 reminder(s), 0 overdue notice(s), 0 exemption reminder(s)/escalation(s)",
        "Nothing was written (a preview); add --write to plan it.",
    ]
    assert count(session_factory, Allocation) == 0
    assert count(session_factory, Notification) == 0


def test_tick_at_with_write_plans_it_when_no_bot_serves_the_database(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    small_council(session_factory)
    with session_factory() as s, s.begin():  # a bot that stopped six minutes ago no longer counts
        beat(s, "host:1:dead", kind="run", now=REAL - dt.timedelta(minutes=6))

    result = tick_cli(engine, "--at", "2026-12-01 09:00", "--write")

    assert result.exit_code == 0, result.output
    assert "planned 0 preview message(s), 2 allocation(s) with 6 message(s)" in result.output
    assert count(session_factory, Allocation) == 2


def test_a_future_tick_that_writes_is_refused_while_a_bot_serves_the_database(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    small_council(session_factory)
    with session_factory() as s, s.begin():
        beat(s, "host:1:live", kind="run", now=REAL - dt.timedelta(minutes=1))

    future = tick_cli(engine, "--at", "2026-12-01 09:00", "--write")

    assert future.exit_code == 1
    assert future.output == (
        "Error: a bot is serving this database (last seen 30 Nov 08:39): a tick at a future time would send real "
        "messages early; leave out --write to see what it would plan\n"
    )
    assert count(session_factory, Allocation) == 0
    assert count(session_factory, Notification) == 0
    preview = tick_cli(engine, "--at", "2026-12-01 09:00")  # looking is always allowed
    assert preview.exit_code == 0 and "would plan" in preview.output
    now = tick_cli(engine, "--at", "2026-11-30 08:40", "--write")  # this minute is now, not the future
    assert now.exit_code == 0, now.output


def test_a_bot_that_ticks_rarely_still_counts_as_serving(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    small_council(session_factory)
    with session_factory() as s, s.begin():
        beat(s, "host:1:slow", kind="worker", now=REAL - dt.timedelta(minutes=20))
        assert serving(s, now=REAL) == []
        assert [b.id for b in serving(s, now=REAL, tick_interval=dt.timedelta(minutes=10))] == ["host:1:slow"]


def test_a_future_tick_never_escalates_a_safeguarding_alert_early(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    """The README's walkthrough: a concern raised at 08:40, then `tick --at "2026-12-01 08:30" --write`
    on a database no bot serves. The alert is escalated 30 real minutes after raising, not before."""
    emails = small_council(session_factory)
    with session_factory() as s, s.begin():
        raiser = s.scalar(select(Person).where(Person.email == emails["Sid Manager"]))
        outcome = raise_alert(s, raiser, "CMS-100", AlertUrgency.IMMEDIATE, "Visit today", RULES, now=REAL, actor_ref="test")
        assert outcome.alert is not None, outcome.errors

    future = tick_cli(engine, "--at", "2026-12-01 08:30", "--write", clock=REAL + dt.timedelta(minutes=1))

    assert future.exit_code == 0, future.output
    with session_factory() as s:
        alert = s.scalars(select(SafeguardingAlert)).one()
        assert alert.escalation_level == 0, "not escalated at the fake time"
    due = tick_cli(engine, clock=REAL + dt.timedelta(minutes=31))  # the bot's own tick, at the real time
    assert due.exit_code == 0, due.output
    with session_factory() as s:
        assert s.scalars(select(SafeguardingAlert)).one().escalation_level == 1


def test_the_timer_records_its_heartbeat_and_removes_it_on_shutdown(session_factory: sessionmaker[Session]) -> None:
    small_council(session_factory)
    synced: list[bool] = []
    scheduler = make_timer(session_factory, RULES, CAL, clock=lambda: REAL, kind="worker",
                           before_tick=lambda: synced.append(True))
    (job,) = scheduler.get_jobs()
    job.func()
    job.func()
    assert synced == [True, True], "local mode's account sync runs before every tick"
    with session_factory() as s:
        (row,) = serving(s, now=REAL)
        assert (row.kind, row.started_at, row.seen_at) == ("worker", REAL, REAL)
    scheduler.start(paused=True)
    scheduler.shutdown(wait=False)
    assert count(session_factory, ProcessHeartbeat) == 0
