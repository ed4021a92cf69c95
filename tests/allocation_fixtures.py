"""A small builder of services, teams, people, cases and past allocations for store tests.

Every method adds to the session and flushes, so ids are available straight away::

    with session_factory() as s, s.begin():
        c = Council(s)
        team = c.team("Assessment Team North", c.service("Children in Need"))
        sam = c.auditor("Sam Patel", team=c.team("Leaving Care Team North"))
        c.case("CMS-104233", team, CaseType.CP, worker=c.person("Wendy Worker", team=team))
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import (
    Allocation,
    AllocationState,
    AuditBreak,
    AuditMonth,
    AuditType,
    BreakState,
    Case,
    CaseType,
    Person,
    PersonRole,
    Role,
    Service,
    Team,
)

T = TypeVar("T")

#: When builder rows were "created" (a fixed UTC time).
CREATED = dt.datetime(2025, 1, 1, 9, 0, tzinfo=dt.UTC)


def first_of(month: dt.date) -> dt.date:
    """The first day of ``month``."""
    return month.replace(day=1)


class Council:
    """Builds a council's structure and history directly with the models."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _add(self, row: T) -> T:
        self.session.add(row)
        self.session.flush()
        return row

    def service(self, name: str) -> Service:
        """A service area."""
        return self._add(Service(name=name))

    def team(self, name: str, service: Service | None = None) -> Team:
        """A team, optionally in a service."""
        return self._add(Team(name=name, service_id=service.id if service else None))

    def person(
        self,
        name: str,
        *roles: Role,
        team: Team | None = None,
        service: Service | None = None,
        line_manager: Person | None = None,
        active: bool = True,
    ) -> Person:
        """A member of staff with the given roles (email derived from the name)."""
        email = name.lower().replace(" ", ".") + "@council.example"
        person = Person(
            email=email,
            display_name=name,
            team_id=team.id if team else None,
            service_id=service.id if service else (team.service_id if team else None),
            line_manager_id=line_manager.id if line_manager else None,
            active=active,
        )
        person.role_rows = [PersonRole(role=r) for r in dict.fromkeys(roles)]
        return self._add(person)

    def auditor(
        self,
        name: str,
        *extra_roles: Role,
        team: Team | None = None,
        service: Service | None = None,
        line_manager: Person | None = None,
        active: bool = True,
    ) -> Person:
        """A person with the auditor role (plus ``extra_roles``)."""
        return self.person(
            name, Role.AUDITOR, *extra_roles, team=team, service=service, line_manager=line_manager, active=active
        )

    def case(
        self,
        reference: str,
        team: Team,
        case_type: CaseType = CaseType.CP,
        *,
        worker: Person | None = None,
        previous_worker: Person | None = None,
        worker_changed_on: dt.date | None = None,
        team_manager: Person | None = None,
        iro: Person | None = None,
        active: bool = True,
    ) -> Case:
        """A case held by ``team``."""
        return self._add(
            Case(
                reference=reference,
                case_type=case_type,
                team_id=team.id,
                allocated_worker_id=worker.id if worker else None,
                previous_worker_id=previous_worker.id if previous_worker else None,
                worker_changed_on=worker_changed_on,
                team_manager_id=team_manager.id if team_manager else None,
                iro_id=iro.id if iro else None,
                active=active,
            )
        )

    def month(self, month: dt.date, *, theme: str | None = None, paused: bool = False) -> AuditMonth:
        """Get or create the programme month (first day of ``month``)."""
        start = first_of(month)
        row = self.session.scalar(select(AuditMonth).where(AuditMonth.month == start))
        if row is None:
            row = self._add(AuditMonth(month=start, theme=theme, paused=paused))
        else:
            row.theme, row.paused = theme if theme is not None else row.theme, paused or row.paused
        return row

    def allocation(
        self,
        case: Case,
        auditor: Person,
        month: dt.date,
        *,
        audit_type: AuditType = AuditType.CONTROL,
        second: Person | None = None,
        state: AllocationState = AllocationState.ALLOCATED,
        theme: str | None = None,
    ) -> Allocation:
        """A (past or present) allocation of ``case`` to ``auditor`` in ``month``."""
        row = self.month(month)
        start = first_of(month)
        return self._add(
            Allocation(
                month_id=row.id,
                month_start=start,
                case_id=case.id,
                auditor_id=auditor.id,
                second_auditor_id=second.id if second else None,
                audit_type=audit_type,
                theme=theme,
                due_date=start,
                state=state,
                reason="built by the test",
                created_at=CREATED,
            )
        )

    def audit_break(self, person: Person, month: dt.date, state: BreakState = BreakState.APPROVED) -> AuditBreak:
        """An audit break request for ``month``."""
        return self._add(AuditBreak(person_id=person.id, month=first_of(month), state=state, requested_at=CREATED))

    def history(self, auditor: Person, months: list[dt.date], team: Team, *, prefix: str | None = None) -> list[Allocation]:
        """One closed case per month, each allocated to ``auditor`` in that month (their past load)."""
        prefix = prefix or f"OLD-{auditor.id}"
        rows = []
        for i, month in enumerate(months):
            case = self.case(f"{prefix}-{i:02d}", team, CaseType.CIN, active=False)
            rows.append(self.allocation(case, auditor, month, state=AllocationState.COMPLETED))
        return rows
