"""Staff and case CSV import: round trip, idempotence, validation, privacy and the CLI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import Context
from bot.cli.imports import register
from bot.services.staff.importer import (
    ImportFailed,
    RowProblem,
    import_cases,
    import_staff,
    is_child_identifying,
    normalise_header,
)
from bot.settings import load_settings
from store.db import make_engine, upgrade
from store.models import AuditLog, Base, Case, CaseType, Person, PersonRole, Role, Service, Team

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STAFF = (EXAMPLES / "staff.csv").read_text(encoding="utf-8")
CASES = (EXAMPLES / "cases.csv").read_text(encoding="utf-8")
ROLES = ("auditor, social_worker, team_manager, service_manager, group_manager, head_of_service, head_of_service_qa, "
         "assistant_director, strategic_lead, qa_coordinator, iro")
CASE_TYPES = "CIN, CP, CLA, care_leaver, early_help, fostering, adoption"


def _write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding, newline="")
    return path


def _load_examples(sessions: sessionmaker[Session], now: dt.datetime) -> None:
    import_staff(sessions, EXAMPLES / "staff.csv", now=now)
    import_cases(sessions, EXAMPLES / "cases.csv", now=now)


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for 'the store is exactly as before' assertions."""
    with sessions() as session:
        return {
            table.name: sorted(tuple(row) for row in session.execute(select(table)))
            for table in Base.metadata.sorted_tables
        }


def _counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Service, Team, Person, PersonRole, Case, AuditLog)
        }


def _person(sessions: sessionmaker[Session], email: str) -> Person:
    with sessions() as session:
        person = session.scalars(select(Person).where(Person.email == email)).one()
        _ = person.team, person.service, person.line_manager
        return person


def _case(sessions: sessionmaker[Session], reference: str) -> Case:
    with sessions() as session:
        case = session.scalars(select(Case).where(Case.reference == reference)).one()
        _ = case.team, case.allocated_worker, case.previous_worker, case.team_manager, case.iro
        return case


@contextmanager
def _writes(engine: Engine) -> Iterator[list[str]]:
    """Collect the INSERT/UPDATE/DELETE statements run on ``engine``."""
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"INSERT", "UPDATE", "DELETE"}:
            seen.append(statement.split("(")[0].strip())

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def test_examples_round_trip(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    staff = import_staff(session_factory, EXAMPLES / "staff.csv", now=now)
    assert (staff.created, staff.updated, staff.unchanged, staff.warnings) == (9, 0, 0, [])
    assert (staff.teams_created, staff.services_created) == (3, 1)
    cases = import_cases(session_factory, EXAMPLES / "cases.csv", now=now)
    assert (cases.created, cases.updated, cases.unchanged, cases.warnings) == (6, 0, 0, [])
    assert _counts(session_factory) == {
        "services": 1, "teams": 3, "people": 9, "person_roles": 14, "cases": 6, "audit_log": 2,
    }

    tom = _person(session_factory, "tom.birch@council.example")
    assert tom.display_name == "Tom Birch" and tom.job_title == "Team Manager"
    assert tom.roles == {Role.TEAM_MANAGER, Role.AUDITOR}
    assert tom.team is not None and tom.team.name == "Children in Care Team 1"
    assert tom.service is not None and tom.service.name == "Children in Care"
    assert tom.line_manager is not None and tom.line_manager.email == "sarah.whitfield@council.example"
    priya = _person(session_factory, "priya.sharma@council.example")
    assert priya.service is not None and priya.service.name == "Children in Care"  # from her team
    assert _person(session_factory, "john.price@council.example").active is False
    assert _person(session_factory, "helen.marsh@council.example").active is True  # blank means yes
    amira = _person(session_factory, "amira.khan@council.example")
    assert (amira.line_manager, amira.team, amira.service) == (None, None, None)

    lac = _case(session_factory, "CMS-100102")
    assert lac.case_type is CaseType.CLA and lac.team.name == "Children in Care Team 1"
    assert lac.allocated_worker is not None and lac.allocated_worker.email == "liam.doyle@council.example"
    assert lac.previous_worker is not None and lac.previous_worker.email == "john.price@council.example"
    assert lac.worker_changed_on == dt.date(2026, 10, 19)
    assert lac.iro is not None and lac.iro.email == "grace.adeyemi@council.example"
    uk_date = _case(session_factory, "CMS-100104")
    assert uk_date.worker_changed_on == dt.date(2026, 10, 12)
    assert uk_date.team_manager is not None and uk_date.team_manager.email == "tom.birch@council.example"
    assert _case(session_factory, "CMS-100105").case_type is CaseType.CARE_LEAVER
    closed = _case(session_factory, "CMS-100106")
    assert (closed.active, closed.allocated_worker_id) == (False, None)


def test_reimport_is_unchanged_and_writes_only_the_audit_entry(
    engine: Engine, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    _load_examples(session_factory, now)
    before = _snapshot(session_factory)
    with _writes(engine) as writes:
        staff = import_staff(session_factory, EXAMPLES / "staff.csv", now=now)
        cases = import_cases(session_factory, EXAMPLES / "cases.csv", now=now)
    assert (staff.created, staff.updated, staff.unchanged) == (0, 0, 9)
    assert (cases.created, cases.updated, cases.unchanged) == (0, 0, 6)
    assert (staff.teams_created, staff.services_created) == (0, 0)
    assert writes == ["INSERT INTO audit_log", "INSERT INTO audit_log"]
    after = _snapshot(session_factory)
    assert len(after.pop("audit_log")) == len(before.pop("audit_log")) + 2
    assert after == before


def test_update_changes_fields_and_replaces_roles(
    tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    _load_examples(session_factory, now)
    staff_text = (
        STAFF.replace("Priya Sharma,Social Worker,", "Priya Sharma,Senior Social Worker,")
        .replace("team_manager;auditor,Children in Care Team 1", "team_manager,Children in Care Team 1")
        .replace("liam.doyle@council.example,Liam Doyle", "Liam.Doyle@Council.Example ,Liam Doyle")
    )
    report = import_staff(session_factory, _write(tmp_path, "staff.csv", staff_text), now=now)
    assert (report.created, report.updated, report.unchanged) == (0, 2, 7)
    assert report.warnings == [
        "1 manager(s) or IRO(s) without the auditor role will not be given audits (row 5); "
        "add auditor to their roles if they should audit"
    ]
    assert _person(session_factory, "priya.sharma@council.example").job_title == "Senior Social Worker"
    assert _person(session_factory, "tom.birch@council.example").roles == {Role.TEAM_MANAGER}

    cases_text = CASES.replace(
        "CMS-100101,CLA,Children in Care Team 1,priya.sharma@council.example",
        "CMS-100101,CLA,Children in Care Team 1,liam.doyle@council.example",
    )
    report = import_cases(session_factory, _write(tmp_path, "cases.csv", cases_text), now=now)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 5)
    assert _case(session_factory, "CMS-100101").allocated_worker.email == "liam.doyle@council.example"  # type: ignore[union-attr]
    assert _counts(session_factory)["people"] == 9


def test_partial_file_neither_deletes_nor_clears_omitted_columns(
    tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    _load_examples(session_factory, now)
    partial = "email,name,roles\npriya.sharma@council.example,Priya Sharma,social_worker\n"
    report = import_staff(session_factory, _write(tmp_path, "staff.csv", partial), now=now)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 1)
    priya = _person(session_factory, "priya.sharma@council.example")
    assert priya.line_manager is not None and priya.line_manager.email == "tom.birch@council.example"
    assert priya.team is not None and priya.team.name == "Children in Care Team 1"
    assert _counts(session_factory)["people"] == 9
    leaver = "email,name,roles,active\nliam.doyle@council.example,Liam Doyle,social_worker,no\n"
    report = import_staff(session_factory, _write(tmp_path, "staff.csv", leaver), now=now)
    assert (report.updated, _person(session_factory, "liam.doyle@council.example").active) == (1, False)


def _staff_row(old: str, new: str) -> Callable[[], tuple[str, str]]:
    return lambda: ("staff.csv", STAFF.replace(old, new, 1))


def _cases_row(old: str, new: str) -> Callable[[], tuple[str, str]]:
    return lambda: ("cases.csv", CASES.replace(old, new, 1))


BAD_FILES: dict[str, tuple[Callable[[], tuple[str, str]], list[RowProblem]]] = {
    "unknown role": (
        _staff_row("Liam Doyle,Senior Social Worker,social_worker", "Liam Doyle,Senior Social Worker,manger"),
        [RowProblem("staff.csv", 7, "roles", f'unknown role "manger" (expected one of: {ROLES})')],
    ),
    "bad email": (
        _staff_row("helen.marsh@council.example,", "helen.marsh at council,"),
        [RowProblem("staff.csv", 10, "email", '"helen.marsh at council" is not a valid email address')],
    ),
    "missing line manager": (
        _staff_row("Head of Service Children in Care,head_of_service;auditor,,Children in Care,amira.khan@",
                   "Head of Service Children in Care,head_of_service;auditor,,Children in Care,nobody@"),
        [RowProblem("staff.csv", 3, "line_manager_email",
                    'line manager "nobody@council.example" is not in this file or already known')],
    ),
    "own line manager": (
        _staff_row("Amira Khan,Assistant Director Children's Social Care,assistant_director;auditor,,,,",
                   "Amira Khan,Assistant Director Children's Social Care,assistant_director;auditor,,,"
                   "amira.khan@council.example,"),
        [RowProblem("staff.csv", 2, "line_manager_email", "a person cannot be their own line manager")],
    ),
    "line management cycle": (
        _staff_row("assistant_director;auditor,,,,", "assistant_director;auditor,,,sarah.whitfield@council.example,"),
        [RowProblem("staff.csv", 2, "line_manager_email", "line management cycle: amira.khan@council.example → "
                    "sarah.whitfield@council.example → david.okafor@council.example → amira.khan@council.example")],
    ),
    "team in another service": (
        _staff_row("Children in Care Team 1,,tom.birch@council.example,yes\nliam",
                   "Children in Care Team 1,Early Help,tom.birch@council.example,yes\nliam"),
        [RowProblem("staff.csv", 6, "service", 'team "Children in Care Team 1" already belongs to service "Children in Care"')],
    ),
    "team given two services in the file": (
        lambda: ("staff.csv", STAFF + "a.b@council.example,A B,,iro,New Team,Service A,,\n"
                 "c.d@council.example,C D,,iro,new  team,Service B,,\n"),
        [RowProblem("staff.csv", 12, "service", 'team "new team" is given a different service on row 11')],
    ),
    "duplicate email": (
        _staff_row("helen.marsh@council.example,", "PRIYA.sharma@council.example,"),
        [RowProblem("staff.csv", 10, "email", 'duplicate email "priya.sharma@council.example" (also on row 6)')],
    ),
    "missing required column": (
        lambda: ("staff.csv", STAFF.replace(",roles,", ",role_list,", 1)),
        [RowProblem("staff.csv", 1, "roles", "required column is missing")],
    ),
    "empty file": (lambda: ("staff.csv", ""), [RowProblem("staff.csv", 1, "", "the file is empty")]),
    "header only": (
        lambda: ("cases.csv", CASES.splitlines()[0] + "\n"),
        [RowProblem("cases.csv", 1, "", "the file has a header row but no data rows")],
    ),
    "unknown team": (
        _cases_row("CMS-100103,CLA,Children in Care Team 1", "CMS-100103,CLA,Children In Care Team 9"),
        [RowProblem("cases.csv", 4, "team", 'unknown team "Children In Care Team 9" (teams come from the staff file)')],
    ),
    "bad date": (
        _cases_row("12/10/2026", "31/02/2026"),
        [RowProblem("cases.csv", 5, "worker_changed_on", '"31/02/2026" is not a date (use YYYY-MM-DD or DD/MM/YYYY)')],
    ),
    "future date": (
        _cases_row("2026-10-19", "2026-12-01"),
        [RowProblem("cases.csv", 3, "worker_changed_on", "2026-12-01 is in the future")],
    ),
    "unknown case type and unknown worker": (
        _cases_row("CMS-100106,CLA,Children in Care Team 1,,",
                   "CMS-100106,foster care,Children in Care Team 1,x@council.example,"),
        [RowProblem("cases.csv", 7, "case_type", f'unknown case type "foster care" (expected one of: {CASE_TYPES})'),
         RowProblem("cases.csv", 7, "allocated_worker_email",
                    '"x@council.example" is not a known member of staff (import the staff file first)')],
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_reports_every_problem_and_writes_nothing(
    name: str, tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    make, expected = BAD_FILES[name]
    _load_examples(session_factory, now)
    file_name, text = make()
    # A valid new person/case and a valid change ride along: they must not be written either.
    if file_name == "staff.csv" and text:
        text = text.replace("Priya Sharma,Social Worker", "Priya Sharma,Changed Title") + (
            "new.person@council.example,New Person,Social Worker,social_worker,New Team,,tom.birch@council.example,yes\n"
        )
    elif text and "\n" in text.rstrip("\n"):
        text += "CMS-999999,CIN,Children in Care Team 1,,,,,,yes\n"
    before = _snapshot(session_factory)
    importer = import_staff if file_name == "staff.csv" else import_cases
    with pytest.raises(ImportFailed) as failure:
        importer(session_factory, _write(tmp_path, file_name, text), now=now)
    assert failure.value.problems == expected
    assert str(failure.value) == "\n".join(str(p) for p in expected)
    assert _snapshot(session_factory) == before
    assert _counts(session_factory) == {
        "services": 1, "teams": 3, "people": 9, "person_roles": 14, "cases": 6, "audit_log": 2,
    }


def test_problem_text_matches_the_documented_form(
    tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    text = STAFF.replace("Liam Doyle,Senior Social Worker,social_worker", "Liam Doyle,Senior Social Worker,manger")
    text = text.replace("helen.marsh@council.example,", "helen.marsh@,")
    with pytest.raises(ImportFailed) as failure:
        import_staff(session_factory, _write(tmp_path, "staff.csv", text), now=now)
    assert str(failure.value).splitlines() == [
        f'staff.csv row 7, column roles: unknown role "manger" (expected one of: {ROLES})',
        'staff.csv row 10, column email: "helen.marsh@" is not a valid email address',
    ]
    assert _counts(session_factory)["people"] == 0


def test_bom_semicolons_and_blank_lines_are_accepted(
    tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    text = "Email;Name;Roles;Team;Active\r\n\r\n ANA.LIMA@Council.Example ;Ana  Lima;Social Worker;Team A;TRUE\r\n"
    report = import_staff(session_factory, _write(tmp_path, "staff.csv", text, encoding="utf-8-sig"), now=now)
    assert (report.created, report.teams_created, report.services_created) == (1, 1, 0)
    ana = _person(session_factory, "ana.lima@council.example")
    assert (ana.display_name, ana.roles, ana.team.name, ana.active) == ("Ana Lima", {Role.SOCIAL_WORKER}, "Team A", True)  # type: ignore[union-attr]


def test_non_utf8_file_is_a_clear_error(tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    path = tmp_path / "staff.csv"
    path.write_bytes("email,name,roles\nz@council.example,Zoë,iro\n".encode("cp1252"))
    with pytest.raises(ImportFailed) as failure:
        import_staff(session_factory, path, now=now)
    assert failure.value.problems == [
        RowProblem("staff.csv", 2, "", 'the file is not UTF-8 text (in Excel, save as "CSV UTF-8")')
    ]


SECRETS = ("Zebedee Quxworth", "03/04/2015", "17 Secret Lane", "ZZ99 9ZZ", "943 476 5919", "A123456789012", "Lorem-Status-42")


def test_child_identifying_columns_are_never_read(
    tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    import_staff(session_factory, EXAMPLES / "staff.csv", now=now)
    header = "Case Reference,Child Name,Date of Birth,Address Line 1,Post-code,NHS Number,UPN,Legal Status,Case Type,Team\n"
    row = "CMS-1,{},{},{},{},{},{},{},CIN,Children in Care Team 1\n".format(*SECRETS)
    report = import_cases(session_factory, _write(tmp_path, "cases.csv", header + row), now=now)
    assert report.created == 1
    assert report.warnings == [
        "column(s) child_name, date_of_birth, address_line_1, post_code, nhs_number, upn ignored: "
        "the bot does not hold children's personal details",
        "column(s) legal_status ignored: not a column of the cases file",
    ]
    texts = [str(v) for table in _snapshot(session_factory).values() for row_ in table for v in row_ if v is not None]
    texts += [str(report), *report.warnings]
    assert [s for s in SECRETS if any(s in t for t in texts)] == []

    bad = header + row.replace("CMS-1,", "CMS 1,").replace(",CIN,", ",XYZ,")
    with pytest.raises(ImportFailed) as failure:
        import_cases(session_factory, _write(tmp_path, "cases.csv", bad), now=now)
    assert len(failure.value.problems) == 2
    assert [s for s in SECRETS if s in str(failure.value)] == []


def test_header_normalisation_and_privacy_names() -> None:
    assert normalise_header("  Line-Manager Email ") == "line_manager_email"
    private = ["name", "child_name", "first_name", "surname", "forename", "dob", "date_of_birth", "address",
               "postcode", "nhs_number", "upn", "child_first_name"]
    assert [c for c in private if not is_child_identifying(c)] == []
    assert [c for c in ("team", "team_name", "case_type", "legal_status", "iro_email") if is_child_identifying(c)] == []


def test_audit_log_entry_per_import(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    _load_examples(session_factory, now)
    with session_factory() as session:
        entries = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.action, e.actor_ref, e.outcome, e.at) for e in entries] == [
        ("import.staff", "cli", "ok", now),
        ("import.cases", "cli", "ok", now),
    ]
    assert entries[0].detail == {
        "file": "staff.csv", "rows": 9, "created": 9, "updated": 0, "unchanged": 0, "warnings": 0,
        "teams_created": 3, "services_created": 1,
    }
    assert entries[1].detail["created"] == 6 and entries[1].detail["file"] == "cases.csv"


def test_team_manager_defaulting(tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    staff = STAFF + (
        "pat.lowe@council.example,Pat Lowe,Team Manager,team_manager;auditor,Early Help Team,Early Help,"
        "amira.khan@council.example,yes\n"
        "sam.okoro@council.example,Sam Okoro,Team Manager,team_manager;auditor,Early Help Team,,amira.khan@council.example,yes\n"
        "old.tm@council.example,Old Manager,Team Manager,team_manager,Quality Assurance Team,,,no\n"
    )
    import_staff(session_factory, _write(tmp_path, "staff.csv", staff), now=now)
    cases = (
        "case_reference,case_type,team,team_manager_email\n"
        "CMS-1,CLA,Children in Care Team 1,\n"
        "CMS-2,early help,Early Help Team,\n"
        "CMS-3,EH,Early Help Team,sam.okoro@council.example\n"
        "CMS-4,CiN,Quality Assurance Team,\n"
    )
    report = import_cases(session_factory, _write(tmp_path, "cases.csv", cases), now=now)
    assert report.created == 4
    assert report.warnings == [
        'team manager left empty for 1 case(s) in team "Early Help Team" (row 3): 2 active team managers in that team',
        'team manager left empty for 1 case(s) in team "Quality Assurance Team" (row 5): no active team manager in that team',
    ]
    managers = {ref: _case(session_factory, ref).team_manager for ref in ("CMS-1", "CMS-2", "CMS-3", "CMS-4")}
    assert {ref: (p.email if p else None) for ref, p in managers.items()} == {
        "CMS-1": "tom.birch@council.example",
        "CMS-2": None,
        "CMS-3": "sam.okoro@council.example",
        "CMS-4": None,
    }
    assert _case(session_factory, "CMS-4").case_type is CaseType.CIN


def test_large_file_uses_few_statements_and_reports_progress(
    engine: Engine, tmp_path: Path, session_factory: sessionmaker[Session], now: dt.datetime
) -> None:
    import_staff(session_factory, EXAMPLES / "staff.csv", now=now)
    lines = ["case_reference,case_type,team,allocated_worker_email"]
    lines += [f"REF-{i},CIN,Children in Care Team 1,priya.sharma@council.example" for i in range(2500)]
    path = _write(tmp_path, "cases.csv", "\n".join(lines) + "\n")
    calls: list[int] = []
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        report = import_cases(session_factory, path, now=now, progress=calls.append)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert calls == [1000, 1000, 500]
    assert report.created == 2500
    assert len(statements) < 20
    assert _counts(session_factory)["cases"] == 2500


def _cli(tmp_path: Path) -> tuple[click.Group, Context]:
    url = f"sqlite:///{tmp_path}/cli.db"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    @click.group()
    def group() -> None:
        """Test group."""

    register(group)
    def clock() -> dt.datetime:
        return dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    return group, Context(load_settings(database_url=url, data_dir=tmp_path / "data"), clock=clock)


def test_cli_import_prints_report_and_fails_with_problems(tmp_path: Path) -> None:
    group, ctx = _cli(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(group, ["import", "staff", str(EXAMPLES / "staff.csv")], obj=ctx)
    assert ok.exit_code == 0, ok.output
    assert ok.output == "staff.csv: 9 created, 0 updated, 0 unchanged, 3 team(s) created, 1 service(s) created\n"
    ok = runner.invoke(group, ["import", "cases", str(EXAMPLES / "cases.csv")], obj=ctx)
    assert (ok.exit_code, ok.output) == (0, "cases.csv: 6 created, 0 updated, 0 unchanged\n")

    bad = _write(tmp_path, "cases.csv", CASES.replace("2026-10-19", "2026-12-01"))
    failed = runner.invoke(group, ["import", "cases", str(bad)], obj=ctx)
    assert failed.exit_code == 1
    assert "cases.csv row 3, column worker_changed_on: 2026-12-01 is in the future" in failed.output
    assert "cases.csv: 1 problem(s) found; nothing was imported" in failed.output
    assert "Traceback" not in failed.output
    assert isinstance(failed.exception, SystemExit)


def test_cli_demo_data_writes_and_loads(tmp_path: Path) -> None:
    group, ctx = _cli(tmp_path)
    out = tmp_path / "demo"
    result = CliRunner().invoke(group, ["demo-data", "--out", str(out), "--seed", "7", "--no-load"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote {out / 'staff.csv'} and {out / 'cases.csv'}\n"
    result = CliRunner().invoke(group, ["demo-data", "--out", str(out), "--seed", "7"], obj=ctx)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("staff.csv: ") and "0 updated, 0 unchanged, 12 team(s) created, 4 service(s) created" in lines[1]
    assert lines[2] == "cases.csv: 500 created, 0 updated, 0 unchanged"
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 500
