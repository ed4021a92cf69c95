"""The local workspace's optional state file: what one run posted, the next run still shows."""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.workspace import LocalWorkspace, StateFileError
from bot.workspace.state import Message
from tests.support import FakeClock
from tests.test_workspace import FakeBot

TOKEN = "xoxb-local-test"
SECRET = "local-signing-secret"
WALL_START = 1_700_000_000.0
ALICE = "alice.auditor@council.gov.uk"
BOB = "bob.worker@council.gov.uk"
METADATA = {"event_type": "audit_allocated", "event_payload": {"audit_id": 7}}
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Audit C-1*"}}
MODAL = {"type": "modal", "callback_id": "grade", "title": {"type": "plain_text", "text": "Grade"},
         "blocks": [SECTION], "private_metadata": "audit-7"}
HOME = {"type": "home", "blocks": [SECTION]}

Make = Callable[..., LocalWorkspace]


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(WALL_START)


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "local-workspace.jsonl"


@pytest.fixture
def make_ws(wall: FakeClock, state_file: Path) -> Iterator[Make]:
    """Start a workspace on ``state_file`` (stop the previous one first to 'restart')."""
    started: list[LocalWorkspace] = []

    def make(**kwargs: Any) -> LocalWorkspace:
        kwargs.setdefault("state_file", state_file)
        ws = LocalWorkspace(bot_token=TOKEN, signing_secret=SECRET, clock=FakeClock(1000.0), wall_clock=wall,
                            channel_rate_per_sec=None, **kwargs)
        started.append(ws)
        ws.start()
        return ws

    yield make
    for ws in started:
        ws.stop()


def client(ws: LocalWorkspace) -> WebClient:
    return WebClient(token=TOKEN, base_url=ws.base_url, retry_handlers=[])


def ts_micros(ts: str) -> int:
    whole, _, frac = ts.partition(".")
    return int(whole) * 1_000_000 + int(frac)


def populate(ws: LocalWorkspace, wall: FakeClock) -> dict[str, str]:
    """Users, a channel, a DM with metadata, an edit, ephemerals and a thread reply."""
    alice, _ = ws.add_user(ALICE, "Alice Auditor"), ws.add_user(BOB, "Bob Worker")
    general = ws.add_channel("general")
    web = client(ws)
    dm = ws.dm_channel(ALICE)
    first = web.chat_postMessage(channel=dm, text="Audit C-1", blocks=[SECTION], metadata=METADATA)
    wall.advance(1)
    web.chat_update(channel=dm, ts=first["ts"], text="Audit C-1 (accepted)", metadata=METADATA)
    web.chat_postMessage(channel=dm, text="Reply", thread_ts=first["ts"])
    web.chat_postEphemeral(channel=general, user=alice, text="Only for Alice")
    web.chat_postEphemeral(channel=dm, user=alice, text="Psst")
    web.chat_postMessage(channel=general, text="Hello all")
    gone = web.chat_postMessage(channel=ws.dm_channel(BOB), text="Deleted soon")
    web.chat_delete(channel=gone["channel"], ts=gone["ts"])
    ws.remove_user(BOB)
    return {"alice": alice, "dm": dm, "general": general, "first": first["ts"]}


def snapshot(ws: LocalWorkspace) -> dict[str, Any]:
    return {
        "alice": ws.messages(user_email=ALICE),
        "bob": ws.messages(user_email=BOB),
        "general": ws.messages(channel="#general"),
        "users": ws.users(),
    }


def test_messages_users_and_ts_survive_a_restart(make_ws: Make, wall: FakeClock) -> None:
    ws = make_ws()
    ids = populate(ws, wall)
    before = snapshot(ws)
    assert [m["text"] for m in before["alice"]] == ["Audit C-1 (accepted)", "Reply", "Only for Alice", "Psst"]
    assert before["alice"][0]["edited"] and before["alice"][0]["metadata"] == METADATA
    assert before["bob"] == []
    ws.stop()

    wall.now = WALL_START - 3600  # the clock went backwards: new ts must still be newer
    again = make_ws()
    assert snapshot(again) == before
    assert again.user_id(ALICE) == ids["alice"] and again.dm_channel(ALICE) == ids["dm"]
    assert again.add_channel("general") == ids["general"]

    web = client(again)
    assert web.users_lookupByEmail(email=ALICE)["user"]["id"] == ids["alice"]
    with pytest.raises(SlackApiError) as caught:
        web.users_lookupByEmail(email=BOB)
    assert caught.value.response["error"] == "users_not_found"
    assert web.users_info(user=again.user_id(BOB))["user"]["deleted"] is True

    history = web.conversations_history(channel=ids["dm"], include_all_metadata=True)["messages"]
    assert [m["metadata"] for m in history if m["ts"] == ids["first"]] == [METADATA]
    replies = web.conversations_replies(channel=ids["dm"], ts=ids["first"])["messages"]
    assert [m["text"] for m in replies] == ["Audit C-1 (accepted)", "Reply"]

    old = max(ts_micros(m["ts"]) for m in before["alice"] + before["general"])
    new = web.chat_postMessage(channel=ids["dm"], text="After the restart")["ts"]
    eph = web.chat_postEphemeral(channel=ids["dm"], user=ids["alice"], text="Also after")["message_ts"]
    assert old < ts_micros(new) < ts_micros(eph)
    assert [m["text"] for m in again.messages(user_email=ALICE)][-2:] == ["After the restart", "Also after"]


def test_a_restart_keeps_views_stacks_and_homes(make_ws: Make) -> None:
    ws = make_ws()
    alice = ws.add_user(ALICE, "Alice Auditor")
    web = client(ws)
    home = web.views_publish(user_id=alice, view=HOME)["view"]
    modal = web.views_open(trigger_id=ws.issue_trigger(ALICE), view=MODAL)["view"]
    pushed = web.views_push(trigger_id=ws.issue_trigger(ALICE), view={**MODAL, "callback_id": "step2"})["view"]
    views, stack = ws.views(ALICE), ws.view_stack(ALICE)
    assert [v["id"] for v in stack] == [modal["id"], pushed["id"]]
    ws.stop()

    again = make_ws()
    assert again.views(ALICE) == views and again.view_stack(ALICE) == stack
    web = client(again)
    updated = web.views_update(view_id=modal["id"], hash=modal["hash"], view={**MODAL, "private_metadata": "v2"})
    assert updated["view"]["private_metadata"] == "v2"
    republished = web.views_publish(user_id=alice, view=HOME, hash=home["hash"])["view"]
    assert republished["id"] == home["id"]
    fresh = web.views_open(trigger_id=again.issue_trigger(ALICE), view=MODAL)["view"]
    assert fresh["id"] not in {v["id"] for v in views}
    assert [v["id"] for v in again.view_stack(ALICE)] == [fresh["id"]]


def test_slash_command_acks_and_response_url_posts_are_kept(make_ws: Make, wall: FakeClock) -> None:
    bot = FakeBot(wall)
    try:
        bot.reply = lambda request: (200, json.dumps({"text": "Working on it"}))
        ws = make_ws(bot_endpoint=bot.url)
        ws.add_user(ALICE, "Alice Auditor")
        result = ws.slash_command(ALICE, "/audit", "mine")
        request = urllib.request.Request(result["response_url"], data=json.dumps({"text": "Your audits"}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["ok"] is True
        before = ws.messages(user_email=ALICE)
        assert [m["text"] for m in before] == ["Working on it", "Your audits"]
        ws.stop()
        assert make_ws().messages(user_email=ALICE) == before
    finally:
        bot.stop()


def test_a_truncated_last_line_is_skipped_and_cut_off(
    make_ws: Make, wall: FakeClock, state_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws = make_ws()
    ws.add_user(ALICE, "Alice Auditor")
    web = client(ws)
    web.chat_postMessage(channel=ws.dm_channel(ALICE), text="Kept")
    web.chat_postMessage(channel=ws.dm_channel(ALICE), text="Lost in the crash")
    ws.stop()
    data = state_file.read_bytes()
    state_file.write_bytes(data[:-25])  # the crash cut the last line short

    with caplog.at_level(logging.WARNING, logger="bot.workspace.persist"):
        again = make_ws()
    assert "truncated last line" in caplog.text and str(state_file) in caplog.text
    assert [m["text"] for m in again.messages(user_email=ALICE)] == ["Kept"]
    client(again).chat_postMessage(channel=again.dm_channel(ALICE), text="After the crash")
    again.stop()

    caplog.clear()
    third = make_ws()
    assert "truncated" not in caplog.text
    assert [m["text"] for m in third.messages(user_email=ALICE)] == ["Kept", "After the crash"]


def test_a_last_line_missing_only_its_newline_is_kept(make_ws: Make, state_file: Path) -> None:
    ws = make_ws()
    ws.add_user(ALICE, "Alice Auditor")
    client(ws).chat_postMessage(channel=ws.dm_channel(ALICE), text="Whole")
    ws.stop()
    state_file.write_bytes(state_file.read_bytes().rstrip(b"\n"))

    again = make_ws()
    client(again).chat_postMessage(channel=again.dm_channel(ALICE), text="Next")
    again.stop()
    assert [m["text"] for m in make_ws().messages(user_email=ALICE)] == ["Whole", "Next"]


def test_unreadable_and_corrupt_files_are_clear_errors(make_ws: Make, tmp_path: Path, state_file: Path) -> None:
    not_a_log = tmp_path / "notes.txt"
    not_a_log.write_text("hello\nworld\n")
    with pytest.raises(StateFileError, match="not a local workspace state file") as caught:
        make_ws(state_file=not_a_log)
    assert str(not_a_log) in str(caught.value)
    assert not_a_log.read_text() == "hello\nworld\n"

    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(StateFileError, match="cannot open") as caught:
        make_ws(state_file=folder)
    assert str(folder) in str(caught.value)

    ws = make_ws()
    ws.add_user(ALICE, "Alice Auditor")
    client(ws).chat_postMessage(channel=ws.dm_channel(ALICE), text="One")
    ws.stop()
    lines = state_file.read_bytes().splitlines(keepends=True)
    state_file.write_bytes(lines[0] + b'{"ts": oops\n' + b"".join(lines[1:]))
    with pytest.raises(StateFileError, match="corrupt") as caught:
        make_ws()
    assert f"{state_file}:2" in str(caught.value)


def test_another_team_or_a_second_workspace_is_refused(make_ws: Make, state_file: Path) -> None:
    first = make_ws()
    with pytest.raises(StateFileError, match="in use"):
        make_ws()
    first.stop()
    with pytest.raises(StateFileError, match="TOTHER"):
        make_ws(team_id="TOTHER")
    assert make_ws().team_id == "TLOCAL"


def test_a_post_appends_one_line_to_a_large_file(make_ws: Make, wall: FakeClock, state_file: Path) -> None:
    seeded = LocalWorkspace(bot_token=TOKEN, signing_secret=SECRET, wall_clock=wall, state_file=state_file)
    with seeded.state.lock:
        dm = seeded.state.add_user(ALICE, "Alice Auditor").im_channel
        for n in range(10_000):
            seeded.state.store(Message(channel=dm, ts=seeded.state.next_ts(), user=seeded.bot_user_id, text=f"m{n}"))
    seeded.start()  # changes made before start() are written when it starts
    seeded.stop()

    ws = make_ws()
    assert len(ws.messages(user_email=ALICE)) == 10_000
    before = state_file.read_bytes()
    web = client(ws)
    web.chat_postMessage(channel=dm, text="One more")
    web.conversations_history(channel=dm, limit=1)  # reads write nothing
    after = state_file.read_bytes()
    assert after.startswith(before)
    added = after[len(before):]
    assert added.count(b"\n") == 1 and len(added) < 1000 and b"One more" in added


def test_without_a_state_file_nothing_is_tracked(tmp_path: Path, wall: FakeClock) -> None:
    ws = LocalWorkspace(bot_token=TOKEN, signing_secret=SECRET, wall_clock=wall)
    ws.start()
    try:
        ws.add_user(ALICE, "Alice Auditor")
        client(ws).chat_postMessage(channel=ws.dm_channel(ALICE), text="In memory")
        assert ws.state.changes is None and ws.state_file is None
    finally:
        ws.stop()
    assert list(tmp_path.iterdir()) == []


def test_files_and_their_bytes_survive_a_restart(make_ws: Make) -> None:
    ics = "BEGIN:VCALENDAR\r\nLOCATION:Room 2 & 3 <Town Hall>\r\nEND:VCALENDAR\r\n"
    ws = make_ws()
    ws.add_user(ALICE, "Alice Auditor")
    web = client(ws)
    shared = web.files_upload_v2(channel=ws.dm_channel(ALICE), content=ics, filename="invite.ics", title="Invite 1",
                                 initial_comment="Calendar invite")["files"][0]
    pending = web.files_getUploadURLExternal(filename="later.ics", length=3)
    with urllib.request.urlopen(urllib.request.Request(pending["upload_url"], data=b"abc", method="POST")) as answer:
        assert answer.status == 200
    ws.stop()

    again = make_ws()
    [message] = again.messages(user_email=ALICE)
    assert message["text"] == "Calendar invite"
    assert [(f["id"], f["title"]) for f in message["files"]] == [(shared["id"], "Invite 1")]
    info, content = again.file(shared["id"])
    assert content == ics.encode() and info["shares"] == shared["shares"]
    web = client(again)
    assert web.conversations_history(channel=again.dm_channel(ALICE))["messages"][0]["files"][0]["title"] == "Invite 1"
    done = web.files_completeUploadExternal(files=[{"id": pending["file_id"]}], channel_id=again.dm_channel(ALICE))
    assert again.file(done["files"][0]["id"])[1] == b"abc", "an upload before the restart is completed after it"
    assert web.files_getUploadURLExternal(filename="new.ics", length=1)["file_id"] not in (shared["id"], pending["file_id"])
