"""Finding people and what they are involved in. Slack-free."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from store.models import SERVICE_MANAGER_RUNG, Allocation, AllocationState, Case, Person, PersonRole, Role


def up_the_line(person: Person, role: Role) -> Person | None:
    """The nearest active holder of ``role`` above ``person`` in their line management."""
    seen = {person.id}
    manager = person.line_manager
    while manager is not None and manager.id not in seen:
        if manager.active and manager.has_role(role):
            return manager
        seen.add(manager.id)
        manager = manager.line_manager
    return None


def holder_in_service(session: Session, role: Role | frozenset[Role], service_id: int | None) -> Person | None:
    """The first active holder of ``role`` (or of any of a set of roles) in a service (oldest record first)."""
    if service_id is None:
        return None
    roles = [role] if isinstance(role, Role) else sorted(role)
    return session.scalars(
        select(Person)
        .where(Person.active.is_(True), Person.service_id == service_id, Person.role_rows.any(PersonRole.role.in_(roles)))
        .order_by(Person.id)
    ).first()


def group_manager_of(session: Session, case: Case) -> Person | None:
    """The team manager's line manager, else the service (group) manager of the case's service."""
    manager = case.team_manager.line_manager if case.team_manager is not None else None
    if manager is not None and manager.active:
        return manager
    return holder_in_service(session, SERVICE_MANAGER_RUNG, case.team.service_id)


def find_person(session: Session, *, slack_user_id: str, email: str | None) -> Person | None:
    """The person behind a Slack user: by cached user id, else by email (then cache the id)."""
    person = session.scalar(select(Person).where(Person.slack_user_id == slack_user_id))
    if person is not None or not email:
        return person
    person = session.scalar(select(Person).where(func.lower(Person.email) == email.strip().lower()))
    if person is not None and person.slack_user_id is None:
        person.slack_user_id = slack_user_id
        person.slack_missing_since = None
    return person


@dataclass(frozen=True)
class Named:
    """The person a command names, or (none found) everyone the name could mean."""

    person: Person | None
    candidates: tuple[Person, ...] = ()


def find_named(
    session: Session, *, slack_user_id: str | None = None, email: str | None = None, name: str | None = None
) -> Named:
    """The person named by Slack user id (with the email Slack gave), by email, or by name.

    A name matches an active person's display name, or the part of their email before the
    ``@`` (as a Slack handle often is), in any case; a name more than one person matches
    finds nobody, and lists them.
    """
    if slack_user_id:
        return Named(find_person(session, slack_user_id=slack_user_id, email=email))
    if email:
        return Named(session.scalar(select(Person).where(func.lower(Person.email) == email.strip().lower())))
    wanted = " ".join((name or "").split())
    if not wanted:
        return Named(None)
    people = session.scalars(
        select(Person)
        .where(
            Person.active.is_(True),
            or_(func.lower(Person.display_name) == func.lower(wanted),
                func.lower(Person.email).startswith(wanted.lower() + "@", autoescape=True)),
        )
        .order_by(Person.display_name, Person.id)
    ).all()
    return Named(people[0]) if len(people) == 1 else Named(None, tuple(people))


def emails_with_role(session: Session, role: Role) -> set[str]:
    """The (lower-cased) emails of the active people who hold ``role``."""
    rows = session.scalars(select(Person.email).where(Person.active.is_(True), Person.role_rows.any(role=role)))
    return {email.lower() for email in rows}


@dataclass(frozen=True)
class AuditLine:
    """One allocation as seen by someone involved in it."""

    reference: str
    team: str
    audit_type: str
    due_date: dt.date
    state: str
    my_part: str  # "auditor", "social worker", "team manager"
    auditor: str


def my_audits(session: Session, person: Person, *, today: dt.date) -> list[AuditLine]:
    """Open allocations (and those closed in the last 60 days) the person audits or works on."""
    since = today - dt.timedelta(days=60)
    rows = session.scalars(
        select(Allocation)
        .join(Allocation.case)
        .options(joinedload(Allocation.case).joinedload(Case.team), joinedload(Allocation.auditor))
        .where(
            or_(
                Allocation.auditor_id == person.id,
                Allocation.second_auditor_id == person.id,
                Case.allocated_worker_id == person.id,
                Case.team_manager_id == person.id,
            ),
            or_(Allocation.state == AllocationState.ALLOCATED, Allocation.due_date >= since),
        )
        .order_by(Allocation.due_date, Case.reference)
    ).all()
    lines = []
    for a in rows:
        if person.id in (a.auditor_id, a.second_auditor_id):
            part = "auditor"
        elif a.case.allocated_worker_id == person.id:
            part = "social_worker"
        else:
            part = "team_manager"
        lines.append(
            AuditLine(a.case.reference, a.case.team.name, a.audit_type.value, a.due_date, a.state.value, part,
                      a.auditor.display_name)
        )
    return lines
