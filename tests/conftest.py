"""Shared fixtures: every store-backed test runs on SQLite and, when configured, PostgreSQL.

PostgreSQL is used when ``AUDITBOT_TEST_POSTGRES_URL`` is set (``python3 dev.py test`` sets it
to the local server by default). If that server does not answer, the PostgreSQL variants skip
with the reason — except under ``CI=true``, where an unreachable configured server is an error.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from functools import lru_cache

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from store.db import make_engine, make_sessionmaker, upgrade

BACKENDS = ["sqlite", "postgresql"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--wall-clock",
        metavar="YYYY-MM-DD[THH:MM]",
        default=None,
        help="move the machine's clock (as every library sees it) to this UTC moment for the whole run, "
        "to show that no test depends on the date it runs on",
    )


def pytest_configure(config: pytest.Config) -> None:
    when = config.getoption("--wall-clock")
    if when:
        import time_machine

        moment = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
        traveller = time_machine.travel(moment, tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)
        moved = dt.datetime.now(dt.UTC)
        if abs(moved - moment) > dt.timedelta(hours=1):
            raise pytest.UsageError(f"--wall-clock: the clock reads {moved:%Y-%m-%d %H:%M}, not {when}")


def pytest_report_header(config: pytest.Config) -> str | None:
    when = config.getoption("--wall-clock")
    return f"wall clock moved to {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC" if when else None


@lru_cache(maxsize=1)
def _postgres_problem() -> str | None:
    url = os.environ.get("AUDITBOT_TEST_POSTGRES_URL", "")
    if not url:
        return "PostgreSQL variant skipped: AUDITBOT_TEST_POSTGRES_URL is not set"
    try:
        probe = create_engine(url)
        with probe.connect() as conn:
            conn.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is reported as the reason
        return f"PostgreSQL variant skipped: cannot connect to {url}: {type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _pg_engine_for_new_schema() -> tuple[Engine, str]:
    url = os.environ["AUDITBOT_TEST_POSTGRES_URL"]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    return engine, schema


def _drop_schema(schema: str) -> None:
    admin = create_engine(os.environ["AUDITBOT_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def new_engine(backend: str, tmp_path: os.PathLike[str]) -> tuple[Engine, str | None]:
    """An engine on an empty database of ``backend`` (and the PostgreSQL schema to drop)."""
    if backend == "sqlite":
        return make_engine(f"sqlite:///{os.fspath(tmp_path)}/test-{uuid.uuid4().hex[:8]}.db"), None
    problem = _postgres_problem()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        pytest.skip(problem)
    return _pg_engine_for_new_schema()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return str(request.param)


@pytest.fixture
def engine(backend: str, tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    """A migrated, empty database."""
    eng, schema = new_engine(backend, tmp_path)
    upgrade(eng)
    yield eng
    eng.dispose()
    if schema:
        _drop_schema(schema)


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory on the migrated test database."""
    return make_sessionmaker(engine)


@pytest.fixture
def now() -> dt.datetime:
    """A fixed 'now': Monday 30 November 2026, 09:00 UTC."""
    return dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


# Scenario fixtures (a small council, the local workspace, a running bot with a fake clock),
# shared by the scenario test modules; a module may override any of them.
from tests.simulation import emails, settings, sim, workspace  # noqa: E402, F401
