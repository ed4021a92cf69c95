"""``auditbot import outcomes FILE.csv``: audits recorded in the council's case system, imported
as if each had been recorded in chat (examples/README.md describes the file).

Every row is checked first, by the chat form's own rules (``form.check_record``); if any row has
a problem, every problem is listed by row and column and nothing is written. Otherwise each
audit is stored by ``record.store_record``, exactly as a chat submission is: the allocation is
completed on the day given (on time or late), the auditor's messages are edited and the findings
are queued for the worker, team manager and IRO. Columns that look like a child's personal
details are never read.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.services.audits.findings import findings_recipients
from bot.services.audits.form import (
    YES_NO,
    FamilyBy,
    FamilySought,
    FamilyView,
    Field,
    RecordFlag,
    RecordForm,
    SeenRole,
    action_field,
    check_record,
    section_field,
)
from bot.services.audits.record import RECORDABLE, RecordedMeanwhile, store_record
from bot.services.audits.schemes import Grade, Scheme, current_scheme
from bot.services.guardrail import check_text
from bot.services.staff.csvcheck import (
    _YES,
    ImportFailed,
    Progress,
    RowProblem,
    _Checker,
    _read_sheet,
    _Sheet,
    _shown,
    normalise_header,
)
from bot.settings import Settings
from store import audit
from store.db import unit_of_work
from store.models import Allocation, Case, Person
from store.queries import load_allocation
from store.records import AuditRecord, RecordSource

#: Columns every outcomes file may have besides the scheme's sections and the numbered actions.
COLUMNS = ("case_reference", "month", "submitted_on", "overall", "rationale", "good_practice", "elements", "reason",
           "seen", "family_sought", "family_by", "family_view", "child_feedback", "flags", "no_actions_reason")
#: The columns a file must have: which audit, and what the chat form always asks for.
REQUIRED = ("case_reference", "month", "overall", "rationale", "seen", "family_sought", "child_feedback")
_ACTION = re.compile(r"action_([1-9]\d{0,2})(_owner_email|_due)?")
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
#: Other ways a file may say whether the family's views were sought.
_YES_NO = {word: "yes" if yes else "no" for word, yes in _YES.items()}
_SOUGHT = {**_YES_NO, "n/a": FamilySought.NOT_APPROPRIATE, "na": FamilySought.NOT_APPROPRIATE,
           "not_applicable": FamilySought.NOT_APPROPRIATE}
#: The time of day an audit submitted on an earlier day is stored at (only its date counts).
SUBMITTED_AT = dt.time(12, 0)


class _Columns:
    """The known columns: the fixed ones, the scheme's section keys, and ``action_<n>[_owner_email|_due]``."""

    def __init__(self, scheme: Scheme) -> None:
        self.fixed = {*COLUMNS, *(s.key for s in scheme.sections)}

    def __contains__(self, column: object) -> bool:
        return column in self.fixed or (isinstance(column, str) and _ACTION.fullmatch(column) is not None)


def column_of(key: str) -> str:
    """The CSV column a form field (block id) is read from."""
    if key.startswith("section:"):
        return key.split(":", 1)[1]
    if m := re.fullmatch(r"action_(\d+)_(what|owner|due)", key):
        return f"action_{m[1]}" + {"what": "", "owner": "_owner_email", "due": "_due"}[m[2]]
    return "no_actions_reason" if key == Field.NO_ACTIONS else key


@dataclass
class OutcomesReport:
    """What an outcomes import did: audits recorded (on time, late), actions, who gets findings."""

    file: str = ""
    recorded: int = 0
    on_time: int = 0
    late: int = 0
    actions: int = 0
    told: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line of counts."""
        people = "person" if self.told == 1 else "people"
        return (f"{self.file}: {self.recorded} audit(s) recorded ({self.on_time} on time, {self.late} late), "
                f"{self.actions} action(s); findings queued for {self.told} {people}")

    def detail(self, rows: int) -> dict[str, Any]:
        """The audit-log detail: the file name and counts only."""
        return {**asdict(self), "warnings": len(self.warnings), "rows": rows}


@dataclass
class _Row:
    row: int
    allocation_id: int
    form: RecordForm
    submitted_on: dt.date


def _grade(scale: tuple[Grade, ...], value: str) -> Grade | None:
    """The point of ``scale`` a cell names, by value or label, in any case."""
    wanted = {value.casefold(), normalise_header(value)}
    return next((g for g in scale if g.value in wanted or g.label.casefold() in wanted), None)


def _tokens(value: str) -> list[str]:
    return [normalise_header(t) for t in re.split(r"[;,|]", value) if t.strip()]


class _OutcomeChecker(_Checker):
    """The cell checks plus the outcome file's grades, role lists and choices (never echoing free text)."""

    def grade(self, row: int, column: str, value: str | None, scale: tuple[Grade, ...]) -> str:
        grade = _grade(scale, value) if value else None
        if value and grade is None:
            self.add(row, column, f"not a grade on this scheme (expected one of: {', '.join(g.label for g in scale)})")
        return grade.value if grade is not None else ""

    def many(self, row: int, column: str, value: str | None, allowed: type[StrEnum]) -> list[str]:
        found = _tokens(value or "")
        if any(t not in allowed._value2member_map_ for t in found):
            self.add(row, column, f"expected one or more of {', '.join(allowed)}, separated by ;")
        return [t for t in found if t in allowed._value2member_map_]

    def one(self, row: int, column: str, value: str | None, allowed: tuple[str, ...], aliases: dict[str, str]) -> str:
        token = normalise_header(value or "")
        chosen = aliases.get(token, token)
        if token and chosen not in allowed:
            self.add(row, column, f"expected one of {', '.join(allowed)}")
        return chosen if chosen in allowed else ""


def import_outcomes(
    sessions: sessionmaker[Session], path: Path, *, settings: Settings, calendar: WorkingCalendar, now: dt.datetime,
    progress: Progress | None = None,
) -> OutcomesReport:
    """Record every audit in the file, or none: raise ImportFailed with every problem found."""
    scheme = current_scheme(settings.grading_scheme)
    required = (*REQUIRED, *(s.key for s in scheme.sections), *(("good_practice",) if scheme.good_practice_required else ()))
    sheet = _read_sheet(path, _Columns(scheme), required, cases=True, kind="outcomes")
    check = _OutcomeChecker(sheet, progress)
    today = calendar.local_date(now)
    with unit_of_work(sessions) as session:
        rows = _check_rows(session, sheet, check, scheme, settings, calendar, today)
        check.tick(final=True)
        if check.problems:
            raise ImportFailed(check.problems)
        report = OutcomesReport(file=sheet.file, warnings=list(sheet.warnings))
        told: set[int] = set()
        for row in sorted(rows, key=lambda r: r.allocation_id):  # locked in one order: no deadlock with another import
            record = _store(session, sheet.file, row, scheme, settings, calendar, today=today, now=now)
            allocation = record.allocation
            done_on = calendar.local_date(allocation.completed_at or record.submitted_at)
            report.recorded += 1
            report.on_time += done_on <= allocation.due_date
            report.late += done_on > allocation.due_date
            report.actions += len(record.actions)
            told |= {person.id for _, person in findings_recipients(record)}
        report.told = len(told)
        detail = report.detail(len(sheet.rows))
        audit.record(session, now=now, action="import.outcomes", actor_ref="cli", subject_type="import", detail=detail)
    return report


def _store(
    session: Session, file: str, row: _Row, scheme: Scheme, settings: Settings, calendar: WorkingCalendar, *,
    today: dt.date, now: dt.datetime,
) -> AuditRecord:
    """Lock the row's allocation and store its record as a chat submission would be stored."""
    allocation = load_allocation(session, row.allocation_id, lock=True)
    assert allocation is not None
    if allocation.state not in RECORDABLE:
        raise ImportFailed([RowProblem(file, row.row, "case_reference", "the audit was closed meanwhile")])
    at = now if row.submitted_on == today else calendar.utc(row.submitted_on, SUBMITTED_AT)
    try:
        return store_record(session, allocation, row.form, scheme, settings, calendar, source=RecordSource.IMPORT,
                            by=allocation.auditor, now=now, actor_ref="cli", submitted_at=at)
    except RecordedMeanwhile:
        raise ImportFailed([RowProblem(file, row.row, "case_reference", "the audit was recorded meanwhile")]) from None


def _check_rows(
    session: Session, sheet: _Sheet, check: _OutcomeChecker, scheme: Scheme, settings: Settings,
    calendar: WorkingCalendar, today: dt.date,
) -> list[_Row]:
    """Check every row; the rows that passed (``check.problems`` holds the rest)."""
    cases = {ref: cid for cid, ref in session.execute(select(Case.id, Case.reference))}
    folded = {ref.casefold(): cid for ref, cid in cases.items()}
    people = {email.strip().lower(): (pid, active) for pid, email, active in session.execute(
        select(Person.id, Person.email, Person.active))}
    owners = {pid for pid, active in people.values() if active}
    numbers = sorted({int(m[1]) for c in sheet.columns if (m := _ACTION.fullmatch(c))})
    slots = max(numbers, default=0)

    def guard(text: str) -> str | None:
        return check_text(session, text, today=today, level=settings.privacy_guardrail)

    first_row: dict[tuple[int, dt.date], int] = {}
    passed: list[_Row] = []
    for n, cells in sheet.rows:
        check.tick()
        before = len(check.problems)
        get = functools.partial(_cell, sheet, cells)

        reference, month_text = get("case_reference"), get("month")
        case_id = cases.get(reference, folded.get(reference.casefold()))
        if not reference:
            check.add(n, "case_reference", "required value is blank")
        elif case_id is None:
            check.add(n, "case_reference", f'unknown case "{_shown(reference)}" (import the cases file first)')
        month = None
        if m := _MONTH.fullmatch(month_text):
            month = dt.date(int(m[1]), int(m[2]), 1) if 1 <= int(m[2]) <= 12 else None
        if month is None:
            problem = f'"{_shown(month_text)}" is not a month (use YYYY-MM)' if month_text else "required value is blank"
            check.add(n, "month", problem)
        submitted_on = check.date(n, "submitted_on", sheet.get(cells, "submitted_on"), today) or today
        allocation_id = None
        if case_id is not None and month is not None:
            allocation_id = _allocation(session, check, n, reference, (case_id, month), first_row, calendar)
            if allocation_id is not None and submitted_on < (allocated := calendar.local_date(allocation_id[1])):
                check.add(n, "submitted_on", f"{submitted_on.isoformat()} is before the audit was allocated ({allocated})")
        values = _values(check, n, get, scheme, people, numbers)
        errors, form = check_record(values, scheme, today=submitted_on, owners=owners, guard=guard, slots=slots)
        has_actions = any(get(c) for c in sheet.columns if _ACTION.fullmatch(c))
        _add_form_errors(check, n, errors, before, has_actions=has_actions, submitted_on=submitted_on)
        if allocation_id is not None and len(check.problems) == before:
            passed.append(_Row(n, allocation_id[0], form, submitted_on))
    return passed


def _cell(sheet: _Sheet, cells: list[str], column: str) -> str:
    return sheet.get(cells, column) or ""


def _values(
    check: _OutcomeChecker, n: int, get: Callable[[str], str], scheme: Scheme, people: dict[str, tuple[int, bool]],
    numbers: list[int],
) -> dict[str, Any]:
    """A row as the record form's values (block id → value), each cell parsed; a cell that
    cannot be parsed is a problem and given to the form as blank."""
    values: dict[str, Any] = {
        **{section_field(s.key): check.grade(n, s.key, get(s.key), scheme.section_scale) for s in scheme.sections},
        Field.OVERALL: check.grade(n, "overall", get("overall"), scheme.overall_scale),
        **{key: get(column_of(key)) for key in (Field.RATIONALE, Field.GOOD_PRACTICE, Field.ELEMENTS, Field.REASON,
                                                 Field.NO_ACTIONS)},
        Field.SEEN: check.many(n, "seen", get("seen"), SeenRole),
        Field.FAMILY_BY: check.many(n, "family_by", get("family_by"), FamilyBy),
        Field.FLAGS: check.many(n, "flags", get("flags"), RecordFlag),
        Field.FAMILY_SOUGHT: check.one(n, "family_sought", get("family_sought"), tuple(FamilySought), _SOUGHT),
        Field.FAMILY_VIEW: check.one(n, "family_view", get("family_view"), tuple(FamilyView), {}),
        Field.CHILD_FEEDBACK: check.one(n, "child_feedback", get("child_feedback"), YES_NO, _YES_NO),
    }
    for k in numbers:
        owner = check.email(n, f"action_{k}_owner_email", get(f"action_{k}_owner_email"))
        found = people.get(owner) if owner else None
        if owner and (found is None or not found[1]):
            why = "no longer active" if found else "not a known member of staff"
            check.add(n, f"action_{k}_owner_email", f'"{owner}" is {why}')
        due = check.date(n, f"action_{k}_due", get(f"action_{k}_due"), dt.date.max)
        values[action_field(k, "what")] = get(f"action_{k}")
        values[action_field(k, "owner")] = str(found[0]) if found else ""
        values[action_field(k, "due")] = due.isoformat() if due else ""
    return values


def _allocation(
    session: Session, check: _OutcomeChecker, n: int, reference: str, key: tuple[int, dt.date],
    first_row: dict[tuple[int, dt.date], int], calendar: WorkingCalendar,
) -> tuple[int, dt.datetime] | None:
    """The open allocation of the case in the month with no record yet (its id and when it was
    made); else a problem and None."""
    case_id, month = key
    month_text = f"{month:%Y-%m}"
    if key in first_row:
        check.add(n, "case_reference", f"the audit of {reference} in {month_text} is also on row {first_row[key]}")
        return None
    first_row[key] = n
    allocation = session.scalar(select(Allocation).where(Allocation.case_id == case_id, Allocation.month_start == month))
    if allocation is None:
        check.add(n, "month", f"case {reference} has no audit allocated in {month_text}")
        return None
    record_at = session.scalar(select(AuditRecord.submitted_at).where(AuditRecord.allocation_id == allocation.id))
    if record_at is not None:
        day = calendar.local_date(record_at).isoformat()
        check.add(n, "case_reference", f"the audit of {reference} in {month_text} was already recorded on {day}")
        return None
    if allocation.state not in RECORDABLE:
        check.add(n, "case_reference", f"the audit of {reference} in {month_text} was {allocation.state.value}: "
                                       "there is nothing to record")
        return None
    return allocation.id, allocation.created_at


def _add_form_errors(
    check: _OutcomeChecker, n: int, errors: dict[str, str], before: int, *, has_actions: bool, submitted_on: dt.date
) -> None:
    """The form's field errors as row-and-column problems, one per column (a cell already found
    wrong is not reported again)."""
    flagged = {p.column for p in check.problems[before:]}
    if not has_actions and Field.NO_ACTIONS in errors and action_field(1, "what") in errors:
        # the form's "add an action, or say below why none is needed", in the file's terms
        errors.pop(action_field(1, "what"))
        errors[Field.NO_ACTIONS] = ("give at least one action (action_1, action_1_owner_email, action_1_due) "
                                    "or say here why none is needed")
    for key, message in errors.items():
        column = column_of(key)
        if column not in flagged:
            flagged.add(column)
            check.add(n, column, message.replace("after today", f"after the day it was submitted ({submitted_on})"))
