"""Shared fixtures: every store-backed test runs on SQLite and, when configured, PostgreSQL.

PostgreSQL is used when ``AUDITBOT_TEST_POSTGRES_URL`` is set (``python3 dev.py test`` sets it
to the local server by default). If that server does not answer, the PostgreSQL variants skip
with the reason — except under ``CI=true``, where an unreachable configured server is an error.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

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


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only when the test will really run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the wall-clock runs in the background when their test is selected (not inside them).

    Under xdist the controller starts them (below), not each worker."""
    from tests import test_wall_clock

    if test_wall_clock.in_worker():
        return
    if not config.getoption("--wall-clock") and any(item.nodeid.startswith("tests/test_wall_clock.py") for item in items):
        test_wall_clock.start()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist's controller: start the wall-clock runs once, when a worker has collected their test."""
    from tests import test_wall_clock

    if any(nodeid.startswith("tests/test_wall_clock.py") for nodeid in ids):
        test_wall_clock.start(shared=test_wall_clock.shared_dir(node.workerinput["testrunuid"]))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Never leave a background wall-clock run behind (a run stopped early, -x, Ctrl+C)."""
    from tests import test_wall_clock

    test_wall_clock.stop()


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


def _admin() -> Engine:
    return create_engine(os.environ["AUDITBOT_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")


def _database_url(name: str) -> str:
    return make_url(os.environ["AUDITBOT_TEST_POSTGRES_URL"]).set(database=name).render_as_string(hide_password=False)


# Every test gets a database of its own, cloned from one migrated once per test run: PostgreSQL
# copies a template database (CREATE DATABASE ... TEMPLATE, tens of milliseconds), SQLite a
# file. Migrating each test's database afresh cost a third of a second apiece on PostgreSQL.
# tests/test_migrations.py still runs the migrations themselves on empty databases.
_TEMPLATES: dict[str, str] = {}


def _template(backend: str, tmp_root: Path) -> str:
    """The migrated template for ``backend`` (a database name, or a file path), made once."""
    if backend not in _TEMPLATES:
        if backend == "sqlite":
            path = tmp_root / f"template-{uuid.uuid4().hex[:8]}.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            engine.dispose()
            _TEMPLATES[backend] = str(path)
            atexit.register(path.unlink, missing_ok=True)
        else:
            name = f"auditbot_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = _admin()
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            engine = make_engine(_database_url(name))
            upgrade(engine)
            engine.dispose()
            _TEMPLATES[backend] = name
            atexit.register(drop_database, name)
    return _TEMPLATES[backend]


def drop_database(name: str) -> None:
    """Drop a PostgreSQL test database (what ``new_engine`` hands back to drop)."""
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def new_engine(backend: str, tmp_path: os.PathLike[str], *, migrated: bool = False) -> tuple[Engine, str | None]:
    """An engine on a database of its own: empty, or ``migrated`` to the latest schema.

    Returns the engine and, for PostgreSQL, the database to drop afterwards (``drop_database``).
    """
    folder = Path(os.fspath(tmp_path))
    if backend == "sqlite":
        path = folder / f"test-{uuid.uuid4().hex[:8]}.db"
        if migrated:
            shutil.copyfile(_template(backend, Path(tempfile.gettempdir())), path)
        return make_engine(f"sqlite:///{path}"), None
    problem = _postgres_problem()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        pytest.skip(problem)
    name = f"auditbot_t_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{_template(backend, folder)}"' if migrated else ""
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
    admin.dispose()
    return make_engine(_database_url(name)), name


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test."""
    return str(request.param)


# A PostgreSQL database a test has finished with is emptied and handed to the next test in this
# process, rather than dropped: copying the template costs PostgreSQL about 0.2 s of CPU per test
# (a third of the suite's PostgreSQL time on two cores), emptying a few milliseconds. It is dropped
# instead when it cannot be emptied at once (a lock still held) or its tables are not the template's. It
# is renamed once emptied, so a thread of the last test that is still running cannot write to the next's.
_EMPTIED: list[str] = []


@lru_cache(maxsize=1)
def _emptying_sql() -> tuple[str, int]:
    """Statements that empty a test database and restart its sequences; and how many tables it has."""
    probe = create_engine(_database_url(_template("postgresql", Path(tempfile.gettempdir()))), poolclass=NullPool)
    with probe.connect() as conn:
        tables = [str(t) for (t,) in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))]
        sequences = [str(s) for (s,) in conn.execute(text(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"))]
    probe.dispose()
    statements = [f'DELETE FROM "{table}"' for table in tables if table != "alembic_version"]
    statements += [f"SELECT setval('\"{sequence}\"', 1, false)" for sequence in sequences]
    return "; ".join(statements), len(tables)


def _take_database(tmp_path: os.PathLike[str]) -> tuple[Engine, str]:
    """An engine on an empty migrated PostgreSQL database: one emptied after an earlier test, or a new copy."""
    if _EMPTIED and not _postgres_problem():
        name = _EMPTIED.pop()
        return make_engine(_database_url(name)), name
    eng, name = new_engine("postgresql", tmp_path, migrated=True)
    assert name is not None
    return eng, name


def _give_back(name: str) -> None:
    """Empty ``name`` for the next test (its triggers off: the audit log refuses deletes), or drop it."""
    statements, table_count = _emptying_sql()
    cleaner = create_engine(_database_url(name), poolclass=NullPool)
    try:
        with cleaner.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            tables = conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar_one()
            if tables != table_count:
                raise RuntimeError(f"{tables} tables, not the template's {table_count}")
            conn.exec_driver_sql(statements)
        cleaner.dispose()
        renamed = f"auditbot_t_{uuid.uuid4().hex[:12]}"  # an engine the last test left behind cannot find it
        admin = _admin()
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{renamed}"'))
        admin.dispose()
    except Exception:  # noqa: BLE001 - whatever stops it being emptied (or renamed), a fresh copy replaces it
        cleaner.dispose()
        drop_database(name)
        return
    _EMPTIED.append(renamed)


@atexit.register
def _drop_emptied() -> None:
    while _EMPTIED:
        drop_database(_EMPTIED.pop())


@pytest.fixture
def engine(backend: str, tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    """A migrated, empty database."""
    if backend == "postgresql":
        eng, name = _take_database(tmp_path)
        yield eng
        eng.dispose()
        _give_back(name)
        return
    eng, _ = new_engine(backend, tmp_path, migrated=True)
    yield eng
    eng.dispose()


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


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's ``data/`` is its own: a relative data folder would otherwise be the checkout's."""
    monkeypatch.setenv("AUDITBOT_DATA_DIR", str(Path(tmp_path) / "data"))
