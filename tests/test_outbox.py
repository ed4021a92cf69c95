"""Outbox delivery against the local workspace: once, in order, through 429s, 500s and crashes."""

from __future__ import annotations

import datetime as dt
import random
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cli import Context, cli
from bot.cli import outbox as outbox_cli
from bot.delivery.claims import claim_due
from bot.delivery.sender import BULK_LANE, URGENT_LANE, DeliveryHalted, OutboxSender
from bot.ids import Template
from bot.runtime import sender_client
from bot.settings import load_settings
from bot.workspace import LocalWorkspace
from store.db import make_sessionmaker
from store.models import Notification, NotificationState, Person, Priority
from store.outbox import enqueue
from tests.support import TOKEN, FakeClock, another_engine, people_council, running_workspace

LEASE = dt.timedelta(minutes=5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workspace(clock: FakeClock) -> Iterator[LocalWorkspace]:
    with running_workspace(clock=clock, channel_burst=100, channel_rate_per_sec=1.0) as ws:
        yield ws


@pytest.fixture
def council(session_factory: sessionmaker[Session], workspace: LocalWorkspace) -> list[int]:
    ids = people_council(session_factory, count=3)
    with session_factory() as session:
        for person in session.scalars(select(Person)):
            workspace.add_user(person.email, person.display_name)
    return ids


def make_sender(sessions: sessionmaker[Session], workspace: LocalWorkspace, **kwargs: object) -> OutboxSender:
    settings = load_settings(slack_timeout_seconds=kwargs.pop("timeout", 5))
    client = sender_client(settings, TOKEN, workspace.base_url)
    return OutboxSender(sessions, client, worker_id=str(kwargs.pop("worker_id", "w1")), lease=LEASE, **kwargs)  # type: ignore[arg-type]


def queue(sessions: sessionmaker[Session], now: dt.datetime, recipient: int, key: str, priority: int = Priority.BULK) -> None:
    with sessions() as session, session.begin():
        enqueue(
            session,
            key=key,
            template=Template.ERROR,
            context={"message": f"message {key}", "reference": None},
            now=now,
            recipient_id=recipient,
            priority=priority,
        )


def received(workspace: LocalWorkspace, email: str) -> list[str]:
    return [m["text"] for m in workspace.messages(user_email=email)]


def states(sessions: sessionmaker[Session]) -> dict[str, str]:
    with sessions() as session:
        return {n.idempotency_key: n.state.value for n in session.scalars(select(Notification))}


def test_each_notification_is_delivered_once_with_its_ts(session_factory, workspace, council, now) -> None:
    _, p0, p1, _ = council
    queue(session_factory, now, p0, "k:a")
    queue(session_factory, now, p0, "k:b")
    queue(session_factory, now, p1, "k:c")
    queue(session_factory, now, p1, "k:c")  # same key: not queued twice
    sender = make_sender(session_factory, workspace)

    outcome = sender.drain(now)

    assert (outcome.sent, outcome.failed) == (3, 0)
    assert received(workspace, "person0@council.example") == ["message k:a", "message k:b"]
    assert received(workspace, "person1@council.example") == ["message k:c"]
    with session_factory() as session:
        rows = session.scalars(select(Notification).order_by(Notification.id)).all()
        assert all(r.state == NotificationState.SENT and r.slack_ts and r.sent_at == now for r in rows)
        person0 = session.get(Person, p0)
        assert person0 is not None
        assert person0.slack_user_id == workspace.user_id("person0@council.example")
        assert person0.slack_dm_channel == workspace.dm_channel("person0@council.example")
    lookups = [params for method, params in workspace.calls if method == "users.lookupByEmail"]
    assert len(lookups) == 2, "the Slack user id is cached on the person after the first lookup"
    assert sender.drain(now).claimed == 0


def test_person_without_slack_is_reported_to_the_qa_coordinator_once(session_factory, workspace, council, now) -> None:
    _, p0, _, p2 = council
    workspace.remove_user("person2@council.example")
    queue(session_factory, now, p2, "k:x")
    queue(session_factory, now, p2, "k:y")
    queue(session_factory, now, p0, "k:z")

    make_sender(session_factory, workspace).drain(now)

    assert states(session_factory) == {"k:x": "failed", "k:y": "failed", "k:z": "sent", f"noslack:{p2}:{council[0]}": "sent"}
    qa_messages = received(workspace, "quinn.qa@council.example")
    assert len(qa_messages) == 1
    assert "Could not reach Person 2 in Slack: no Slack account uses person2@council.example" in qa_messages[0]
    with session_factory() as session:
        failed = session.scalar(select(Notification).where(Notification.idempotency_key == "k:x"))
        assert failed is not None and failed.last_error == "no Slack account uses person2@council.example"


def test_a_rate_limited_channel_waits_while_other_channels_go_on(session_factory, workspace, council, clock, now) -> None:
    _, p0, p1, _ = council
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=2)
    for n in range(4):
        queue(session_factory, now, p0, f"k:{n}")
    queue(session_factory, now, p1, "k:other")
    sender = make_sender(session_factory, workspace)

    first = sender.send_due(now)

    assert first.sent == 3 and first.pause_until is None, "person1's message is not held back by person0's channel"
    assert received(workspace, "person1@council.example") == ["message k:other"]
    with session_factory() as session:
        waiting = session.scalars(select(Notification).where(Notification.state == NotificationState.PENDING)).all()
        assert {n.idempotency_key for n in waiting} == {"k:2", "k:3"}
        assert all(n.attempts == 0 for n in waiting), "a 429 does not use up an attempt"
        assert all(n.next_attempt_at >= now + dt.timedelta(seconds=1) for n in waiting)
    assert sender.send_due(now).claimed == 0, "nothing is retried before Retry-After"
    clock.advance(10)
    sender.drain(now + dt.timedelta(seconds=10))
    assert received(workspace, "person0@council.example") == [f"message k:{n}" for n in range(4)]


def test_a_workspace_wide_limit_pauses_the_lane_and_loses_nothing(session_factory, workspace, council, clock, now) -> None:
    _, p0, p1, p2 = council
    workspace.set_rate_limits(channel_rate_per_sec=None, workspace_rate_per_sec=1.0, workspace_burst=2)
    for n, person in enumerate((p0, p0, p1, p2, p2)):
        queue(session_factory, now, person, f"k:{n}")
    sender = make_sender(session_factory, workspace)

    first = sender.send_due(now)

    assert first.sent == 2 and first.pause_until is not None and first.pause_until >= now + dt.timedelta(seconds=1)
    with session_factory() as session:
        waiting = session.scalars(select(Notification).where(Notification.state == NotificationState.PENDING)).all()
        assert {n.idempotency_key for n in waiting} == {"k:2", "k:3", "k:4"}
        assert all(n.attempts == 0 for n in waiting)
    later = first.pause_until
    for _ in range(3):  # the workspace lets two through per burst: keep going after each pause
        clock.advance(10)
        later += dt.timedelta(seconds=10)
        sender.drain(later)
    assert received(workspace, "person1@council.example") == ["message k:2"]
    assert received(workspace, "person2@council.example") == ["message k:3", "message k:4"]


def test_server_errors_back_off_with_the_next_attempt_stored(session_factory, workspace, council, now) -> None:
    _, p0, _, _ = council
    queue(session_factory, now, p0, "k:1")
    sender = make_sender(session_factory, workspace)
    workspace.fail_next(2, kind="500")

    first = sender.send_due(now)

    assert (first.sent, first.retried) == (0, 1)
    with session_factory() as session:
        row = session.scalars(select(Notification)).one()
        assert row.state == NotificationState.PENDING and row.attempts == 1
        assert row.last_error is not None and "HTTP 500" in row.last_error
        assert row.next_attempt_at > now
        retry_at = row.next_attempt_at
    assert sender.send_due(now).claimed == 0, "not retried before its stored time"
    sender.drain(retry_at)
    sender.drain(retry_at + dt.timedelta(hours=1))
    assert received(workspace, "person0@council.example") == ["message k:1"]
    assert states(session_factory) == {"k:1": "sent"}


def test_persistent_errors_end_in_a_visible_failure(session_factory, engine, workspace, council, now) -> None:
    _, p0, _, _ = council
    queue(session_factory, now, p0, "k:1")
    sender = make_sender(session_factory, workspace, max_attempts=3)
    workspace.inject_faults(1.0, kind="503")
    at = now
    for _ in range(5):
        sender.drain(at)
        at += dt.timedelta(hours=2)

    assert states(session_factory) == {"k:1": "failed"}
    ctx = Context(load_settings(database_url=engine.url.render_as_string(hide_password=False)), _engine=engine, clock=lambda: now)
    group = type(cli)(name="auditbot")
    outbox_cli.register(group)
    result = CliRunner().invoke(group, ["outbox", "--failed"], obj=ctx)
    assert result.exit_code == 0, result.output
    assert "failed: 1" in result.output
    assert ("k:1  to person0@council.example  after 3 attempt(s): "
            "gave up after 3 attempts: users_lookupByEmail: HTTP 503 internal_error") in result.output

    workspace.inject_faults(0.0)
    result = CliRunner().invoke(group, ["outbox", "--retry", "1"], obj=ctx)
    assert "1 failed message(s) queued again" in result.output
    sender.drain(at)
    assert received(workspace, "person0@council.example") == ["message k:1"]


def test_a_sender_that_crashed_after_claiming_is_taken_over_after_the_lease(session_factory, workspace, council, now) -> None:
    _, p0, p1, _ = council
    queue(session_factory, now, p0, "k:1")
    queue(session_factory, now, p1, "k:2")
    with session_factory() as session, session.begin():  # "crashed" worker: claims, never sends
        assert len(claim_due(session, now=now, lane=BULK_LANE, worker_id="dead", limit=10, lease=LEASE)) == 2

    survivor = make_sender(session_factory, workspace, worker_id="alive")
    assert survivor.send_due(now + dt.timedelta(minutes=1)).claimed == 0, "the claim is respected within its lease"
    survivor.drain(now + LEASE + dt.timedelta(seconds=1))

    assert received(workspace, "person0@council.example") == ["message k:1"]
    assert received(workspace, "person1@council.example") == ["message k:2"]
    assert states(session_factory) == {"k:1": "sent", "k:2": "sent"}


def test_a_timeout_after_slack_accepted_the_message_does_not_send_it_twice(session_factory, clock, council, now) -> None:
    _, p0, _, _ = council
    with running_workspace(clock=clock, timeout_hold_seconds=1.0) as workspace:
        workspace.add_user("person0@council.example", "Person 0")
        queue(session_factory, now, p0, "k:1")
        sender = make_sender(session_factory, workspace, timeout=0.3)
        sender.client.users_lookupByEmail(email="person0@council.example")  # warm the connection
        sender.drain(now)  # resolves the DM first (succeeds) ...
        assert states(session_factory) == {"k:1": "sent"}
        queue(session_factory, now, p0, "k:2")
        workspace.fail_next(1, kind="timeout_after_store")  # ... the post lands but the answer never comes

        first = sender.send_due(now)
        assert first.retried == 1 and received(workspace, "person0@council.example") == ["message k:1", "message k:2"]
        sender.drain(now + dt.timedelta(hours=1))

        assert received(workspace, "person0@council.example") == ["message k:1", "message k:2"]
        assert states(session_factory) == {"k:1": "sent", "k:2": "sent"}
        posts = [p for m, p in workspace.calls if m == "chat.postMessage"]
        assert len(posts) == 2


def test_urgent_alerts_do_not_wait_behind_a_bulk_fan_out(session_factory, workspace, council, now) -> None:
    _, p0, p1, p2 = council
    for n in range(120):
        queue(session_factory, now, (p0, p1)[n % 2], f"bulk:{n}")
    queue(session_factory, now + dt.timedelta(seconds=1), p2, "alert:1", priority=Priority.URGENT)
    bulk = make_sender(session_factory, workspace, worker_id="bulk", batch_size=20)
    urgent = make_sender(session_factory, workspace, worker_id="urgent", lane=URGENT_LANE)

    under_way = bulk.send_due(now + dt.timedelta(seconds=1))  # a fan-out is under way
    assert urgent.send_due(now + dt.timedelta(seconds=1)).sent == 1

    assert received(workspace, "person2@council.example") == ["message alert:1"]
    with session_factory() as session:
        pending = session.scalar(select(func.count()).where(Notification.state == NotificationState.PENDING))
    assert under_way.sent == 10, "each of the two got Slack's burst of five; their next ones wait for their turns"
    assert pending == 110, "the alert went out while 110 bulk messages were still queued"


def test_a_bad_token_halts_delivery_and_keeps_every_row(session_factory, workspace, council, now) -> None:
    _, p0, _, _ = council
    queue(session_factory, now, p0, "k:1")
    sender = make_sender(session_factory, workspace)
    sender.client.token = "xoxb-wrong"
    with pytest.raises(DeliveryHalted, match="invalid_auth"):
        sender.send_due(now)
    with session_factory() as session:
        row = session.scalars(select(Notification)).one()
        assert (row.state, row.attempts) == (NotificationState.PENDING, 0)


def test_two_senders_on_one_database_never_double_send(engine: Engine, session_factory, workspace, council, now) -> None:
    _, p0, p1, p2 = council
    recipients = (p0, p1, p2)
    for n in range(90):
        queue(session_factory, now, recipients[n % 3], f"k:{n:03d}")
    second_engine = another_engine(engine)
    senders = [
        make_sender(session_factory, workspace, worker_id="one", batch_size=7, channel_burst=90),
        make_sender(make_sessionmaker(second_engine), workspace, worker_id="two", batch_size=7, channel_burst=90),
    ]  # (no pace of their own, as the workspace: only the claims are tested)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(sender: OutboxSender) -> None:
        try:
            start.wait()
            sender.drain(now)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    second_engine.dispose()

    assert errors == []
    texts = [m["text"] for r in range(3) for m in workspace.messages(user_email=f"person{r}@council.example")]
    assert sorted(texts) == sorted(f"message k:{n:03d}" for n in range(90))
    assert set(states(session_factory).values()) == {"sent"}


def test_an_edit_updates_the_sent_message_in_place(session_factory, workspace, council, now) -> None:
    _, p0, _, _ = council
    queue(session_factory, now, p0, "k:1", priority=Priority.NORMAL)
    sender = make_sender(session_factory, workspace)
    with session_factory() as session, session.begin():
        enqueue(session, key="k:1:edit", template=Template.ERROR, context={"message": "edited", "reference": None},
                now=now, recipient_id=p0, replaces_key="k:1")
        enqueue(session, key="gone:edit", template=Template.ERROR, context={"message": "posted anew", "reference": None},
                now=now, recipient_id=p0, replaces_key="never-sent")

    sender.drain(now)

    messages = workspace.messages(user_email="person0@council.example")
    assert [(m["text"], m["edited"]) for m in messages] == [("edited", True), ("posted anew", False)]
    with session_factory() as session:
        rows = {n.idempotency_key: n for n in session.scalars(select(Notification))}
        assert rows["k:1:edit"].slack_ts == rows["k:1"].slack_ts and rows["k:1:edit"].state == NotificationState.SENT


def test_an_edit_waits_for_the_message_it_edits(session_factory, workspace, council, now) -> None:
    _, p0, _, _ = council
    with session_factory() as session, session.begin():
        enqueue(session, key="k:1", template=Template.ERROR, context={"message": "first", "reference": None},
                now=now, recipient_id=p0, not_before=now + dt.timedelta(minutes=5))
        enqueue(session, key="k:1:edit", template=Template.ERROR, context={"message": "edited", "reference": None},
                now=now, recipient_id=p0, replaces_key="k:1")
    sender = make_sender(session_factory, workspace)

    assert sender.send_due(now).sent == 0
    assert states(session_factory) == {"k:1": "pending", "k:1:edit": "pending"}
    sender.drain(now + dt.timedelta(minutes=10))
    assert [(m["text"], m["edited"]) for m in workspace.messages(user_email="person0@council.example")] == [("edited", True)]


def test_an_older_edit_never_overwrites_a_newer_one(session_factory, workspace, council, now) -> None:
    _, p0, _, _ = council
    queue(session_factory, now, p0, "k:1", priority=Priority.NORMAL)
    sender = make_sender(session_factory, workspace)
    sender.drain(now)
    with session_factory() as session, session.begin():  # edit A is held back (say, a retry); edit B is due
        enqueue(session, key="k:1:a", template=Template.ERROR, context={"message": "older", "reference": None},
                now=now, recipient_id=p0, replaces_key="k:1", not_before=now + dt.timedelta(minutes=5))
        enqueue(session, key="k:1:b", template=Template.ERROR, context={"message": "newer", "reference": None},
                now=now, recipient_id=p0, replaces_key="k:1")
    sender.drain(now)
    sender.drain(now + dt.timedelta(minutes=10))

    assert [m["text"] for m in workspace.messages(user_email="person0@council.example")] == ["newer"]
    assert states(session_factory) == {"k:1": "sent", "k:1:a": "sent", "k:1:b": "sent"}
    assert len([c for c in workspace.calls if c[0] == "chat.update"]) == 1


def test_a_limited_channel_is_then_posted_to_at_slacks_pace_not_retried_into_more_429s(
    session_factory, workspace, council, clock, now
) -> None:
    _, p0, _, _ = council
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=1)
    for n in range(4):
        queue(session_factory, now, p0, f"k:{n}")
    sender = make_sender(session_factory, workspace, monotonic=lambda: 0.0)  # within a batch, time stands still

    sender.send_due(now)  # k:0 goes; k:1 is limited (Retry-After 1 s); k:2 and k:3 wait for the channel
    for second in range(1, 4):  # Slack's bucket gives one post a second, and the sender now keeps that pace
        clock.advance(1)
        sender.drain(now + dt.timedelta(seconds=second))

    assert received(workspace, "person0@council.example") == [f"message k:{n}" for n in range(4)]
    limited = [c for c in workspace.call_log if c.method == "chat.postMessage" and c.status == 429]
    assert len(limited) == 1, "after the first 429 the channel is paced, not tried again too soon"


def test_a_busy_channel_gets_slacks_burst_then_a_turn_a_second_without_meeting_a_429(
    session_factory, workspace, council, clock, now
) -> None:
    _, p0, p1, _ = council
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=5)
    queue_each(session_factory, now, (p0,), 8)
    queue(session_factory, now, p1, "k:other")
    sender = make_sender(session_factory, workspace, monotonic=lambda: 0.0, channel_burst=5)

    first = sender.send_due(now)

    assert (first.sent, first.retried) == (6, 3), "person0's burst of five and person1's; person0's other three wait"
    with session_factory() as session:
        waiting = session.execute(
            select(Notification.idempotency_key, Notification.next_attempt_at)
            .where(Notification.state == NotificationState.PENDING).order_by(Notification.id)
        ).all()
    assert [(key, at - now) for key, at in waiting] == [
        (f"k:{p0}:{n}", dt.timedelta(seconds=n - 4)) for n in (5, 6, 7)
    ], "each handed back until its own turn, a second apart, in order"
    for second in (1, 2, 3):
        clock.advance(1)
        assert sender.drain(now + dt.timedelta(seconds=second)).sent == 1

    assert received(workspace, "person0@council.example") == [f"message k:{p0}:{n}" for n in range(8)]
    assert not [r for r in workspace.call_log if r.status == 429], "the sender kept Slack's pace itself"


def turns_then_a_failure(sessions: sessionmaker[Session], workspace: LocalWorkspace, clock: FakeClock, now: dt.datetime,
                         person: int, kind: str, seconds: int) -> None:
    """k:1 goes, k:2 and k:3 get turns a second apart; k:2 meets ``kind`` at its turn; then ``seconds`` of sending."""
    for n in (1, 2, 3):
        queue(sessions, now, person, f"k:{n}")
    rng = random.Random()
    rng.random = lambda: 0.999  # type: ignore[method-assign]  # the backoff after a first failure: 2 s
    sender = make_sender(sessions, workspace, monotonic=clock, channel_burst=1, rng=rng)
    sender.send_due(now)  # k:1 goes; k:2 has its turn at +1 s, k:3 at +2 s
    workspace.fail_next(1, kind=kind)
    for second in range(1, seconds + 1):
        clock.advance(1)
        sender.drain(now + dt.timedelta(seconds=second))


def test_a_later_row_with_a_booked_turn_waits_for_an_earlier_row_being_tried_again_after_a_500(
    session_factory, workspace, council, clock, now
) -> None:
    turns_then_a_failure(session_factory, workspace, clock, now, council[1], "500", 6)  # k:2 again at +3 s, after k:3's turn

    assert [(key, status) for key, status in posts_made(workspace)] == [
        ("k:1", 200), ("k:2", 500), ("k:2", 200), ("k:3", 200)
    ], "k:3 waited for k:2, whatever turn it had been given"


def test_a_later_row_with_a_booked_turn_waits_for_an_earlier_row_limited_by_a_429(
    session_factory, workspace, council, clock, now
) -> None:
    turns_then_a_failure(session_factory, workspace, clock, now, council[1], "429", 7)

    assert received(workspace, "person0@council.example") == ["message k:1", "message k:2", "message k:3"]


def posts_made(workspace: LocalWorkspace) -> list[tuple[str, int]]:
    """Every chat.postMessage the workspace was asked for: (the row's key, HTTP status), in order."""
    return [(p["metadata"]["event_payload"]["key"], r.status)
            for (m, p), r in zip(workspace.calls, workspace.call_log, strict=True)
            if m == "chat.postMessage"]


def test_a_limited_channel_waits_without_holding_up_others_and_its_later_rows_never_overtake_its_retry(
    session_factory, workspace, council, clock, now
) -> None:
    _, p0, p1, _ = council
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=1)
    for key, who in (("k:a", p0), ("k:b", p0), ("k:c", p0), ("k:d", p1)):
        queue(session_factory, now, who, key)
    sender = make_sender(session_factory, workspace, monotonic=clock)  # one worker for all four

    first = sender.send_due(now)  # k:a; k:b limited (Retry-After 1 s); k:d; k:b and k:c go back until the pause ends
    for second in (1, 2):
        clock.advance(1)
        sender.drain(now + dt.timedelta(seconds=second))  # k:b at once; k:c at Slack's pace, a second later

    posts = posts_made(workspace)
    assert posts == [("k:a", 200), ("k:b", 429), ("k:d", 200), ("k:b", 200), ("k:c", 200)], (
        "k:d went while person0's channel waited; k:b was tried again once its pause was over, before k:c"
    )
    assert first.sent == 2
    assert received(workspace, "person0@council.example") == ["message k:a", "message k:b", "message k:c"]


def test_a_row_handed_back_takes_its_channels_later_rows_with_it(session_factory, workspace, council, clock, now) -> None:
    _, p0, p1, _ = council
    for key, who in (("k:a", p0), ("k:b", p0), ("k:c", p1)):
        queue(session_factory, now, who, key)
    workspace.fail_next(1, kind="500")
    sender = make_sender(session_factory, workspace, monotonic=clock)

    outcome = sender.send_due(now)

    assert (outcome.sent, outcome.retried) == (1, 2)
    assert [(r.method, r.status) for r in workspace.call_log] == [
        ("users.lookupByEmail", 500), ("users.lookupByEmail", 200), ("conversations.open", 200), ("chat.postMessage", 200),
    ], "person0's first row failed and their second was not tried; person1's went"
    assert received(workspace, "person1@council.example") == ["message k:c"]
    assert states(session_factory) == {"k:a": "pending", "k:b": "pending", "k:c": "sent"}, "k:b never overtakes k:a"


def queue_each(sessions: sessionmaker[Session], now: dt.datetime, people: tuple[int, ...], count: int) -> None:
    """``count`` rows for each of ``people``, keyed ``k:<person>:<n>``."""
    for who in people:
        for n in range(count):
            queue(sessions, now, who, f"k:{who}:{n}")


def test_two_channels_each_meeting_their_own_limit_do_not_pause_everyone_else(
    session_factory, workspace, council, clock, now
) -> None:
    _, p0, p1, p2 = council
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=3)
    queue_each(session_factory, now, (p0, p1), 4)
    queue(session_factory, now, p2, "k:other")
    sender = make_sender(session_factory, workspace, monotonic=clock)

    outcome = sender.send_due(now)

    limited = [r for r in workspace.call_log if r.method == "chat.postMessage" and r.status == 429]
    assert len(limited) == 2, "each of the two busy channels met its own limit on its fourth post"
    assert outcome.pause_until is None, "two channels' own limits are not a workspace-wide one: the lane goes on"
    assert received(workspace, "person2@council.example") == ["message k:other"]


def test_a_limited_slack_channel_waits_without_holding_up_another_channel(session_factory, workspace, clock, now) -> None:
    audit_a, audit_b = workspace.add_channel("audit-a"), workspace.add_channel("audit-b")
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=1)
    for key, channel in (("k:a", audit_a), ("k:b", audit_a), ("k:c", audit_a), ("k:d", audit_b)):
        with session_factory() as session, session.begin():
            enqueue(session, key=key, template=Template.ERROR, context={"message": f"message {key}", "reference": None},
                    now=now, channel=channel, priority=Priority.BULK)
    sender = make_sender(session_factory, workspace, monotonic=clock)
    sender.send_due(now)
    for second in (1, 2):
        clock.advance(1)
        sender.drain(now + dt.timedelta(seconds=second))

    posts = posts_made(workspace)
    assert posts == [("k:a", 200), ("k:b", 429), ("k:d", 200), ("k:b", 200), ("k:c", 200)]


def test_two_workers_whose_channels_meet_their_limits_hand_their_rows_back_and_end(
    session_factory, workspace, council, clock, now
) -> None:
    _, p0, p1, _ = council
    workspace.set_rate_limits(channel_rate_per_sec=1.0, channel_burst=3)
    queue_each(session_factory, now, (p0, p1), 5)
    sender = make_sender(session_factory, workspace, monotonic=clock, concurrency=2)  # Slack's burst is smaller than ours

    outcome = sender.send_due(now)

    assert outcome.pause_until is None, "each channel's 429 is its own limit, not a workspace-wide one"
    assert states(session_factory) == {f"k:{who}:{n}": "sent" if n < 3 else "pending" for who in (p0, p1) for n in range(5)}
