"""The monthly list of safeguarding alerts and how quickly each was acknowledged."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from store.models import SafeguardingAlert


@dataclass(frozen=True)
class AlertLine:
    """One alert in the monthly list."""

    raised_at: dt.datetime
    reference: str
    urgency: str
    raised_by: str
    lead: str
    acknowledged_after: dt.timedelta | None
    escalation_level: int
    corrective_action: bool


def alerts_in_month(session: Session, month: dt.date, tz: ZoneInfo) -> list[AlertLine]:
    """Alerts raised in ``month`` (local), with time-to-acknowledge by the lead."""
    start = dt.datetime.combine(month, dt.time(), tz)
    end = dt.datetime.combine((month + dt.timedelta(days=32)).replace(day=1), dt.time(), tz)
    rows = session.scalars(
        select(SafeguardingAlert)
        .options(joinedload(SafeguardingAlert.case), joinedload(SafeguardingAlert.raised_by), joinedload(SafeguardingAlert.lead))
        .where(SafeguardingAlert.raised_at >= start, SafeguardingAlert.raised_at < end)
        .order_by(SafeguardingAlert.raised_at)
    ).all()
    return [
        AlertLine(
            a.raised_at, a.case.reference, a.urgency.value, a.raised_by.display_name,
            a.lead.display_name if a.lead else "nobody reachable",
            (a.lead_acknowledged_at - a.raised_at) if a.lead_acknowledged_at else None,
            a.escalation_level, a.corrective_action_at is not None,
        )
        for a in rows
    ]
