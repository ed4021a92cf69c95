"""The sender under faults: when it retries, after a timeout, through a database outage, and
through the local workspace's 20% fault mix.

Time is one ``FakeClock``: the workspace's rate limits and call log read it, the sender
measures a batch with it (``monotonic``), and ``SlowSlack`` moves it on by each call's
latency — or by the whole client timeout when a call times out. ``Timeline`` turns it into the
``now`` the sender is given. Nothing sleeps; the only real waiting is the client's own 0.2 s
timeout on a held answer.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import urllib.error
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.runner import DeliveryRunner
from bot.delivery.sender import DeliveryInterrupted, OutboxSender
from bot.workspace import LocalWorkspace
from bot.workspace.calls import retries_after_timeouts, retry_waits
from bot.workspace.state import MIX_KINDS, FaultPlan
from store.models import Notification, NotificationState, Person
from tests.support import TOKEN, FakeClock, people_council, running_workspace
from tests.test_outbox import LEASE, queue, received, states

#: The sender's client timeout (real seconds: a held answer is waited for this long).
TIMEOUT = 0.2
MARGIN = 2.0
#: A ``timeout_after_store`` post takes effect this long after it arrived: after any first
#: backoff (at most 2 s) but before failure + TIMEOUT + MARGIN.
LANDING = 2.2
SECRET_TEXT = "message text that must never reach a log"


class SlowSlack(WebClient):
    """A WebClient on the test's clock: each call takes ``latency`` seconds, a timed-out one the whole timeout."""

    def __init__(self, clock: FakeClock, latency: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock, self.latency = clock, latency

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        took = self.latency
        try:
            return super().api_call(api_method, **kwargs)
        except (TimeoutError, urllib.error.URLError):
            took = float(self.timeout)
            raise
        finally:
            self.clock.advance(took)


class Timeline:
    """The test clock as the sender's ``now``: ``start`` when the clock read ``origin``."""

    def __init__(self, clock: FakeClock, start: dt.datetime) -> None:
        self.clock, self.start, self.origin = clock, start, clock.now

    def now(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=self.clock.now - self.origin)

    def at(self, reading: float) -> dt.datetime:
        """The moment the clock read ``reading`` (a call log's ``at``)."""
        return self.start + dt.timedelta(seconds=reading - self.origin)

    def move_to(self, moment: dt.datetime) -> None:
        self.clock.now = max(self.clock.now, self.origin + (moment - self.start).total_seconds())


class FlakyDatabase:
    """Stands in for a sessionmaker: while ``down``, opening a session fails as when the server is gone."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions, self.down = sessions, False

    def __call__(self) -> Session:
        if self.down:
            raise OperationalError(
                "SELECT notifications.context FROM notifications WHERE notifications.id = %(id)s",
                {"context": SECRET_TEXT},
                ConnectionError("server closed the connection unexpectedly"),
            )
        return self.sessions()


def database_error() -> OperationalError:
    return OperationalError("COMMIT", {"context": SECRET_TEXT}, ConnectionError("terminating connection"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timeline(clock: FakeClock, now: dt.datetime) -> Timeline:
    return Timeline(clock, now)


@pytest.fixture
def workspace(clock: FakeClock) -> Iterator[LocalWorkspace]:
    with running_workspace(
        clock=clock, channel_rate_per_sec=None, timeout_hold_seconds=1.0, landing_delay_seconds=LANDING
    ) as ws:
        yield ws


@pytest.fixture
def council(session_factory: sessionmaker[Session], workspace: LocalWorkspace) -> list[int]:
    ids = people_council(session_factory, count=3)
    add_to_workspace(session_factory, workspace)
    return ids


def add_to_workspace(sessions: sessionmaker[Session], workspace: LocalWorkspace) -> None:
    with sessions() as session:
        for person in session.scalars(select(Person)):
            workspace.add_user(person.email, person.display_name)


def slow_sender(
    sessions: Any, workspace: LocalWorkspace, clock: FakeClock, *, latency: float = 0.0, **kwargs: Any
) -> OutboxSender:
    client = SlowSlack(clock, latency, token=TOKEN, base_url=workspace.base_url, timeout=TIMEOUT, retry_handlers=[])
    return OutboxSender(
        sessions, client, worker_id="w1", lease=LEASE, monotonic=clock, timeout_margin=MARGIN, **kwargs
    )


def warm_up(sessions: sessionmaker[Session], sender: OutboxSender, timeline: Timeline, people: list[int]) -> None:
    """Send each person one message, so their Slack ids and DM channels are known."""
    for person in people:
        queue(sessions, timeline.now(), person, f"warm:{person}")
    sender.drain(timeline.now())


def rows(sessions: sessionmaker[Session]) -> dict[str, Notification]:
    with sessions() as session:
        return {n.idempotency_key: n for n in session.scalars(select(Notification))}


def deliver_all(
    sessions: sessionmaker[Session], sender: OutboxSender, timeline: Timeline, *, rounds: int = 3000
) -> None:
    """Run the sender as its loop would, moving the clock to each pause's end or the next due row."""
    for _ in range(rounds):
        outcome = sender.send_due(timeline.now())
        if outcome.pause_until is not None:
            timeline.move_to(outcome.pause_until)
        elif outcome.claimed == 0:
            pending = Notification.state == NotificationState.PENDING
            with sessions() as session:
                due = session.scalar(select(func.min(Notification.next_attempt_at)).where(pending))
            if due is None:
                return
            timeline.move_to(due)
    raise AssertionError(f"still sending after {rounds} passes")


def delivered_keys(workspace: LocalWorkspace) -> Counter[str]:
    """How many messages each idempotency key has in the workspace (by the message's metadata)."""
    return Counter(
        m["metadata"]["event_payload"]["key"] for m in workspace.messages() if m["metadata"] and not m["ephemeral"]
    )


def early_retries(workspace: LocalWorkspace) -> list[str]:
    return [
        f"{w.limited.method} {w.limited.channel}: back after {w.waited:.2f}s, Retry-After {w.limited.retry_after}s"
        for w in retry_waits(workspace.call_log)
        if w.waited is not None and w.ratio is not None and w.ratio < 1.0
    ]


# --- A. pauses and retries count from the moment of the failure --------------------------------


def test_a_retry_and_its_channel_pause_count_from_the_failure_not_the_batch_start(
    session_factory, workspace, council, clock, timeline
) -> None:
    _, p0, p1, _ = council
    sender = slow_sender(session_factory, workspace, clock, latency=3.0, rng=random.Random(1))
    warm_up(session_factory, sender, timeline, [p0, p1])
    t0 = timeline.now()
    queue(session_factory, t0, p0, "k:limited")
    queue(session_factory, t0, p0, "k:same-channel")
    queue(session_factory, t0, p1, "k:server-error")
    workspace.fail_next(1, kind="429")  # Retry-After: 2, three seconds after the batch began
    workspace.fail_next(1, kind="500")

    outcome = sender.send_due(t0)

    assert (outcome.sent, outcome.retried) == (0, 3)
    at = rows(session_factory)
    second = dt.timedelta(seconds=1)
    assert at["k:limited"].next_attempt_at == t0 + 3 * second + 2 * second, "Retry-After counts from the 429"
    assert at["k:same-channel"].next_attempt_at == t0 + 5 * second, "the channel's pause ends 2 s after the 429"
    assert at["k:server-error"].next_attempt_at >= t0 + 6 * second + second, "backoff counts from the 500"

    deliver_all(session_factory, sender, timeline)
    assert early_retries(workspace) == []
    assert delivered_keys(workspace) == Counter(
        {f"warm:{p0}": 1, f"warm:{p1}": 1, "k:limited": 1, "k:same-channel": 1, "k:server-error": 1}
    )


def test_a_lane_pause_counts_from_the_second_429(session_factory, workspace, council, clock, timeline) -> None:
    _, p0, p1, p2 = council
    sender = slow_sender(session_factory, workspace, clock, latency=3.0)
    warm_up(session_factory, sender, timeline, [p0, p1, p2])
    t0 = timeline.now()
    for key, person in (("k:a", p0), ("k:b", p1), ("k:c", p2)):
        queue(session_factory, t0, person, key)
    workspace.fail_next(2, kind="429")

    outcome = sender.send_due(t0)

    second = dt.timedelta(seconds=1)
    assert outcome.pause_until == t0 + 6 * second + 2 * second
    at = rows(session_factory)
    assert at["k:a"].next_attempt_at == t0 + 5 * second
    assert at["k:b"].next_attempt_at == at["k:c"].next_attempt_at == outcome.pause_until
    deliver_all(session_factory, sender, timeline)
    assert early_retries(workspace) == []
    assert set(states(session_factory).values()) == {"sent"}


# --- B. after a timeout, nothing before the timed-out request can no longer land -----------------


def test_after_a_timeout_the_next_attempt_waits_for_the_client_timeout_and_a_margin(
    session_factory, workspace, council, clock, timeline
) -> None:
    _, p0, _, _ = council
    sender = slow_sender(session_factory, workspace, clock, latency=0.05, rng=random.Random(1))
    warm_up(session_factory, sender, timeline, [p0])
    t0 = timeline.now()
    queue(session_factory, t0, p0, "k:1")
    workspace.fail_next(1, kind="timeout")

    sender.send_due(t0)

    failed_at = t0 + dt.timedelta(seconds=TIMEOUT)
    row = rows(session_factory)["k:1"]
    assert row.state == NotificationState.PENDING and row.attempts == 1
    assert row.next_attempt_at >= failed_at + dt.timedelta(seconds=TIMEOUT + MARGIN)
    deliver_all(session_factory, sender, timeline)
    assert received(workspace, "person0@council.example") == [f"message warm:{p0}", "message k:1"]


def test_a_post_still_in_flight_after_a_timeout_is_found_not_posted_again(
    session_factory, workspace, council, clock, timeline
) -> None:
    """The post takes effect LANDING s after it arrived, when the client has long given up: the
    retry's history check must come after that, or it misses the message and posts it again."""
    _, p0, _, _ = council
    sender = slow_sender(session_factory, workspace, clock, latency=0.05, rng=random.Random(1))
    warm_up(session_factory, sender, timeline, [p0])
    queue(session_factory, timeline.now(), p0, "k:1")
    workspace.fail_next(1, kind="timeout_after_store")

    deliver_all(session_factory, sender, timeline)
    clock.advance(60)  # long after anything in flight could land

    assert delivered_keys(workspace)["k:1"] == 1
    log = workspace.call_log
    [post] = [r for r in log if r.method == "chat.postMessage" and r.fault == "timeout_after_store"]
    [check] = [r for r in log if r.method == "conversations.history"]
    assert check.at >= post.at + TIMEOUT + TIMEOUT + MARGIN, "history is read only once the post can no longer land"
    assert rows(session_factory)["k:1"].slack_ts == workspace.messages(user_email="person0@council.example")[-1]["ts"]


# --- C. the database going away ------------------------------------------------------------------


def test_a_database_error_mid_batch_gives_back_the_claimed_rows_on_the_next_pass(
    session_factory, workspace, council, clock, timeline
) -> None:
    _, p0, _, _ = council
    sender = slow_sender(session_factory, workspace, clock, latency=0.05)
    warm_up(session_factory, sender, timeline, [p0])
    t0 = timeline.now()
    for n in range(1, 5):
        queue(session_factory, t0, p0, f"k:{n}")
    reported: list[str] = []

    def on_sent(session: Session, row: Notification, at: dt.datetime) -> None:
        if row.idempotency_key == "k:2" and "k:2 lost" not in reported:
            reported.append("k:2 lost")
            raise database_error()  # k:2 is posted; the transaction settling it fails
        reported.append(row.idempotency_key)

    sender.on_sent = on_sent
    with pytest.raises(DeliveryInterrupted) as interrupted:
        sender.send_due(t0)

    ids = {key: row.id for key, row in rows(session_factory).items()}
    assert interrupted.value.held == [ids["k:2"], ids["k:3"], ids["k:4"]]
    assert SECRET_TEXT not in str(interrupted.value)
    assert {k: s for k, s in states(session_factory).items() if k.startswith("k:")} == {
        "k:1": "sent", "k:2": "sending", "k:3": "sending", "k:4": "sending",
    }

    again = sender.send_due(t0 + dt.timedelta(seconds=1))  # the database answers again, well within the lease

    assert again.sent == 2, "k:3 and k:4 were given back and sent; k:2 was settled with the ts Slack gave it"
    texts = [f"message warm:{p0}"] + [f"message k:{n}" for n in range(1, 5)]
    assert received(workspace, "person0@council.example") == texts
    after = rows(session_factory)
    posted = {m["text"]: m["ts"] for m in workspace.messages(user_email="person0@council.example")}
    assert after["k:2"].state == NotificationState.SENT and after["k:2"].slack_ts == posted["message k:2"]
    assert (after["k:3"].attempts, after["k:4"].attempts) == (1, 1), "the interrupted claim is not counted"
    assert reported == ["k:1", "k:2 lost", "k:2", "k:3", "k:4"]
    assert [m for m, _ in workspace.calls].count("chat.postMessage") == 5


def test_a_post_that_may_have_landed_keeps_its_attempt_when_given_back(
    session_factory, workspace, council, clock, timeline
) -> None:
    """The post times out (it lands later) and the database fails before the retry is recorded:
    the row goes back counted and not before the post could land, so its retry finds it."""
    _, p0, _, _ = council
    database = FlakyDatabase(session_factory)
    sender = slow_sender(database, workspace, clock, latency=0.05)
    warm_up(session_factory, sender, timeline, [p0])
    queue(session_factory, timeline.now(), p0, "k:1")
    workspace.fail_next(1, kind="timeout_after_store")
    original = sender.client.api_call

    def call_then_fail(api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return original(api_method, **kwargs)
        except (TimeoutError, urllib.error.URLError):
            database.down = True
            raise

    sender.client.api_call = call_then_fail  # type: ignore[method-assign]
    with pytest.raises(DeliveryInterrupted):
        sender.send_due(timeline.now())
    failed_at = timeline.now()
    database.down = False

    deliver_all(session_factory, sender, timeline)
    clock.advance(60)

    assert delivered_keys(workspace)["k:1"] == 1
    row = rows(session_factory)["k:1"]
    assert row.state == NotificationState.SENT and row.attempts == 2
    [check] = [r for r in workspace.call_log if r.method == "conversations.history"]
    assert timeline.at(check.at) >= failed_at + dt.timedelta(seconds=TIMEOUT + MARGIN)


def test_the_runner_outlives_a_database_outage_logging_ids_only(
    session_factory, workspace, council, clock, timeline, caplog
) -> None:
    _, p0, _, _ = council
    database = FlakyDatabase(session_factory)
    sender = slow_sender(database, workspace, clock)
    warm_up(session_factory, sender, timeline, [p0])
    queue(session_factory, timeline.now(), p0, "k:1")
    queue(session_factory, timeline.now(), p0, "k:2")
    sender.on_sent = lambda session, row, at: setattr(database, "down", True)  # gone after k:1 is settled
    runner = DeliveryRunner([sender], clock=timeline.now, database_retry_seconds=2.0)
    k2 = rows(session_factory)["k:2"].id

    with caplog.at_level(logging.DEBUG, logger="bot.delivery"):
        assert runner.run_once(sender) == 2.0
        assert runner.run_once(sender) == 2.0, "still down: the loop keeps trying"
        assert states(session_factory)["k:2"] == "sending"
        sender.on_sent = None
        database.down = False
        runner.run_once(sender)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        f"outbox normal: database unavailable (ConnectionError); notification ids held until it answers: [{k2}]"
    ], "one error for the outage, however many passes it lasts"
    assert SECRET_TEXT not in caplog.text and "SELECT" not in caplog.text and "message k:" not in caplog.text
    assert f"gave back 1 notification(s) from an interrupted batch: [{k2}]" in caplog.text
    assert received(workspace, "person0@council.example") == [f"message warm:{p0}", "message k:1", "message k:2"]
    assert states(session_factory)["k:2"] == "sent"


# --- D. the local workspace's fault mix --------------------------------------------------------------


def test_the_fault_mix_is_seeded_and_its_429s_carry_retry_after(workspace, clock) -> None:
    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan(0.0, "500", 0)
        plan.set(0.2, "mix", seed=seed)
        return [plan.due() for _ in range(2000)]

    first = draws(7)
    assert first == draws(7) and first != draws(8)
    faults = Counter(kind for kind in first if kind is not None)
    assert set(faults) == set(MIX_KINDS)
    assert 0.17 < sum(faults.values()) / len(first) < 0.23

    alice = workspace.add_user("alice@council.example", "Alice")
    web = WebClient(token=TOKEN, base_url=workspace.base_url, retry_handlers=[])
    workspace.inject_faults(0.0, retry_after=3)
    workspace.fail_next(1, kind="429")
    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel=alice, text="x")
    response = caught.value.response
    assert (response.status_code, response["error"], response.headers["Retry-After"]) == (429, "ratelimited", "3")
    clock.advance(3)
    web.chat_postMessage(channel=alice, text="y")
    log = workspace.call_log
    assert [(r.method, r.status, r.retry_after, r.fault) for r in log] == [
        ("chat.postMessage", 429, 3, "429"), ("chat.postMessage", 200, None, None),
    ]
    assert log[1].at - log[0].at == 3.0
    assert [w.ratio for w in retry_waits(log)] == [1.0]


# --- E. a fan-out through the 20% mix ---------------------------------------------------------------


@pytest.fixture
def busy_workspace(clock: FakeClock) -> Iterator[LocalWorkspace]:
    limits = {"channel_rate_per_sec": 1.0, "channel_burst": 5}
    with running_workspace(clock=clock, timeout_hold_seconds=0.5, landing_delay_seconds=LANDING, **limits) as ws:
        yield ws


#: Enough messages for every kind of fault to occur several times (the assertions below check they did).
FAN_OUT = 160


def test_a_fan_out_through_a_20_percent_fault_mix_delivers_everything_once(
    session_factory, busy_workspace, clock, timeline
) -> None:
    workspace = busy_workspace
    people = people_council(session_factory, count=30)[1:]
    add_to_workspace(session_factory, workspace)
    for n in range(FAN_OUT):
        queue(session_factory, timeline.now(), people[n % len(people)], f"fan:{n:03d}")
    sender = slow_sender(session_factory, workspace, clock, latency=0.05, rng=random.Random(5))
    workspace.inject_faults(0.2, kind="mix", seed=7, retry_after=2)

    deliver_all(session_factory, sender, timeline)
    clock.advance(60)  # anything still in flight has landed

    assert set(states(session_factory).values()) == {"sent"}
    copies = delivered_keys(workspace)
    assert sorted(copies) == [f"fan:{n:03d}" for n in range(FAN_OUT)], "every message delivered"
    log = workspace.call_log
    unknowable = {
        r.params["metadata"]["event_payload"]["key"]
        for r in log
        if r.method == "chat.postMessage" and r.fault == "timeout_after_store"
    }
    duplicates = sorted(key for key, count in copies.items() if count > 1)
    assert set(duplicates) <= unknowable, "a duplicate only ever comes from a post whose outcome was unknowable"
    assert duplicates == [], "here every late-landing post lands before its retry looks for it"
    assert early_retries(workspace) == []
    assert len(retry_waits(log)) >= 10 and len(unknowable) >= 5, "the mix did rate limit and time out"
    waits = [r.waited for r in retries_after_timeouts(log) if r.waited is not None]
    assert waits and min(waits) >= TIMEOUT + TIMEOUT + MARGIN - 1e-6
