"""Engines, sessions and migrations. Nothing is created at import time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CursorResult, Engine, Result, create_engine, event, exc, inspect
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"

#: A pooled PostgreSQL connection back from use within this many seconds is handed out as it is;
#: one idle longer is pinged first (a database restart or an idle timeout is found before a unit of
#: work meets it). Pinging every checkout cost a round trip per unit of work, a seventh of a tick.
PING_AFTER_IDLE_SECONDS = 5.0


def changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE statement touched (0 when the driver does not say).

    ``Session.execute`` is typed as returning a plain ``Result``; for a DML statement it is a ``CursorResult``."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)


class NotMigrated(Exception):
    """The database schema is not at the latest migration."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and write-locking transactions.

    Errors never carry their statement's parameters (a typed note would reach the log).
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "checkin")
        def _sqlite_checkin(dbapi_conn: Any, _record: Any) -> None:
            if dbapi_conn is not None:  # an autocommit connection's reset leaves pysqlite's own implicit BEGIN on
                dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front so two processes never interleave read-then-write (an autocommit
            # connection has no transaction: its one statement is atomic on its own).
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use when it has been idle ``PING_AFTER_IDLE_SECONDS``; a dead
    one is discarded and a new one taken in its place. A connection that fails within
    those seconds of its last use is found by the statement that meets it: SQLAlchemy then discards
    the whole pool, so a restart costs at most one unit of work per process."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError("a pooled connection no longer answers") from error


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One short transaction: commit on success, roll back on error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to ``engine`` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def sqlite_file(engine: Engine) -> Path | None:
    """The file of a SQLite database (None for another backend or an in-memory one)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return None
    return Path(engine.url.database)


def describe(engine: Engine) -> str:
    """The database's URL for people: the absolute file for SQLite, no password."""
    path = sqlite_file(engine)
    return f"sqlite:///{path.resolve().as_posix()}" if path is not None else engine.url.render_as_string(hide_password=True)


def has_schema(engine: Engine) -> bool:
    """True when the database has been migrated at least once (without creating a SQLite file)."""
    path = sqlite_file(engine)
    if path is not None and not path.exists():
        return False
    return inspect(engine).has_table("alembic_version")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creating a SQLite file's folder first)."""
    path = sqlite_file(engine)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(engine), revision)


def check_migrated(engine: Engine) -> None:
    """Raise NotMigrated with the command to run when the schema is behind."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    path = sqlite_file(engine)
    if path is not None and not path.exists():  # connecting would create an empty file
        raise NotMigrated(f"there is no database at {describe(engine)}: run `auditbot db upgrade` first "
                          "(or set AUDITBOT_DATA_DIR or AUDITBOT_DATABASE_URL to the one you meant)")
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        state = "has no tables yet" if current is None else f"is at migration {current}, not {head}"
        raise NotMigrated(f"the database at {describe(engine)} {state}: run `auditbot db upgrade` first")
