"""A realistic, entirely fictional English council for demos and tests.

Four services, ten case-holding teams plus the Independent Reviewing and Quality Assurance
teams, about 85 staff in a proper line-management tree and 500 cases. Deterministic for a seed.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.services.staff.importer import STAFF_COLUMNS, ImportReport, import_cases, import_staff
from store.models import CaseType, Role

#: The day the demo's worker changes are counted back from (the CLI passes today instead).
DEMO_REFERENCE_DATE = dt.date(2026, 11, 2)
DOMAIN = "council.example"
CASE_COUNT = 500
CHANGED_WORKER_SHARE = 0.05

FIRST_NAMES = (
    "Aisha", "Alan", "Amelia", "Andrew", "Anita", "Ben", "Bethany", "Callum", "Carol", "Chloe",
    "Claire", "Daniel", "Deborah", "Dev", "Eleanor", "Emma", "Fatima", "Fiona", "Gareth", "Gemma",
    "Hannah", "Hassan", "Ian", "Imran", "Jade", "James", "Jasmine", "Joanne", "Karen", "Kwame",
    "Laura", "Leanne", "Lewis", "Lucy", "Marcus", "Maria", "Mark", "Megan", "Michelle", "Mohammed",
    "Naomi", "Neil", "Nicola", "Oliver", "Paul", "Rachel", "Rebecca", "Richard", "Ruth", "Sadia",
    "Samuel", "Sanjay", "Sophie", "Stephen", "Tariq", "Tom", "Vanessa", "Wendy", "Yusuf", "Zara",
)
SURNAMES = (
    "Adams", "Ahmed", "Ali", "Atkinson", "Bailey", "Barker", "Begum", "Bennett", "Brown", "Campbell",
    "Carter", "Chapman", "Clarke", "Cooper", "Davies", "Dixon", "Edwards", "Evans", "Fletcher", "Foster",
    "Graham", "Green", "Hall", "Harris", "Hughes", "Hussain", "Jackson", "Johnson", "Kaur", "Khan",
    "Lewis", "Marshall", "Mason", "Mensah", "Mitchell", "Morgan", "Murphy", "Nowak", "Okafor", "Owen",
    "Palmer", "Parker", "Patel", "Phillips", "Powell", "Reid", "Richards", "Roberts", "Robinson", "Shah",
    "Singh", "Taylor", "Thomas", "Turner", "Walker", "Ward", "Watson", "White", "Williams", "Wright",
)
CHILD_FIRST = ("Testchild", "Fakechild", "Samplechild", "Demochild")

#: service -> [(team, case types and their weights)]; services are paired under each AD.
SERVICES: dict[str, list[tuple[str, dict[CaseType, int]]]] = {
    "Assessment and Intervention": [
        ("Assessment Team North", {CaseType.CIN: 7, CaseType.CP: 3}),
        ("Assessment Team South", {CaseType.CIN: 7, CaseType.CP: 3}),
        ("Safeguarding and Family Support", {CaseType.CIN: 4, CaseType.CP: 6}),
    ],
    "Children in Care": [
        ("Children in Care Team 1", {CaseType.CLA: 1}),
        ("Children in Care Team 2", {CaseType.CLA: 1}),
        ("Permanence Team", {CaseType.CLA: 1}),
    ],
    "Care Leavers and Adolescents": [
        ("Leaving Care Team", {CaseType.CARE_LEAVER: 1}),
        ("Adolescent Support Team", {CaseType.CIN: 6, CaseType.CP: 4}),
    ],
    "Early Help": [
        ("Early Help Team North", {CaseType.EARLY_HELP: 1}),
        ("Early Help Team South", {CaseType.EARLY_HELP: 1}),
    ],
}
IRO_TEAM = "Independent Reviewing Team"
QA_TEAM = "Quality Assurance Team"
CASE_COLUMNS_OUT = (
    "case_reference", "case_type", "team", "allocated_worker_email", "previous_worker_email",
    "worker_changed_on", "team_manager_email", "iro_email", "active",
)


@dataclass
class _Staff:
    email: str
    name: str
    job_title: str
    roles: tuple[Role, ...]
    team: str = ""
    service: str = ""
    manager: str = ""


def _worker_title(team: str, rng: random.Random) -> str:
    if team.startswith("Leaving Care"):
        return "Personal Adviser"
    if team.startswith("Early Help"):
        return "Lead Practitioner"
    return rng.choice(("Social Worker", "Social Worker", "Senior Social Worker", "Advanced Practitioner"))


def _build_staff(rng: random.Random) -> list[_Staff]:
    names = [(f, s) for f in FIRST_NAMES for s in SURNAMES]
    rng.shuffle(names)
    pool = iter(names)
    staff: list[_Staff] = []

    def hire(title: str, roles: tuple[Role, ...], manager: _Staff | None, team: str = "", service: str = "") -> _Staff:
        first, last = next(pool)
        person = _Staff(f"{first}.{last}@{DOMAIN}".lower(), f"{first} {last}", title, roles, team, service)
        if manager is not None:
            person.manager = manager.email
        staff.append(person)
        return person

    dcs = hire("Director of Children's Services", (Role.AUDITOR,), None)
    service_names = list(SERVICES)
    ads = [
        hire(f"Assistant Director, {service_names[i]} and {service_names[i + 1]}", (Role.ASSISTANT_DIRECTOR, Role.AUDITOR), dcs)
        for i in (0, 2)
    ]
    while True:
        sizes = [rng.randint(4, 7) for _ in range(sum(len(t) for t in SERVICES.values()))]
        if 50 <= sum(sizes) <= 60:
            break
    size_iter = iter(sizes)
    for index, (service, teams) in enumerate(SERVICES.items()):
        hos = hire(f"Head of Service, {service}", (Role.HEAD_OF_SERVICE, Role.AUDITOR), ads[index // 2], service=service)
        manager_title = rng.choice(("Service Manager", "Group Manager"))
        sm = hire(f"{manager_title}, {service}", (Role.SERVICE_MANAGER, Role.AUDITOR), hos, service=service)
        for team, _types in teams:
            tm = hire(f"Team Manager, {team}", (Role.TEAM_MANAGER, Role.AUDITOR), sm, team, service)
            for _ in range(next(size_iter)):
                hire(_worker_title(team, rng), (Role.SOCIAL_WORKER,), tm, team, service)
    lead = hire(
        "Strategic Lead for Improvement, Performance & Quality", (Role.STRATEGIC_LEAD, Role.AUDITOR), dcs, QA_TEAM
    )
    for _ in range(2):
        hire("Quality Assurance Coordinator", (Role.QA_COORDINATOR,), lead, QA_TEAM)
    hire("Principal Social Worker", (Role.AUDITOR,), ads[0], QA_TEAM)
    for title in ("Independent Reviewing Officer",) * 3 + ("Child Protection Chair",) * 2:
        hire(title, (Role.IRO, Role.AUDITOR), lead, IRO_TEAM)
    return staff


def _write(path: Path, header: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(header), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def generate_demo(
    out_dir: Path,
    *,
    seed: int = 2026,
    with_case_system_extras: bool = False,
    reference_date: dt.date = DEMO_REFERENCE_DATE,
) -> tuple[Path, Path]:
    """Write ``staff.csv`` and ``cases.csv`` for a fictional council; return their paths.

    With ``with_case_system_extras`` the cases file also carries obviously fake ``child_name``
    and ``date_of_birth`` columns, as a case management system export would.
    """
    rng = random.Random(seed)
    fake = random.Random(seed + 1_000_003)  # a stream of its own: extras leave the rest unchanged
    out_dir.mkdir(parents=True, exist_ok=True)
    staff = _build_staff(rng)
    staff_rows = [
        {
            "email": p.email, "name": p.name, "job_title": p.job_title, "roles": ";".join(r.value for r in p.roles),
            "team": p.team, "service": p.service, "line_manager_email": p.manager, "active": "yes",
        }
        for p in staff
    ]
    team_types = {team: types for teams in SERVICES.values() for team, types in teams}
    workers = [p for p in staff if Role.SOCIAL_WORKER in p.roles]
    managers = {p.team: p for p in staff if Role.TEAM_MANAGER in p.roles}
    iros = [p for p in staff if Role.IRO in p.roles]
    team_workers: dict[str, list[_Staff]] = {}
    for w in workers:
        team_workers.setdefault(w.team, []).append(w)
    references = rng.sample(range(100000, 999999), CASE_COUNT)
    case_rows: list[dict[str, str]] = []
    for index, number in enumerate(references):
        worker = rng.choice(workers)
        types = team_types[worker.team]
        case_type = rng.choices(list(types), weights=list(types.values()))[0]
        row = {
            "case_reference": f"CMS-{number}", "case_type": case_type.value, "team": worker.team,
            "allocated_worker_email": worker.email, "previous_worker_email": "", "worker_changed_on": "",
            "team_manager_email": managers[worker.team].email,
            "iro_email": rng.choice(iros).email if case_type in (CaseType.CP, CaseType.CLA) else "",
            "active": "yes",
        }
        if rng.random() < CHANGED_WORKER_SHARE:
            others = [w for w in team_workers[worker.team] if w is not worker]
            row["previous_worker_email"] = rng.choice(others).email
            row["worker_changed_on"] = (reference_date - dt.timedelta(days=rng.randint(0, 41))).isoformat()
        if with_case_system_extras:
            age_days = fake.randint(18 * 365, 21 * 365) if case_type is CaseType.CARE_LEAVER else fake.randint(30, 17 * 365)
            row["child_name"] = f"{fake.choice(CHILD_FIRST)} Fakesurname{index:04d}"
            row["date_of_birth"] = (reference_date - dt.timedelta(days=age_days)).strftime("%d/%m/%Y")
        case_rows.append(row)
    case_header: tuple[str, ...] = CASE_COLUMNS_OUT
    if with_case_system_extras:
        case_header = ("case_reference", "child_name", "date_of_birth", *CASE_COLUMNS_OUT[1:])
    staff_path, cases_path = out_dir / "staff.csv", out_dir / "cases.csv"
    _write(staff_path, STAFF_COLUMNS, staff_rows)
    _write(cases_path, case_header, case_rows)
    return staff_path, cases_path


def load_demo(sessions: sessionmaker[Session], out_dir: Path, *, now: dt.datetime) -> tuple[ImportReport, ImportReport]:
    """Import ``out_dir``'s staff.csv then cases.csv into the store."""
    staff = import_staff(sessions, out_dir / "staff.csv", now=now)
    cases = import_cases(sessions, out_dir / "cases.csv", now=now)
    return staff, cases
