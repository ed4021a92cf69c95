"""Benchmark: planning and committing a month's allocations at council scale (the issue on planning speed).

Run: ``.venv/bin/python bench/allocation.py [--database-url URL] [--sizes 1000,10000] [--history 6000]
[--no-memory]`` (the URL names an empty database, e.g. one made with ``createdb``; without one, a SQLite
file in a temporary folder).

Builds ``bench/council.py``'s council (9,902 staff, 300 auditors, 100,000 cases) with ``--history``
completed allocations over the past year (so the rolling-year load and the re-sampling rule bite) and
three auditors on an approved break, then for each control sample size: times ``plan_allocation``
(every rule on: own team, line reports, yearly limit raised to 100 so a 10,000-case sample can be
placed, breaks, recent cases left out), then ``commit_allocation`` of that plan (allocations and
outbox rows), rolled back so each size starts from the same store. Prints each time beside its floor
(1 s for 1,000 cases, 10 s for 10,000: the issue's goals) and their ratio (floor ÷ time: 1.00 or more
is within it), and the planner's peak traced memory (a second, untimed run under tracemalloc).
Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import tracemalloc
from pathlib import Path

from council import populate_council  # bench/council.py: this script's own folder is on the path
from sqlalchemy import insert

from bot.services.allocation.service import AllocationRequest, commit_allocation, plan_allocation
from bot.settings import load_settings
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import AuditBreak, BreakState

MONTH = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
FLOOR_PER_CASE = 1.0 / 1_000


def row(label: str, seconds: float, floor: float, extra: str = "") -> None:
    """One line: the time, the floor and their ratio (floor ÷ time: 1.00 or more is within it)."""
    print(f"{label:<44} {seconds:8.2f} s   floor {floor:4.0f} s   ratio {floor / max(seconds, 1e-9):6.2f}   {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database (default: SQLite in a temporary folder)")
    parser.add_argument("--sizes", default="1000,10000", help="control sample sizes, comma-separated")
    parser.add_argument("--history", type=int, default=6_000, help="completed allocations over the past year")
    parser.add_argument("--no-memory", action="store_true", help="skip the traced (untimed) run for peak memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp)}/bench.db")
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        began = time.perf_counter()
        council = populate_council(sessions, history=args.history, until=MONTH)
        with sessions() as s, s.begin():
            s.execute(insert(AuditBreak), [{"person_id": p, "month": MONTH, "state": BreakState.APPROVED, "reason": "leave",
                                            "requested_at": NOW} for p in council.auditor_ids[:3]])
        print(f"{engine.url.get_backend_name()}: {council.staff} staff, {len(council.auditor_ids)} auditors, "
              f"{council.cases} cases, {args.history} past allocations inserted in {time.perf_counter() - began:.1f} s")
        settings = load_settings(database_url=engine.url.render_as_string(hide_password=False), max_audits_per_year=100)
        for size in (int(n) for n in args.sizes.split(",")):
            floor = size * FLOOR_PER_CASE
            request = AllocationRequest(month=MONTH, control=size, seed=7)
            with sessions() as session, session.begin():
                began = time.perf_counter()
                plan = plan_allocation(session, request, settings, now=NOW)
                row(f"plan {size:,} of 100,000 cases", time.perf_counter() - began, floor,
                    f"{len(plan.items)} planned, {len(plan.unallocated)} unallocated")
                began = time.perf_counter()
                result = commit_allocation(session, plan, now=NOW)
                session.flush()
                row(f"commit {size:,} (allocations and outbox rows)", time.perf_counter() - began, floor,
                    f"{result.created} created, {result.messages} messages")
                session.rollback()
            if not args.no_memory:
                with sessions() as session:
                    tracemalloc.start()
                    plan_allocation(session, request, settings, now=NOW)
                    peak = tracemalloc.get_traced_memory()[1]
                    tracemalloc.stop()
                print(f"{'  peak traced memory while planning':<44} {peak / 2**20:8.1f} MiB")
        engine.dispose()


if __name__ == "__main__":
    main()
