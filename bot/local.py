"""Local mode: with no Slack credentials, ``auditbot run`` is a self-contained demo.

It migrates the database, loads the demo council the first time, allocates this month's
control sample if nothing is allocated yet, and runs against the local workspace. It does so
only in a database of its own: one it created (the audit log says so), never one that was
migrated by anything else, which may be a council's real store with real messages queued.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import joinedload

from bot.calendar import WorkingCalendar
from bot.runtime import Runtime, StartupError
from bot.services.allocation.rules import add_months, last_day
from bot.services.allocation.service import allocate
from bot.services.allocation.types import AllocationRequest
from bot.services.staff.demo import generate_demo, load_demo
from bot.settings import Settings
from store.audit import record
from store.db import describe, has_schema, make_sessionmaker, upgrade
from store.models import Allocation, AuditLog, Case, Person

#: The audit log's actor for everything local mode does to its own database.
DEMO_ACTOR = "local-demo"


def prepare_local_store(engine: Engine, settings: Settings, *, now: dt.datetime, echo: Callable[[str], None]) -> None:
    """Migrate, and seed the demo council and this month's allocation when the store is empty.

    Raises StartupError for a database local mode did not create."""
    sessions = make_sessionmaker(engine)
    created = not has_schema(engine)
    if not created:
        with sessions() as session:
            ours = session.scalar(select(AuditLog.id).where(AuditLog.actor_ref == DEMO_ACTOR).limit(1)) is not None
        if not ours:
            raise StartupError(
                f"no Slack credentials, so this would be the local demo, but the database at {describe(engine)} "
                "was not created by it: set the Slack settings to serve it, or leave AUDITBOT_DATABASE_URL unset "
                "(the demo keeps its own database in AUDITBOT_DATA_DIR)"
            )
    upgrade(engine)
    if created:
        with sessions() as session, session.begin():
            record(session, now=now, action="local.demo_store", actor_ref=DEMO_ACTOR, detail={"database": describe(engine)})
    with sessions() as session:
        people = session.scalar(select(func.count()).select_from(Person)) or 0
        allocations = session.scalar(select(func.count()).select_from(Allocation)) or 0
    if people == 0:
        folder = settings.data_dir / "demo"
        generate_demo(folder)
        staff, cases = load_demo(sessions, folder, now=now)
        echo(f"loaded the demo council from {folder}: {staff.created} staff, {cases.created} cases")
    if allocations == 0:
        month = demo_month(WorkingCalendar.from_settings(settings), now.astimezone(settings.tz).date())
        request = AllocationRequest(month=month, control=settings.control_sample_size)
        _, result = allocate(sessions, request, settings, now=now, preview=False, actor_ref=DEMO_ACTOR)
        assert result is not None
        echo(f"allocated the demo control sample for {month:%B %Y}: {result.created} cases, {result.messages} messages queued")


#: The demo allocates a month whose deadline leaves at least this many working days.
DEMO_WORKING_DAYS_LEFT = 5


def demo_month(calendar: WorkingCalendar, today: dt.date) -> dt.date:
    """This month, or next month when this one's deadline is fewer than a few working days away
    (run on the last day of a month, the demo would otherwise be due today and remind at once)."""
    this_month = today.replace(day=1)
    if calendar.working_days_between(today, last_day(this_month)) >= DEMO_WORKING_DAYS_LEFT:
        return this_month
    return add_months(this_month, 1)


def describe_local(runtime: Runtime) -> str:
    """What to tell a developer who just started the bot locally."""
    assert runtime.workspace is not None and runtime.server is not None
    with runtime.sessions() as session:
        sample = session.scalars(
            select(Allocation)
            .options(joinedload(Allocation.auditor), joinedload(Allocation.case).joinedload(Case.allocated_worker))
            .order_by(Allocation.id)
            .limit(1)
        ).first()
    exe = Path(sys.argv[0])
    prog = os.path.relpath(exe) if exe.name == "auditbot" and exe.exists() else "auditbot"
    health = f"{runtime.server.url}/healthz"
    if runtime.socket_handler is not None:
        connection = f"  bot connection      : Socket Mode, opened by the bot   (AUDITBOT_LOCAL_SOCKET_MODE; health: {health})"
    else:
        connection = f"  bot request URL     : {runtime.server.url}/slack/events   (port: AUDITBOT_PORT; health: {health})"
    lines = [
        "auditbot is running against the LOCAL workspace (no Slack credentials configured).",
        f"  local Slack Web API : {runtime.workspace.base_url}   (port: AUDITBOT_LOCAL_WORKSPACE_PORT)",
        f"  in a browser        : {runtime.workspace.root_url}   (pick a person: their DMs, Home and forms)",
        connection,
        f"  database            : {describe(runtime.engine)}",
        "See what people received (in another terminal):",
    ]
    if sample is not None:
        lines.append(f"  {prog} workspace messages --user {sample.auditor.email}     # the auditor")
        if sample.case.allocated_worker is not None:
            lines.append(f"  {prog} workspace messages --user {sample.case.allocated_worker.email}     # the social worker")
        lines.append(f"  {prog} workspace command --user {sample.auditor.email} /audit mine")
        lines.append(f'  {prog} workspace click --user {sample.auditor.email} "Raise a safeguarding concern"'
                     "     # then: workspace submit --user EMAIL field=value ...")
    lines += [f"  {prog} workspace users          # everyone in the workspace", "Press Ctrl+C to stop."]
    return "\n".join(lines)
