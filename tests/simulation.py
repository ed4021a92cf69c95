"""Driving the bot through simulated weeks: tick, deliver, and note who received what when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.runtime import Runtime, start_runtime
from bot.scheduler.tick import TickReport, tick
from bot.settings import Settings, load_settings
from bot.workspace import LocalWorkspace
from store.models import CaseType, Role
from tests.allocation_fixtures import Council
from tests.support import FakeClock, FakeTime, running_workspace

#: The first words of each message's plain-text fallback, and what a person calls it.
LABELS = (
    ("You have a case file audit for", "allocated"),
    ("Case reallocated to you", "allocated"),
    ("One of your cases will be audited", "case audited"),
    ("A case in your team will be audited", "team case audited"),
    ("Reminder: audit due", "reminder"),
    ("Copy: ", "reminder copy"),
    ("Overdue: audit of", "overdue"),
    ("Overdue: ", "overdue copy"),
    ("Allocation preview for", "preview"),
    ("Audit findings for case", "findings"),
    ("Reminder: the window to reply", "reply reminder"),
    ("QA check: the audit of case", "qa check"),
    ("Moderation sample for", "moderation sample"),
    ("Nothing is arranged yet for the reflection meeting", "meeting nudge"),
    ("The reflection meeting for case", "meeting nudge"),
)


def label(text: str) -> str:
    """What kind of message this is, from its plain-text fallback."""
    for prefix, name in LABELS:
        if text.startswith(prefix):
            return name
    if "overdue today" in text:
        return "overdue digest"
    if " recorded: overall " in text:
        return "recorded"
    if text.startswith("The audit of case") and " is final: " in text:
        return "final"
    if " has an audit break in " in text:
        return "break notice"
    return text


#: For a test that runs the bot hour by hour through weeks: half a minute alone, minutes in a loaded
#: run of the whole suite on 2 cores, past the suite's 120 s guard against a hang.
WEEKS = pytest.mark.timeout(480)

@dataclass(frozen=True)
class Received:
    """One message as the recipient saw it: when (local date) and what."""

    email: str
    day: dt.date
    kind: str
    reference: str  # the case reference ("" for previews and digests)


def _reference(text: str) -> str:
    if text.startswith("Moderation sample for"):
        return ""
    for word in text.replace(",", " ").replace(":", " ").split():
        if word.startswith("CMS-"):
            return word.rstrip(".'s")
    return ""


@dataclass
class Simulation:
    """A running bot whose time the test controls."""

    runtime: Runtime
    workspace: LocalWorkspace
    calendar: WorkingCalendar
    clock: FakeTime
    received: list[Received] = field(default_factory=list)
    reports: list[TickReport] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.sessions

    def at(self, day: dt.date, hour: int = 9, minute: int = 0) -> dt.datetime:
        """A local wall time as UTC, and move the bot's clock there."""
        self.clock.now = self.calendar.utc(day, dt.time(hour, minute))
        return self.clock.now

    def step(self, now: dt.datetime) -> TickReport:
        """One tick at ``now`` and delivery of whatever it planned."""
        self.clock.now = now
        report = tick(self.sessions, self.runtime.settings, self.calendar, now)
        self.reports.append(report)
        sent = sum(sender.drain(now).sent for sender in self.runtime.senders.values())
        if sent:
            self.collect(now)
        return report

    def collect(self, now: dt.datetime) -> None:
        """Note every message delivered since the last look, stamped with the local date."""
        day = self.calendar.local_date(now)
        for user in self.workspace.users():
            for message in self.workspace.messages(user_email=user["email"]):
                key = (message["channel"], message["ts"])
                if message["ephemeral"] or key in self._seen:
                    continue
                self._seen.add(key)
                text = message["text"]
                kind = label(text)
                self.received.append(Received(user["email"], day, kind, _reference(text)))

    def run(
        self,
        start: dt.date,
        end: dt.date,
        *,
        every: dt.timedelta | None = None,
        hooks: dict[dt.date, Callable[[], None]] | None = None,
    ) -> None:
        """Tick from ``start`` 00:00 to ``end`` 00:00 local, calling a day's hook at its 12:00 tick.

        By default, at the hours that matter: every hour from 07:00 to 19:00 on working days
        (the working hours and either side of them), every third hour otherwise (nights, weekends,
        bank holidays: only safeguarding goes out then, and the planners must still hold off); a
        hook's day ticks at 12:00 whatever the day. ``every`` ticks at that fixed interval instead.
        """
        now = self.calendar.utc(start, dt.time(0, 0))
        stop = self.calendar.utc(end, dt.time(0, 0))
        hooks = dict(hooks or {})
        while now < stop:
            local = self.calendar.local(now)
            if every is not None or self._ticks_at(local, hooks):
                self.step(now)
            if local.hour == 12 and local.date() in hooks:
                hooks.pop(local.date())()
                self.collect(now)
            now += every or dt.timedelta(hours=1)

    def _ticks_at(self, local: dt.datetime, hooks: dict[dt.date, Callable[[], None]]) -> bool:
        """Whether the default pace ticks at this local hour (see ``run``)."""
        busy = 7 <= local.hour < 19 and self.calendar.is_working_day(local.date())
        return busy or local.hour % 3 == 0 or (local.hour == 12 and local.date() in hooks)

    def inbox(self, email: str) -> list[tuple[dt.date, str, str]]:
        """What one person received, in order."""
        return [(r.day, r.kind, r.reference) for r in self.received if r.email == email]


def small_council(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Two services, two teams, four auditors with line managers, a QA coordinator, eight cases.

    Returns names → emails for the people tests talk about.
    """
    with sessions() as session, session.begin():
        c = Council(session)
        ai = c.service("Assessment and Intervention")
        cic = c.service("Children in Care")
        team_a = c.team("Assessment Team North", ai)
        team_b = c.team("Children in Care Team 1", cic)
        director = c.person("Dan Director")
        ad = c.person("Amy Director", Role.ASSISTANT_DIRECTOR, line_manager=director)
        deputy = c.person("Dee Deputy", Role.HEAD_OF_SERVICE, line_manager=ad)
        head = c.auditor("Hana Head", Role.HEAD_OF_SERVICE, line_manager=ad)
        sm_a = c.auditor("Sid Manager", Role.SERVICE_MANAGER, service=ai, line_manager=head)
        sm_b = c.auditor("Sue Manager", Role.SERVICE_MANAGER, service=cic, line_manager=head)
        tm_a = c.auditor("Tara Teamlead", Role.TEAM_MANAGER, team=team_a, line_manager=sm_a)
        tm_b = c.auditor("Ben Teamlead", Role.TEAM_MANAGER, team=team_b, line_manager=sm_b)
        c.person("Quinn Qa", Role.QA_COORDINATOR, line_manager=head)
        workers_a = [c.person(f"Wendy A{n}", Role.SOCIAL_WORKER, team=team_a, line_manager=tm_a) for n in (1, 2)]
        workers_b = [c.person(f"Will B{n}", Role.SOCIAL_WORKER, team=team_b, line_manager=tm_b) for n in (1, 2)]
        for n in range(4):
            c.case(f"CMS-10{n}", team_a, CaseType.CP, worker=workers_a[n % 2], team_manager=tm_a)
            c.case(f"CMS-20{n}", team_b, CaseType.CLA, worker=workers_b[n % 2], team_manager=tm_b)
        people = [director, ad, deputy, head, sm_a, sm_b, tm_a, tm_b, *workers_a, *workers_b]
        emails = {p.display_name: p.email for p in people}
        emails["Quinn Qa"] = "quinn.qa@council.example"
        return emails


# --- fixtures shared by the scenario tests (import them into the test module) ---------------


@pytest.fixture
def emails(session_factory: sessionmaker[Session]) -> dict[str, str]:
    return small_council(session_factory)


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4,
        slack_channel_burst=1000,  # the sender keeps the pace of the workspace below: time moves by hand
        form_trigger_seconds=60,  # its triggers expire by that hand-moved time, not by how fast this machine runs
    )


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    with running_workspace(clock=FakeClock(), channel_burst=1000) as ws:
        yield ws


@pytest.fixture
def sim(engine: Engine, settings: Settings, emails: dict[str, str], workspace: LocalWorkspace) -> Iterator[Simulation]:
    clock = FakeTime(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    runtime = start_runtime(settings, engine=engine, clock=clock, background=False, workspace=workspace, http_port=0)
    yield Simulation(runtime, workspace, WorkingCalendar.from_settings(settings), clock)
    runtime.stop()  # the server and the follow-ups' threads: nothing of this test touches the next one's database
