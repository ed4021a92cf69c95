"""Local mode: with no Slack credentials, ``auditbot run`` is a self-contained demo.

It migrates the database, loads the demo council the first time, allocates this month's
control sample if nothing is allocated yet, and runs against the local workspace.
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
from bot.runtime import Runtime
from bot.services.allocation import allocate
from bot.services.allocation_rules import add_months, last_day
from bot.services.allocation_types import AllocationRequest
from bot.services.demo import generate_demo, load_demo
from bot.settings import Settings
from store.db import make_sessionmaker, upgrade
from store.models import Allocation, Case, Person


def prepare_local_store(engine: Engine, settings: Settings, *, now: dt.datetime, echo: Callable[[str], None]) -> None:
    """Migrate, and seed the demo council and this month's allocation when the store is empty."""
    upgrade(engine)
    sessions = make_sessionmaker(engine)
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
        _, result = allocate(sessions, request, settings, now=now, preview=False, actor_ref="local-demo")
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
    lines = [
        "auditbot is running against the LOCAL workspace (no Slack credentials configured).",
        f"  local Slack Web API : {runtime.workspace.base_url}",
        f"  bot request URL     : {runtime.server.url}/slack/events   (health: {runtime.server.url}/healthz)",
        f"  database            : {runtime.engine.url.render_as_string(hide_password=True)}",
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
