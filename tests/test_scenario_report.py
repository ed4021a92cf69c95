"""The monthly report posts itself: on the 10th working day after the month (bank holidays
skipped) a tick plans, once, the summary, the charts (PNG, alt text as the comment) and the CSV
for the QA channel (or each QA coordinator), and each Head of Service's service summary with its
charts; the outbox uploads them to the local workspace. Counts only: never a case reference."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.cli import Context
from bot.cli import report as report_cli
from bot.services.reports.publish import plan_monthly_report, post_month, report_day
from bot.settings import Settings, load_settings
from bot.workspace import LocalWorkspace
from store.models import Allocation, AllocationState, Case, Notification, Person, Service
from store.records import RecordState
from tests.allocation_fixtures import Council
from tests.moderation_fixtures import stored_record
from tests.simulation import Simulation, emails, sim, workspace  # noqa: F401 (fixtures)

DECEMBER = dt.date(2026, 12, 1)
#: January 2027: the 1st is a bank holiday, so the first working day is Monday the 4th and the 10th is Friday the 15th.
REPORT_DAY = dt.date(2027, 1, 15)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def settings(engine: Engine, tmp_path: Path, workspace: LocalWorkspace) -> Settings:  # noqa: F811
    return load_settings(data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4,
                         qa_channel=workspace.add_channel("audit-qa"))


def december(sessions: sessionmaker[Session]) -> None:
    """Four audits allocated in December: three in Assessment (two recorded Good and RI, one still
    owed), one in Children in Care (recorded Inadequate). Dee Deputy heads Children in Care."""
    with sessions() as s, s.begin():
        c = Council(s)
        auditor = s.scalars(select(Person).where(Person.display_name == "Sid Manager")).one()
        wanted = ("CMS-100", "CMS-101", "CMS-102", "CMS-200")
        cases = {case.reference: case for case in s.scalars(select(Case).where(Case.reference.in_(wanted)))}
        now = dt.datetime(2026, 12, 10, 10, tzinfo=dt.UTC)
        for ref, grade in (("CMS-100", "good"), ("CMS-101", "requires_improvement"), ("CMS-200", "inadequate")):
            record = stored_record(s, c.allocation(cases[ref], auditor, DECEMBER, state=AllocationState.COMPLETED), now=now,
                                   overall=grade)
            record.state, record.finalised_at = RecordState.FINALISED, now
        c.allocation(cases["CMS-102"], auditor, DECEMBER)
        deputy = s.scalars(select(Person).where(Person.display_name == "Dee Deputy")).one()
        deputy.service_id = s.scalars(select(Service.id).where(Service.name == "Children in Care")).one()


def posts(sim: Simulation, **where: Any) -> list[dict[str, Any]]:  # noqa: F811
    return sim.workspace.messages(**where)


def reports(sim: Simulation, email: str) -> list[dict[str, Any]]:  # noqa: F811
    """The report's messages and files in someone's DM (they get the month's chasers too)."""
    return [m for m in posts(sim, user_email=email) if m["text"].startswith("Case file audits") or m.get("files")]


def everything_said(sim: Simulation, messages: list[dict[str, Any]]) -> str:  # noqa: F811
    said = [m["text"] + str(m.get("blocks") or "") for m in messages]
    for message in messages:
        for f in message.get("files") or []:
            info, content = sim.workspace.file(f["id"])
            said.append(info["title"] + (content.decode() if info["name"].endswith(".csv") else ""))
    return "\n".join(said)


def test_the_month_is_posted_once_on_the_tenth_working_day_with_charts_and_csv(sim: Simulation, emails: dict[str, str]) -> None:  # noqa: F811
    december(sim.sessions)
    channel = sim.runtime.settings.qa_channel
    assert channel is not None
    assert sim.step(sim.at(REPORT_DAY - dt.timedelta(days=1), 10)).report_posts == 0  # the 9th working day: not yet
    assert posts(sim, channel=channel) == []

    tick = sim.step(sim.at(REPORT_DAY, 10))
    assert tick.report_posts == 5 + 3  # the channel: summary, 3 charts, CSV; Dee: summary, 2 charts
    assert "8 monthly report message(s) and file(s)" in tick.summary()
    assert sim.step(sim.at(REPORT_DAY, 11)).report_posts == 0  # planned once
    assert sim.step(sim.at(REPORT_DAY + dt.timedelta(days=3), 10)).report_posts == 0

    summary, *files = posts(sim, channel=channel)
    assert summary["text"] == "Case file audits: December 2026: 3 of 4 completed (75%): 3 on time, 0 late, 1 overdue"
    blocks = str(summary["blocks"])
    assert "final: Good 1 (33%), Requires Improvement 1 (33%), Inadequate 1 (33%)" in blocks
    assert "Awaiting the team manager's final confirmation:* 3" in blocks
    assert "Assessment and Intervention" in blocks and "Children in Care" in blocks
    assert "The charts and the CSV follow as files" in blocks
    uploaded = [f for m in files for f in m["files"]]
    names = ("-completion-by-month.png", "-grades-by-month.png", "-grades-by-service.png", ".csv")
    assert [f["name"] for f in uploaded] == [f"audit-report-2026-12{n}" for n in names]
    for message, file in zip(files[:3], uploaded[:3], strict=True):
        info, content = sim.workspace.file(file["id"])
        assert content.startswith(PNG) and info["mimetype"] == "image/png"
        assert "December 2026" in message["text"]  # the alt text: the chart's numbers in words
    assert "75%" in files[0]["text"] and "Inadequate" in files[1]["text"]
    _, table = sim.workspace.file(uploaded[3]["id"])
    rows = {(r["period"], r["service"], r["team"], r["measure"]): r["value"] for r in csv.DictReader(io.StringIO(table.decode()))}
    assert rows[("2026-12", "", "", "completion_rate_percent")] == "75"
    assert rows[("2026-12", "Children in Care", "Children in Care Team 1", "final_grade:inadequate")] == "1"

    dee = reports(sim, emails["Dee Deputy"])
    assert dee[0]["text"] == ("Case file audits, Children in Care: December 2026: 1 of 1 completed (100%): 1 on time, 0 late, "
                              "0 overdue")
    dee_said = everything_said(sim, dee)
    assert "Children in Care Team 1" in dee_said and "Assessment Team North" not in dee_said
    assert len([f for m in dee for f in m.get("files") or []]) == 2
    assert not reports(sim, emails["Hana Head"])  # a Head of Service with no service: nothing of another's
    assert not reports(sim, emails["Quinn Qa"])  # the channel has it

    for said in (everything_said(sim, posts(sim, channel=channel)), dee_said):  # counts only
        assert "CMS-" not in said and "Sid Manager" not in said


def test_without_a_qa_channel_each_coordinator_gets_it_by_dm(sim: Simulation, emails: dict[str, str]) -> None:  # noqa: F811
    december(sim.sessions)
    now = sim.at(REPORT_DAY, 10)
    without = sim.runtime.settings.model_copy(update={"qa_channel": None})
    with sim.sessions() as s, s.begin():
        assert plan_monthly_report(s, without, sim.calendar, now=now) == 5 + 3
    for sender in sim.runtime.senders.values():
        sender.drain(now)
    quinn = reports(sim, emails["Quinn Qa"])
    assert quinn[0]["text"].startswith("Case file audits: December 2026: 3 of 4 completed (75%)")
    assert len([f for m in quinn for f in m.get("files") or []]) == 4


def test_the_report_day_skips_bank_holidays(settings: Settings) -> None:
    calendar = WorkingCalendar.from_settings(settings)
    assert report_day(DECEMBER, settings, calendar) == REPORT_DAY
    # April 2026: Good Friday the 3rd and Easter Monday the 6th are not working days.
    assert report_day(dt.date(2026, 3, 1), settings, calendar) == dt.date(2026, 4, 16)
    assert report_day(DECEMBER, settings.model_copy(update={"report_working_day": 1}), calendar) == dt.date(2027, 1, 4)


def test_a_month_with_nothing_is_not_reported_and_a_late_bot_catches_up_for_five_working_days(
    session_factory: sessionmaker[Session], settings: Settings, emails: dict[str, str],  # noqa: F811
) -> None:
    calendar = WorkingCalendar.from_settings(settings)

    def plan(day: dt.date) -> int:
        with session_factory() as s, s.begin():
            return plan_monthly_report(s, settings, calendar, now=calendar.utc(day, dt.time(10)))

    assert plan(REPORT_DAY) == 0  # nothing allocated in December, nothing paused: nothing to say
    december(session_factory)
    assert plan(dt.date(2027, 1, 25)) == 0  # six working days after: too late to be news
    assert plan(dt.date(2027, 1, 22)) == 8  # five working days after (the bot was down): still posted
    assert plan(dt.date(2027, 1, 22)) == 0


def test_a_paused_month_is_posted_as_paused_never_zero(
    session_factory: sessionmaker[Session], settings: Settings, emails: dict[str, str],  # noqa: F811
) -> None:
    calendar = WorkingCalendar.from_settings(settings)
    with session_factory() as s, s.begin():
        Council(s).month(dt.date(2027, 2, 1)).paused = True
    day = report_day(dt.date(2027, 2, 1), settings, calendar)
    with session_factory() as s, s.begin():
        assert plan_monthly_report(s, settings, calendar, now=calendar.utc(day, dt.time(10))) == 5  # no service had audits
    with session_factory() as s:
        summary = s.scalars(select(Notification).where(Notification.idempotency_key == "report:2027-02:channel:summary")).one()
        assert summary.context["whole"]["paused"] and summary.context["whole"]["completion"] == "paused"


def test_an_operator_posts_a_month_now_once_delivered_in_working_hours(
    session_factory: sessionmaker[Session], engine: Engine, settings: Settings, emails: dict[str, str],  # noqa: F811
) -> None:
    saturday = dt.datetime(2027, 1, 16, 20, tzinfo=dt.UTC)  # out of hours: the posts wait for Monday morning

    def post(*args: str) -> Any:
        group = click.Group("auditbot")
        report_cli.register(group)
        return CliRunner().invoke(group, ["report", *args], obj=Context(settings, _engine=engine, clock=lambda: saturday))

    assert post("--month", "2026-12", "--post").output == "December 2026: nothing posted: nothing allocated\n"
    december(session_factory)
    said = post("--month", "2026-12", "--post")
    assert said.exit_code == 0 and said.output == (
        "December 2026: 8 message(s) and file(s) planned for 2 destination(s) (the QA channel, and each Head of Service whose "
        "service had audits); sent from Mon 18 Jan 2027 08:30 by the running bot\n")
    assert post("--month", "2026-12", "--post").output == "December 2026: nothing posted: already posted\n"
    with session_factory() as s:
        starts = set(s.scalars(select(Notification.next_attempt_at).where(Notification.idempotency_key.like("report:2026-12:%"))))
    assert starts == {dt.datetime(2027, 1, 18, 8, 30, tzinfo=dt.UTC)}
    for wrong in (["--quarter", "2026Q4", "--post"], ["--month", "2026-12", "--post", "--format", "csv"]):
        refused = post(*wrong)
        assert refused.exit_code == 2 and "--post goes with --month alone" in refused.output


def test_a_month_not_over_a_cancelled_month_and_a_late_report_day(
    session_factory: sessionmaker[Session], settings: Settings, emails: dict[str, str],  # noqa: F811
) -> None:
    calendar = WorkingCalendar.from_settings(settings)
    december(session_factory)
    with session_factory() as s, s.begin():  # the month so far: keys of its own, so the real report still goes
        early = post_month(s, DECEMBER, settings, calendar, now=calendar.utc(dt.date(2026, 12, 14), dt.time(10)))
        assert early.so_far and early.planned == 8
        titles = {n.context.get("title") for n in s.scalars(select(Notification).where(Notification.template == "report_file"))}
        assert "Case file audit report December 2026 (so far, 14 Dec 2026) (CSV)" in titles
        assert plan_monthly_report(s, settings, calendar, now=calendar.utc(REPORT_DAY, dt.time(10))) == 8
        assert post_month(s, DECEMBER, settings, calendar, now=calendar.utc(REPORT_DAY, dt.time(11))).why_not == "already posted"
        s.execute(delete(Notification))
    late = settings.model_copy(update={"report_working_day": 20})
    assert report_day(dt.date(2026, 11, 1), late, calendar) == dt.date(2026, 12, 30)
    with session_factory() as s, s.begin():  # November's report day is 30 December; the bot is back on 4 January
        s.execute(update(Allocation).values(month_start=dt.date(2026, 11, 1)))
        assert plan_monthly_report(s, late, calendar, now=calendar.utc(dt.date(2027, 1, 4), dt.time(10))) == 8
    with session_factory() as s, s.begin():
        s.execute(update(Allocation).values(month_start=DECEMBER, state=AllocationState.CANCELLED))
        assert post_month(s, DECEMBER, settings, calendar, now=calendar.utc(REPORT_DAY, dt.time(10))).why_not == (
            "nothing allocated")  # every allocation cancelled: no audits to report


def test_a_chart_waits_for_its_summary(sim: Simulation, emails: dict[str, str]) -> None:  # noqa: F811
    december(sim.sessions)
    with sim.sessions() as s, s.begin():
        assert plan_monthly_report(s, sim.runtime.settings, sim.calendar, now=sim.at(REPORT_DAY, 10)) == 8
        summary = s.scalars(select(Notification).where(Notification.idempotency_key == "report:2026-12:channel:summary")).one()
        summary.next_attempt_at = sim.at(REPORT_DAY, 11)  # held back (a retry after a 5xx, say)
    for sender in sim.runtime.senders.values():
        sender.drain(sim.at(REPORT_DAY, 10))
    assert posts(sim, channel=sim.runtime.settings.qa_channel) == []  # the files wait for it
    for sender in sim.runtime.senders.values():
        sender.drain(sim.at(REPORT_DAY, 11))
    first, *rest = posts(sim, channel=sim.runtime.settings.qa_channel)
    assert first["text"].startswith("Case file audits: December 2026") and not first.get("files") and len(rest) == 4
