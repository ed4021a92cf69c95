"""The programme's months: prepared allocations, themes, pauses and how each month is going."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.services.allocation.plan import _check_filter_names
from bot.services.allocation.rules import parse_thematic_filter
from bot.services.allocation.types import AllocationRequest, request_from_json, request_to_json
from bot.services.reports.rates import percent_text
from bot.settings import Settings
from store.audit import record
from store.models import (
    Allocation,
    AllocationState,
    AuditBreak,
    AuditMonth,
    BreakState,
    ExemptionRequest,
    Person,
    RequestKind,
    RequestState,
)
from store.months import month_row


class Unset(Enum):
    """A keyword left out (not the same as None, which clears the value)."""

    UNSET = "unset"


UNSET = Unset.UNSET


class TooLateToPrepare(Exception):
    """The scheduler will never use a request prepared now: the month is already allocated."""


@dataclass(frozen=True)
class PreparedRequest:
    """A month's prepared request: what, by whom, when."""

    request: AllocationRequest
    prepared_by: str
    prepared_at: dt.datetime


def prepared_request(row: AuditMonth | None) -> PreparedRequest | None:
    """The request kept for ``row``'s first working day, if any."""
    if row is None or not row.prepared_request or row.prepared_at is None:
        return None
    return PreparedRequest(request_from_json(row.prepared_request), row.prepared_by or "", row.prepared_at)


def prepare_allocation(
    session: Session, request: AllocationRequest, calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str
) -> PreparedRequest | None:
    """Keep ``request`` as the month's allocation, to be committed on its first working day.

    Returns the request it replaces, if one was prepared before (the caller says so). Raises
    TooLateToPrepare once the scheduler has allocated the month or its first working day has
    passed (it would never be used: commit the request directly instead).
    """
    row = month_row(session, request.month)
    first = calendar.first_working_day(request.month)
    label = f"{request.month:%B %Y}"
    if row.auto_allocated_at is not None:
        when = calendar.local_date(row.auto_allocated_at)
        raise TooLateToPrepare(
            f"the scheduled allocation of {label} already ran ({when:%a %d %b %Y}), so a prepared request would "
            "never be used: commit it directly (the same command without --prepare)"
        )
    if calendar.local_date(now) > first:
        raise TooLateToPrepare(
            f"the first working day of {label} ({first:%a %d %b %Y}) has passed, so a prepared request would "
            "never be used: commit it directly (the same command without --prepare)"
        )
    replaced = prepared_request(row)
    row.prepared_request = request_to_json(request)
    row.prepared_by = actor_ref
    row.prepared_at = now
    detail = dict(row.prepared_request)
    if replaced is not None:
        detail["replaced"] = request_to_json(replaced.request)
    record(
        session, now=now, action="allocation.prepare", actor_ref=actor_ref, subject_type="audit_month",
        subject_id=row.id, detail=detail,
    )
    return replaced


def set_month(
    session: Session,
    month: dt.date,
    calendar: WorkingCalendar,
    *,
    now: dt.datetime,
    actor_ref: str,
    theme: str | Unset | None = UNSET,
    thematic_filter: str | Unset | None = UNSET,
    paused: bool | None = None,
) -> AuditMonth:
    """Change a month's theme, standing thematic filter or pause (each only if given).

    Resuming moves the deadline of every audit still owed that month by the working days the
    pause lasted, so it is chased again from where it stood (Surrey paused March-May 2020).
    """
    row = month_row(session, month)
    changes: dict[str, object] = {}
    if theme is not UNSET:
        row.theme = changes["theme"] = theme
    if thematic_filter is not UNSET:
        if thematic_filter is not None:
            # RequestError names the bad part; an unknown team or service would fail every tick later
            _check_filter_names(session, parse_thematic_filter(str(thematic_filter)))
        row.thematic_filter = changes["thematic_filter"] = thematic_filter
    if paused is True and not row.paused:
        row.paused_at = now
    elif paused is False and row.paused:
        changes["deadlines_moved_by_working_days"] = _extend_owed(session, row, calendar, now=now)
        row.paused_at = None
    if paused is not None:
        row.paused = changes["paused"] = paused
    record(
        session, now=now, action="month.set", actor_ref=actor_ref, subject_type="audit_month", subject_id=row.id,
        detail={"month": month.isoformat(), **changes},
    )
    return row


def _extend_owed(session: Session, row: AuditMonth, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Move the deadlines of the month's audits still owed by the working days it was paused."""
    began = calendar.local_date(row.paused_at) if row.paused_at is not None else calendar.local_date(now)
    lost = calendar.working_days_between(began, calendar.local_date(now))
    if lost:
        for allocation in session.scalars(
            select(Allocation).where(Allocation.month_id == row.id, Allocation.state == AllocationState.ALLOCATED)
        ):
            allocation.due_date = calendar.add_working_days(allocation.due_date, lost)
    return lost


def month_request(row: AuditMonth, settings: Settings) -> tuple[AllocationRequest, str]:
    """What the scheduler allocates for a month: the prepared request, else the standing rules.

    Standing rules: a control sample of ``control_sample_size``, plus a thematic sample of
    ``thematic_sample_size`` when the month has a theme and a thematic filter.
    """
    if row.prepared_request:
        return request_from_json(row.prepared_request), "prepared"
    thematic = parse_thematic_filter(row.thematic_filter) if row.theme and row.thematic_filter else None
    request = AllocationRequest(
        month=row.month,
        control=settings.control_sample_size,
        thematic_filter=thematic,
        theme=row.theme if thematic else None,
        thematic_count=settings.thematic_sample_size if thematic else None,
    )
    return request, "standing"


@dataclass
class MonthStatus:
    """How a month is going: the compliance figures and who is on a break."""

    month: dt.date
    paused: bool
    theme: str | None
    allocated: int = 0
    completed: int = 0
    completed_late: int = 0
    open: int = 0
    overdue: int = 0
    #: Exemptions agreed for the month's audits (Hull A.4), whether or not the case was reallocated.
    exempted: int = 0
    #: Of those, how many went to another auditor (the audit is still owed).
    reallocated: int = 0
    #: Audits no longer owed: an agreed exemption left them with no auditor.
    not_owed: int = 0
    breaks: list[tuple[str, str]] = field(default_factory=list)
    prepared: PreparedRequest | None = None

    @property
    def non_completions(self) -> int:
        """Audits not done by their deadline: still owed, or completed late (Hull 30: it stays one)."""
        return self.overdue + self.completed_late

    @property
    def completion_rate(self) -> str:
        """completed ÷ (allocated − agreed exemptions not reallocated), rounded half up; "n/a" for none."""
        return percent_text(self.completed, self.allocated - self.not_owed)


def month_status(session: Session, month: dt.date, *, today: dt.date, tz: ZoneInfo) -> MonthStatus:
    """Counts for ``month`` as of ``today`` (a local date)."""
    row = session.scalar(select(AuditMonth).where(AuditMonth.month == month))
    status = MonthStatus(month, bool(row and row.paused), row.theme if row else None, prepared=prepared_request(row))
    allocations = session.scalars(
        select(Allocation).where(Allocation.month_start == month, Allocation.state != AllocationState.CANCELLED)
    ).all()
    for a in allocations:
        status.allocated += 1
        if a.state == AllocationState.COMPLETED:
            status.completed += 1
            if a.completed_at is not None and a.completed_at.astimezone(tz).date() > a.due_date:
                status.completed_late += 1
        elif a.state == AllocationState.EXEMPTED:
            status.not_owed += 1
        elif a.due_date < today and not status.paused:  # nothing is owed while the programme is paused
            status.overdue += 1
        else:
            status.open += 1
    agreed = session.execute(
        select(func.count(), func.count(ExemptionRequest.reallocated_to_id))
        .join(Allocation, Allocation.id == ExemptionRequest.allocation_id)
        .where(
            Allocation.month_start == month,
            Allocation.state != AllocationState.CANCELLED,
            ExemptionRequest.kind == RequestKind.EXEMPTION,
            ExemptionRequest.state == RequestState.APPROVED,
        )
    ).one()
    status.exempted, status.reallocated = agreed[0], agreed[1]
    status.breaks = [
        (name, email)
        for name, email in session.execute(
            select(Person.display_name, Person.email)
            .join(AuditBreak, AuditBreak.person_id == Person.id)
            .where(AuditBreak.month == month, AuditBreak.state == BreakState.APPROVED)
            .order_by(func.lower(Person.display_name))
        )
    ]
    return status
