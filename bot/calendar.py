"""Working days, bank holidays and local time: the one calendar every part of the bot uses.

Bank holidays, in order of authority:

1. GOV.UK's published list (``bot/bank_holidays.json``, GOV.UK's ``bank-holidays.json``
   format) for the years it covers: the days the nation actually has off;
2. beyond those years, the pinned ``holidays`` package for the council's nation (always with an
   explicit UK subdivision: without one the package leaves out Easter Monday);
3. an optional override file in the same GOV.UK format, whose ``events`` add days and whose
   ``working_days`` remove them (a holiday announced or withdrawn after this release).

Local time is the settings time zone (default Europe/London); stored times are aware UTC
datetimes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import holidays

from bot.settings import Nation

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = ["SUBDIVISIONS", "CalendarError", "WorkingCalendar"]

UTC = dt.UTC

#: ``holidays`` subdivision of the United Kingdom ("GB") used for each nation. Wales has the
#: same bank holidays as England, so England & Wales uses England's list.
SUBDIVISIONS: dict[Nation, str] = {
    Nation.ENGLAND_AND_WALES: "ENG",
    Nation.SCOTLAND: "SCT",
    Nation.NORTHERN_IRELAND: "NIR",
}

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ONE_DAY = dt.timedelta(days=1)


class CalendarError(Exception):
    """The calendar cannot be set up (e.g. a bad holidays override file), explained in one line."""


def _plain_date(day: dt.date) -> dt.date:
    """Refuse a datetime where a date is meant (a datetime never matches a holiday date)."""
    if isinstance(day, dt.datetime):
        raise TypeError(f"expected a date, got the datetime {day!r}; use local_date() first")
    return day


def _aware(moment: dt.datetime) -> dt.datetime:
    """Refuse a naive datetime: the bot stores and passes aware UTC datetimes only."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} refused: pass an aware (UTC) datetime")
    return moment


def _events(where: str, division: str, section: dict[str, Any], key: str) -> dict[dt.date, str]:
    """The ``key`` list of a GOV.UK-format division as date -> title, or CalendarError naming the event."""
    found: dict[dt.date, str] = {}
    for number, event in enumerate(section.get(key) or [], start=1):
        label = f"{where}: \"{division}\" {'event' if key == 'events' else key.rstrip('s').replace('_', ' ')} {number}"
        if not isinstance(event, dict):
            raise CalendarError(f"{label}: expected an object with \"title\" and \"date\"")
        title, raw = event.get("title"), event.get("date")
        if not isinstance(title, str) or not title.strip():
            raise CalendarError(f"{label}: missing or empty \"title\"")
        if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
            raise CalendarError(f"{label} ({title}): bad date {json.dumps(raw)}, expected YYYY-MM-DD")
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            raise CalendarError(f"{label} ({title}): bad date \"{raw}\" (no such day)") from None
        found.setdefault(day, title.strip())
    return found


@cache
def govuk_bank_holidays(nation: Nation) -> dict[dt.date, str]:
    """GOV.UK's published bank holidays of ``nation`` shipped with the bot (weekdays only, as GOV.UK lists them)."""
    text = resources.files("bot").joinpath("bank_holidays.json").read_text(encoding="utf-8")
    return _events("bot/bank_holidays.json", nation.value, json.loads(text)[nation.value], "events")


def _load_override(path: Path, nation: Nation) -> tuple[dict[dt.date, str], dict[dt.date, str]]:
    """Read the added holidays and the removed ones (``working_days``) of ``nation`` from a
    GOV.UK-format file, or raise CalendarError."""
    where = f"holidays override file {path}"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CalendarError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise CalendarError(f"{where}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise CalendarError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CalendarError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalendarError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise CalendarError(f"{where}: expected a JSON object keyed by division, e.g. {{\"{nation.value}\": …}}")
    division = nation.value
    if division not in data:
        present = ", ".join(sorted(str(k) for k in data)) or "none"
        raise CalendarError(f"{where}: no \"{division}\" division (divisions present: {present})")
    section = data[division]
    if not isinstance(section, dict) or not isinstance(section.get("events"), list):
        raise CalendarError(f"{where}: \"{division}\" must be an object with an \"events\" list")
    if not isinstance(section.get("working_days", []), list):
        raise CalendarError(f"{where}: \"{division}\" \"working_days\" must be a list of events")
    named = section.get("division", division)
    if named != division:
        raise CalendarError(f"{where}: \"{division}\" has \"division\": {json.dumps(named)}, expected \"{division}\"")
    return _events(where, division, section, "events"), _events(where, division, section, "working_days")


class WorkingCalendar:
    """Working days (not weekends, not the nation's bank holidays) and working hours in local time."""

    def __init__(
        self,
        nation: Nation,
        tz: ZoneInfo,
        *,
        override_file: Path | None = None,
        working_hours: tuple[dt.time, dt.time] = (dt.time(8, 30), dt.time(17, 30)),
    ) -> None:
        """Set up the calendar; a bad override file or working hours raise CalendarError now."""
        start, end = working_hours
        if start.tzinfo is not None or end.tzinfo is not None:
            raise CalendarError("working hours must be local wall-clock times without a time zone")
        if not start < end:
            raise CalendarError(f"working hours start {start:%H:%M} must be before end {end:%H:%M}")
        self.nation = Nation(nation)
        self.tz = tz
        self.working_hours = (start, end)
        self.override_file = override_file
        self._subdiv = SUBDIVISIONS[self.nation]
        self._extra: dict[dt.date, str] = {}
        self._removed: dict[dt.date, str] = {}
        if override_file is not None:
            self._extra, self._removed = _load_override(Path(override_file), self.nation)
        self._govuk = govuk_bank_holidays(self.nation)
        #: The years GOV.UK's shipped list covers; the package answers for the others.
        self.govuk_years = frozenset(day.year for day in self._govuk)
        self._years: dict[int, dict[dt.date, str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkingCalendar:
        """The calendar for the configured nation, time zone, override file and working hours."""
        return cls(
            settings.nation,
            settings.tz,
            override_file=settings.holidays_override_file,
            working_hours=(settings.working_hours_start, settings.working_hours_end),
        )

    def __repr__(self) -> str:
        start, end = self.working_hours
        return (
            f"WorkingCalendar({self.nation.value}, {self.tz.key}, "
            f"{start:%H:%M}-{end:%H:%M}, override_file={self.override_file})"
        )

    # Days ------------------------------------------------------------------------------------

    def _holidays(self, year: int) -> dict[dt.date, str]:
        """Bank holidays of ``year`` (GOV.UK or package, then the override), computed once per year."""
        cached = self._years.get(year)
        if cached is None:
            package = holidays.country_holidays("GB", subdiv=self._subdiv, years=year)
            if year in self.govuk_years:
                cached = {day: name for day, name in self._govuk.items() if day.year == year}
                # GOV.UK lists the days off; a holiday falling on a weekend keeps its name from the package
                cached.update({day: name for day, name in package.items() if day.year == year and day.weekday() >= 5})
            else:
                cached = {day: name for day, name in package.items() if day.year == year}
            for day, title in self._extra.items():
                if day.year == year:
                    cached.setdefault(day, title)  # a date already listed keeps its name
            for day in self._removed:
                cached.pop(day, None)
            self._years[year] = cached
        return cached

    def holiday_name(self, day: dt.date) -> str | None:
        """The bank holiday on ``day`` (weekend ones included), or None."""
        day = _plain_date(day)
        return self._holidays(day.year).get(day)

    def is_working_day(self, day: dt.date) -> bool:
        """True unless ``day`` is a Saturday, Sunday or bank holiday of the nation."""
        day = _plain_date(day)
        return day.weekday() < 5 and day not in self._holidays(day.year)

    def next_working_day(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the next working day after it."""
        day = _plain_date(day)
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def first_working_day(self, month: dt.date) -> dt.date:
        """The first working day of the month containing ``month``."""
        return self.next_working_day(_plain_date(month).replace(day=1))

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (before it if n < 0); n = 0 is next_working_day."""
        day = _plain_date(day)
        if n == 0:
            return self.next_working_day(day)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """How many working days fall in (start, end]; 0 when end is not after start."""
        day, end = _plain_date(start), _plain_date(end)
        count = 0
        while day < end:
            day += _ONE_DAY
            if self.is_working_day(day):
                count += 1
        return count

    # Times -----------------------------------------------------------------------------------

    def local(self, moment: dt.datetime) -> dt.datetime:
        """An aware datetime in local time (the settings time zone); naive input is a ValueError."""
        return _aware(moment).astimezone(self.tz)

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The local calendar date of an aware datetime."""
        return self.local(moment).date()

    def utc(self, day: dt.date, at: dt.time) -> dt.datetime:
        """Local wall time ``at`` on ``day`` as aware UTC.

        A time skipped by the spring-forward change moves forward to the first valid instant
        (the change itself); a time repeated in autumn means its first occurrence (fold=0).
        """
        if at.tzinfo is not None:
            raise ValueError(f"expected a local wall-clock time without a time zone, got {at!r}")
        wall = dt.datetime.combine(_plain_date(day), at.replace(fold=0))
        before = wall.replace(tzinfo=self.tz)  # fold=0: the offset in force before any change
        candidate = before.astimezone(UTC)
        if candidate.astimezone(self.tz).replace(tzinfo=None) == wall:
            return candidate
        # ``wall`` does not exist: find the change, which lies between the two readings of it.
        after = wall.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        low, high = min(candidate, after), max(candidate, after)
        late_offset = high.astimezone(self.tz).utcoffset()
        while high - low > dt.timedelta(seconds=1):
            middle = low + (high - low) // 2
            if middle.astimezone(self.tz).utcoffset() == late_offset:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0)  # changes happen on whole seconds

    def in_working_hours(self, moment: dt.datetime) -> bool:
        """True on a working day with start <= local time < end."""
        local = self.local(moment)
        start, end = self.working_hours
        return self.is_working_day(local.date()) and start <= local.time() < end

    def next_working_moment(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` (as UTC) if in working hours, else the start of the next working window (UTC)."""
        local = self.local(moment)
        if self.in_working_hours(local):
            return local.astimezone(UTC)
        start = self.working_hours[0]
        day = local.date()
        if not (self.is_working_day(day) and local.time() < start):
            day = self.add_working_days(day, 1)
        return self.utc(day, start)
