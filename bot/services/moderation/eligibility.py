"""Who may moderate an audit, decided in one place (Hull 22): an active senior manager holding one
of the council's moderator roles, outside the case's service and not in its circle. The
suggestion is the eligible person with the fewest moderations this month (ties by name)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.calendar import WorkingCalendar
from bot.services.allocation.rules import add_months
from bot.settings import Settings
from store.models import Person, PersonRole, Role, Team
from store.records import AuditModeration, AuditRecord

#: The most moderators a QA menu lists (Slack's limit for a static select).
MAX_CHOICES = 100


def case_service_id(record: AuditRecord) -> int | None:
    """The service of the team that holds the case."""
    return record.allocation.case.team.service_id


def circle_ids(record: AuditRecord, *, challenger_id: int | None = None) -> set[int]:
    """The case's circle: its auditors, worker (and previous worker), team manager and their line
    manager, IRO, and whoever challenged the audit."""
    allocation = record.allocation
    case = allocation.case
    manager = case.team_manager.line_manager_id if case.team_manager is not None else None
    ids = {allocation.auditor_id, allocation.second_auditor_id, case.allocated_worker_id, case.previous_worker_id,
           case.team_manager_id, manager, case.iro_id, challenger_id, record.submitted_by_id}
    return {i for i in ids if i is not None}


def month_bounds(calendar: WorkingCalendar, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The current local month as UTC moments [start, end)."""
    first = calendar.local_date(now).replace(day=1)
    return calendar.utc(first, dt.time(0, 0)), calendar.utc(add_months(first, 1), dt.time(0, 0))


def eligible_moderators(
    session: Session, record: AuditRecord, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime,
    challenger_id: int | None = None, roles: Iterable[Role] | None = None, exclude: Iterable[int] = (),
) -> list[Person]:
    """The people who may moderate ``record``, the suggestion first (fewest moderations this
    month, then by name), the rest by name; at most ``MAX_CHOICES``. One query."""
    wanted = sorted(set(roles if roles is not None else settings.moderator_roles))
    if not wanted:
        return []
    start, end = month_bounds(calendar, now)
    who = func.coalesce(AuditModeration.moderator_id, AuditModeration.suggested_id)
    load = (
        select(who.label("person_id"), func.count().label("n"))
        .where(AuditModeration.created_at >= start, AuditModeration.created_at < end, who.is_not(None))
        .group_by(who)
        .subquery()
    )
    team = aliased(Team)
    service = func.coalesce(Person.service_id, team.service_id)
    query = (
        select(Person, func.coalesce(load.c.n, 0))
        .outerjoin(team, team.id == Person.team_id)
        .outerjoin(load, load.c.person_id == Person.id)
        .where(Person.active.is_(True), Person.role_rows.any(PersonRole.role.in_(wanted)),
               Person.id.not_in(circle_ids(record, challenger_id=challenger_id) | set(exclude)))
        .order_by(func.coalesce(load.c.n, 0), Person.display_name, Person.id)
    )
    home = case_service_id(record)
    if home is not None:
        query = query.where(service.is_(None) | (service != home))
    people = [p for p, _ in session.execute(query.limit(MAX_CHOICES))]
    return people[:1] + sorted(people[1:], key=lambda p: (p.display_name, p.id))

