"""The PostgreSQL pool: a connection idle a while is pinged before use, one used a moment ago is not,
and a connection the server has dropped is replaced before a unit of work meets it. On both: a connection
used in autocommit (a request's receipt) goes back to the pool transactional."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.pool import NullPool

import store.db
from store.models import Person, RequestReceipt
from store.receipts import first_receipt


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no server connection to lose: its engine pings nothing")
    return engine


def counted_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def do_ping(dbapi_conn: Any) -> bool:
        pings.append(1)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return pings


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_back_a_moment_ago_is_not_pinged_one_idle_longer_is(pg: Engine, monkeypatch) -> None:
    pings = counted_pings(pg, monkeypatch)
    first = backend_pid(pg)
    monkeypatch.setattr(store.db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    assert backend_pid(pg) == first and pings == [], "the same connection, handed out without a round trip"

    monkeypatch.setattr(store.db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert backend_pid(pg) == first and pings == [1], "idle past the threshold: pinged, alive, kept"


def test_a_connection_the_server_dropped_is_replaced_before_the_unit_of_work_uses_it(pg: Engine, monkeypatch) -> None:
    first = backend_pid(pg)  # now idle in the pool
    outside = create_engine(pg.url, poolclass=NullPool)
    with outside.begin() as conn:  # the database restarts, or a proxy drops idle connections
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    outside.dispose()
    monkeypatch.setattr(store.db, "PING_AFTER_IDLE_SECONDS", 0.0)

    with pg.connect() as conn:
        assert conn.execute(select(Person.id)).all() == []
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first


def test_a_connection_used_in_autocommit_goes_back_to_the_pool_transactional(engine: Engine) -> None:
    """The request receipt is inserted in autocommit; the next unit on that connection is one transaction again."""
    sessions = store.db.make_sessionmaker(engine)
    now = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    with sessions() as session:
        assert first_receipt(session, "k:1", now=now)

    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        session.execute(insert(RequestReceipt).values(key="k:2", received_at=now))
        raise RuntimeError("the unit fails")

    with sessions() as session:
        assert session.scalars(select(RequestReceipt.key)).all() == ["k:1"], "k:2 was rolled back with its unit"
    if engine.dialect.name == "sqlite":
        connection = engine.raw_connection()
        assert connection.driver_connection.isolation_level is None, "pysqlite's own implicit BEGIN stays off"
        connection.close()
