"""``auditbot oversight``: the final audits still open (Hull 23, 27) — oversight not recorded or an
action not signed off — with each one's team, dates and where its actions are."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.services.actions.common import LIVE, counts
from store.records import AuditRecord


@dataclass(frozen=True)
class Waiting:
    """One final audit not yet closed."""

    reference: str
    team: str
    finalised_on: dt.date
    oversight_due: dt.date | None
    oversight_on: dt.date | None
    open: int
    done: int
    signed_off: int


def waiting(session: Session, calendar: WorkingCalendar, month: dt.date | None = None) -> tuple[list[Waiting], int]:
    """The open final audits (finalised in ``month``, when given), oldest first; and how many of the month's are closed."""
    rows: list[Waiting] = []
    closed = 0
    records = session.scalars(
        select(AuditRecord).where(AuditRecord.state.in_(LIVE), AuditRecord.finalised_at.is_not(None))
        .order_by(AuditRecord.finalised_at, AuditRecord.id)
    )
    for record in records:
        assert record.finalised_at is not None
        finalised_on = calendar.local_date(record.finalised_at)
        if month is not None and finalised_on.replace(day=1) != month:
            continue
        if record.closed_at is not None:
            closed += 1
            continue
        case, n = record.allocation.case, counts(record)
        recorded = calendar.local_date(record.oversight_recorded_at) if record.oversight_recorded_at else None
        rows.append(Waiting(case.reference, case.team.name, finalised_on, record.oversight_due, recorded, n["open"], n["done"],
                            n["signed_off"]))
    return rows, closed


def describe(row: Waiting, today: dt.date) -> str:
    """One line for the QA team."""
    if row.oversight_on is not None:
        oversight = f"oversight recorded {row.oversight_on:%d %b %Y}"
    elif row.oversight_due is None:
        oversight = "oversight not yet asked for"
    else:
        late = " OVERDUE" if today > row.oversight_due else ""
        oversight = f"oversight due {row.oversight_due:%d %b %Y}{late}"
    return (f"{row.reference}  {row.team}  finalised {row.finalised_on:%d %b %Y}  {oversight}  "
            f"actions: {row.open} open, {row.done} done (to sign off), {row.signed_off} signed off")
