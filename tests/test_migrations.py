"""The one migration history works on both backends and matches the models."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SAWarning

from store.db import NotMigrated, check_migrated
from store.models import Base
from tests.conftest import new_engine


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite cannot reflect an index on an expression (lower(email)); it is checked below
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index", UserWarning)
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
            from tests.conftest import drop_database

            drop_database(schema)


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
        with pytest.raises(DBAPIError, match="append-only"), session_factory() as session, session.begin():
            session.execute(statement)
    with session_factory() as session:
        assert [(e.action, e.outcome) for e in session.scalars(select(AuditLog))] == [("allocation.commit", "ok")]


def test_emails_are_one_person_whatever_their_case(session_factory) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from store.models import Person

    with session_factory() as session, session.begin():
        session.add(Person(email=" Jane.Doe@Council.Example ", display_name="Jane Doe"))
    with session_factory() as session:
        assert session.scalars(text("select email from people")).all() == ["jane.doe@council.example"]
    # the database itself refuses a second one, whatever writes it
    with pytest.raises(IntegrityError), session_factory() as session, session.begin():
        session.execute(text("insert into people (email, display_name, job_title, active) "
                             "values ('JANE.DOE@council.example', 'J', '', true)"))


def test_the_email_migration_lowercases_and_refuses_clashes(backend: str, tmp_path) -> None:
    from sqlalchemy import text

    from store.db import upgrade
    from tests.conftest import drop_database

    insert = "insert into people (email, display_name, job_title, active) values (:e, 'X', '', true)"
    for emails, clash in ((["Jane.Doe@Council.Example", "sam@council.example"], False),
                          (["Jane.Doe@council.example", "jane.doe@council.example"], True)):
        eng, schema = new_engine(backend, tmp_path)
        try:
            upgrade(eng, "0006")
            with eng.begin() as conn:
                for email in emails:
                    conn.execute(text(insert), {"e": email})
            if clash:
                with pytest.raises(RuntimeError, match=r"more than one person when case is ignored.*jane\.doe@council\.example"):
                    upgrade(eng)
            else:
                upgrade(eng)
                with eng.connect() as conn:
                    stored = conn.scalars(text("select email from people order by email")).all()
                assert stored == ["jane.doe@council.example", "sam@council.example"]
        finally:
            eng.dispose()
            if schema:
                drop_database(schema)


def test_database_errors_never_carry_what_was_typed(session_factory) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as caught, session_factory() as session, session.begin():
        session.execute(text("insert into no_such_table (note) values (:note)"), {"note": "child seen at home ZXQ"})
    assert "ZXQ" not in str(caught.value)
