"""The monthly report, posted on its own (shared/domain.md step 12; Hull App. C: the month's
report is presented mid-next-month; Bradford §2, §4; Surrey rec. 7).

On the ``report_working_day``-th working day after a month (10th by default) a tick plans, once:
- to the QA channel (``qa_channel``; without one, to each QA coordinator's DM): the month's summary,
  then each chart as a PNG file with its alt text as the file's comment, then the CSV;
- to each Head of Service with a service: that service's summary with its teams, and its charts.

Every row is written to the outbox in the tick's transaction with its own idempotency key, so a
second tick, a restart or a second process plans nothing twice; the sender delivers the summary
before the files (same priority, written first). Counts only: never a case reference or a name.
The figures are as they stood on the day the report was planned (``as_of``).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.allocation.rules import add_months
from bot.services.reports.charts import Chart, charts
from bot.services.reports.figures import figures
from bot.services.reports.model import Figures, Report
from bot.services.reports.output import as_csv, period_label
from bot.settings import Settings
from store.models import (
    Allocation,
    AllocationState,
    AuditMonth,
    Case,
    Notification,
    Person,
    PersonRole,
    Priority,
    Role,
    Service,
    Team,
)
from store.outbox import enqueue
from store.queries import qa_coordinators

#: A report not planned on its day (the bot was down) is still planned this many working days after.
CATCH_UP_WORKING_DAYS = 5
#: Services or teams listed in one message; the rest are counted (the CSV has them all).
LISTED = 15


def report_day(month: dt.date, settings: Settings, calendar: WorkingCalendar) -> dt.date:
    """The working day the report on ``month`` is posted: the ``report_working_day``-th of the month after."""
    first = calendar.first_working_day(add_months(month.replace(day=1), 1))
    return calendar.add_working_days(first, settings.report_working_day - 1)


def figures_context(fig: Figures) -> dict[str, Any]:
    """One slice's numbers as the summary template words them."""
    return {
        "service": fig.service, "team": fig.team, "paused": fig.paused, "completion": fig.completion_text,
        "counts": fig.counts.as_context(),
        "reaudit_rate": fig.reaudit_rate, "moderation_agreement": fig.moderation_agreement,
        "minutes_to_acknowledge": fig.minutes_to_acknowledge,
        "final_grades": [dataclasses.asdict(g) for g in fig.final_grades],
        "original_grades": [dataclasses.asdict(g) for g in fig.original_grades],
        "programme": dataclasses.asdict(fig.programme) if fig.programme is not None else None,
    }


def summary_context(report: Report, *, service: str | None = None, files: int = 0, so_far: bool = False) -> dict[str, Any]:
    """The summary message: the programme's month with its services, or one service with its teams
    (``so_far``: before the month's report day)."""
    if service is None:
        whole, parts = report.overall, list(report.services)
    else:
        whole = next(s for s in report.services if s.service == service)
        parts = [t for t in report.teams if t.service == service]
    return {
        "period": period_label(report), "as_of": report.as_of.isoformat(), "service": service,
        "whole": figures_context(whole), "parts": [figures_context(p) for p in parts[:LISTED]],
        "parts_more": max(0, len(parts) - LISTED), "files": files, "so_far": so_far,
    }


def _file(text: str, filename: str, title: str, content: bytes) -> dict[str, Any]:
    return {"text": text, "filename": filename, "title": title, "content_base64": base64.b64encode(content).decode("ascii")}


def _has_month(session: Session, month: dt.date) -> bool:
    """Anything to report on: allocations that month (not cancelled), or the month paused."""
    return bool(session.scalar(select(
        or_(exists().where(Allocation.month_start == month, Allocation.state != AllocationState.CANCELLED),
            exists().where(AuditMonth.month == month, AuditMonth.paused.is_(True)))
    )))


def _heads(session: Session, month: dt.date) -> list[Any]:
    """(person id, their service's name) of each active Head of Service whose service's cases had audits in ``month``."""
    audited = (select(Team.service_id).join(Case, Case.team_id == Team.id).join(Allocation, Allocation.case_id == Case.id)
               .where(Allocation.month_start == month, Allocation.state != AllocationState.CANCELLED))
    return list(session.execute(
        select(Person.id, Service.name).join(Service, Service.id == Person.service_id)
        .where(Person.active.is_(True), Person.role_rows.any(PersonRole.role == Role.HEAD_OF_SERVICE),
               Person.service_id.in_(audited))
        .order_by(Person.id)
    ).all())


def plan_monthly_report(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """On a month's report day (or a few working days after, if the bot was down), plan its posts
    once. Last month's, or the month before's when a late report day and the catch-up run into
    this month. How many outbox rows were written."""
    today = calendar.local_date(now)
    planned = 0
    for back in (2, 1):
        month = add_months(today.replace(day=1), -back)
        day = report_day(month, settings, calendar)
        if day <= today <= calendar.add_working_days(day, CATCH_UP_WORKING_DAYS):
            planned += post_month(session, month, settings, calendar, now=now).planned
    return planned


@dataclass(frozen=True)
class Posted:
    """What ``post_month`` planned: outbox rows, for how many destinations not posted to before; or why nothing."""

    planned: int = 0
    destinations: int = 0
    #: "nothing allocated", "nobody to post to" or "already posted" when nothing was planned.
    why_not: str | None = None
    starts: dt.datetime | None = None
    #: Before the month's report day: the month so far, not its report.
    so_far: bool = False


def post_month(session: Session, month: dt.date, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> Posted:
    """Plan the posts of ``month``'s report as they stand today, each once, delivered from the next
    working moment. From its report day on it is the month's report (what the schedule or an
    operator planned already is not planned again); before, it is the month *so far*, posted once a
    day under keys of its own, so it never stands in for the real report."""
    month, today = month.replace(day=1), calendar.local_date(now)
    so_far = today < report_day(month, settings, calendar)
    prefix = f"report:{month:%Y-%m}" + (f":so-far:{today:%Y-%m-%d}" if so_far else "")
    qa = [] if settings.qa_channel else [p.id for p in qa_coordinators(session)]
    heads = _heads(session, month)
    first_keys = [f"{prefix}:channel:summary"] if settings.qa_channel else [f"{prefix}:person:{p}:summary" for p in qa]
    first_keys += [f"{prefix}:head:{p}:summary" for p, _ in heads]
    if not _has_month(session, month):
        return Posted(why_not="nothing allocated")
    if not first_keys:
        return Posted(why_not="nobody to post to")
    done = set(session.scalars(select(Notification.idempotency_key).where(Notification.idempotency_key.in_(first_keys))))
    if done == set(first_keys):
        return Posted(why_not="already posted")
    report = figures(session, month, month, settings, as_of=today)
    label = period_label(report)
    planned, start = 0, calendar.next_working_moment(now)

    def post(dest: str, summary: dict[str, Any], files: list[dict[str, Any]], *, to: int | None) -> None:
        nonlocal planned
        where: dict[str, Any] = {"recipient_id": to} if to is not None else {"channel": settings.qa_channel}
        rows = [(f"{prefix}:{dest}:summary", Template.REPORT_SUMMARY, {**summary, "files": len(files)})]
        # each file waits for the summary it follows (the sender holds it while the summary is unsent)
        rows += [(f"{prefix}:{dest}:file:{n}", Template.REPORT_FILE, {**f, "after": f"{prefix}:{dest}:summary"})
                 for n, f in enumerate(files, 1)]
        for key, template, context in rows:
            planned += enqueue(session, key=key, template=template, context=context, now=now, priority=Priority.BULK,
                               not_before=start, **where)

    # A file's title is how a retried upload is recognised: one posted so far must not pass for the report's.
    mark = f" (so far, {today:%d %b %Y})" if so_far else ""

    def chart_file(chart: Chart) -> dict[str, Any]:
        return _file(chart.alt_text, chart.filename, chart.title + mark, chart.png)

    programme = [chart_file(c) for c in charts(report)]
    programme.append(_file(f"The figures of the case file audit report for {label}{mark}, one row per measure (CSV).",
                           f"audit-report-{month:%Y-%m}.csv", f"Case file audit report {label}{mark} (CSV)",
                           as_csv(report).encode()))
    summary = summary_context(report, so_far=so_far)
    if settings.qa_channel:
        post("channel", summary, programme, to=None)
    for person_id in qa:
        post(f"person:{person_id}", summary, programme, to=person_id)
    services = {s.service for s in report.services}
    for person_id, service in heads:
        if service in services:
            post(f"head:{person_id}", summary_context(report, service=service, so_far=so_far),
                 [chart_file(c) for c in charts(report, service=service)], to=person_id)
    return Posted(planned, len(set(first_keys) - done), None if planned else "already posted", start, so_far)
