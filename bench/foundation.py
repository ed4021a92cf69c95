"""Benchmarks for the foundation: import, allocation planning, and outbox fan-out.

Run: ``.venv/bin/python bench/foundation.py [--database-url URL] [--messages 1000]``.
Prints wall-clock times and peak memory; nothing here is asserted (tests never time things).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from bot.delivery.sender import BULK_LANE, OutboxSender
from bot.runtime import sender_client, sync_workspace_users
from bot.services.allocation.service import allocate
from bot.services.allocation.types import AllocationRequest
from bot.services.staff.demo import generate_demo, load_demo
from bot.services.staff.importer import import_cases
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import Person, Priority
from store.outbox import enqueue

T = TypeVar("T")
NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def measure(label: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` once, printing its wall time and peak traced memory."""
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<48} {elapsed:8.2f} s   peak {peak / 2**20:7.1f} MiB")
    return result


def main() -> None:
    """Run the three benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = make_engine(args.database_url or f"sqlite:///{folder}/bench.db")
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        generate_demo(folder / "demo")
        measure("import demo council (88 staff, 500 cases)", lambda: load_demo(sessions, folder / "demo", now=NOW))

        big = folder / "big_cases.csv"
        with (folder / "demo" / "cases.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        with big.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            for n in range(args.cases):
                row = dict(rows[n % len(rows)])
                row["case_reference"] = f"BIG-{n:07d}"
                writer.writerow(row)
        measure(f"import {args.cases:,} cases", lambda: import_cases(sessions, big, now=NOW))

        settings = load_settings(database_url=str(engine.url))
        request = AllocationRequest(month=dt.date(2026, 12, 1), control=40, seed=1)
        measure("plan + commit a 40-case control sample", lambda: allocate(sessions, request, settings, now=NOW, preview=False))

        workspace = LocalWorkspace(bot_token="xoxb-bench", signing_secret="s", channel_rate_per_sec=None)
        workspace.start()
        try:
            sync_workspace_users(workspace, sessions)
            with sessions() as session, session.begin():
                ids = list(session.scalars(select(Person.id).where(Person.active.is_(True))))
                for n in range(args.messages):
                    enqueue(
                        session,
                        key=f"bench:{n}",
                        template="error",
                        context={"message": f"benchmark message {n}", "reference": None},
                        now=NOW,
                        recipient_id=ids[n % len(ids)],
                        priority=Priority.BULK,
                    )
            sender = OutboxSender(sessions, sender_client(settings, "xoxb-bench", workspace.base_url), worker_id="bench",
                                  lane=BULK_LANE)
            outcome = measure(f"send {args.messages:,} queued messages (one sender)", lambda: sender.drain(NOW))
            print(f"  sent {outcome.sent}, failed {outcome.failed}")
        finally:
            workspace.stop()
        engine.dispose()


if __name__ == "__main__":
    main()
