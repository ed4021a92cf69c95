"""The working calendar: bank holidays per nation, working days, local time and DST."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest

import bot.calendar as calendar_module
from bot.calendar import CalendarError, WorkingCalendar
from bot.settings import Nation, Settings

LONDON = ZoneInfo("Europe/London")
EXAMPLE_FILE = Path(__file__).resolve().parent.parent / "examples" / "bank-holidays-override.json"

D = dt.date
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc(*args: int) -> dt.datetime:
    """An aware UTC datetime."""
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def england() -> WorkingCalendar:
    return WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON)


@pytest.fixture(scope="module")
def scotland() -> WorkingCalendar:
    return WorkingCalendar(Nation.SCOTLAND, LONDON)


@pytest.fixture(scope="module")
def northern_ireland() -> WorkingCalendar:
    return WorkingCalendar(Nation.NORTHERN_IRELAND, LONDON)


# Easter -------------------------------------------------------------------------------------


def test_england_uses_a_subdivision_so_easter_monday_is_a_holiday(england: WorkingCalendar) -> None:
    # Without subdiv the package leaves Easter Monday out; with subdiv="ENG" it is there.
    assert D(2026, 4, 6) not in holidays.country_holidays("GB", years=2026)
    for easter_monday in (D(2026, 4, 6), D(2027, 3, 29)):
        assert easter_monday.weekday() == MON
        assert not england.is_working_day(easter_monday)
        assert england.holiday_name(easter_monday) == "Easter Monday"


def test_easter_2026_and_2029_in_england(england: WorkingCalendar) -> None:
    assert not england.is_working_day(D(2026, 4, 3))  # Good Friday
    assert not england.is_working_day(D(2026, 4, 6))  # Easter Monday
    assert england.is_working_day(D(2026, 4, 2))  # Maundy Thursday
    assert england.is_working_day(D(2026, 4, 7))
    assert england.holiday_name(D(2029, 3, 30)) == "Good Friday"
    assert not england.is_working_day(D(2029, 3, 30))
    assert not england.is_working_day(D(2029, 4, 2))  # Easter Monday


def test_april_2029_starts_on_easter_sunday_so_first_working_day_is_tuesday_3rd(england: WorkingCalendar) -> None:
    assert D(2029, 4, 1).weekday() == SUN
    assert england.first_working_day(D(2029, 4, 1)) == D(2029, 4, 3)
    assert england.first_working_day(D(2029, 4, 20)) == D(2029, 4, 3)  # any day of the month


# Christmas and New Year ---------------------------------------------------------------------


def test_christmas_2026_boxing_day_substitute_monday_28th(england: WorkingCalendar) -> None:
    assert D(2026, 12, 25).weekday() == FRI
    assert not england.is_working_day(D(2026, 12, 25))
    assert england.holiday_name(D(2026, 12, 26)) == "Boxing Day"  # a Saturday
    assert not england.is_working_day(D(2026, 12, 28))
    assert england.holiday_name(D(2026, 12, 28)) == "Boxing Day (substitute day)"  # GOV.UK's title
    assert england.is_working_day(D(2026, 12, 24))
    assert england.is_working_day(D(2026, 12, 29))
    assert england.next_working_day(D(2026, 12, 25)) == D(2026, 12, 29)


def test_christmas_2027_falls_on_a_weekend_so_both_substitutes_are_mon_and_tue(england: WorkingCalendar) -> None:
    assert D(2027, 12, 25).weekday() == SAT
    assert not england.is_working_day(D(2027, 12, 27))
    assert not england.is_working_day(D(2027, 12, 28))
    assert england.next_working_day(D(2027, 12, 24)) == D(2027, 12, 24)
    assert england.next_working_day(D(2027, 12, 25)) == D(2027, 12, 29)


def test_january_2027_first_working_day_england_4th_scotland_5th(
    england: WorkingCalendar, scotland: WorkingCalendar
) -> None:
    # 1 Jan 2027 is a Friday, 2 Jan (Scotland's extra New Year holiday) a Saturday; the
    # package (0.109) gives Scotland the substitute on Monday 4 January, as GOV.UK does.
    assert D(2027, 1, 1).weekday() == FRI
    assert england.first_working_day(D(2027, 1, 1)) == D(2027, 1, 4)
    assert scotland.holiday_name(D(2027, 1, 2)) == "New Year Holiday"
    assert not scotland.is_working_day(D(2027, 1, 4))
    assert scotland.first_working_day(D(2027, 1, 1)) == D(2027, 1, 5)


# Months starting on a weekend ---------------------------------------------------------------


def test_august_2026_starts_on_a_saturday(england: WorkingCalendar, scotland: WorkingCalendar) -> None:
    assert D(2026, 8, 1).weekday() == SAT
    assert england.first_working_day(D(2026, 8, 1)) == D(2026, 8, 3)
    # Scotland's summer bank holiday is the FIRST Monday of August (England's is the last).
    assert scotland.holiday_name(D(2026, 8, 3)) == "Summer bank holiday"
    assert scotland.first_working_day(D(2026, 8, 1)) == D(2026, 8, 4)
    assert not england.is_working_day(D(2026, 8, 31))
    assert scotland.is_working_day(D(2026, 8, 31))


# Scotland vs England ------------------------------------------------------------------------


def test_st_andrews_day_and_its_substitutes(england: WorkingCalendar, scotland: WorkingCalendar) -> None:
    assert D(2026, 11, 30).weekday() == MON  # no substitute needed in 2026
    assert not scotland.is_working_day(D(2026, 11, 30))
    assert england.is_working_day(D(2026, 11, 30))
    assert scotland.is_working_day(D(2026, 12, 1))
    # On a weekend it moves to the following Monday.
    assert D(2025, 11, 30).weekday() == SUN
    assert not scotland.is_working_day(D(2025, 12, 1))
    assert D(2024, 11, 30).weekday() == SAT
    assert not scotland.is_working_day(D(2024, 12, 2))
    assert scotland.is_working_day(D(2024, 12, 3))
    assert england.is_working_day(D(2024, 12, 2))


def test_easter_monday_is_not_a_scottish_bank_holiday(scotland: WorkingCalendar) -> None:
    assert not scotland.is_working_day(D(2026, 4, 3))  # Good Friday is
    assert scotland.is_working_day(D(2026, 4, 6))
    assert scotland.holiday_name(D(2026, 4, 6)) is None
    assert scotland.is_working_day(D(2029, 4, 2))
    assert scotland.first_working_day(D(2029, 4, 1)) == D(2029, 4, 2)


# Northern Ireland ---------------------------------------------------------------------------


def test_northern_ireland_st_patricks_day_and_twelfth_of_july(
    northern_ireland: WorkingCalendar, england: WorkingCalendar
) -> None:
    assert not northern_ireland.is_working_day(D(2026, 3, 17))  # Tuesday
    assert england.is_working_day(D(2026, 3, 17))
    # 17 March 2029 is a Saturday: substitute on Monday 19th.
    assert not northern_ireland.is_working_day(D(2029, 3, 19))
    assert not northern_ireland.is_working_day(D(2027, 7, 12))  # Monday
    # 12 July 2026 is a Sunday: substitute on Monday 13th.
    assert D(2026, 7, 12).weekday() == SUN
    assert not northern_ireland.is_working_day(D(2026, 7, 13))
    assert england.is_working_day(D(2026, 7, 13))
    assert not northern_ireland.is_working_day(D(2026, 4, 6))  # Easter Monday too


# Arithmetic ---------------------------------------------------------------------------------


def test_add_working_days_across_a_weekend(england: WorkingCalendar) -> None:
    friday, saturday, monday = D(2026, 6, 12), D(2026, 6, 13), D(2026, 6, 15)
    assert england.add_working_days(friday, 1) == monday
    assert england.add_working_days(friday, 0) == friday
    assert england.add_working_days(saturday, 0) == monday
    assert england.add_working_days(saturday, 1) == monday
    assert england.add_working_days(friday, 5) == D(2026, 6, 19)
    assert england.add_working_days(monday, -1) == friday
    assert england.add_working_days(saturday, -1) == friday


def test_add_working_days_across_christmas(england: WorkingCalendar, scotland: WorkingCalendar) -> None:
    thursday = D(2026, 12, 24)
    assert england.add_working_days(thursday, 1) == D(2026, 12, 29)
    assert england.add_working_days(thursday, 3) == D(2026, 12, 31)
    assert england.add_working_days(thursday, 4) == D(2027, 1, 4)
    assert scotland.add_working_days(thursday, 4) == D(2027, 1, 5)
    assert england.add_working_days(D(2026, 12, 29), -1) == thursday


def test_working_days_between(england: WorkingCalendar, scotland: WorkingCalendar) -> None:
    assert england.working_days_between(D(2026, 6, 12), D(2026, 6, 15)) == 1  # (Fri, Mon]
    assert england.working_days_between(D(2026, 6, 15), D(2026, 6, 15)) == 0
    assert england.working_days_between(D(2026, 6, 15), D(2026, 6, 12)) == 0
    # (24 Dec 2026, 4 Jan 2027]: 29, 30, 31 Dec and 4 Jan; Scotland loses 4 Jan.
    assert england.working_days_between(D(2026, 12, 24), D(2027, 1, 4)) == 4
    assert scotland.working_days_between(D(2026, 12, 24), D(2027, 1, 4)) == 3
    start = D(2026, 4, 30)
    assert england.add_working_days(start, england.working_days_between(start, D(2026, 5, 29))) == D(2026, 5, 29)


def test_datetimes_are_refused_where_a_date_is_meant(england: WorkingCalendar) -> None:
    with pytest.raises(TypeError, match="local_date"):
        england.is_working_day(utc(2026, 4, 6, 9))


# Local time and DST -------------------------------------------------------------------------


def test_utc_around_spring_forward_29_march_2026(england: WorkingCalendar) -> None:
    assert england.utc(D(2026, 3, 27), dt.time(8, 30)) == utc(2026, 3, 27, 8, 30)  # GMT
    assert england.utc(D(2026, 3, 29), dt.time(8, 30)) == utc(2026, 3, 29, 7, 30)  # BST
    assert england.utc(D(2026, 3, 30), dt.time(8, 30)) == utc(2026, 3, 30, 7, 30)
    # 01:30 does not exist that night: it moves forward to the change, 02:00 BST = 01:00Z.
    assert england.utc(D(2026, 3, 29), dt.time(1, 30)) == utc(2026, 3, 29, 1, 0)
    assert england.utc(D(2026, 3, 29), dt.time(1, 0)) == utc(2026, 3, 29, 1, 0)
    assert england.utc(D(2026, 3, 29), dt.time(0, 59)) == utc(2026, 3, 29, 0, 59)
    assert england.utc(D(2026, 3, 29), dt.time(2, 0)) == utc(2026, 3, 29, 1, 0)
    assert england.utc(D(2026, 3, 29), dt.time(1, 30)).tzinfo == dt.UTC


def test_utc_around_fall_back_25_october_2026(england: WorkingCalendar) -> None:
    assert england.utc(D(2026, 10, 23), dt.time(8, 30)) == utc(2026, 10, 23, 7, 30)  # BST
    assert england.utc(D(2026, 10, 25), dt.time(8, 30)) == utc(2026, 10, 25, 8, 30)  # GMT
    assert england.utc(D(2026, 10, 26), dt.time(8, 30)) == utc(2026, 10, 26, 8, 30)
    # 01:30 happens twice: the first (BST) occurrence is used, whatever fold says.
    assert england.utc(D(2026, 10, 25), dt.time(1, 30)) == utc(2026, 10, 25, 0, 30)
    assert england.utc(D(2026, 10, 25), dt.time(1, 30, fold=1)) == utc(2026, 10, 25, 0, 30)


def test_local_and_local_date(england: WorkingCalendar) -> None:
    late = utc(2026, 6, 30, 23, 30)  # 00:30 BST on 1 July
    assert england.local(late) == dt.datetime(2026, 7, 1, 0, 30, tzinfo=LONDON)
    assert england.local(late).utcoffset() == dt.timedelta(hours=1)
    assert england.local_date(late) == D(2026, 7, 1)
    assert england.local_date(utc(2026, 12, 31, 23, 30)) == D(2026, 12, 31)  # GMT
    other = dt.datetime(2026, 7, 1, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert england.local(other) == dt.datetime(2026, 7, 1, 0, 30, tzinfo=LONDON)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.local(dt.datetime(2026, 3, 30, 8, 30)),
        lambda c: c.local_date(dt.datetime(2026, 3, 30, 8, 30)),
        lambda c: c.in_working_hours(dt.datetime(2026, 3, 30, 8, 30)),
        lambda c: c.next_working_moment(dt.datetime(2026, 3, 30, 8, 30)),
    ],
)
def test_naive_datetimes_are_refused(england: WorkingCalendar, call: Callable[[WorkingCalendar], Any]) -> None:
    with pytest.raises(ValueError, match="naive datetime 2026-03-30T08:30:00 refused"):
        call(england)


def test_in_working_hours_across_dst(england: WorkingCalendar) -> None:
    # Monday 30 March 2026 is the first working day of BST: 08:30 local = 07:30Z.
    assert not england.in_working_hours(utc(2026, 3, 30, 7, 29))
    assert england.in_working_hours(utc(2026, 3, 30, 7, 30))
    assert england.in_working_hours(utc(2026, 3, 30, 16, 29))
    assert not england.in_working_hours(utc(2026, 3, 30, 16, 30))  # 17:30 BST: end is exclusive
    # Friday 27 March 2026, still GMT.
    assert not england.in_working_hours(utc(2026, 3, 27, 8, 29))
    assert england.in_working_hours(utc(2026, 3, 27, 8, 30))
    assert england.in_working_hours(utc(2026, 3, 27, 17, 29))
    assert not england.in_working_hours(utc(2026, 3, 27, 17, 30))
    # Not on weekends or bank holidays.
    assert not england.in_working_hours(utc(2026, 3, 28, 10))
    assert not england.in_working_hours(utc(2026, 4, 6, 10))  # Easter Monday


def test_next_working_moment(england: WorkingCalendar) -> None:
    # Friday 17:31 GMT -> Monday 08:30 BST (spring-forward weekend).
    assert england.next_working_moment(utc(2026, 3, 27, 17, 31)) == utc(2026, 3, 30, 7, 30)
    # Friday 17:31 BST -> Monday 08:30 GMT (fall-back weekend).
    friday = utc(2026, 10, 23, 16, 31)
    assert england.local(friday).time() == dt.time(17, 31)
    monday = england.next_working_moment(friday)
    assert monday == utc(2026, 10, 26, 8, 30)
    assert england.local(monday) == dt.datetime(2026, 10, 26, 8, 30, tzinfo=LONDON)
    assert monday.tzinfo == dt.UTC
    # Inside working hours: the moment itself, as UTC.
    inside = dt.datetime(2026, 3, 30, 10, 0, tzinfo=LONDON)
    assert england.next_working_moment(inside) == utc(2026, 3, 30, 9, 0)
    assert england.next_working_moment(inside).tzinfo == dt.UTC
    # Early on a working day: that day's start.
    assert england.next_working_moment(utc(2026, 3, 30, 6, 0)) == utc(2026, 3, 30, 7, 30)
    # Thursday evening before Easter -> Tuesday after Easter Monday.
    assert england.next_working_moment(utc(2026, 4, 2, 16, 30)) == utc(2026, 4, 7, 7, 30)


def test_custom_working_hours() -> None:
    cal = WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, working_hours=(dt.time(9), dt.time(17)))
    assert not cal.in_working_hours(utc(2026, 1, 5, 8, 59))
    assert cal.in_working_hours(utc(2026, 1, 5, 9, 0))
    assert cal.next_working_moment(utc(2026, 1, 5, 17, 0)) == utc(2026, 1, 6, 9, 0)
    with pytest.raises(CalendarError, match="start 17:30 must be before end 08:30"):
        WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, working_hours=(dt.time(17, 30), dt.time(8, 30)))


# Caching ------------------------------------------------------------------------------------


def test_each_year_is_fetched_from_the_package_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    real = holidays.country_holidays

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, tuple(sorted(kwargs.items()))))
        return real(*args, **kwargs)

    monkeypatch.setattr(calendar_module.holidays, "country_holidays", counting)
    cal = WorkingCalendar(Nation.SCOTLAND, LONDON)
    for _ in range(200):
        day = D(2026, 12, 1)
        while day < D(2027, 2, 1):
            cal.is_working_day(day)
            day += dt.timedelta(days=1)
    assert calls == [
        (("GB",), (("subdiv", "SCT"), ("years", 2026))),
        (("GB",), (("subdiv", "SCT"), ("years", 2027))),
    ]


# Override file ------------------------------------------------------------------------------


def _write(tmp_path: Path, content: object, name: str = "extra.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _govuk(division: str, *events: dict[str, object]) -> dict[str, object]:
    return {division: {"division": division, "events": list(events)}}


def test_shipped_example_override_adds_its_fictional_holiday() -> None:
    for nation in Nation:
        cal = WorkingCalendar(nation, LONDON, override_file=EXAMPLE_FILE)
        name = cal.holiday_name(D(2031, 6, 13))
        assert name is not None and name.startswith("EXAMPLE ONLY")
        assert not cal.is_working_day(D(2031, 6, 13))  # a Friday
        assert cal.next_working_day(D(2031, 6, 13)) == D(2031, 6, 16)
    assert WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON).is_working_day(D(2031, 6, 13))


def test_override_adds_holidays_for_the_configured_division_only(tmp_path: Path) -> None:
    event = {"title": "Royal Celebration", "date": "2026-06-08", "notes": "", "bunting": True}
    data = {**_govuk("england-and-wales", event), **_govuk("scotland")}
    path = _write(tmp_path, data)
    england = WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, override_file=path)
    assert not england.is_working_day(D(2026, 6, 8))
    assert england.holiday_name(D(2026, 6, 8)) == "Royal Celebration"
    assert england.add_working_days(D(2026, 6, 5), 1) == D(2026, 6, 9)
    assert not england.is_working_day(D(2026, 4, 6))  # package holidays still there
    scotland = WorkingCalendar(Nation.SCOTLAND, LONDON, override_file=path)
    assert scotland.is_working_day(D(2026, 6, 8))


def test_override_on_a_package_holiday_keeps_the_package_name(tmp_path: Path) -> None:
    path = _write(tmp_path, _govuk("england-and-wales", {"title": "Easter Monday (GOV.UK)", "date": "2026-04-06"}))
    cal = WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, override_file=path)
    assert cal.holiday_name(D(2026, 4, 6)) == "Easter Monday"


def test_settings_give_the_calendar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, _govuk("scotland", {"title": "Extra", "date": "2026-06-09"}))
    monkeypatch.setenv("AUDITBOT_NATION", "scotland")
    monkeypatch.setenv("AUDITBOT_HOLIDAYS_OVERRIDE_FILE", str(path))
    monkeypatch.setenv("AUDITBOT_WORKING_HOURS_START", "09:00")
    monkeypatch.setenv("AUDITBOT_WORKING_HOURS_END", "17:00")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    cal = WorkingCalendar.from_settings(settings)
    assert cal.nation is Nation.SCOTLAND
    assert cal.working_hours == (dt.time(9), dt.time(17))
    assert not cal.is_working_day(D(2026, 6, 9))
    assert cal.next_working_moment(utc(2026, 6, 10, 7, 59)) == utc(2026, 6, 10, 8, 0)  # 09:00 BST


def test_default_settings_give_england_and_standard_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NATION", "TIMEZONE", "HOLIDAYS_OVERRIDE_FILE", "WORKING_HOURS_START", "WORKING_HOURS_END"):
        monkeypatch.delenv(f"AUDITBOT_{name}", raising=False)
    cal = WorkingCalendar.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert cal.nation is Nation.ENGLAND_AND_WALES
    assert cal.tz == LONDON
    assert cal.working_hours == (dt.time(8, 30), dt.time(17, 30))
    assert cal.override_file is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON at line 1 column 2"),
        ("[]", "expected a JSON object keyed by division"),
        (_govuk("scotland"), 'no "england-and-wales" division (divisions present: scotland)'),
        ({"england-and-wales": {"events": "none"}}, '"england-and-wales" must be an object with an "events" list'),
        ({"england-and-wales": {"division": "scotland", "events": []}}, 'has "division": "scotland"'),
        (_govuk("england-and-wales", {"title": "Extra", "date": "2026-02-30"}),
         'event 1 (Extra): bad date "2026-02-30" (no such day)'),
        (_govuk("england-and-wales", {"title": "Extra", "date": "08/06/2026"}), 'bad date "08/06/2026", expected YYYY-MM-DD'),
        (_govuk("england-and-wales", {"title": "Extra", "date": "20260608"}), 'bad date "20260608", expected YYYY-MM-DD'),
        (_govuk("england-and-wales", {"title": "Ok", "date": "2026-06-08"}, {"title": "Extra"}),
         "event 2 (Extra): bad date null"),
        (_govuk("england-and-wales", {"date": "2026-06-08"}), 'event 1: missing or empty "title"'),
        (_govuk("england-and-wales", "2026-06-08"), 'event 1: expected an object with "title" and "date"'),
    ],
)
def test_bad_override_files_raise_calendar_error_naming_the_file(tmp_path: Path, content: object, problem: str) -> None:
    path = _write(tmp_path, content, name="bad-holidays.json")
    with pytest.raises(CalendarError) as caught:
        WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, override_file=path)
    message = str(caught.value)
    assert message.startswith(f"holidays override file {path}: ")
    assert problem in message


def test_missing_override_file_raises_calendar_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(CalendarError, match=r"nowhere\.json: file not found"):
        WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, override_file=path)
    with pytest.raises(CalendarError, match="is a directory"):
        WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, override_file=tmp_path)


# Edges ---------------------------------------------------------------------------------------


def test_a_month_whose_first_is_a_working_day_starts_on_the_first(england: WorkingCalendar) -> None:
    assert england.first_working_day(D(2026, 12, 17)) == D(2026, 12, 1)  # Tuesday 1 December
    assert england.first_working_day(D(2026, 6, 30)) == D(2026, 6, 1)  # Monday 1 June


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        ((dt.time(9), dt.time(9)), "start 09:00 must be before end 09:00"),
        ((dt.time(9, tzinfo=dt.UTC), dt.time(17)), "without a time zone"),
        ((dt.time(9), dt.time(17, tzinfo=dt.UTC)), "without a time zone"),
    ],
)
def test_working_hours_must_be_a_local_window(hours: tuple[dt.time, dt.time], problem: str) -> None:
    with pytest.raises(CalendarError, match=problem):
        WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, working_hours=hours)


def test_a_datetime_whose_zone_gives_no_offset_is_refused(england: WorkingCalendar) -> None:
    class NoOffset(dt.tzinfo):
        def utcoffset(self, moment: dt.datetime | None) -> None:
            return None

    with pytest.raises(ValueError, match="naive datetime"):
        england.local(dt.datetime(2026, 3, 30, 8, 30, tzinfo=NoOffset()))


def test_the_exact_instant_of_the_clock_changes(england: WorkingCalendar) -> None:
    # Spring forward: 01:00:00Z is 02:00 BST; a second before it is 00:59:59 GMT.
    assert england.local(utc(2026, 3, 29, 1, 0)).replace(tzinfo=None) == dt.datetime(2026, 3, 29, 2, 0)
    assert england.local(utc(2026, 3, 29, 0, 59, 59)).replace(tzinfo=None) == dt.datetime(2026, 3, 29, 0, 59, 59)
    # Fall back: 01:00:00Z is 01:00 GMT the second time round; a second before, 01:59:59 BST.
    assert england.local(utc(2026, 10, 25, 1, 0)).utcoffset() == dt.timedelta(0)
    assert england.local(utc(2026, 10, 25, 0, 59, 59)).utcoffset() == dt.timedelta(hours=1)
    assert england.local_date(utc(2026, 10, 24, 23, 0)) == D(2026, 10, 25)  # 00:00 BST


def test_an_unreadable_override_file_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("{}")
    with pytest.raises(CalendarError, match=r"cannot be read \(Not a directory\)$"):
        WorkingCalendar(Nation.ENGLAND_AND_WALES, LONDON, override_file=blocker / "holidays.json")


def test_the_calendar_describes_itself() -> None:
    calendar = WorkingCalendar(Nation.SCOTLAND, LONDON, working_hours=(dt.time(9), dt.time(17)))
    assert repr(calendar) == "WorkingCalendar(scotland, Europe/London, 09:00-17:00, override_file=None)"


# GOV.UK first ---------------------------------------------------------------------------------

#: Every weekday on which GOV.UK's shipped list and the pinned ``holidays`` package disagree, in
#: the years GOV.UK covers. GOV.UK is the authority; a new difference needs a look before release.
KNOWN_DIFFERENCES = {
    ("scotland", D(2026, 6, 15)): "package only: Scotland's participation in the FIFA World Cup final",
}

SUBDIV = {Nation.ENGLAND_AND_WALES: "ENG", Nation.SCOTLAND: "SCT", Nation.NORTHERN_IRELAND: "NIR"}


def test_the_shipped_govuk_list_against_the_package_for_every_covered_year() -> None:
    differences: dict[tuple[str, dt.date], str] = {}
    for nation in Nation:
        govuk = calendar_module.govuk_bank_holidays(nation)
        years = sorted({day.year for day in govuk})
        assert years == list(range(2019, 2028)), nation
        assert all(day.weekday() < 5 for day in govuk), "GOV.UK lists the days off, never a weekend"
        package = {day: name for day, name in holidays.country_holidays("GB", subdiv=SUBDIV[nation], years=years).items()
                   if day.weekday() < 5}
        for day in sorted(set(govuk) ^ set(package)):
            differences[(nation.value, day)] = f"GOV.UK only: {govuk[day]}" if day in govuk else f"package only: {package[day]}"
    assert differences == KNOWN_DIFFERENCES


def test_scotland_works_on_15_june_2026_as_govuk_says(scotland: WorkingCalendar) -> None:
    assert scotland.is_working_day(D(2026, 6, 15))
    assert scotland.holiday_name(D(2026, 6, 15)) is None
    assert scotland.add_working_days(D(2026, 6, 12), 1) == D(2026, 6, 15)


def test_govuk_names_and_weekend_holidays_keep_a_name(england: WorkingCalendar, scotland: WorkingCalendar) -> None:
    assert england.holiday_name(D(2026, 5, 4)) == "Early May bank holiday"
    assert england.holiday_name(D(2026, 12, 28)) == "Boxing Day (substitute day)"
    assert england.holiday_name(D(2026, 12, 26)) == "Boxing Day"  # a Saturday: named, and not a working day anyway
    assert scotland.holiday_name(D(2025, 12, 1)) == "St Andrew\u2019s Day (substitute day)"


def test_beyond_govuk_the_package_answers(england: WorkingCalendar) -> None:
    assert england.govuk_years == frozenset(range(2019, 2028))
    assert not england.is_working_day(D(2028, 1, 3))  # New Year's Day substitute, from the package
    assert not england.is_working_day(D(2031, 4, 14))  # Easter Monday 2031


def test_an_override_can_remove_a_holiday_as_well_as_add_one(tmp_path: Path) -> None:
    data = {"scotland": {"division": "scotland", "events": [{"title": "Extra", "date": "2026-06-09"}],
                         "working_days": [{"title": "St Andrew's Day moved", "date": "2026-11-30"},
                                          {"title": "Package-only day", "date": "2031-06-13"}]}}
    path = _write(tmp_path, data)
    cal = WorkingCalendar(Nation.SCOTLAND, LONDON, override_file=path)
    assert not cal.is_working_day(D(2026, 6, 9))
    assert cal.is_working_day(D(2026, 11, 30)) and cal.holiday_name(D(2026, 11, 30)) is None


def test_a_bad_working_day_in_the_override_names_it(tmp_path: Path) -> None:
    data = {"scotland": {"division": "scotland", "events": [], "working_days": [{"title": "Oops", "date": "2026-13-01"}]}}
    with pytest.raises(CalendarError, match=r'"scotland" working day 1 \(Oops\): bad date "2026-13-01", expected|no such day'):
        WorkingCalendar(Nation.SCOTLAND, LONDON, override_file=_write(tmp_path, data))
    with pytest.raises(CalendarError, match='"working_days" must be a list'):
        WorkingCalendar(Nation.SCOTLAND, LONDON, override_file=_write(tmp_path, {"scotland": {"events": [], "working_days": {}}}))
