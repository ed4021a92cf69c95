"""The outbox sending a batch with several threads: per-channel order, DMs by user id, give-back, 429s."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.sender import DeliveryInterrupted, OutboxSender
from bot.ids import Template
from bot.workspace import LocalWorkspace
from store.models import Notification, NotificationState, Person, Priority
from store.outbox import enqueue
from tests.support import TOKEN, FakeClock, people_council, running_workspace
from tests.test_outbox import LEASE, queue, received, states
from tests.test_sender_faults import database_error, delivered_keys


class ThreadRecordingSlack(WebClient):
    """A WebClient that notes which thread made each call, and to which channel. With ``together``,
    the first call to each channel waits there until as many threads are calling at once."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threads: dict[str, set[str]] = defaultdict(set)
        self.lock = threading.Lock()
        self.together: threading.Barrier | None = None

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        channel = str((kwargs.get("json") or kwargs.get("params") or kwargs.get("data") or {}).get("channel", ""))
        with self.lock:
            first = channel not in self.threads
            self.threads[channel].add(threading.current_thread().name)
        if first and channel and self.together is not None:
            self.together.wait()
        return super().api_call(api_method, **kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workspace(clock: FakeClock) -> Iterator[LocalWorkspace]:
    with running_workspace(clock=clock, channel_rate_per_sec=1.0, channel_burst=2) as ws:
        yield ws


@pytest.fixture
def council(session_factory: sessionmaker[Session], workspace: LocalWorkspace) -> list[int]:
    """Three staff and a QA coordinator, each with a Slack account matched by user id (no DM channel yet)."""
    ids = people_council(session_factory, count=3)
    with session_factory() as session, session.begin():
        people = session.execute(select(Person.id, Person.email, Person.display_name)).all()
        session.execute(update(Person), [{"id": pid, "slack_user_id": workspace.add_user(email, name)}
                                         for pid, email, name in people])
    return ids


def sender(sessions: Any, workspace: LocalWorkspace, clock: FakeClock, **kwargs: Any) -> OutboxSender:
    client = ThreadRecordingSlack(token=TOKEN, base_url=workspace.base_url, timeout=5, retry_handlers=[])
    return OutboxSender(sessions, client, worker_id="w1", lease=LEASE, monotonic=clock, concurrency=8, settle_every=50,
                        **kwargs)


def person(sessions: sessionmaker[Session], person_id: int) -> Person:
    with sessions() as session:
        found = session.get(Person, person_id)
        assert found is not None
        return found


def rows(sessions: sessionmaker[Session]) -> dict[str, Notification]:
    with sessions() as session:
        return {n.idempotency_key: n for n in session.scalars(select(Notification))}


def test_a_dm_goes_to_the_user_id_and_its_channel_is_stored_from_the_answer(
    session_factory, workspace, council, clock, now
) -> None:
    _, p0, p1, _ = council
    for key, who in (("k:a1", p0), ("k:b1", p1), ("k:a2", p0)):
        queue(session_factory, now, who, key)

    outcome = sender(session_factory, workspace, clock).drain(now)

    assert outcome.sent == 3
    methods = Counter(m for m, _ in workspace.calls)
    assert methods == Counter({"chat.postMessage": 3}), "no conversations.open, no users.lookupByEmail"
    [dm0] = {m["channel"] for m in workspace.messages(user_email="person0@council.example")}
    assert dm0.startswith("D") and person(session_factory, p0).slack_dm_channel == dm0
    assert person(session_factory, p1).slack_dm_channel is not None
    assert rows(session_factory)["k:a1"].slack_channel == rows(session_factory)["k:a2"].slack_channel == dm0

    with session_factory() as session, session.begin():  # an edit needs the D… id: it is there, no look-up
        enqueue(session, key="k:a1:edit", template=Template.ERROR, now=now, recipient_id=p0, replaces_key="k:a1",
                context={"message": "message k:a1 corrected", "reference": None}, priority=Priority.BULK)
    sender(session_factory, workspace, clock).drain(now)
    assert [(m, p.get("channel")) for m, p in workspace.calls[3:]] == [("chat.update", dm0)]
    assert received(workspace, "person0@council.example") == ["message k:a1 corrected", "message k:a2"]


def test_threads_keep_each_recipients_messages_in_claim_order(session_factory, workspace, council, clock, now) -> None:
    _, *staff = council
    for n in range(2):  # within each channel's burst: nothing is rate limited
        for who in staff:
            queue(session_factory, now, who, f"k:{who}:{n}")
    one = sender(session_factory, workspace, clock)
    client = one.client
    assert isinstance(client, ThreadRecordingSlack)
    client.together = threading.Barrier(3, timeout=10)  # sent one recipient after another, it would break

    outcome = one.drain(now)

    assert outcome.sent == 6 and not client.together.broken
    for index, who in enumerate(staff):
        assert received(workspace, f"person{index}@council.example") == [f"message k:{who}:0", f"message k:{who}:1"]
    posted_to = {channel: names for channel, names in client.threads.items() if channel}
    assert all(len(names) == 1 for names in posted_to.values()), f"one thread per channel: {posted_to}"
    assert len(set().union(*posted_to.values())) == 3, "the three recipients were sent to by three threads"


def test_a_database_error_mid_batch_gives_back_what_each_thread_held_and_nothing_is_posted_twice(
    session_factory, workspace, council, clock, now
) -> None:
    qa, *staff = council
    for n in range(2):
        for who in [qa, *staff]:
            queue(session_factory, now, who, f"k:{who}:{n}")
    one = sender(session_factory, workspace, clock)
    one.settle_every = 2
    failed: list[str] = []

    def on_sent(session: Session, row: Notification, at: dt.datetime) -> None:
        if not failed:
            failed.append(row.idempotency_key)
            raise database_error()  # the first transaction settling sent rows fails

    one.on_sent = on_sent
    with pytest.raises(DeliveryInterrupted) as interrupted:
        one.send_due(now)
    assert len(interrupted.value.held) >= 2, "the failed transaction's rows at least"
    assert set(states(session_factory).values()) <= {"sending", "sent"}

    again = one.drain(now + dt.timedelta(seconds=1))  # the database answers again, well within the lease

    assert again.failed == 0
    assert set(states(session_factory).values()) == {"sent"}
    assert delivered_keys(workspace) == Counter(dict.fromkeys(states(session_factory), 1))
    assert [m for m, _ in workspace.calls].count("chat.postMessage") == 8, "nothing posted twice"
    assert all(row.slack_ts for row in rows(session_factory).values())


def test_a_429_on_one_channel_pauses_only_that_channel(session_factory, workspace, council, clock, now) -> None:
    _, p0, p1, p2 = council
    for n in range(4):
        queue(session_factory, now, p0, f"k:a{n}")
    for who, key in ((p1, "k:b0"), (p2, "k:c0"), (p1, "k:b1"), (p2, "k:c1")):
        queue(session_factory, now, who, key)
    one = sender(session_factory, workspace, clock)

    outcome = one.send_due(now)

    assert outcome.pause_until is None, "the lane goes on"
    assert received(workspace, "person1@council.example") == ["message k:b0", "message k:b1"]
    assert received(workspace, "person2@council.example") == ["message k:c0", "message k:c1"]
    assert received(workspace, "person0@council.example") == ["message k:a0", "message k:a1"], "burst 2, then 429"
    waiting = rows(session_factory)
    assert {waiting[k].state for k in ("k:a2", "k:a3")} == {NotificationState.PENDING}
    assert min(waiting[k].next_attempt_at for k in ("k:a2", "k:a3")) >= now + dt.timedelta(seconds=1)

    for step in range(1, 6):  # the channel refills at 1/s: its rows go when their pause ends, in order
        clock.advance(1.0)
        one.drain(now + dt.timedelta(seconds=step))
    assert received(workspace, "person0@council.example") == [f"message k:a{n}" for n in range(4)]
    assert set(states(session_factory).values()) == {"sent"}
