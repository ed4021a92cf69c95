"""Generic CSV reading and cell checking for the imports: decode, split and check a file, collecting every problem.

A column that looks like a child's personal details is never read (``is_child_identifying``); its values appear nowhere.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path

Progress = Callable[[int], None]
PROGRESS_EVERY = 1000

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")
_PRIVATE = re.compile(
    r"^(name|dob|upn|address|post_?code|nhs|gender|sex)$|date_of_birth|birth|(^|_)(surnames?|forenames?|firstname|"
    r"lastname|fullname|dob|upn|post_?code|address|nhs|ethnicity|religion)(_|$)|"
    r"(^|_)(child|childs|first|last|given|family|full|middle|legal|preferred|known|young|person|sur|fore)_names?(_|$)"
)
_YES = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}


@dataclass(frozen=True)
class RowProblem:
    """One problem in one cell; ``row`` as a spreadsheet shows it (the header is row 1)."""

    file: str
    row: int
    column: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row}" + (f", column {self.column}" if self.column else "") + f": {self.problem}"


class ImportFailed(Exception):
    """The file has problems and nothing was written; ``problems`` lists every one found."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: p.row)
        super().__init__("\n".join(str(p) for p in self.problems))


def normalise_header(header: str) -> str:
    """Lower-case, trim, and turn spaces and hyphens into underscores."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def is_child_identifying(column: str) -> bool:
    """True for a normalised column name that looks like a child's personal details."""
    return _PRIVATE.search(column) is not None


def _shown(value: str) -> str:
    return value if len(value) <= 60 else value[:57] + "..."


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _rows_text(rows: list[int]) -> str:
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return ("row " if len(rows) == 1 else "rows ") + ", ".join(map(str, rows[:5])) + more


@dataclass
class _Sheet:
    file: str
    columns: dict[str, int]
    rows: list[tuple[int, list[str]]]
    warnings: list[str]

    def get(self, cells: list[str], column: str) -> str | None:
        """The trimmed cell; "" if blank; None if the file has no such column."""
        index = self.columns.get(column)
        if index is None:
            return None
        return cells[index].strip() if index < len(cells) else ""


def _read_sheet(
    path: Path, known: Container[str], required: tuple[str, ...], *, cases: bool, kind: str = ""
) -> _Sheet:
    """Decode and split the file; raise ImportFailed for file- and header-level problems.

    ``cases``: the file may come from a case system (child-identifying columns are skipped unread);
    ``kind``: what the file is called in warnings (default "cases" or "staff")."""
    name, raw = path.name, path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = 'the file is not UTF-8 text (in Excel, save as "CSV UTF-8")'
        raise ImportFailed([RowProblem(name, raw.count(b"\n", 0, exc.start) + 1, "", problem)]) from None
    if not text.strip():
        raise ImportFailed([RowProblem(name, 1, "", "the file is empty")])
    first = text.split("\n", 1)[0]
    delimiter = next((d for d in ",;\t" if d in first), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [normalise_header(h) for h in next(reader)]
    problems: list[RowProblem] = []
    columns: dict[str, int] = {}
    private: list[str] = []
    unknown: list[str] = []
    for index, column in enumerate(header):
        if column in known:
            if column in columns:
                problems.append(RowProblem(name, 1, column, "the column appears more than once"))
            columns[column] = index
        elif column:
            (private if cases and is_child_identifying(column) else unknown).append(column)
    problems += [RowProblem(name, 1, c, "required column is missing") for c in required if c not in columns]
    if problems:
        raise ImportFailed(problems)
    warnings = []
    if private:
        warnings.append(f"column(s) {', '.join(private)} ignored: the bot does not hold children's personal details")
    if unknown:
        kind = kind or ("cases" if cases else "staff")
        warnings.append(f"column(s) {', '.join(unknown)} ignored: not a column of the {kind} file")
    rows: list[tuple[int, list[str]]] = []
    for number, cells in enumerate(reader, start=2):
        if any(c.strip() for c in cells):
            if any(c.strip() for c in cells[len(header) :]):
                problem = f"the row has {len(cells)} values but the header has {len(header)} columns (an unquoted comma?)"
                problems.append(RowProblem(name, number, "", problem))
            rows.append((number, cells))
    if not rows:
        problems.append(RowProblem(name, 1, "", "the file has a header row but no data rows"))
    if problems:
        raise ImportFailed(problems)
    return _Sheet(name, columns, rows, warnings)


class _Checker:
    """Parses cells, collecting every problem, and reports progress in batches."""

    def __init__(self, sheet: _Sheet, progress: Progress | None) -> None:
        self.sheet = sheet
        self.problems: list[RowProblem] = []
        self._progress = progress
        self._pending = 0

    def add(self, row: int, column: str, problem: str) -> None:
        self.problems.append(RowProblem(self.sheet.file, row, column, problem))

    def tick(self, final: bool = False) -> None:
        self._pending += 0 if final else 1
        if self._progress is not None and self._pending and (final or self._pending >= PROGRESS_EVERY):
            self._progress(self._pending)
            self._pending = 0

    def email(self, row: int, column: str, value: str | None, *, required: bool = False) -> str | None:
        if not value:
            if required:
                self.add(row, column, "required value is blank")
            return value
        if len(value) > 320 or not _EMAIL.fullmatch(value):
            self.add(row, column, f'"{_shown(value)}" is not a valid email address')
            return None
        return value.lower()

    def text(self, row: int, column: str, value: str | None, *, required: bool = False) -> str | None:
        value = None if value is None else " ".join(value.split())
        if required and not value:
            self.add(row, column, "required value is blank")
        elif value and len(value) > 200:
            self.add(row, column, "longer than 200 characters")
        return value

    def flag(self, row: int, column: str, value: str | None) -> bool | None:
        if not value:
            return None if value is None else True
        if value.lower() not in _YES:
            self.add(row, column, f'"{_shown(value)}" is not yes or no (use yes/no, true/false or 1/0)')
        return _YES.get(value.lower())

    def date(self, row: int, column: str, value: str | None, today: dt.date) -> dt.date | None:
        if not value:
            return None
        parsed = None
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})|(\d{1,2})/(\d{1,2})/(\d{4})", value):
            with contextlib.suppress(ValueError):
                parsed = dt.date(int(m[1]), int(m[2]), int(m[3])) if m[1] else dt.date(int(m[6]), int(m[5]), int(m[4]))
        if parsed is None:
            self.add(row, column, f'"{_shown(value)}" is not a date (use YYYY-MM-DD or DD/MM/YYYY)')
        elif parsed > today:
            self.add(row, column, f"{parsed.isoformat()} is in the future")
        return parsed
