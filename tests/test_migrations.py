"""The one migration history works on both backends and matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from store.db import NotMigrated, check_migrated
from store.models import Base
from tests.conftest import new_engine


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    check_migrated(engine)  # does not raise
    assert "notifications" in inspect(engine).get_table_names()


def test_unmigrated_database_is_refused_with_the_command_to_run(backend: str, tmp_path) -> None:
    eng, schema = new_engine(backend, tmp_path)
    try:
        with pytest.raises(NotMigrated, match="run `auditbot db upgrade` first"):
            check_migrated(eng)
    finally:
        eng.dispose()
        if schema:
            from tests.conftest import _drop_schema

            _drop_schema(schema)


def test_the_audit_log_refuses_updates_and_deletes(session_factory) -> None:
    import datetime as dt

    from sqlalchemy import delete, select, update
    from sqlalchemy.exc import DBAPIError

    from store.audit import record
    from store.models import AuditLog

    now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    with session_factory() as session, session.begin():
        record(session, now=now, action="allocation.commit", actor_ref="cli")
    for statement in (update(AuditLog).values(outcome="changed"), delete(AuditLog)):
        with pytest.raises(DBAPIError, match="append-only"):
            with session_factory() as session, session.begin():
                session.execute(statement)
    with session_factory() as session:
        assert [(e.action, e.outcome) for e in session.scalars(select(AuditLog))] == [("allocation.commit", "ok")]
