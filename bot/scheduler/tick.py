"""``tick(now)``: plan everything that is due at ``now``. Pure with respect to time.

APScheduler only calls this; tests call it with chosen times. Every planner writes outbox rows
with idempotency keys, so a repeated tick, a restart or a second process plans nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.services.alerts.followups import plan_alert_escalations, plan_corrective_chasers
from bot.services.allocation.schedule import plan_preview, run_scheduled_allocation
from bot.services.cycle.chasing import plan_overdue, plan_reminders
from bot.services.exemptions.followups import plan_exemption_chasers
from bot.settings import Settings
from store.months import is_paused
from store.receipts import prune_receipts

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
    errors: list[str] = field(default_factory=list)

    @property
    def planned(self) -> int:
        """Notifications planned by this tick."""
        return (
            self.previews + self.allocation_messages + self.reminders + self.overdue + self.exemption_chasers
            + self.alert_escalations
        )  # fmt: skip

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
        if self.alert_escalations:
            parts.append(f"{self.alert_escalations} safeguarding escalation(s) at the real time")
        errors = f"; {len(self.errors)} planner(s) failed: {'; '.join(self.errors)}" if self.errors else ""
        return f"{self.local:%a %d %b %Y %H:%M}: {verb} " + ", ".join(parts) + errors


def tick(
    sessions: sessionmaker[Session],
    settings: Settings,
    calendar: WorkingCalendar,
    now: dt.datetime,
    *,
    real_now: dt.datetime | None = None,
    dry_run: bool = False,
) -> TickReport:
    """Plan what is due at ``now`` (aware UTC). Each planner is its own short transaction.

    ``real_now`` is the real time when ``now`` is another (``auditbot tick --at``): safeguarding
    escalations and corrective-action chasers always run at the real time, so a tick at a
    future time can never mark an alert escalated early, nor one at a past time hold one back.
    ``dry_run`` rolls every planner's work back: the report says what would be planned.
    """
    local = calendar.local(now)
    report = TickReport(now, local, calendar.in_working_hours(now), dry_run=dry_run)
    today = local.date()
    alerts_now = real_now or now

    def run(name: str, planner: Callable[[Session], None]) -> None:
        try:
            with sessions() as session, session.begin() as transaction:
                planner(session)
                if dry_run:
                    transaction.rollback()
        except Exception as exc:  # noqa: BLE001 - one failing planner must not stop the others; logged
            log.exception("tick planner %s failed at %s", name, now.isoformat())
            report.errors.append(f"{name}: {type(exc).__name__}")

    def alert_escalations(session: Session) -> None:
        report.alert_escalations += plan_alert_escalations(session, settings, now=alerts_now)

    def corrective_chasers(session: Session) -> None:
        report.alert_escalations += plan_corrective_chasers(session, settings, now=alerts_now)

    def housekeeping(session: Session) -> None:
        prune_receipts(session, now=alerts_now)

    run("alerts", alert_escalations)  # safeguarding: any day, any hour, even when paused
    run("corrective actions", corrective_chasers)
    run("housekeeping", housekeeping)
    if not report.working_hours:
        return report

    def preview(session: Session) -> None:
        report.previews += plan_preview(session, settings, calendar, now=now)

    def unless_paused(planner: Callable[[Session], None]) -> Callable[[Session], None]:
        """The month's cycle planners do nothing while the programme is paused (checked by each,
        inside its own guarded transaction, so a database outage is logged per planner)."""

        def guarded(session: Session) -> None:
            if is_paused(session, today.replace(day=1)):
                report.paused = True
                return
            planner(session)

        return guarded

    run("preview", preview)

    def allocation(session: Session) -> None:
        result = run_scheduled_allocation(session, settings, calendar, now=now)
        if result is not None:
            report.allocated, report.allocation_messages = result.created, result.messages

    def reminders(session: Session) -> None:
        report.reminders += plan_reminders(session, settings, calendar, today=today, now=now)

    def overdue(session: Session) -> None:
        report.overdue += plan_overdue(session, settings, today=today, now=now)

    def exemptions(session: Session) -> None:
        report.exemption_chasers += plan_exemption_chasers(session, settings, calendar, now=now)

    for name, planner in (("allocation", allocation), ("reminders", reminders), ("overdue", overdue),
                          ("exemptions", exemptions)):  # fmt: skip
        run(name, unless_paused(planner))
    return report
