"""``tick(now)``: plan everything that is due at ``now``. Pure with respect to time.

APScheduler only calls this; tests call it with chosen times. Every planner writes outbox rows
with idempotency keys, so a repeated tick, a restart or a second process plans nothing twice.

A tick is the list of planners that each area contributes (``PLANNERS`` below, in the order they
run). To add an area's planners, give it a ``planners`` module with ``PLANNERS = (Planner(...), ...)``
(see ``bot.services.planning``) and add one line for it here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.scheduler import housekeeping
from bot.services.actions import planners as actions
from bot.services.alerts import planners as alerts
from bot.services.allocation import planners as allocation
from bot.services.assurance import planners as assurance
from bot.services.audits import planners as audits
from bot.services.cycle import planners as cycle
from bot.services.exemptions import planners as exemptions
from bot.services.inadequate import planners as inadequate
from bot.services.meetings import planners as meetings
from bot.services.moderation import planners as moderation
from bot.services.planning import Planned, Planner, TickContext, When
from bot.services.qa_check import planners as qa_check
from bot.services.replies import planners as replies
from bot.services.reports import planners as reports
from bot.settings import Settings
from store.months import is_paused

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    """What one tick planned."""

    at: dt.datetime
    local: dt.datetime
    working_hours: bool
    #: True when nothing was written: each planner's work was rolled back (``tick --at``'s preview)
    dry_run: bool = False
    paused: bool = False
    previews: int = 0
    allocated: int = 0
    allocation_messages: int = 0
    reminders: int = 0
    overdue: int = 0
    exemption_chasers: int = 0
    alert_escalations: int = 0
    #: QA checks sent to the QA team
    qa_checks: int = 0
    #: The monthly report's messages and files (once a month)
    report_posts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def planned(self) -> int:
        """Notifications planned by this tick."""
        return (
            self.previews + self.allocation_messages + self.reminders + self.overdue + self.exemption_chasers
            + self.alert_escalations + self.qa_checks + self.report_posts
        )

    def summary(self) -> str:
        """One line for operators."""
        verb = "would plan" if self.dry_run else "planned"
        if not self.working_hours:
            alerts = f"; {self.alert_escalations} safeguarding escalation(s)" if self.alert_escalations else ""
            return f"{self.local:%a %d %b %Y %H:%M} is outside working hours: nothing {verb}{alerts}"
        if self.paused:
            return f"{self.local:%a %d %b %Y %H:%M}: the programme is paused this month: nothing allocated or chased"
        parts = [
            f"{self.previews} preview message(s)",
            f"{self.allocated} allocation(s) with {self.allocation_messages} message(s)",
            f"{self.reminders} reminder(s)",
            f"{self.overdue} overdue notice(s)",
            f"{self.exemption_chasers} exemption reminder(s)/escalation(s)",
        ]
        if self.qa_checks:
            parts.append(f"{self.qa_checks} QA check message(s)")
        if self.report_posts:
            parts.append(f"{self.report_posts} monthly report message(s) and file(s)")
        if self.alert_escalations:
            parts.append(f"{self.alert_escalations} safeguarding escalation(s) at the real time")
        errors = f"; {len(self.errors)} planner(s) failed: {'; '.join(self.errors)}" if self.errors else ""
        return f"{self.local:%a %d %b %Y %H:%M}: {verb} " + ", ".join(parts) + errors


#: Every planner a tick runs, in order; each area lists its own.
PLANNERS: tuple[Planner, ...] = (
    *alerts.PLANNERS,  # safeguarding: any day, any hour, even when paused
    *housekeeping.PLANNERS,
    *allocation.PLANNERS,
    *cycle.PLANNERS,
    *exemptions.PLANNERS,
    *audits.PLANNERS,
    *replies.PLANNERS,
    *moderation.PLANNERS,
    *qa_check.PLANNERS,
    *assurance.PLANNERS,
    *actions.PLANNERS,
    *inadequate.PLANNERS,
    *meetings.PLANNERS,
    *reports.PLANNERS,  # last: once a month it renders charts, and nothing waits behind it
)


def tick(
    sessions: sessionmaker[Session],
    settings: Settings,
    calendar: WorkingCalendar,
    now: dt.datetime,
    *,
    real_now: dt.datetime | None = None,
    dry_run: bool = False,
    planners: Sequence[Planner] = PLANNERS,
) -> TickReport:
    """Plan what is due at ``now`` (aware UTC). Each planner is its own short transaction.

    ``real_now`` is the real time when ``now`` is another (``auditbot tick --at``): safeguarding
    escalations and corrective-action chasers always run at the real time, so a tick at a
    future time can never mark an alert escalated early, nor one at a past time hold one back.
    ``dry_run`` rolls every planner's work back: the report says what would be planned.
    Out of working hours only the ``ALWAYS`` planners run; while the month is paused the
    ``CYCLE`` planners do nothing (checked by each, inside its own guarded transaction, so a
    database outage is logged per planner). One failing planner never stops the others.
    """
    local = calendar.local(now)
    report = TickReport(now, local, calendar.in_working_hours(now), dry_run=dry_run)
    ctx = TickContext(settings, calendar, now=now, real_now=real_now or now, today=local.date())
    for planner in planners:
        if planner.when is When.ALWAYS or report.working_hours:
            _run(planner, sessions, ctx, report)
    return report


def _run(planner: Planner, sessions: sessionmaker[Session], ctx: TickContext, report: TickReport) -> None:
    """Run one planner in its own transaction (rolled back on a dry run); log and record its failure."""
    try:
        with sessions() as session, session.begin() as transaction:
            if planner.when is When.CYCLE and is_paused(session, ctx.today.replace(day=1)):
                report.paused = True
                return
            _add(report, planner, planner.plan(session, ctx))
            if report.dry_run:
                transaction.rollback()
    except Exception as exc:  # one failing planner must not stop the others; logged
        log.exception("tick planner %s failed at %s", planner.name, ctx.now.isoformat())
        report.errors.append(f"{planner.name}: {type(exc).__name__}")


def _add(report: TickReport, planner: Planner, planned: Planned) -> None:
    """Add what a planner planned to the report's counters."""
    if isinstance(planned, int):
        planned = {planner.counter: planned} if planner.counter else {}
    for counter, count in planned.items():
        setattr(report, counter, getattr(report, counter) + count)
