"""Staff and case CSV import: check every row, then upsert all in one transaction (examples/README.md).

Columns that look like a child's personal details are never read and their values appear nowhere.
An optional column left out keeps stored values; present but blank clears them (or takes the default).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.services.staff.csvcheck import (
    PROGRESS_EVERY,
    ImportFailed,
    Progress,
    RowProblem,
    _Checker,
    _key,
    _read_sheet,
    _rows_text,
    _shown,
    is_child_identifying,
    normalise_header,
)
from store import audit
from store.db import unit_of_work
from store.models import Case, CaseType, Person, PersonRole, Role, Service, Team

__all__ = [
    "CASE_COLUMNS",
    "CASE_REQUIRED",
    "LEADER_ROLES",
    "LONDON",
    "PROGRESS_EVERY",
    "STAFF_COLUMNS",
    "STAFF_REQUIRED",
    "ImportFailed",
    "ImportReport",
    "Progress",
    "RowProblem",
    "import_cases",
    "import_staff",
    "is_child_identifying",
    "normalise_header",
]

LONDON = ZoneInfo("Europe/London")
STAFF_COLUMNS = ("email", "name", "job_title", "roles", "team", "service", "line_manager_email", "active")
STAFF_REQUIRED = ("email", "name", "roles")
CASE_COLUMNS = ("case_reference", "case_type", "team", "allocated_worker_email", "previous_worker_email",
                "worker_changed_on", "team_manager_email", "iro_email", "active")
CASE_REQUIRED = ("case_reference", "case_type", "team")
#: Manager and leader roles: they audit only when ``auditor`` is listed too (never inferred).
LEADER_ROLES = frozenset(Role) - {Role.AUDITOR, Role.SOCIAL_WORKER, Role.QA_COORDINATOR}

_CASE_TYPES = {alias: t for t, aliases in {
    CaseType.CIN: "cin child_in_need children_in_need",
    CaseType.CP: "cp cpp child_protection",
    CaseType.CLA: "cla lac looked_after looked_after_child child_looked_after children_looked_after child_in_care "
                  "children_in_care",
    CaseType.CARE_LEAVER: "care_leaver care_leavers leaving_care",
    CaseType.EARLY_HELP: "early_help eh",
    CaseType.FOSTERING: "fostering",
    CaseType.ADOPTION: "adoption",
}.items() for alias in aliases.split()}
_CASE_FIELDS = ("case_type", "team_id", "allocated_worker_id", "previous_worker_id", "worker_changed_on",
                "team_manager_id", "iro_id", "active")


@dataclass
class ImportReport:
    """What an import did: people or cases created, updated and unchanged, and warnings."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    file: str = ""
    teams_created: int = 0
    services_created: int = 0

    def summary(self) -> str:
        """One line of counts."""
        extra = "".join(f", {n} {what} created" for n, what in
                        ((self.teams_created, "team(s)"), (self.services_created, "service(s)")) if n)
        return f"{self.file}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged{extra}"

    def detail(self, rows: int) -> dict[str, Any]:
        """The audit-log detail: the file name and counts only."""
        return {**asdict(self), "warnings": len(self.warnings), "rows": rows}


class _StaffChecker(_Checker):
    """The cell checks plus the staff file's roles column."""

    def roles(self, row: int, value: str | None) -> frozenset[Role]:
        roles: set[Role] = set()
        for part in re.split(r"[;,|]", value or ""):
            if token := normalise_header(part):
                if token in Role._value2member_map_:
                    roles.add(Role(token))
                else:
                    expected = ", ".join(r.value for r in Role)
                    self.add(row, "roles", f'unknown role "{_shown(part.strip())}" (expected one of: {expected})')
        if not (value or "").strip():
            self.add(row, "roles", "required value is blank (give at least one role)")
        return frozenset(roles)


@dataclass
class _StaffRow:
    row: int
    email: str
    name: str
    job_title: str | None
    roles: frozenset[Role]
    team: str | None
    service: str | None
    line_manager: str | None
    active: bool | None


def _find_cycles(manager_of: dict[str, str | None]) -> list[list[str]]:
    """Every cycle in the email -> line manager email graph."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []
    for start in manager_of:
        path: list[str] = []
        node: str | None = start
        while node is not None and state.get(node, 0) == 0:
            state[node] = 1
            path.append(node)
            node = manager_of.get(node)
        if node is not None and state.get(node) == 1:
            cycles.append(path[path.index(node) :])
        state.update(dict.fromkeys(path, 2))
    return cycles


def import_staff(
    sessions: sessionmaker[Session], path: Path, *, now: dt.datetime, progress: Progress | None = None
) -> ImportReport:
    """Upsert people (keyed by email) with their roles, teams, services and line managers."""
    sheet = _read_sheet(path, STAFF_COLUMNS, STAFF_REQUIRED, cases=False)
    check, get = _StaffChecker(sheet, progress), sheet.get
    with unit_of_work(sessions) as session:
        people = {p.email.strip().lower(): p for p in session.scalars(select(Person))}
        teams = {_key(t.name): t for t in session.scalars(select(Team))}
        services = {_key(s.name): s for s in session.scalars(select(Service))}
        service_names = {s.id: s.name for s in services.values()}
        rows: list[_StaffRow] = []
        first_row: dict[str, int] = {}
        team_service: dict[str, tuple[str, int]] = {}
        for n, cells in sheet.rows:
            email = check.email(n, "email", get(cells, "email"), required=True)
            name = check.text(n, "name", get(cells, "name"), required=True)
            job_title = check.text(n, "job_title", get(cells, "job_title"))
            roles = check.roles(n, get(cells, "roles"))
            team, service = check.text(n, "team", get(cells, "team")), check.text(n, "service", get(cells, "service"))
            manager = check.email(n, "line_manager_email", get(cells, "line_manager_email"))
            active = check.flag(n, "active", get(cells, "active"))
            if team and service:
                known, earlier = teams.get(_key(team)), team_service.get(_key(team))
                if known and known.service_id and _key(service_names[known.service_id]) != _key(service):
                    check.add(n, "service", f'team "{team}" already belongs to service "{service_names[known.service_id]}"')
                elif earlier and earlier[0] != _key(service):
                    check.add(n, "service", f'team "{team}" is given a different service on row {earlier[1]}')
                else:
                    team_service.setdefault(_key(team), (_key(service), n))
            if email and email in first_row:
                check.add(n, "email", f'duplicate email "{email}" (also on row {first_row[email]})')
            elif email:
                first_row[email] = n
                rows.append(_StaffRow(n, email, name or "", job_title, roles, team, service, manager, active))
            check.tick()
        check.tick(final=True)

        by_id = {p.id: email for email, p in people.items()}
        manager_of = {e: by_id.get(p.line_manager_id) if p.line_manager_id else None for e, p in people.items()}
        for r in rows:
            if r.line_manager == r.email:
                check.add(r.row, "line_manager_email", "a person cannot be their own line manager")
            elif r.line_manager and r.line_manager not in first_row and r.line_manager not in people:
                problem = f'line manager "{r.line_manager}" is not in this file or already known'
                check.add(r.row, "line_manager_email", problem)
            if r.line_manager is not None:
                manager_of[r.email] = r.line_manager if r.line_manager and r.line_manager != r.email else None
        for cycle in _find_cycles(manager_of):
            if in_file := sorted((first_row[e], i) for i, e in enumerate(cycle) if e in first_row):
                row, start = in_file[0]
                cycle = cycle[start:] + cycle[:start]
                check.add(row, "line_manager_email", f"line management cycle: {' → '.join([*cycle, cycle[0]])}")
        if check.problems:
            raise ImportFailed(check.problems)

        report = ImportReport(warnings=list(sheet.warnings), file=sheet.file)
        if not_auditing := [r.row for r in rows if r.roles & LEADER_ROLES and Role.AUDITOR not in r.roles]:
            report.warnings.append(
                f"{len(not_auditing)} manager(s) or IRO(s) without the auditor role will not be given audits "
                f"({_rows_text(not_auditing)}); add auditor to their roles if they should audit"
            )
        _upsert_staff(session, rows, people, teams, services, team_service, report)
        detail = report.detail(len(sheet.rows))
        audit.record(session, now=now, action="import.staff", actor_ref="cli", subject_type="import", detail=detail)
    return report


def _upsert_staff(
    session: Session,
    rows: list[_StaffRow],
    people: dict[str, Person],
    teams: dict[str, Team],
    services: dict[str, Service],
    team_service: dict[str, tuple[str, int]],
    report: ImportReport,
) -> None:
    """Write checked staff rows: services, then teams, then people, then line managers."""
    for r in rows:
        if r.service and _key(r.service) not in services:
            services[_key(r.service)] = Service(name=r.service)
            session.add(services[_key(r.service)])
            report.services_created += 1
        if r.team and _key(r.team) not in teams:
            teams[_key(r.team)] = Team(name=r.team)
            session.add(teams[_key(r.team)])
            report.teams_created += 1
    session.flush()
    for team_key, (service_key, _row) in team_service.items():
        if teams[team_key].service_id is None:
            teams[team_key].service_id = services[service_key].id

    changed: set[str] = set()
    created: set[str] = set()
    for r in rows:
        if (person := people.get(r.email)) is None:
            person = people[r.email] = Person(email=r.email, display_name=r.name, job_title="", active=True)
            session.add(person)
            created.add(r.email)
        values: dict[str, Any] = {"email": r.email, "display_name": r.name}
        if r.job_title is not None:
            values["job_title"] = r.job_title
        if r.team is not None:
            values["team_id"] = teams[_key(r.team)].id if r.team else None
        if r.service:
            values["service_id"] = services[_key(r.service)].id
        elif r.team:  # a blank service means the team's service
            values["service_id"] = teams[_key(r.team)].service_id
        elif r.service is not None:
            values["service_id"] = None
        if r.active is not None:
            values["active"] = r.active
        for attr, value in values.items():
            if getattr(person, attr) != value:
                setattr(person, attr, value)
                changed.add(r.email)
        if person.roles != r.roles:
            keep = [rr for rr in person.role_rows if rr.role in r.roles]
            person.role_rows = keep + [PersonRole(role=role) for role in sorted(r.roles - person.roles)]
            changed.add(r.email)
    session.flush()
    for r in rows:
        manager_id = people[r.line_manager].id if r.line_manager else None
        if r.line_manager is not None and people[r.email].line_manager_id != manager_id:
            people[r.email].line_manager_id = manager_id
            changed.add(r.email)
    session.flush()
    report.created, report.updated = len(created), len(changed - created)
    report.unchanged = len(rows) - report.created - report.updated


def import_cases(
    sessions: sessionmaker[Session], path: Path, *, now: dt.datetime, progress: Progress | None = None
) -> ImportReport:
    """Upsert cases (keyed by case reference); their teams and people must already be stored."""
    sheet = _read_sheet(path, CASE_COLUMNS, CASE_REQUIRED, cases=True)
    check, get = _Checker(sheet, progress), sheet.get
    today = now.astimezone(LONDON).date()
    with unit_of_work(sessions) as session:
        team_names: dict[int, str] = dict(session.execute(select(Team.id, Team.name)).all())
        teams = {_key(name): tid for tid, name in team_names.items()}
        people = {email.strip().lower(): pid for pid, email in session.execute(select(Person.id, Person.email))}
        managers: dict[int, list[int]] = defaultdict(list)
        tm_query = (
            select(Person.team_id, Person.id)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(PersonRole.role == Role.TEAM_MANAGER, Person.active.is_(True), Person.team_id.is_not(None))
        )
        for team_id, person_id in session.execute(tm_query):
            if team_id is not None:  # (the query says so; mypy cannot see it)
                managers[team_id].append(person_id)
        stored = select(Case.id, Case.reference, *(getattr(Case, f) for f in _CASE_FIELDS))
        existing = {row.reference: row for row in session.execute(stored)}

        def person(n: int, column: str, value: str | None) -> int | None:
            email = check.email(n, column, value)
            if email and email not in people:
                check.add(n, column, f'"{email}" is not a known member of staff (import the staff file first)')
            return people.get(email) if email else None

        seen: dict[str, int] = {}
        new_rows: list[dict[str, Any]] = []
        changed_rows: list[dict[str, Any]] = []
        unchanged = 0
        no_manager: dict[int, list[int]] = defaultdict(list)
        for n, cells in sheet.rows:
            check.tick()
            reference, raw_type = get(cells, "case_reference") or "", get(cells, "case_type") or ""
            team_name = " ".join((get(cells, "team") or "").split())
            if not reference:
                check.add(n, "case_reference", "required value is blank")
            elif len(reference) > 64 or re.search(r"\s", reference):
                check.add(n, "case_reference", f'"{_shown(reference)}" must be 1 to 64 characters with no spaces')
            elif reference in seen:
                check.add(n, "case_reference", f'duplicate case reference "{reference}" (also on row {seen[reference]})')
            else:
                seen[reference] = n
            if (case_type := _CASE_TYPES.get(normalise_header(raw_type))) is None:
                expected = ", ".join(c.value for c in CaseType)
                problem = f'unknown case type "{_shown(raw_type)}" (expected one of: {expected})'
                check.add(n, "case_type", problem if raw_type else "required value is blank")
            if (team_id := teams.get(_key(team_name))) is None:
                problem = f'unknown team "{_shown(team_name)}" (teams come from the staff file)'
                check.add(n, "team", problem if team_name else "required value is blank")
            old = existing.get(reference)
            values: dict[str, Any] = {"case_type": case_type, "team_id": team_id}
            for column, attr in (("allocated_worker_email", "allocated_worker_id"),
                                 ("previous_worker_email", "previous_worker_id"), ("iro_email", "iro_id")):
                cell = get(cells, column)
                values[attr] = person(n, column, cell) if cell is not None else getattr(old, attr, None)
            cell = get(cells, "worker_changed_on")
            changed_on = check.date(n, "worker_changed_on", cell, today)
            values["worker_changed_on"] = changed_on if cell is not None else getattr(old, "worker_changed_on", None)
            if values["previous_worker_id"] is not None and values["previous_worker_id"] == values["allocated_worker_id"]:
                check.add(n, "previous_worker_email", "the previous worker is the same as the allocated worker")
            active = check.flag(n, "active", get(cells, "active"))
            values["active"] = active if active is not None else getattr(old, "active", True)
            manager_cell = get(cells, "team_manager_email")
            values["team_manager_id"] = person(n, "team_manager_email", manager_cell)
            if not manager_cell and team_id is not None:
                if len(managers[team_id]) == 1:
                    values["team_manager_id"] = managers[team_id][0]
                else:
                    no_manager[team_id].append(n)
            if check.problems:
                continue
            if old is None:
                new_rows.append({"reference": reference, **values})
            elif any(getattr(old, f) != values[f] for f in _CASE_FIELDS):
                changed_rows.append({"id": old.id, **values})
            else:
                unchanged += 1
        check.tick(final=True)
        if check.problems:
            raise ImportFailed(check.problems)

        report = ImportReport(len(new_rows), len(changed_rows), unchanged, list(sheet.warnings), sheet.file)
        for team_id, numbers in no_manager.items():
            why = f"{len(managers[team_id])} active team managers" if managers[team_id] else "no active team manager"
            report.warnings.append(f'team manager left empty for {len(numbers)} case(s) in team "{team_names[team_id]}" '
                                   f"({_rows_text(numbers)}): {why} in that team")
        for start in range(0, len(new_rows), 5000):
            session.execute(insert(Case).execution_options(render_nulls=True), new_rows[start : start + 5000])
        for start in range(0, len(changed_rows), 5000):
            session.execute(update(Case), changed_rows[start : start + 5000])
        detail = report.detail(len(sheet.rows))
        audit.record(session, now=now, action="import.cases", actor_ref="cli", subject_type="import", detail=detail)
    return report
