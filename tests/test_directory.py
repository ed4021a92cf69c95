"""The Slack directory sync: people matched to Slack ids in bulk (users.list), and kept current by events."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.delivery.directory import sync_directory
from bot.runtime import Runtime, _local_accounts, start_runtime
from bot.scheduler.timer import make_timer
from bot.services.staff.directory import Member, apply_directory, forget_unseen, parse_member
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from store.models import Person
from tests.support import FakeClock, FakeTime, running_workspace

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
EARLIER = NOW - dt.timedelta(days=3)


def people(sessions: sessionmaker[Session], *rows: dict[str, Any]) -> list[int]:
    """Add people (email, and any Slack columns); returns their ids in order."""
    with sessions() as session, session.begin():
        added = [Person(display_name=row["email"].split("@")[0], active=row.pop("active", True), **row) for row in rows]
        session.add_all(added)
        session.flush()
        return [p.id for p in added]


def slack_of(sessions: sessionmaker[Session], person_id: int) -> tuple[str | None, str | None, dt.datetime | None]:
    with sessions() as session:
        person = session.get(Person, person_id)
        assert person is not None
        return person.slack_user_id, person.slack_dm_channel, person.slack_missing_since


def apply(sessions: sessionmaker[Session], *members: Member, now: dt.datetime = NOW):  # type: ignore[no-untyped-def]
    with sessions() as session, session.begin():
        return apply_directory(session, members, now)


# --- the service: rules on the store (SQLite and PostgreSQL) ---------------------------------------


def test_people_are_matched_by_email_in_any_case_active_or_not(session_factory) -> None:
    alice, bob, gone = people(
        session_factory,
        {"email": "Alice.Auditor@Council.example", "slack_missing_since": EARLIER},
        {"email": "bob@council.example"},
        {"email": "left@council.example", "active": False},
    )

    result = apply(
        session_factory,
        Member("UALICE", "alice.auditor@council.example"),
        Member("UBOB", "bob@council.example"),
        Member("ULEFT", "left@council.example"),
        Member("USTRANGER", "someone.else@council.example"),
    )

    assert slack_of(session_factory, alice) == ("UALICE", None, None), "matched, and no longer missing"
    assert slack_of(session_factory, bob) == ("UBOB", None, None)
    assert slack_of(session_factory, gone) == ("ULEFT", None, None)
    assert (result.seen, result.matched, result.changed) == (4, 3, 3)


def test_parse_member_lower_cases_the_email_and_knows_bots_and_deleted_accounts() -> None:
    raw = {"id": "U1", "deleted": False, "is_bot": False, "profile": {"email": " Jane.Doe@Council.Example "}}
    assert parse_member(raw) == Member("U1", "jane.doe@council.example")
    assert parse_member({"id": "B1", "is_bot": True, "profile": {}}) == Member("B1", None, is_bot=True)
    assert parse_member({"id": "USLACKBOT", "profile": {"email": ""}}) == Member("USLACKBOT", None, is_bot=True)
    assert parse_member({"id": "U2", "deleted": True, "profile": {"email": "x@y.z"}}) == Member("U2", "x@y.z", deleted=True)
    assert parse_member({"profile": {"email": "x@y.z"}}) is None


def test_an_id_whose_email_is_now_another_persons_moves_to_them(session_factory) -> None:
    old, new = people(
        session_factory,
        {"email": "jane.doe@council.example", "slack_user_id": "UJANE", "slack_dm_channel": "DJANE"},
        {"email": "jane.smith@council.example"},
    )

    result = apply(session_factory, Member("UJANE", "jane.smith@council.example"))

    assert slack_of(session_factory, new) == ("UJANE", None, None)
    assert slack_of(session_factory, old) == (None, None, NOW), "taken from the old record, which now has no account"
    assert (result.changed, result.cleared) == (2, 1)


def test_two_people_whose_ids_swap_both_change_in_one_apply(session_factory) -> None:
    a, b = people(
        session_factory,
        {"email": "a@council.example", "slack_user_id": "U1", "slack_dm_channel": "D1"},
        {"email": "b@council.example", "slack_user_id": "U2", "slack_dm_channel": "D2"},
    )

    apply(session_factory, Member("U1", "b@council.example"), Member("U2", "a@council.example"))

    assert slack_of(session_factory, a) == ("U2", None, None), "a new id: the old DM channel belongs to the old id"
    assert slack_of(session_factory, b) == ("U1", None, None)


def test_the_dm_channel_stays_while_the_id_is_unchanged_and_goes_when_it_changes(session_factory) -> None:
    same, changed, renamed = people(
        session_factory,
        {"email": "same@council.example", "slack_user_id": "U1", "slack_dm_channel": "D1"},
        {"email": "changed@council.example", "slack_user_id": "U2", "slack_dm_channel": "D2"},
        {"email": "renamed@council.example", "slack_user_id": "U3", "slack_dm_channel": "D3"},
    )

    result = apply(
        session_factory,
        Member("U1", "same@council.example"),
        Member("U9", "changed@council.example"),
        Member("U3", "renamed.in.slack@council.example"),  # an email nobody in the store has: still them
    )

    assert slack_of(session_factory, same) == ("U1", "D1", None)
    assert slack_of(session_factory, changed) == ("U9", None, None)
    assert slack_of(session_factory, renamed) == ("U3", "D3", None)
    assert result.changed == 1


def test_a_deleted_account_is_cleared_and_the_person_marked_missing(session_factory) -> None:
    (leaver,) = people(session_factory, {"email": "leaver@council.example", "slack_user_id": "U1", "slack_dm_channel": "D1"})

    result = apply(session_factory, Member("U1", "leaver@council.example", deleted=True))

    assert slack_of(session_factory, leaver) == (None, None, NOW)
    assert (result.changed, result.cleared, result.missing) == (1, 1, 1)
    apply(session_factory, Member("U1", "leaver@council.example"))  # reactivated
    assert slack_of(session_factory, leaver) == ("U1", None, None)


def test_bots_and_members_without_email_match_nobody(session_factory) -> None:
    (robot,) = people(session_factory, {"email": "robot@council.example"})

    result = apply(session_factory, Member("B1", "robot@council.example", is_bot=True), Member("U5", None))

    assert slack_of(session_factory, robot) == (None, None, None)
    assert (result.matched, result.changed) == (0, 0)


def test_a_second_apply_of_the_same_members_changes_nothing(session_factory) -> None:
    people(
        session_factory,
        {"email": "a@council.example", "slack_user_id": "UOLD", "slack_dm_channel": "DOLD"},
        {"email": "b@council.example"},
        {"email": "c@council.example", "slack_user_id": "UC"},
    )
    members = (Member("UA", "a@council.example"), Member("UB", "b@council.example"),
               Member("UC", "c@council.example", deleted=True))
    first = apply(session_factory, *members)
    with session_factory() as session:
        before = session.execute(select(Person.id, Person.slack_user_id, Person.slack_dm_channel,
                                        Person.slack_missing_since)).all()

    second = apply(session_factory, *members, now=NOW + dt.timedelta(days=1))

    with session_factory() as session:
        after = session.execute(select(Person.id, Person.slack_user_id, Person.slack_dm_channel,
                                       Person.slack_missing_since)).all()
    assert first.changed == 3 and second.changed == 0
    assert sorted(after) == sorted(before)


def test_forget_unseen_clears_ids_slack_no_longer_lists_and_marks_the_unmatched_missing(session_factory) -> None:
    listed, unlisted, unmatched, already = people(
        session_factory,
        {"email": "listed@council.example", "slack_user_id": "U1", "slack_dm_channel": "D1"},
        {"email": "unlisted@council.example", "slack_user_id": "U2", "slack_dm_channel": "D2"},
        {"email": "unmatched@council.example"},
        {"email": "already@council.example", "slack_missing_since": EARLIER},
    )

    with session_factory() as session, session.begin():
        result = forget_unseen(session, {"U1", "U7"}, NOW)

    assert slack_of(session_factory, listed) == ("U1", "D1", None)
    assert slack_of(session_factory, unlisted) == (None, None, NOW)
    assert slack_of(session_factory, unmatched) == (None, None, NOW)
    assert slack_of(session_factory, already) == (None, None, EARLIER), "missing since it was first found missing"
    assert (result.cleared, result.missing) == (1, 2)


# --- the Slack side: pages, 429s, errors -----------------------------------------------------------


def _response(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> SlackResponse:
    return SlackResponse(client=None, http_verb="POST", api_url="https://slack.com/api/users.list", req_args={},
                         data=data, headers=headers or {}, status_code=status)


class FakeDirectory:
    """``users.list`` over ``members`` in pages, failing with ``failures[n]`` on the n-th call."""

    def __init__(self, members: list[dict[str, Any]], failures: dict[int, SlackResponse] | None = None) -> None:
        self.members, self.failures, self.requests = members, failures or {}, []  # type: ignore[var-annotated]

    def users_list(self, **params: Any) -> SlackResponse:
        self.requests.append(params)
        failure = self.failures.get(len(self.requests))
        if failure is not None:
            raise SlackApiError("failed", failure)
        start, limit = int(params.get("cursor") or 0), params["limit"]
        more = start + limit < len(self.members)
        next_cursor = str(start + limit) if more else ""
        return _response({"ok": True, "members": self.members[start : start + limit],
                          "response_metadata": {"next_cursor": next_cursor}})


def _user(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"U{n:04d}", "deleted": False, "is_bot": False, "profile": {"email": f"Person{n}@Council.example"}, **extra}


def test_the_sync_pages_with_a_cursor_and_waits_out_a_429(session_factory) -> None:
    ids = people(session_factory, *({"email": f"person{n}@council.example"} for n in range(5)))
    client = FakeDirectory([_user(n) for n in range(5)],
                           {2: _response({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "7"})})
    slept: list[float] = []

    counts = sync_directory(client, session_factory, lambda: NOW, sleep=slept.append, page_size=2)  # type: ignore[arg-type]

    assert slept == [7.0]
    assert client.requests == [{"limit": 2}, {"limit": 2, "cursor": "2"}, {"limit": 2, "cursor": "2"},
                               {"limit": 2, "cursor": "4"}]
    assert (counts.pages, counts.matched, counts.changed, counts.waits, counts.complete) == (3, 5, 5, 1, True)
    assert [slack_of(session_factory, i)[0] for i in ids] == [f"U{n:04d}" for n in range(5)]


def test_an_error_stops_the_sync_keeps_the_pages_seen_and_clears_nobody(session_factory, caplog) -> None:
    first, second, unlisted = people(
        session_factory,
        {"email": "person0@council.example"},
        {"email": "person2@council.example"},
        {"email": "old@council.example", "slack_user_id": "UOLD"},
    )
    client = FakeDirectory([_user(n) for n in range(4)], {2: _response({"ok": False, "error": "internal_error"}, 500)})

    with caplog.at_level(logging.INFO, logger="bot.delivery.directory"):
        counts = sync_directory(client, session_factory, lambda: NOW, sleep=lambda s: None, page_size=2)  # type: ignore[arg-type]

    assert (counts.pages, counts.complete, counts.error) == (1, False, "internal_error")
    assert slack_of(session_factory, first)[0] == "U0000", "the page seen is kept"
    assert slack_of(session_factory, second) == (None, None, None), "the page not seen changed nothing"
    assert slack_of(session_factory, unlisted) == ("UOLD", None, None), "an incomplete sync clears nobody"
    assert [r.getMessage() for r in caplog.records] == [
        "directory sync stopped after 1 page(s): internal_error; 1 changed so far"
    ]


def test_without_emails_nobody_is_marked_missing(session_factory, caplog) -> None:
    (person,) = people(session_factory, {"email": "person0@council.example"})
    client = FakeDirectory([{"id": "U0000", "profile": {}}])

    with caplog.at_level(logging.WARNING, logger="bot.delivery.directory"):
        counts = sync_directory(client, session_factory, lambda: NOW, sleep=lambda s: None)  # type: ignore[arg-type]

    assert counts.complete and slack_of(session_factory, person) == (None, None, None)
    assert "users:read.email" in caplog.text


# --- when it runs ----------------------------------------------------------------------------------


def test_the_timer_runs_the_directory_sync_daily_at_half_past_six_local_in_its_own_executor(session_factory) -> None:
    settings = load_settings()
    calendar = WorkingCalendar.from_settings(settings)
    runs: list[bool] = []

    scheduler = make_timer(session_factory, settings, calendar, clock=lambda: NOW, daily=lambda: runs.append(True))

    job = scheduler.get_job("directory")
    assert isinstance(job.trigger, CronTrigger) and str(job.trigger.timezone) == "Europe/London"
    assert {f.name: str(f) for f in job.trigger.fields if f.name in ("hour", "minute")} == {"hour": "6", "minute": "30"}
    assert (job.executor, job.coalesce, job.max_instances) == ("slack", True, 1)
    job.func()
    assert runs == [True]


def test_local_accounts_added_before_a_tick_run_the_directory_sync(session_factory, workspace) -> None:
    people(session_factory, {"email": "new@council.example"})
    runs: list[bool] = []

    assert _local_accounts(workspace, session_factory, lambda: runs.append(True)) == 1
    assert _local_accounts(workspace, session_factory, lambda: runs.append(True)) == 0
    assert runs == [True], "nobody new: no sync"


# --- scenarios: the running bot with the local workspace -------------------------------------------


@pytest.fixture
def workspace() -> Iterator[LocalWorkspace]:
    with running_workspace(clock=FakeClock(), channel_burst=1000) as ws:
        yield ws


def _start(engine: Engine, workspace: LocalWorkspace, tmp_path: Path) -> Runtime:
    settings = load_settings(data_dir=tmp_path, database_url=engine.url.render_as_string(hide_password=False),
                             slack_channel_burst=1000)
    return start_runtime(settings, engine=engine, clock=FakeTime(NOW), background=False, workspace=workspace, http_port=0)


def test_a_council_of_1250_has_every_slack_id_after_start_from_seven_users_list_pages(
    engine: Engine, session_factory, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    with session_factory() as session, session.begin():
        session.execute(insert(Person), [{"email": f"staff{n}@council.example", "display_name": f"Staff {n}", "active": True}
                                         for n in range(1250)])

    runtime = _start(engine, workspace, tmp_path)
    try:
        with session_factory() as session:
            found = dict(session.execute(select(Person.email, Person.slack_user_id)).all())
        assert found == {email: workspace.user_id(email) for email in found} and len(found) == 1250
        methods = [method for method, _ in workspace.calls]
        assert methods.count("users.list") == 7, "1,250 people and the bot, 200 a page"
        assert methods.count("users.lookupByEmail") == 0 and methods.count("conversations.open") == 0
    finally:
        runtime.stop()


def _user_event(workspace: LocalWorkspace, kind: str, user: dict[str, Any]) -> int:
    """Slack's ``user_change``/``team_join`` event, signed as the workspace signs (see ``Actor.open_home``)."""
    state = workspace.state
    envelope = {
        "token": "verification", "team_id": state.team_id, "api_app_id": state.app_id, "type": "event_callback",
        "event": {"type": kind, "user": user, "event_ts": state.next_ts(), "cache_ts": 0},
        "event_id": f"Ev{kind}{user['id']}{len(workspace.calls)}", "event_time": int(state.wall_clock()),
    }
    body = json.dumps(envelope).encode("utf-8")
    status, _ = workspace.send_raw(body, {**workspace.actor.signed_headers(body), "Content-Type": "application/json"})
    return status


def test_user_events_record_a_new_member_and_a_changed_email(
    engine: Engine, session_factory, workspace: LocalWorkspace, tmp_path: Path
) -> None:
    (jane,) = people(session_factory, {"email": "jane.doe@council.example"})
    runtime = _start(engine, workspace, tmp_path)
    try:
        jane_id = workspace.user_id("jane.doe@council.example")
        assert slack_of(session_factory, jane)[0] == jane_id
        # Imported since start: a new starter, and HR's new record for Jane after a name change.
        newcomer, renamed = people(session_factory, {"email": "new.starter@council.example"},
                                   {"email": "jane.smith@council.example"})

        joined = {"id": "UNEWSTARTER", "deleted": False, "is_bot": False, "profile": {"email": "New.Starter@council.example"}}
        changed = {"id": jane_id, "deleted": False, "is_bot": False, "profile": {"email": "jane.smith@council.example"}}
        assert _user_event(workspace, "team_join", joined) == 200
        assert _user_event(workspace, "user_change", changed) == 200

        assert slack_of(session_factory, newcomer) == ("UNEWSTARTER", None, None)
        assert slack_of(session_factory, renamed) == (jane_id, None, None)
        assert slack_of(session_factory, jane)[0] is None
    finally:
        runtime.stop()
