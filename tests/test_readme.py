"""Every example command in the README runs, in order, against the demo council, and does what
the README says (issue 12, item 15).

The bot runs in-process exactly as ``python3 dev.py run`` starts it (local mode, the demo seeded
by ``prepare_local_store``), at a fixed time; each example line is parsed from the README and
invoked through the real ``auditbot`` command group. Not run here, each for a stated reason:
``dev.py`` itself (``dev.py test`` is CI; ``dev.py run`` is this runtime), ``auditbot run``
(the runtime the fixture starts; its start-up is tested in ``test_startup_and_logs.py``) and the
benchmarks (minutes each; they are run by hand, see ``bench/``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import joinedload

import bot.cli
from bot.cli import _register_all, cli
from bot.local import describe_local, prepare_local_store
from bot.runtime import Runtime, start_runtime, sync_workspace_users
from bot.settings import load_settings
from bot.workspace.process import WorkspaceProcess
from store.meetings import MeetingState, ReflectionMeeting
from store.models import Allocation, Case, Person, PersonRole, Role, SafeguardingAlert
from store.records import AuditChallenge, AuditRecord, ChallengeState
from tests.conftest import drop_database, new_engine
from tests.support import FakeClock, FakeTime, running_workspace

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
#: Monday 30 November 2026, 10:00 in London: the demo allocates December (4 working days left in November).
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
#: The emails the README's walkthroughs use, and what each stands for in the running demo.
PLACEHOLDERS = {
    "fatima.dixon@council.example": "auditor",
    "michelle.kaur@council.example": "team_manager",
    "amira.khan@council.example": "approver",
    "bilal.hussain@council.example": "new_auditor",
    "fiona.ali@council.example": "worker",
    "F0ABCDEFGHI": "invite_file",
    "andrew.mason@council.example": "qa_coordinator",
}
#: Names the README's walkthroughs type (a menu's option), and whose name each stands for.
NAME_PLACEHOLDERS = {"Michelle Kaur": "team_manager"}
#: Example commands that are not run here, with why (see the module docstring).
NOT_RUN = ("python3 dev.py", ".venv/bin/python bench/", "AUDITBOT_TEST_POSTGRES_URL=")
#: Commands whose documented outcome is a non-zero exit: the worker needs Slack credentials;
#: the doctor finds examples/staff.csv's Assistant Director (and the demo's director) have no line manager.
EXPECTED_EXIT = {"worker": 1, "doctor": 1}


def sh_blocks(text: str) -> list[list[str]]:
    """The lines of every ```sh block."""
    return [block.splitlines() for block in re.findall(r"```sh\n(.*?)```", text, re.S)]


def table_commands(text: str) -> list[str]:
    """The first-column example of each row of the operator commands table."""
    section = text.split("## Operator commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(auditbot [^`]+)` \|", section, re.M)


def test_the_readme_examples_are_found() -> None:
    blocks = sh_blocks(README)
    assert len(blocks) == 9 and blocks[0][0].startswith("python3 dev.py run")
    assert len(table_commands(README)) == 24


@dataclass
class Demo:
    runtime: Runtime
    env: dict[str, str]
    clock: FakeTime

    def deliver(self) -> None:
        """What the running bot's timer does each minute in local mode: accounts for new staff, then send."""
        assert self.runtime.workspace is not None
        sync_workspace_users(self.runtime.workspace, self.runtime.sessions)
        for sender in self.runtime.senders.values():
            sender.drain(self.clock.now)

    def auditbot(self, args: list[str]) -> Result:
        result = CliRunner().invoke(cli, args, env=self.env)
        self.deliver()
        return result


@pytest.fixture
def demo(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    engine, database = new_engine(backend, tmp_path)  # empty: local mode creates and seeds it
    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(data_dir=tmp_path / "data", database_url=url, slack_channel_burst=1000)  # as the workspace
    clock = FakeTime(NOW)
    monkeypatch.setattr(bot.cli, "Context", functools.partial(bot.cli.Context, clock=clock))
    monkeypatch.chdir(ROOT)  # the README's relative paths (examples/...)
    if "run" not in cli.commands:
        _register_all()
    seeded: list[str] = []
    with running_workspace(clock=FakeClock(), channel_burst=1000) as workspace:
        runtime = start_runtime(
            settings, engine=engine, clock=clock, background=False, workspace=workspace, http_port=0,
            prepare=lambda e: prepare_local_store(e, settings, now=NOW, echo=seeded.append),
        )
        try:
            assert [line.split(":")[0] for line in seeded] == [
                f"loaded the demo council from {tmp_path / 'data' / 'demo'}",
                "allocated the demo control sample for December 2026",
            ]
            port = str(urlsplit(workspace.base_url).port)
            env = {"AUDITBOT_DATABASE_URL": url, "AUDITBOT_LOCAL_WORKSPACE_PORT": port}
            demo = Demo(runtime, env, clock)
            demo.deliver()
            yield demo
        finally:
            assert runtime.server is not None
            runtime.stop()
            engine.dispose()
            if database:
                drop_database(database)


def people(demo: Demo) -> dict[str, str]:
    """The running demo's auditor printed at start, their case's team manager (message #1)."""
    with demo.runtime.sessions() as session:
        first = session.scalars(
            select(Allocation).options(joinedload(Allocation.auditor), joinedload(Allocation.case).joinedload(Case.team_manager))
            .order_by(Allocation.id).limit(1)
        ).one()
        first_of_theirs = session.scalars(
            select(Allocation).options(joinedload(Allocation.case).joinedload(Case.team_manager))
            .where(Allocation.auditor_id == first.auditor_id).order_by(Allocation.id).limit(1)
        ).one()
        assert first_of_theirs.case.team_manager is not None
        qa = session.scalars(
            select(Person.email).where(Person.role_rows.any(PersonRole.role == Role.QA_COORDINATOR)).order_by(Person.id).limit(1)
        ).one()
        return {"auditor": first.auditor.email, "team_manager": first_of_theirs.case.team_manager.email, "qa_coordinator": qa}


def demo_name(demo: Demo, email: str) -> str:
    with demo.runtime.sessions() as session:
        return session.scalars(select(Person.display_name).where(Person.email == email)).one()


def named(demo: Demo, pattern: str, output: str) -> str:
    """The email of the person ``output`` names where ``pattern`` says."""
    found = re.findall(pattern, output)
    assert found, output
    with demo.runtime.sessions() as session:
        return session.scalars(select(Person.email).where(Person.display_name == found[-1])).one()


def run_line(demo: Demo, line: str, variables: dict[str, str], real: dict[str, str], saved: Path | None = None) -> Result | None:
    """Run one README line: an assignment sets a variable, an auditbot command runs (a file it saves goes to ``saved``)."""
    words = shlex.split(line, comments=True)
    if not words:
        return None
    if len(words) == 1 and re.fullmatch(r"[A-Z]+=\S+", words[0]):
        name, value = words[0].split("=", 1)
        variables[name] = real[PLACEHOLDERS[value]]
        return None
    words = [re.sub(r"\$([A-Z]+)", lambda m: variables[m.group(1)], w) for w in words]
    words = [real[PLACEHOLDERS[w]] if w in PLACEHOLDERS else w for w in words]
    if saved is not None:  # files the examples write go to the test's folder
        words = [str(saved / w) if w.endswith(".ics") or (k and words[k - 1] == "--out") else w for k, w in enumerate(words)]
    for name, role in NAME_PLACEHOLDERS.items():
        words = [w.replace(name, demo_name(demo, real[role])) for w in words]
    assert words[0] in (".venv/bin/auditbot", "auditbot"), line
    result = demo.auditbot(words[1:])
    expected = EXPECTED_EXIT.get(words[1], 0)
    assert result.exit_code == expected, f"{line}\n{result.output}"
    return result


def test_every_readme_example_runs_and_shows_what_the_readme_says(demo: Demo, tmp_path: Path) -> None:
    real = people(demo)
    printed = describe_local(demo.runtime)
    assert f"workspace messages --user {real['auditor']}" in printed, "dev.py run prints the auditor the README uses"
    assert "(port: AUDITBOT_LOCAL_WORKSPACE_PORT)" in printed and "(port: AUDITBOT_PORT;" in printed
    variables: dict[str, str] = {}
    outputs: list[tuple[str, str]] = []
    blocks = sh_blocks(README)
    assert all(line.startswith(NOT_RUN) for line in blocks[0]), "the two fresh-machine commands"
    for block in blocks[1:]:
        for line in block:
            if line.startswith(NOT_RUN):
                continue
            if line.startswith("AD=") and "approver" not in real:
                # the approver is whoever the auditor's confirmation names, as the README says
                real["approver"] = named(demo, r"has gone to @?([A-Z][\w' -]+?)(?: \(|\.)", outputs[-1][1])
            if line.startswith("B=") and "new_auditor" not in real:  # whoever the approval names
                real["new_auditor"] = named(demo, r"reallocated to @?([A-Z][\w' -]+?)(?: \(|\.|,)", outputs[-1][1])
            if line.startswith("W=") and "worker" not in real:  # the social worker the new auditor's message names
                real["worker"] = named(demo, r"Social worker: @?([A-Z][\w' -]+?)(?:\n|$| \()", outputs[-3][1])
            if line.startswith("F="):  # the invite's id, from the 📎 line
                real["invite_file"] = re.findall(r"workspace file (\S+) --save PATH", outputs[-1][1])[-1]
            result = run_line(demo, line, variables, real, saved=tmp_path)
            if result is not None:
                outputs.append((line, result.output))

    tm_inbox = next(out for line, out in outputs if line.endswith("# the alert, with [Acknowledge]"))
    assert "Safeguarding concern" in tm_inbox and "Acknowledge" in tm_inbox
    team_managers = next(out for line, out in outputs if line.endswith("# who to act as"))
    assert real["team_manager"] in team_managers and real["auditor"] not in team_managers
    closed = next(out for line, out in outputs if line.endswith("# ...and closes it unsent"))
    assert closed.startswith(f"Closed {real['team_manager']}'s modal \"") and "without submitting it" in closed, closed
    with demo.runtime.sessions() as session:
        alert = session.scalars(select(SafeguardingAlert)).one()
        assert alert.lead_acknowledged_at is not None, "the team manager's click acknowledged it"
    submitted = next(out for line, out in outputs if line.endswith('# "... has gone to <approver>"'))
    assert f"has gone to @{demo_name(demo, real['approver'])}" in submitted
    outcome = next(out for line, out in outputs if line.endswith("# the exemption approved, and who has the case now"))
    assert f"was approved by @{demo_name(demo, real['approver'])}. The case has been reallocated to @" in outcome, outcome

    booked = next(out for line, out in outputs if line.endswith("# the booking, and the invite's 📎 line with its id"))
    assert "is booked for *10:00 on Tuesday 8 December 2026*" in booked and "📎 reflection-meeting-CMS-" in booked, booked
    invite = Calendar.from_ical((tmp_path / "reflection-meeting.ics").read_bytes())
    start = invite.walk("VEVENT")[0].decoded("DTSTART")
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC) and str(invite["METHOD"]) == "REQUEST"
    with demo.runtime.sessions() as session:
        meeting = session.scalars(select(ReflectionMeeting)).one()
        assert meeting.state == MeetingState.BOOKED
        assert session.get_one(Person, meeting.booked_by_id).email == real["worker"], "the worker's choice booked it"

    recorded = next(out for line, out in outputs if line.endswith('# "Audit recorded: CMS-...", on time'))
    assert "Audit recorded: CMS-" in recorded and "on time, the reminders have stopped" in recorded, recorded
    findings = next(out for line, out in outputs if line.endswith("# the findings: the grades, the strengths, the action"))
    assert "Audit findings: CMS-" in findings and "Overall grade: Good" in findings, findings
    assert "Records" in findings and "Requires Improvement" in findings and "Bring the case records up to date" in findings
    with demo.runtime.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        assert record.actions[0].owner.email == real["team_manager"] and record.submitted_by.email == real["new_auditor"]

    asked = next(out for line, out in outputs if line.endswith("# the answer, and that moderation was asked for"))
    assert "kept it" in asked and "You asked for moderation" in asked, asked
    with demo.runtime.sessions() as session:
        challenge = session.scalars(select(AuditChallenge)).one()
        assert (challenge.target, challenge.target_key, challenge.proposed_grade) == ("section", "records", "good")
        assert challenge.state == ChallengeState.MODERATION

    home = next(out for line, out in outputs if line.endswith("# This month at a glance, then what waits for them"))
    # 30 November: the glance is November's (the demo allocated December early); the concern raised above is open
    assert "This month at a glance: November 2026" in home and "[This month's report]" in home, home
    assert "*Open safeguarding concerns* | 1 (0 not acknowledged)" in home, home
    modal = next(out for line, out in outputs if line.endswith("# the month so far, in a modal"))
    assert "November 2026" in modal and "CMS-" not in modal, modal
    drawn = next(out for line, out in outputs if line.endswith("# three charts, each printed with its alt text"))
    assert drawn.count("wrote ") == 3 and (tmp_path / "report-charts" / "audit-report-2026-12-grades-by-month.png").is_file()
    posted = next(out for line, out in outputs if line.endswith("# the month so far, as its report day will post it"))
    assert posted.startswith("December 2026 so far (its report is posted on Fri 15 Jan 2027): "), posted
    assert "(the QA coordinators, and each Head of Service" in posted, posted
    inbox = next(out for line, out in outputs if line.endswith("# the summary, then the charts and the CSV (📎 lines)"))
    assert "Case file audits: December 2026 so far" in inbox and inbox.count("📎") == 4, inbox
    assert "audit-report-2026-12.csv" in inbox, inbox

    for command in table_commands(README):
        result = run_line(demo, command, variables, real)
        assert result is not None
        outputs.append((command, result.output))
    said = dict(outputs)
    assert said["auditbot allocate --month 2027-01 --control 40"].startswith("40 allocations created")
    assert "December 2026" in said["auditbot month show 2026-12 --as-of 2027-01-11"]
    assert said["auditbot import outcomes examples/outcomes.csv"] == (
        "outcomes.csv: 2 audit(s) recorded (2 on time, 0 late), 3 action(s); findings queued for 4 people\n")
    assert "would plan" in said['auditbot tick --at "2026-12-01 08:30"']
    assert said["auditbot moderation --month 2026-12"].startswith("Moderation calibration, audits of December 2026"), said[
        "auditbot moderation --month 2026-12"]
    assert said["auditbot oversight --month 2026-12"].startswith("0 final audit(s) finalised in December 2026 still open")
    assert said["auditbot meetings --month 2026-12"].startswith("Reflection meetings for the "), said[
        "auditbot meetings --month 2026-12"]
    assert "reflection sheets answered: 0" in said["auditbot meetings --month 2026-12"]
    report = said["auditbot report --month 2026-12"]
    assert report.splitlines()[0].startswith("Case file audits: December 2026 (as of "), report
    assert "grades of 1 recorded audit(s)" in report and "CMS-" not in report, report
    again = said["auditbot report --month 2026-12 --post"]  # the walkthrough posted it; the staff imported since get it
    assert again.startswith("December 2026 so far (its report is posted on Fri 15 Jan 2027): 8 message(s) and file(s) "
                            "planned for 2 destination(s)"), again
    assert "needs Slack credentials" in said["auditbot worker"]
    assert said["auditbot doctor"].splitlines()[:2] == [
        "auditors whose exemption requests would reach nobody: 0",
        "auditors with no active line manager (reminders copy nobody): 2",
    ]
    assert "people Slack did not know when last messaged: 0" in said["auditbot doctor"], "staff imported later got accounts"


@pytest.mark.parametrize("socket_mode", [False, True])
def test_local_mode_runs_its_workspace_in_a_process_of_its_own_and_a_terminal_click_waits_for_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, socket_mode: bool
) -> None:
    engine, _ = new_engine("sqlite", tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(data_dir=tmp_path / "data", database_url=url, local_workspace_port=0, local_socket_mode=socket_mode)
    clock = FakeTime(NOW)
    monkeypatch.setattr(bot.cli, "Context", functools.partial(bot.cli.Context, clock=clock))
    monkeypatch.chdir(ROOT)
    if "run" not in cli.commands:
        _register_all()
    runtime = start_runtime(settings, engine=engine, clock=clock, background=False, http_port=0,
                            prepare=lambda e: prepare_local_store(e, settings, now=NOW, echo=lambda _: None))
    try:
        workspace = runtime.workspace
        assert isinstance(workspace, WorkspaceProcess), "Slack's stand-in keeps its messages in its own memory"
        assert (runtime.socket_handler is not None) == socket_mode, "Socket Mode: the bot connected to the workspace"
        for sender in runtime.senders.values():
            sender.drain(clock.now)
        with runtime.sessions() as session:
            auditor = session.scalars(select(Allocation).options(joinedload(Allocation.auditor)).order_by(Allocation.id)).first()
            assert auditor is not None
            email = auditor.auditor.email
        env = {"AUDITBOT_DATABASE_URL": url, "AUDITBOT_LOCAL_WORKSPACE_PORT": str(urlsplit(workspace.base_url).port)}

        clicked = CliRunner().invoke(cli, ["workspace", "click", "--user", email, "Raise a safeguarding concern",
                                           "--message", "1"], env=env)

        assert clicked.exit_code == 0, clicked.output
        assert f"Modal open for {email}: Safeguarding concern" in clicked.output, "the form the bot opened after answering"
    finally:
        runtime.stop()
        engine.dispose()
    assert workspace._process is None, "the workspace's process ended with the bot"
