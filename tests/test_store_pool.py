"""The PostgreSQL pool: a connection idle a while is pinged before use, one used a moment ago is not,
and a connection the server has dropped is replaced before a unit of work meets it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.pool import NullPool

import store.db
from store.models import Person


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
