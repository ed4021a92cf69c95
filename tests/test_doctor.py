"""``auditbot doctor``: who the programme cannot reach or route, listed before the month starts."""

from __future__ import annotations

import datetime as dt

import click
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import Context
from bot.cli import doctor as doctor_cli
from bot.settings import load_settings
from store.models import Role
from tests.allocation_fixtures import Council


def run(engine: Engine) -> tuple[int, str]:
    group = click.Group("auditbot")
    doctor_cli.register(group)
    context = Context(load_settings(database_url=engine.url.render_as_string(hide_password=False)), _engine=engine)
    result = CliRunner().invoke(group, ["doctor"], obj=context)
    return result.exit_code, result.output


def test_doctor_lists_who_cannot_be_routed_or_reached(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        boss = c.person("Bea Boss")
        c.auditor("Ann Auditor", line_manager=boss)  # no approver anywhere, no Strategic Lead, no QA team
        gone = c.auditor("Lou Lost", line_manager=c.person("Old Manager", active=False))
        gone.slack_missing_since = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    code, output = run(engine)
    assert code == 1
    assert output.splitlines() == [
        "auditors whose exemption requests would reach nobody: 2",
        "  Ann Auditor <ann.auditor@council.example>",
        "  Lou Lost <lou.lost@council.example>",
        "auditors with no active line manager (reminders copy nobody): 1",
        "  Lou Lost <lou.lost@council.example>",
        "people Slack did not know when last messaged: 1",
        "  Lou Lost <lou.lost@council.example>",
    ]


def test_doctor_is_quiet_and_exits_0_when_everyone_is_routed(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c = Council(s)
        ad = c.person("Amy Director", Role.ASSISTANT_DIRECTOR, line_manager=c.person("Dan Director"))
        c.auditor("Ann Auditor", line_manager=ad)
    code, output = run(engine)
    assert (code, output.splitlines()) == (0, [
        "auditors whose exemption requests would reach nobody: 0",
        "auditors with no active line manager (reminders copy nobody): 0",
        "people Slack did not know when last messaged: 0",
    ])
