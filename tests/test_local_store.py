"""Local mode seeds and allocates demo data only in its own database (issue 12, item 2).

``auditbot run`` with no Slack credentials against a council's real store (``AUDITBOT_DATABASE_URL``
left pointing at it) must not allocate a month, queue messages or mark real ones sent to the local
workspace: it stops with one line, before anything is touched.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import _register_all, cli
from bot.local import prepare_local_store
from bot.runtime import StartupError
from bot.settings import load_settings
from store.db import make_engine, make_sessionmaker
from store.models import Allocation, AuditLog, Notification, Person
from tests.simulation import small_council

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def counts(sessions: sessionmaker[Session]) -> tuple[int, int, int]:
    with sessions() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in (Person, Allocation, Notification))  # type: ignore[return-value]


def test_run_without_credentials_on_a_store_it_did_not_create_stops_before_touching_it(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_council(session_factory)  # a real store: migrated by `auditbot db upgrade`, staff imported
    before = counts(session_factory)
    if "run" not in cli.commands:
        _register_all()
    monkeypatch.chdir(tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    env = {"AUDITBOT_DATABASE_URL": url, "AUDITBOT_PORT": "0", "AUDITBOT_LOCAL_WORKSPACE_PORT": "0"}

    result = CliRunner().invoke(cli, ["run"], env=env)

    shown = engine.url.render_as_string(hide_password=True)
    if engine.dialect.name == "sqlite":
        shown = f"sqlite:///{Path(str(engine.url.database)).resolve().as_posix()}"
    assert (result.exit_code, result.output) == (1, (
        f"Error: no Slack credentials, so this would be the local demo, but the database at {shown} was not created "
        "by it: set the Slack settings to serve it, or leave AUDITBOT_DATABASE_URL unset (the demo keeps its own "
        "database in AUDITBOT_DATA_DIR)\n"
    ))
    assert counts(session_factory) == before, "no demo council, no allocation, no message queued"
    assert not (tmp_path / "data" / "demo").exists()


def test_the_demo_seeds_the_database_it_creates_and_reuses_it(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, control_sample_size=3)
    engine = make_engine(settings.database_url)
    lines: list[str] = []
    try:
        prepare_local_store(engine, settings, now=NOW, echo=lines.append)
        prepare_local_store(engine, settings, now=NOW, echo=lines.append)  # the next `dev.py run`
        sessions = make_sessionmaker(engine)
        assert counts(sessions)[:2] == (88, 3)
        with sessions() as s:
            assert s.scalars(select(AuditLog.action).where(AuditLog.action == "local.demo_store")).all() == ["local.demo_store"]
    finally:
        engine.dispose()
    assert [line.split(":")[0] for line in lines] == [
        f"loaded the demo council from {tmp_path / 'demo'}", "allocated the demo control sample for November 2026"
    ]


def test_an_empty_store_migrated_by_an_operator_is_not_the_demos(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = load_settings(data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False))
    with pytest.raises(StartupError, match="was not created by it"):
        prepare_local_store(engine, settings, now=NOW, echo=print)
    assert counts(session_factory) == (0, 0, 0)
