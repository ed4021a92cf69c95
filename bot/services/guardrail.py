"""The privacy guardrail: typed free text must not identify a child (shared/domain.md, Data
protection). One place checks every text field the bot stores; the person is asked to remove
what was found, told only its kind, never shown it back.

What is looked for: dates that look like a date of birth (after "DOB"/"born", or a full date
in the last 25 years before this one), NHS numbers (10 digits with a valid check digit),
UK postcodes, and, at the strict level, names of people not on the staff list that follow words
such as "child", "mum" or "Mrs". A council can turn the check down to ``standard`` (no name
check), never off.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.render import render
from bot.settings import GuardrailLevel
from store.models import Person


class Finding(StrEnum):
    """A kind of thing that could identify a child (wording in messages/guardrail_error.json.j2)."""

    DATE_OF_BIRTH = "date_of_birth"
    NHS_NUMBER = "nhs_number"
    POSTCODE = "postcode"
    NAME = "name"


_MONTHS = ("jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
           "oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_MONTH_NUMBER = {name[:3]: n for n, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_WORDY_DATE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTHS})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_BIRTH_CUE = re.compile(r"\b(?:d\.?\s?o\.?\s?b\.?|born|birthday|date of birth)\b", re.IGNORECASE)
_NHS = re.compile(r"(?<![\d])(\d{3})[ \-]?(\d{3})[ \-]?(\d{4})(?![\d])")
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b", re.IGNORECASE)
_CUE = (r"child|children|baby|son|daughter|brother|sister|sibling|mum|mom|mother|dad|father|parent|grandma|grandad"
        r"|nan|gran|aunt|uncle|carer|stepdad|stepmum|mr|mrs|ms|miss|master|young person|yp")
_NAME_AFTER_CUE = re.compile(rf"\b(?i:{_CUE})\.?,?\s+(?i:called\s+|named\s+|is\s+)?([A-Z][a-z'\-]+)")
#: Capitalised words that follow those cues without being names.
_NOT_NAMES = frozenset({
    "is", "was", "has", "had", "and", "or", "but", "the", "a", "an", "in", "at", "on", "to", "with", "seen", "said",
    "says", "told", "will", "would", "may", "might", "needs", "need", "lives", "living", "moved", "reported", "not",
    "who", "whose", "when", "where", "today", "yesterday", "tomorrow", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday", "please", "also", "now", "again", "safe", "unsafe", "home", "school", "agreed",
})


def _valid_nhs(digits: str) -> bool:
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _full_dates(text: str) -> Iterable[tuple[int, int, int, int]]:
    """(start offset, year, month, day) of every full date written in the text."""
    for m in _NUMERIC_DATE.finditer(text):
        year = int(m.group(3))
        yield m.start(), (year + 2000 if year < 100 else year), int(m.group(2)), int(m.group(1))
    for m in _ISO_DATE.finditer(text):
        yield m.start(), int(m.group(1)), int(m.group(2)), int(m.group(3))
    for m in _WORDY_DATE.finditer(text):
        yield m.start(), int(m.group(3)), _MONTH_NUMBER[m.group(2)[:3].lower()], int(m.group(1))


def _looks_like_birth_date(text: str, today: dt.date) -> bool:
    for start, year, month, day in _full_dates(text):
        try:
            dt.date(year, month, day)
        except ValueError:
            continue
        cued = _BIRTH_CUE.search(text[max(0, start - 20) : start]) is not None
        if cued or today.year - 25 <= year < today.year:
            return True
    return False


def findings(text: str, *, today: dt.date, staff_names: frozenset[str], level: GuardrailLevel) -> list[Finding]:
    """What in ``text`` could identify a child, by kind (each kind once, in a fixed order)."""
    found: list[Finding] = []
    if _looks_like_birth_date(text, today):
        found.append(Finding.DATE_OF_BIRTH)
    if any(_valid_nhs(m.group(1) + m.group(2) + m.group(3)) for m in _NHS.finditer(text)):
        found.append(Finding.NHS_NUMBER)
    if _POSTCODE.search(text):
        found.append(Finding.POSTCODE)
    if level == GuardrailLevel.STRICT:
        for m in _NAME_AFTER_CUE.finditer(text):
            word = m.group(1).casefold()
            if word not in _NOT_NAMES and word not in staff_names:
                found.append(Finding.NAME)
                break
    return found


def staff_names(session: Session) -> frozenset[str]:
    """Every word of every staff member's name (casefolded): names the guardrail lets through."""
    return frozenset(word.casefold() for name in session.scalars(select(Person.display_name)) for word in name.split())


def check_text(session: Session, text: str, *, today: dt.date, level: GuardrailLevel) -> str | None:
    """The field error for ``text`` (naming only the kinds found), or None when it may be stored."""
    # the staff list is read only when a word after "child", "mum"... could be a name
    names = staff_names(session) if level == GuardrailLevel.STRICT and _NAME_AFTER_CUE.search(text) else frozenset()
    found = findings(text, today=today, staff_names=names, level=level)
    if not found:
        return None
    return str(render(Template.GUARDRAIL_ERROR, {"kinds": [f.value for f in found]})["text"])
