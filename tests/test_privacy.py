"""No child-identifying data reaches the store or any message, even when the import file has it."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from sqlalchemy import Engine, String, Text, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.blockkit import validate_message
from bot.ids import Template
from bot.render import render
from bot.services.allocation.service import allocate
from bot.services.allocation.types import AllocationRequest
from bot.services.staff.demo import generate_demo, load_demo
from bot.settings import load_settings
from store.models import Notification

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def test_case_system_extras_never_reach_the_store_or_a_message(
    session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    _, cases_csv = generate_demo(folder, with_case_system_extras=True)
    with cases_csv.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    secrets = {r["child_name"] for r in rows} | {r["date_of_birth"] for r in rows}
    surnames = {r["child_name"].split()[-1] for r in rows}
    assert len(secrets) > 500

    _, report = load_demo(session_factory, folder, now=NOW)
    assert any("child_name, date_of_birth ignored" in w for w in report.warnings)
    allocate(session_factory, AllocationRequest(month=dt.date(2026, 12, 1), control=40), load_settings(), now=NOW, preview=False)

    # Every text column of every table.
    inspector = inspect(engine)
    text_columns = {
        table: [
            c["name"]
            for c in inspector.get_columns(table)
            if isinstance(c["type"], String | Text) or c["name"] in ("context", "detail")
        ]
        for table in inspector.get_table_names()
    }
    with engine.connect() as conn:
        for table, columns in text_columns.items():
            for column in columns:
                for (value,) in conn.execute(text(f'SELECT "{column}" FROM "{table}"')):
                    blob = value if isinstance(value, str) else json.dumps(value)
                    assert not any(s in blob for s in surnames), f"{table}.{column} holds a child's name"

    # Every message the outbox would send, rendered.
    with session_factory() as session:
        notifications = session.scalars(select(Notification)).all()
    assert len(notifications) == 120
    for n in notifications:
        payload = render(Template(n.template), n.context)
        assert validate_message(payload) == []
        dumped = json.dumps(payload)
        assert not any(s in dumped for s in secrets | surnames)
        assert not {"child_name", "date_of_birth", "dob"} & set(json.dumps(n.context).replace('"', " ").split())
