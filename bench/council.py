"""A council at scale for the benchmarks: staff, teams, services and cases, inserted in bulk.

``populate_council(sessions)`` makes, by default, 9,902 staff (300 of them auditors) in 200 teams
of four services and 100,000 cases, as the issue on speed at council scale measured: four Heads of
Service, twenty service managers, a team manager per team, a hundred IROs, a QA coordinator and
social workers, each case with a worker, their team manager and (CP, CLA) an IRO. Ids are explicit
so the rows can refer to each other; on PostgreSQL the id sequences are moved past them so the
bot's own inserts afterwards do not collide. ``history`` adds that many past allocations (completed,
spread over the twelve months before ``until``, unevenly across the auditors, each of another case),
so the rolling-year load and re-sampling rules have something to bite on. Not a test fixture:
nothing here is asserted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import insert, text
from sqlalchemy.orm import Session, sessionmaker

from bot.services.allocation.rules import add_months, last_day
from store.models import (
    Allocation,
    AllocationState,
    AuditMonth,
    AuditType,
    Case,
    CaseType,
    Person,
    PersonRole,
    Role,
    Service,
    Team,
)

SERVICES = 4
TEAMS = 200
SERVICE_MANAGERS = 20
IROS = 100
#: Of every 20 cases: 7 CIN, 4 CP, 5 CLA, 2 care leavers, 2 early help.
CASE_TYPES = (CaseType.CIN,) * 7 + (CaseType.CP,) * 4 + (CaseType.CLA,) * 5 + (CaseType.CARE_LEAVER,) * 2 + (
    CaseType.EARLY_HELP,
) * 2


@dataclass(frozen=True)
class Council:
    """The ids a benchmark needs afterwards."""

    qa_coordinator_id: int
    auditor_ids: list[int]
    worker_ids: list[int]
    staff: int
    cases: int


def populate_council(sessions: sessionmaker[Session], *, staff: int = 9_902, auditors: int = 300,
                     cases: int = 100_000, history: int = 0, until: dt.date = dt.date(2026, 12, 1)) -> Council:
    """Insert the council in one transaction and return the ids a benchmark needs."""
    people: list[dict[str, object]] = []
    roles: list[dict[str, object]] = []

    def person(role: Role | None, name: str, **fields: object) -> int:
        person_id = len(people) + 1
        people.append({"id": person_id, "email": f"{name}.{person_id}@council.example", "display_name": f"{name} {person_id}",
                       **fields})
        if role is not None:
            roles.append({"person_id": person_id, "role": role})
        return person_id

    qa = person(Role.QA_COORDINATOR, "qa")
    heads = [person(Role.HEAD_OF_SERVICE, "head", service_id=k + 1) for k in range(SERVICES)]
    managers = [person(Role.SERVICE_MANAGER, "sm", service_id=k % SERVICES + 1, line_manager_id=heads[k % SERVICES])
                for k in range(SERVICE_MANAGERS)]
    team_managers = [person(Role.TEAM_MANAGER, "tm", team_id=t + 1, service_id=t % SERVICES + 1,
                            line_manager_id=managers[t % SERVICE_MANAGERS]) for t in range(TEAMS)]
    iros = [person(Role.IRO, "iro") for _ in range(IROS)]
    workers: list[list[int]] = [[] for _ in range(TEAMS)]
    for k in range(max(staff - len(people), TEAMS)):
        t = k % TEAMS
        workers[t].append(person(Role.SOCIAL_WORKER, "sw", team_id=t + 1, service_id=t % SERVICES + 1,
                                 line_manager_id=team_managers[t]))
    seniors = [team[0] for team in workers]  # a senior practitioner per team audits too, when more are needed
    auditor_ids = (team_managers + managers + seniors)[:auditors]
    roles += [{"person_id": p, "role": Role.AUDITOR} for p in auditor_ids]

    case_rows = []
    for n in range(cases):
        t = n % TEAMS
        kind = CASE_TYPES[n % len(CASE_TYPES)]
        team_workers = workers[t]
        case_rows.append({"id": n + 1, "reference": f"CMS-{n:07d}", "case_type": kind, "team_id": t + 1,
                          "allocated_worker_id": team_workers[(n // TEAMS) % len(team_workers)],
                          "team_manager_id": team_managers[t],
                          "iro_id": iros[n % IROS] if kind in (CaseType.CP, CaseType.CLA) else None})
    with sessions() as s, s.begin():
        s.execute(insert(Service), [{"id": k + 1, "name": f"Service {k + 1}"} for k in range(SERVICES)])
        s.execute(insert(Team), [{"id": t + 1, "name": f"Team {t + 1}", "service_id": t % SERVICES + 1} for t in range(TEAMS)])
        for start in range(0, len(people), 5_000):  # managers first: line managers refer back to earlier ids
            s.execute(insert(Person), people[start : start + 5_000])
        s.execute(insert(PersonRole), roles)
        for start in range(0, len(case_rows), 10_000):
            s.execute(insert(Case), case_rows[start : start + 10_000])
        if history:
            _history(s, auditor_ids, cases, history, until)
        if s.bind is not None and s.bind.dialect.name == "postgresql":
            for table in ("services", "teams", "people", "cases", "audit_months", "allocations"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    return Council(qa, auditor_ids, [w for team in workers for w in team], len(people), cases)


def _history(s: Session, auditor_ids: list[int], cases: int, history: int, until: dt.date) -> None:
    """``history`` completed allocations over the twelve months before ``until``: auditor k of n gets a share
    growing with k (some reach the yearly limit sooner), each allocation a different case."""
    months = [add_months(until, k - 12) for k in range(12)]
    s.execute(insert(AuditMonth), [{"id": k + 1, "month": m} for k, m in enumerate(months)])
    at = dt.datetime.combine(months[0], dt.time(9), tzinfo=dt.UTC)
    weights = [k + 1 for k in range(len(auditor_ids))]
    owners = [p for p, w in zip(auditor_ids, weights, strict=True) for _ in range(w)]
    step = max(cases // history, 1)
    rows = [{"id": n + 1, "month_id": n % 12 + 1, "month_start": months[n % 12], "case_id": (n * step) % cases + 1,
             "auditor_id": owners[(n * 7919) % len(owners)], "audit_type": AuditType.CONTROL,
             "due_date": last_day(months[n % 12]), "state": AllocationState.COMPLETED, "reason": "", "created_at": at,
             "completed_at": at} for n in range(history)]
    for start in range(0, len(rows), 10_000):
        s.execute(insert(Allocation), rows[start : start + 10_000])
