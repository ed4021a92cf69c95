"""Benchmark: the Slack directory sync, in the store and through the local workspace.

Run: ``createdb -h 127.0.0.1 -U postgres bench_directory`` then
``.venv/bin/python bench/directory.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_directory
[--staff 10000] [--fan-out 1250]`` (drop the database afterwards). The database must be empty: it is migrated here.

1. ``apply_directory`` for ``--staff`` people on the database: everyone new (every row changes),
   in one call and in ``users.list`` pages of 200 plus ``forget_unseen`` (as a sync applies them),
   then the same members again (nothing changes). The floor: reading the people's Slack columns
   plus one set-based UPDATE of every row, the least any way of writing them could cost.
2. ``sync_directory`` through the local workspace (real HTTP) for ``--fan-out`` people: its
   ``users.list`` calls, per-person calls (none), and its time against the floor of fetching the
   same pages without applying them.
3. What that means on Slack, computed (not measured) from Slack's published tiers: the pages at
   Tier 2 (20+ a minute) against the old per-person path, users.lookupByEmail and
   conversations.open at Tier 3 (50+ a minute) each. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.directory import PAGE_SIZE, sync_directory
from bot.runtime import sender_client, sync_workspace_users
from bot.services.staff.directory import Member, apply_directory, forget_unseen
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from store.db import make_engine, make_sessionmaker, upgrade
from store.models import Person

TOKEN = "xoxb-bench"
NOW = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)


def row(label: str, figure: str, floor: str = "", ratio: float | None = None) -> None:
    """One line: the figure, its floor and their ratio (when it has a floor)."""
    tail = f"floor {floor:<28} ratio {ratio:5.2f}" if ratio is not None else floor
    print(f"{label:<44} {figure:<30} {tail}")


def timed(work: Callable[[], object]) -> float:
    """Seconds ``work`` takes."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def fresh_staff(sessions: sessionmaker[Session], count: int) -> None:
    """Exactly ``count`` people, none with a Slack id."""
    with sessions() as session, session.begin():
        session.execute(delete(Person))
        session.execute(insert(Person), [{"email": f"staff{n}@council.example", "display_name": f"Staff {n}", "active": True}
                                         for n in range(count)])


def store_figures(sessions: sessionmaker[Session], staff: int) -> None:
    """Part 1: applying ``staff`` members, all new and then unchanged."""
    members = [Member(f"U{n:08d}", f"staff{n}@council.example") for n in range(staff)]

    def floor() -> None:
        with sessions() as session, session.begin():
            session.execute(select(Person.id, Person.email, Person.slack_user_id, Person.slack_dm_channel)).all()
            session.execute(update(Person).values(slack_missing_since=NOW))

    def at_once() -> None:
        with sessions() as session, session.begin():
            apply_directory(session, members, NOW)

    def paged() -> None:
        for start in range(0, staff, PAGE_SIZE):
            with sessions() as session, session.begin():
                apply_directory(session, members[start : start + PAGE_SIZE], NOW)
        with sessions() as session, session.begin():
            forget_unseen(session, {m.user_id for m in members}, NOW)

    fresh_staff(sessions, staff)
    base = min(timed(floor) for _ in range(3))
    fresh_staff(sessions, staff)
    first = timed(at_once)
    again = timed(at_once)
    fresh_staff(sessions, staff)
    first_paged = timed(paged)
    again_paged = timed(paged)
    floor_text = f"read + 1 UPDATE {base:.3f} s"
    row(f"apply {staff} new, one call", f"{first:.3f} s", floor_text, first / base)
    row(f"apply {staff} unchanged, one call", f"{again:.3f} s", floor_text, again / base)
    row(f"apply {staff} new, {math.ceil(staff / PAGE_SIZE)} pages + forget", f"{first_paged:.3f} s", floor_text,
        first_paged / base)
    row(f"apply {staff} unchanged, pages + forget", f"{again_paged:.3f} s", floor_text, again_paged / base)


def workspace_figures(sessions: sessionmaker[Session], people: int) -> None:
    """Parts 2 and 3: a whole sync through the local workspace, and on Slack's tiers."""
    fresh_staff(sessions, people)
    workspace = LocalWorkspace(bot_token=TOKEN, signing_secret="bench")
    workspace.start()
    try:
        sync_workspace_users(workspace, sessions)
        client = sender_client(load_settings(), TOKEN, workspace.base_url)

        def fetch_only() -> None:
            cursor = ""
            while True:
                page = client.users_list(limit=PAGE_SIZE, **({"cursor": cursor} if cursor else {}))
                cursor = page["response_metadata"]["next_cursor"]
                if not cursor:
                    return

        base = min(timed(fetch_only) for _ in range(3))
        before = len(workspace.calls)
        took = timed(lambda: sync_directory(client, sessions, lambda: NOW))
        calls = Counter(method for method, _ in workspace.calls[before:])
    finally:
        workspace.stop()
    with sessions() as session:
        matched = len(session.scalars(select(Person.id).where(Person.slack_user_id.is_not(None))).all())
    pages = calls["users.list"]
    row(f"sync {people} people, local workspace", f"{took:.3f} s, {matched} matched", f"pages fetched only {base:.3f} s",
        took / base)
    per_person = calls["users.lookupByEmail"] + calls["conversations.open"]
    row("  Slack calls", f"{pages} users.list, {per_person} per-person", f"ceil(({people} + bot) / {PAGE_SIZE}) = {pages}")
    tier2 = max(0, pages - 20) / 20 * 60  # Tier 2: about 20 a minute, so up to 20 pages need no wait
    old = 2 * people / 50 * 60  # users.lookupByEmail then conversations.open, Tier 3 (50 a minute) each
    row("  on Slack, before the first DM (computed)", f"{pages} calls, ~{tier2:.0f} s rate-limit wait",
        f"old path {old / 60:.0f} min of lookups")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="an empty PostgreSQL database (migrated here)")
    parser.add_argument("--staff", type=int, default=10_000)
    parser.add_argument("--fan-out", type=int, default=1_250)
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    try:
        store_figures(sessions, args.staff)
        workspace_figures(sessions, args.fan_out)
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
