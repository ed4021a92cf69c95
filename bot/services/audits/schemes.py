"""Grading schemes are data: a TOML file names the sections, their scale, the overall scale and
the rules; this module loads one (validated, with a clear error) and checks a set of grades.

Two ship in ``bot/schemes/``: ``bradford`` and ``hull``. ``AUDITBOT_GRADING_SCHEME`` names one of
them or the path of a council's own file. Each audit record keeps the id and version it was
graded on, so changing the scheme never alters audits already recorded.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHIPPED = Path(__file__).resolve().parent.parent.parent / "schemes"
#: Other data kept beside the schemes, never a grading scheme: the reflection sheet's questions
#: (``bot/services/meetings/reflection.py``).
NOT_SCHEMES = frozenset({"reflection"})


#: What the record form can show: a menu option's words, a field's label, and sections in one step.
MAX_GRADE_LABEL = 75
MAX_SECTION_LABEL = 200
MAX_SECTIONS = 40


class SchemeError(Exception):
    """A grading scheme file that cannot be used, explained in one line."""


@dataclass(frozen=True)
class Grade:
    """One point of a scale."""

    value: str
    label: str
    rank: int


@dataclass(frozen=True)
class Section:
    """One graded section (Bradford) or domain (Hull)."""

    key: str
    label: str


@dataclass(frozen=True)
class Scheme:
    """A validated grading scheme."""

    id: str
    version: int
    name: str
    sections: tuple[Section, ...]
    section_scale: tuple[Grade, ...]
    overall_scale: tuple[Grade, ...]
    #: The overall grade more than this many grades above the lowest section needs a written reason.
    max_above_lowest_section: int | None = None
    good_practice_required: bool = False
    #: Overall grades that need their good elements named (Hull: RI with elements of good practice).
    elements_required_for: frozenset[str] = frozenset()

    def section_grade(self, value: str) -> Grade | None:
        """The section scale's point called ``value``."""
        return next((g for g in self.section_scale if g.value == value), None)

    def overall_grade(self, value: str) -> Grade | None:
        """The overall scale's point called ``value``."""
        return next((g for g in self.overall_scale if g.value == value), None)


@dataclass
class GradeCheck:
    """What a set of grades breaks: field errors (block), and a rule-of-thumb warning (needs a reason)."""

    errors: dict[str, str] = field(default_factory=dict)
    warning: str | None = None


def _path(name_or_path: str) -> Path:
    shipped = "/" not in name_or_path and not name_or_path.endswith(".toml")
    return SHIPPED / f"{name_or_path}.toml" if shipped else Path(name_or_path)


def current_scheme(name_or_path: str) -> Scheme:
    """``load_scheme``, read again only when the file changes (the bot asks on every form)."""
    path = _path(name_or_path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _load_cached(name_or_path, stamp)


@functools.lru_cache(maxsize=8)
def _load_cached(name_or_path: str, stamp: int) -> Scheme:
    return load_scheme(name_or_path)


def scheme_of(record: Any, settings: Any) -> Scheme:
    """The scheme a record was graded on: the council's current one if it is that one, else the
    shipped scheme of that name (a council that moved scheme keeps its old audits' labels)."""
    current = current_scheme(settings.grading_scheme)
    if record.scheme == current.id:
        return current
    try:
        return current_scheme(record.scheme)
    except SchemeError:
        return current


def load_scheme(name_or_path: str) -> Scheme:
    """The shipped scheme called ``name_or_path``, or the TOML file at that path."""
    path = _path(name_or_path)
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.toml") if p.stem not in NOT_SCHEMES))
        raise SchemeError(f"grading scheme {name_or_path!r}: no such file (shipped: {shipped}; or give a path to a .toml file)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SchemeError(f"grading scheme {path.name}: not valid TOML ({exc})") from None
    try:
        return _parse(data)
    except SchemeError as exc:
        raise SchemeError(f"grading scheme {path.name}: {exc}") from None


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SchemeError(f"{where}: {key!r} must be a non-empty string")
    return value.strip()


def _scale(table: Any, where: str) -> tuple[Grade, ...]:
    if not isinstance(table, dict) or not isinstance(table.get("scale"), list) or len(table["scale"]) < 2:
        raise SchemeError(f"[{where}] needs a 'scale' list of at least two grades")
    grades = []
    for n, item in enumerate(table["scale"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("rank"), int) or isinstance(item.get("rank"), bool):
            raise SchemeError(f"[{where}] scale item {n}: needs value, label and a whole-number rank")
        grades.append(Grade(_text(item, "value", f"[{where}] scale item {n}"), _text(item, "label", f"[{where}] scale item {n}"),
                            item["rank"]))
    long = next((g for g in grades if len(g.label) > MAX_GRADE_LABEL), None)
    if long is not None:
        raise SchemeError(f"[{where}] scale: the label {long.label[:40]!r}... is longer than a menu shows "
                          f"({MAX_GRADE_LABEL} characters)")
    values = [g.value for g in grades]
    if len(set(values)) != len(values):
        raise SchemeError(f"[{where}] scale: a value appears twice")
    return tuple(grades)


def _parse(data: dict[str, Any]) -> Scheme:
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SchemeError("'version' must be a whole number from 1")
    sections_table = data.get("sections")
    section_scale = _scale(sections_table, "sections")
    overall_scale = _scale(data.get("overall"), "overall")
    items = sections_table.get("items") if isinstance(sections_table, dict) else None
    if not isinstance(items, list) or not items:
        raise SchemeError("[sections] needs an 'items' list naming each section (key and label)")
    sections = tuple(
        Section(_text(i, "key", f"section {n}"), _text(i, "label", f"section {n}")) if isinstance(i, dict) else _bad_item(n)
        for n, i in enumerate(items, 1)
    )
    if len(sections) > MAX_SECTIONS:
        raise SchemeError(f"[sections] items: {len(sections)} sections; the form takes at most {MAX_SECTIONS}")
    long_section = next((s for s in sections if len(s.label) > MAX_SECTION_LABEL), None)
    if long_section is not None:
        raise SchemeError(f"section {long_section.key!r}: its label is longer than {MAX_SECTION_LABEL} characters")
    if len({s.key for s in sections}) != len(sections):
        raise SchemeError("[sections] items: a key appears twice")
    rules = data.get("rules", {})
    if not isinstance(rules, dict):
        raise SchemeError("[rules] must be a table")
    unknown = set(rules) - {"max_above_lowest_section", "good_practice_required", "elements_required_for"}
    if unknown:
        raise SchemeError(f"[rules]: unknown rule(s) {', '.join(sorted(unknown))}")
    above = rules.get("max_above_lowest_section")
    if above is not None:
        if not isinstance(above, int) or isinstance(above, bool) or above < 0:
            raise SchemeError("[rules] max_above_lowest_section must be a whole number from 0")
        if {g.value: g.rank for g in section_scale} != {g.value: g.rank for g in overall_scale}:
            raise SchemeError("[rules] max_above_lowest_section needs the sections and the overall grade on the same scale")
    good_practice = rules.get("good_practice_required", False)
    if not isinstance(good_practice, bool):
        raise SchemeError("[rules] good_practice_required must be true or false")
    elements = rules.get("elements_required_for", [])
    overall_values = {g.value for g in overall_scale}
    if not isinstance(elements, list) or not all(isinstance(e, str) and e in overall_values for e in elements):
        raise SchemeError(f"[rules] elements_required_for must list overall grades ({', '.join(sorted(overall_values))})")
    return Scheme(
        id=_text(data, "id", "the scheme"), version=version, name=_text(data, "name", "the scheme"), sections=sections,
        section_scale=section_scale, overall_scale=overall_scale, max_above_lowest_section=above,
        good_practice_required=good_practice, elements_required_for=frozenset(elements),
    )


def _bad_item(n: int) -> Section:
    raise SchemeError(f"section {n}: must be a table with key and label")


def check_grades(
    scheme: Scheme, sections: dict[str, str | None], overall: str | None, *, good_practice: str, elements: str,
    reason: str,
) -> GradeCheck:
    """Check a set of grades against the scheme's scales and rules.

    Field errors are keyed ``section:<key>``, ``overall``, ``good_practice``, ``elements`` and
    ``reason``. The rule of thumb (overall too far above the lowest section) is a warning: with a
    written ``reason`` it passes, without one it is an error on ``reason`` that says why.
    """
    check = GradeCheck()
    for section in scheme.sections:
        value = sections.get(section.key)
        if not value:
            check.errors[f"section:{section.key}"] = f"Grade {section.label}."
        elif scheme.section_grade(value) is None:
            check.errors[f"section:{section.key}"] = f"{value!r} is not a grade on this scheme."
    grade = scheme.overall_grade(overall) if overall else None
    if not overall:
        check.errors["overall"] = "Choose the overall grade."
    elif grade is None:
        check.errors["overall"] = f"{overall!r} is not an overall grade on this scheme."
    if scheme.good_practice_required and not good_practice.strip():
        check.errors["good_practice"] = "Name at least one area of good practice."
    if grade is not None and grade.value in scheme.elements_required_for and not elements.strip():
        check.errors["elements"] = f"Name the elements of good practice: \"{grade.label}\" needs them."
    section_errors = any(k.startswith("section:") for k in check.errors)
    if grade is not None and scheme.max_above_lowest_section is not None and not section_errors:
        ranks = [g.rank for v in sections.values() if v and (g := scheme.section_grade(v)) is not None]
        lowest = min(ranks) if ranks else grade.rank
        if grade.rank - lowest > scheme.max_above_lowest_section:
            low = next(g for g in scheme.section_scale if g.rank == lowest)
            check.warning = (
                f"{grade.label} is more than {scheme.max_above_lowest_section} grade above the lowest section "
                f"({low.label}): an overall grade is not usually that far above it."
            )
            if not reason.strip():
                check.errors["reason"] = check.warning + " Say why, or change the grade."
    return check
