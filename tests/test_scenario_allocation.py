"""End to end: the demo council, a committed allocation, the real app over signed HTTP.

The local workspace stands in for Slack; the bot runs as in production (waitress, Bolt with
signature verification) with a fake clock, and the test drives the outbox itself.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bot.cli import Context, cli
from bot.cli import allocate as allocate_cli
from bot.runtime import Runtime, start_runtime
from bot.services.staff.demo import generate_demo, load_demo
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from store.models import Allocation, AuditLog, Case, Notification, NotificationState
from tests.support import FakeClock, FakeTime, running_workspace

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def demo_council(session_factory: sessionmaker[Session], tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    generate_demo(folder)
    load_demo(session_factory, folder, now=NOW)
    return folder


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    with running_workspace(clock=FakeClock(), channel_burst=1000) as ws:
        yield ws


@pytest.fixture
def bot(engine: Engine, demo_council: Path, workspace: LocalWorkspace, tmp_path: Path) -> Iterator[Runtime]:
    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(data_dir=tmp_path, database_url=url, slack_channel_burst=1000)  # the workspace's pace
    runtime = start_runtime(settings, engine=engine, clock=FakeTime(NOW), background=False, workspace=workspace, http_port=0)
    yield runtime
    runtime.server.stop() if runtime.server else None


def run_cli(engine: Engine, tmp_path: Path, *args: str, exit_code: int = 0) -> str:
    group = type(cli)(name="auditbot")
    allocate_cli.register(group)
    ctx = Context(
        load_settings(data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False)),
        _engine=engine,
        clock=lambda: NOW,
    )
    result = CliRunner().invoke(group, list(args), obj=ctx)
    assert result.exit_code == exit_code, result.output
    return result.output


def deliver(bot: Runtime) -> None:
    for sender in bot.senders.values():
        sender.drain(NOW)


def inbox(workspace: LocalWorkspace, email: str) -> list[dict]:
    return [m for m in workspace.messages(user_email=email) if not m["ephemeral"]]


def test_committed_allocation_reaches_every_auditor_worker_and_manager_exactly_once(
    bot: Runtime, workspace: LocalWorkspace, session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    output = run_cli(engine, tmp_path, "allocate", "--month", "2026-12", "--control", "8")
    assert "8 allocations created, 24 messages queued" in output
    deliver(bot)

    expected: Counter[tuple[str, str, str]] = Counter()
    with session_factory() as session:
        allocations = session.scalars(
            select(Allocation).options(
                joinedload(Allocation.auditor),
                joinedload(Allocation.case).joinedload(Case.allocated_worker),
                joinedload(Allocation.case).joinedload(Case.team_manager),
                joinedload(Allocation.case).joinedload(Case.team),
            )
        ).all()
        assert len(allocations) == 8
        for a in allocations:
            expected[(a.auditor.email, "You have a case file audit for December 2026", a.case.reference)] += 1
            expected[(a.case.allocated_worker.email, "One of your cases will be audited in December 2026", a.case.reference)] += 1
            expected[(a.case.team_manager.email, "A case in your team will be audited in December 2026", a.case.reference)] += 1
        people = {a.auditor.email for a in allocations} | {a.case.allocated_worker.email for a in allocations} | {
            a.case.team_manager.email for a in allocations
        }
        sample = allocations[0]
        sample_auditor, sample_worker = sample.auditor, sample.case.allocated_worker
        sample_ref, sample_team = sample.case.reference, sample.case.team.name

    received: Counter[tuple[str, str, str]] = Counter()
    for user in workspace.users():
        for message in inbox(workspace, user["email"]):
            heading = message["blocks"][0]["text"]["text"]
            reference = message["blocks"][1]["fields"][0]["text"].split("\n")[1]
            received[(user["email"], heading, reference)] += 1
            assert user["email"] in people, f"{user['email']} should not have been told anything"
    assert received == expected

    auditor_message = next(m for m in inbox(workspace, sample_auditor.email) if sample_ref in m["text"])
    body = json.dumps(auditor_message["blocks"])
    assert sample_team in body and "Thursday 31 December 2026" in body
    assert f"<@{workspace.user_id(sample_worker.email)}>" in body, "people are named as Slack mentions"
    assert "Why this case went to you" in body

    with session_factory() as session:
        rows = session.scalars(select(Notification)).all()
        assert {r.state for r in rows} == {NotificationState.SENT} and all(r.slack_ts for r in rows)


def test_rerunning_the_same_commit_changes_nothing_and_sends_nothing(
    bot: Runtime, workspace: LocalWorkspace, session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    run_cli(engine, tmp_path, "allocate", "--month", "2026-12", "--control", "5")
    deliver(bot)
    before = sum(len(inbox(workspace, u["email"])) for u in workspace.users())

    output = run_cli(engine, tmp_path, "allocate", "--month", "2026-12", "--control", "5", exit_code=1)
    deliver(bot)

    assert output.splitlines()[-2:] == [
        "0 allocations created, 0 messages queued; already allocated: 5",
        "Error: nothing was allocated: the month already has what was asked",
    ]
    assert sum(len(inbox(workspace, u["email"])) for u in workspace.users()) == before == 15
    with session_factory() as session:
        assert len(session.scalars(select(Allocation)).all()) == 5


def test_audit_mine_over_signed_http_lists_the_callers_audits(
    bot: Runtime, workspace: LocalWorkspace, session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path
) -> None:
    run_cli(engine, tmp_path, "allocate", "--month", "2026-12", "--control", "3")
    with session_factory() as session:
        a = session.scalars(select(Allocation).options(joinedload(Allocation.auditor), joinedload(Allocation.case))).first()
        assert a is not None
        email, reference = a.auditor.email, a.case.reference

    result = workspace.slash_command(email, "/audit", "mine")

    assert result["status"] == 200
    shown = workspace.messages(user_email=email)
    assert len(shown) == 1 and shown[0]["ephemeral"]
    headers = [b["text"]["text"] for b in shown[0]["blocks"] if b["type"] == "header"]
    assert headers == ["Waiting for you", "Your case file audits"], "what is waiting comes first, as on the Home tab"
    assert shown[0]["blocks"][1]["text"]["text"] == "Nothing is waiting for you."
    assert any(reference in b.get("text", {}).get("text", "") for b in shown[0]["blocks"])


def test_a_stranger_is_refused_clearly_and_the_refusal_is_logged(
    bot: Runtime, workspace: LocalWorkspace, session_factory: sessionmaker[Session]
) -> None:
    workspace.add_user("visitor@elsewhere.example", "Visiting Consultant")

    workspace.slash_command("visitor@elsewhere.example", "/audit", "mine")

    shown = workspace.messages(user_email="visitor@elsewhere.example")
    assert shown[-1]["text"] == (
        "I can't find you in the audit programme's staff list. Ask the QA team to add your work email."
    )
    with session_factory() as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.outcome == "refused")).one()
        assert (entry.action, entry.actor_ref, entry.detail) == (
            "view_own_audits",
            workspace.user_id("visitor@elsewhere.example"),
            {"reason": "unknown_person"},
        )


def test_unsigned_or_malformed_requests_get_a_4xx_and_no_traceback(bot: Runtime, workspace: LocalWorkspace) -> None:
    status, body = workspace.send_raw(b"command=%2Faudit&text=mine", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401 and "Traceback" not in body

    forged = workspace.actor.signed_headers(b"command=%2Faudit&text=mine")
    forged["X-Slack-Signature"] = "v0=" + "0" * 64
    assert workspace.send_raw(b"command=%2Faudit&text=mine", forged)[0] == 401

    garbage = b"payload=%7Bnot-json"
    status, body = workspace.send_raw(garbage, workspace.actor.signed_headers(garbage))
    assert 400 <= status < 500 and "Traceback" not in body


def test_health_endpoint_reports_the_database(bot: Runtime) -> None:
    assert bot.server is not None
    with urllib.request.urlopen(f"{bot.server.url}/healthz", timeout=5) as response:
        assert response.status == 200 and json.loads(response.read()) == {"ok": True}


def test_an_unexpected_failure_answers_the_person_with_a_reference(
    bot: Runtime, workspace: LocalWorkspace, session_factory: sessionmaker[Session], monkeypatch, caplog
) -> None:
    from bot.handlers import commands

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(commands, "my_audits", broken)
    with session_factory() as session:
        email = session.scalars(select(Case).options(joinedload(Case.allocated_worker))).first().allocated_worker.email

    result = workspace.slash_command(email, "/audit", "mine")

    assert result["status"] == 200
    answer = workspace.messages(user_email=email)[-1]
    assert answer["ephemeral"]
    assert answer["text"].startswith("Sorry, something went wrong and nothing was changed.")
    reference = answer["blocks"][0]["text"]["text"].rsplit("Reference: ", 1)[1].strip("_")
    assert "database on fire" not in json.dumps(answer)
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
