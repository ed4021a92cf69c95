"""Calendar invites through the outbox: a ``meeting_invite`` row is uploaded to the person's DM
as an .ics file (``files_upload_v2`` against the local workspace), once, through 500s, a
completion that lands after the client gave up, 429s and a bad token."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.sender import DeliveryHalted, OutboxSender
from bot.ids import Template
from bot.workspace import LocalWorkspace
from bot.workspace.calls import retry_waits
from store.meetings import MeetingState, ReflectionMeeting
from store.models import CaseType, NotificationState, Person, Priority
from store.outbox import enqueue
from tests.allocation_fixtures import Council
from tests.test_sender_faults import (  # noqa: F401 (fixtures)
    clock,
    council,
    deliver_all,
    rows,
    slow_sender,
    timeline,
    warm_up,
    workspace,
)

EMAIL = "person0@council.example"
COMPLETE = "files.completeUploadExternal"
ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:meeting-7@auditbot\r\nSEQUENCE:0\r\n"
       "DTSTART:20261208T100000Z\r\nSUMMARY:Reflection meeting CMS-104233\r\nLOCATION:Room 2 & 3 <Town Hall>\r\n"
       "END:VEVENT\r\nEND:VCALENDAR\r\n")
FILENAME, TITLE = "reflection-meeting-CMS-104233.ics", "Reflection meeting CMS-104233 (invite 1)"
KEY = "invite:7:0"


def booked_meeting(session: Session, now: dt.datetime, recipient: int) -> int:
    """A booked meeting organised by ``recipient`` (an invite whose meeting moved on meanwhile is cancelled, not sent)."""
    org = Council(session)
    case = org.case("CMS-104233", org.team("Team", org.service("Service")), CaseType.CP)
    allocation = org.allocation(case, session.get_one(Person, recipient), dt.date(2026, 12, 1))
    meeting = ReflectionMeeting(allocation_id=allocation.id, uid="invite@auditbot", proposed_by_id=recipient,
                                organiser_id=recipient, place="Room 2", round_sent_at=now, created_at=now,
                                state=MeetingState.BOOKED, starts_at=dt.datetime(2026, 12, 8, 10, tzinfo=dt.UTC))
    session.add(meeting)
    session.flush()
    return meeting.id


def queue_invite(sessions: sessionmaker[Session], now: dt.datetime, recipient: int) -> None:
    with sessions() as session, session.begin():
        meeting_id = booked_meeting(session, now, recipient)
        enqueue(
            session, key=KEY, template=Template.MEETING_INVITE, now=now, recipient_id=recipient, priority=Priority.NORMAL,
            context={"meeting_id": meeting_id, "sequence": 0, "method": "REQUEST", "reference": "CMS-104233",
                     "starts_at": "2026-12-08T10:00:00+00:00", "place": "Room 2 & 3 <Town Hall>",
                     "invite": {"filename": FILENAME, "title": TITLE, "content": ICS}},
        )


def before_call(sender: OutboxSender, method: str, do: Callable[[], None]) -> None:
    """Run ``do`` just before the sender's client first calls ``method`` (to fail that call only)."""
    call, done = sender.client.api_call, []

    def api_call(api_method: str, **kwargs: Any) -> Any:
        if api_method == method and not done:
            done.append(api_method)
            do()
        return call(api_method, **kwargs)

    sender.client.api_call = api_call  # type: ignore[method-assign]


def invite_queued(
    sessions: sessionmaker[Session], workspace: LocalWorkspace, clock: Any, timeline: Any, person: int,  # noqa: F811
    before_completion: Callable[[], None] | None = None, *, latency: float = 0.05,
) -> OutboxSender:
    """A sender that knows ``person``'s DM, their invite queued, and ``before_completion`` arranged."""
    sender = slow_sender(sessions, workspace, clock, latency=latency)
    warm_up(sessions, sender, timeline, [person])
    queue_invite(sessions, timeline.now(), person)
    if before_completion is not None:
        before_call(sender, COMPLETE, before_completion)
    return sender


def file_messages(workspace: LocalWorkspace) -> list[dict[str, Any]]:  # noqa: F811
    return [m for m in workspace.messages(user_email=EMAIL) if m["files"]]


def assert_one_invite(sessions: sessionmaker[Session], workspace: LocalWorkspace) -> None:  # noqa: F811
    """The DM has exactly one message sharing the invite, its bytes as written, and the row is sent with its ts."""
    [message] = file_messages(workspace)
    assert message["text"] == ("Calendar invite: the reflection meeting for case CMS-104233, 10:00 on Tuesday "
                               "8 December 2026. Open the file to add it to your calendar.")
    [shared] = message["files"]
    assert (shared["name"], shared["title"], shared["mimetype"]) == (FILENAME, TITLE, "text/calendar")
    _, content = workspace.file(shared["id"])
    assert content == ICS.encode("utf-8")
    row = rows(sessions)[KEY]
    assert (row.state, row.slack_channel, row.slack_ts) == (NotificationState.SENT, message["channel"], message["ts"])


def completions(workspace: LocalWorkspace) -> list[int]:  # noqa: F811
    return [r.status for r in workspace.call_log if r.method == COMPLETE]


def test_an_invite_reaches_the_dm_as_its_ics_file(session_factory, workspace, council, clock, timeline) -> None:  # noqa: F811
    queue_invite(session_factory, timeline.now(), council[1])
    sender = slow_sender(session_factory, workspace, clock)

    deliver_all(session_factory, sender, timeline)

    assert_one_invite(session_factory, workspace)
    assert [r.method for r in workspace.call_log if r.method.startswith("chat.")] == [], "a file is never posted as text"


def test_a_500_on_completion_is_retried_into_one_file_message(
    session_factory, workspace, council, clock, timeline  # noqa: F811
) -> None:
    sender = invite_queued(session_factory, workspace, clock, timeline, council[1], lambda: workspace.fail_next(1, "500"))

    deliver_all(session_factory, sender, timeline)

    assert completions(workspace) == [500, 200]
    assert_one_invite(session_factory, workspace)
    assert rows(session_factory)[KEY].attempts == 2


def test_a_completion_that_lands_after_a_timeout_is_found_not_uploaded_again(
    session_factory, workspace, council, clock, timeline  # noqa: F811
) -> None:
    """The completion takes effect after the client gave up: the retry finds the file by its title."""
    sender = invite_queued(session_factory, workspace, clock, timeline, council[1],
                           lambda: workspace.fail_next(1, "timeout_after_store"))

    deliver_all(session_factory, sender, timeline)
    clock.advance(60)  # long after anything in flight could land

    assert len(completions(workspace)) == 1, "the retry found the file and did not upload it again"
    assert [r.method for r in workspace.call_log][-2:] == [COMPLETE, "conversations.history"]
    assert_one_invite(session_factory, workspace)


def test_a_429_on_completion_waits_for_retry_after(session_factory, workspace, council, clock, timeline) -> None:  # noqa: F811
    sender = invite_queued(session_factory, workspace, clock, timeline, council[1], lambda: workspace.fail_next(1, "429"))

    outcome = sender.send_due(timeline.now())

    [limited] = [r for r in workspace.call_log if r.status == 429]
    assert limited.method == COMPLETE and limited.retry_after == 2
    answered = timeline.at(limited.at) + dt.timedelta(seconds=0.05)  # the call's latency
    assert outcome.pause_until == answered + dt.timedelta(seconds=2), "Retry-After counts from the 429"
    assert rows(session_factory)[KEY].attempts == 0, "a 429 does not use up an attempt"
    assert sender.send_due(timeline.now()).claimed == 0, "nothing is retried before Retry-After"
    deliver_all(session_factory, sender, timeline)
    [wait] = retry_waits(workspace.call_log)
    assert wait.ratio is not None and wait.ratio >= 1.0
    assert_one_invite(session_factory, workspace)


def test_a_bad_token_at_completion_halts_and_keeps_the_row(
    session_factory, workspace, council, clock, timeline  # noqa: F811
) -> None:
    def revoke() -> None:  # just before the completion, after the upload URL and the bytes went through
        sender.client.token = "xoxb-revoked"

    sender = invite_queued(session_factory, workspace, clock, timeline, council[1], revoke)
    with pytest.raises(DeliveryHalted, match="invalid_auth"):
        sender.send_due(timeline.now())

    assert file_messages(workspace) == []
    row = rows(session_factory)[KEY]
    assert (row.state, row.attempts) == (NotificationState.PENDING, 0)


def test_a_failed_upload_to_the_upload_url_is_retried(
    session_factory, workspace, council, clock, timeline, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """The bytes never reached the upload URL (``SlackRequestError``): nothing was completed, so it is
    retried at once after its backoff, not held back as if it might have landed."""
    sender = invite_queued(session_factory, workspace, clock, timeline, council[1])
    upload, failed = sender.client._upload_file, []

    def refused(**kwargs: Any) -> Any:
        if not failed:
            failed.append(kwargs["url"])
            return type("Result", (), {"status": 500, "body": "upstream error"})()
        return upload(**kwargs)

    monkeypatch.setattr(sender.client, "_upload_file", refused)
    outcome = sender.send_due(timeline.now())

    assert outcome.retried == 1 and "Failed to upload a file" in outcome.errors[0]
    assert completions(workspace) == []
    deliver_all(session_factory, sender, timeline)
    assert_one_invite(session_factory, workspace)


def test_a_file_row_that_would_edit_a_message_fails(session_factory, workspace, council, clock, timeline) -> None:  # noqa: F811
    sender = slow_sender(session_factory, workspace, clock)
    warm_up(session_factory, sender, timeline, [council[1]])
    with session_factory() as session, session.begin():
        meeting_id = booked_meeting(session, timeline.now(), council[1])
        enqueue(session, key=KEY, template=Template.MEETING_INVITE, now=timeline.now(), recipient_id=council[1],
                replaces_key=f"warm:{council[1]}",
                context={"meeting_id": meeting_id, "sequence": 0, "method": "REQUEST", "reference": "CMS-1", "place": "Room 2",
                         "starts_at": "2026-12-08T10:00:00+00:00",
                         "invite": {"filename": FILENAME, "title": TITLE, "content": ICS}})

    sender.drain(timeline.now())

    assert rows(session_factory)[KEY].state == NotificationState.FAILED
    assert file_messages(workspace) == []

