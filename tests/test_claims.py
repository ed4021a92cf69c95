"""The claim rules of the outbox: which rows are due, who owns a claim, and what a sender whose
lease ran out may still change (nothing). Store-level, on SQLite and PostgreSQL, plus the
takeover race end to end through two real senders and the local workspace."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.claims import Lane, claim_due, mark_cancelled, mark_failed, mark_sent, release
from bot.delivery.sender import BULK_LANE, URGENT_LANE
from store.models import Notification, NotificationState, Person, Priority
from tests.support import FakeClock, people_council, running_workspace
from tests.test_outbox import LEASE, make_sender, queue, received

LANE = Lane("test", 10, 20)


@pytest.fixture
def person(session_factory: sessionmaker[Session]) -> int:
    return people_council(session_factory, count=1)[1]


def row(sessions: sessionmaker[Session], key: str) -> Notification:
    with sessions() as session:
        found = session.scalar(select(Notification).where(Notification.idempotency_key == key))
        assert found is not None
        session.expunge(found)
        return found


def claim(
    sessions: sessionmaker[Session], now: dt.datetime, worker: str, *, lane: Lane = LANE, limit: int = 10, burst: int = 1
) -> list[int]:
    with sessions() as session, session.begin():
        return claim_due(session, now=now, lane=lane, worker_id=worker, limit=limit, lease=LEASE, burst=burst)


def keys(sessions: sessionmaker[Session], ids: list[int]) -> list[str]:
    with sessions() as session:
        by_id = dict(session.execute(select(Notification.id, Notification.idempotency_key)).all())
    return [by_id[i] for i in ids]


# --- what is due ------------------------------------------------------------------------------


def test_a_pending_row_is_due_from_its_next_attempt_time_exactly(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    assert claim(session_factory, now - dt.timedelta(microseconds=1), "w1") == []
    assert keys(session_factory, claim(session_factory, now, "w1")) == ["k:1"]


def test_a_lane_takes_its_own_priorities_bounds_included(session_factory, person, now) -> None:
    for priority in (9, 10, 15, 20, 21):
        queue(session_factory, now, person, f"p:{priority}", priority=priority)
    assert keys(session_factory, claim(session_factory, now, "w1")) == ["p:10", "p:15", "p:20"]


def test_claims_come_most_urgent_first_then_oldest_and_respect_the_limit(session_factory, person, now) -> None:
    queue(session_factory, now, person, "a", priority=20)
    queue(session_factory, now, person, "b", priority=10)
    queue(session_factory, now, person, "c", priority=20)
    queue(session_factory, now, person, "d", priority=10)
    assert keys(session_factory, claim(session_factory, now, "w1", limit=3)) == ["b", "d", "a"]
    assert keys(session_factory, claim(session_factory, now, "w2", limit=3)) == ["c"]


def test_claims_come_in_the_order_slack_can_take_them_busiest_first_each_ones_in_order(session_factory, now) -> None:
    a, b, c = people_council(session_factory, count=3)[1:4]
    for name, who, count in (("b", b, 2), ("a", a, 8), ("c", c, 7)):  # b's are the oldest
        for n in range(count):
            queue(session_factory, now, who, f"{name}{n + 1}", priority=15)

    first = keys(session_factory, claim(session_factory, now, "w1", limit=14, burst=5))
    second = keys(session_factory, claim(session_factory, now, "w1", limit=2, burst=5))

    assert sorted(first) == sorted(["a1", "a2", "a3", "a4", "a5", "b1", "b2", "c1", "c2", "c3", "c4", "c5", "a6", "c6"]), (
        "each one's first five (Slack's burst), then the busiest ones' next, before anyone's seventh"
    )
    for who in "abc":
        assert [k for k in first if k.startswith(who)] == sorted(k for k in first if k.startswith(who)), "each in order"
    assert first.index("b1") > max(first.index("a1"), first.index("c1")), "the busiest first"
    assert second == ["a7", "a8"], "then what is left: the busiest first"


def test_a_claim_records_who_when_and_counts_an_attempt(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    claim(session_factory, now, "w1")
    claimed = row(session_factory, "k:1")
    assert (claimed.state, claimed.claimed_by, claimed.claimed_at, claimed.attempts) == (
        NotificationState.SENDING, "w1", now, 1,
    )


def test_a_claim_is_taken_over_only_once_its_lease_has_run_out(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    claim(session_factory, now, "dead")
    assert claim(session_factory, now + LEASE, "w2") == [], "exactly at the lease boundary the claim still holds"
    assert keys(session_factory, claim(session_factory, now + LEASE + dt.timedelta(microseconds=1), "w2")) == ["k:1"]
    taken = row(session_factory, "k:1")
    assert (taken.claimed_by, taken.attempts) == ("w2", 2)


def test_sent_and_failed_rows_are_never_claimed_again(session_factory, person, now) -> None:
    queue(session_factory, now, person, "sent", priority=15)
    queue(session_factory, now, person, "failed", priority=15)
    sent_id, failed_id = claim(session_factory, now, "w1")
    with session_factory() as session, session.begin():
        assert mark_sent(session, sent_id, worker_id="w1", now=now, channel="D1", ts="1.1")
        assert mark_failed(session, failed_id, worker_id="w1", error="no")
    assert claim(session_factory, now + dt.timedelta(days=30), "w2") == []


# --- settling a claim ---------------------------------------------------------------------------


def test_the_owner_settles_its_claim(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    [nid] = claim(session_factory, now, "w1")
    with session_factory() as session, session.begin():
        session.execute(update(Notification).values(last_error="earlier failure"))
    later = now + dt.timedelta(seconds=3)
    with session_factory() as session, session.begin():
        assert mark_sent(session, nid, worker_id="w1", now=later, channel="D1", ts="171.5") is True
    sent = row(session_factory, "k:1")
    assert (sent.state, sent.sent_at, sent.slack_channel, sent.slack_ts, sent.last_error) == (
        NotificationState.SENT, later, "D1", "171.5", None,
    )


@pytest.mark.parametrize("settle", ["mark_sent", "release", "mark_failed", "mark_cancelled"])
def test_a_sender_whose_claim_was_taken_over_changes_nothing(session_factory, person, now, settle: str) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    [nid] = claim(session_factory, now, "late")
    claim(session_factory, now + LEASE + dt.timedelta(seconds=1), "new")
    before = row(session_factory, "k:1")

    with session_factory() as session, session.begin():
        if settle == "mark_sent":
            result = mark_sent(session, nid, worker_id="late", now=now, channel="D9", ts="9.9")
        elif settle == "release":
            result = release(session, nid, worker_id="late", retry_at=now, error="late error", count_attempt=False)
        elif settle == "mark_cancelled":
            result = mark_cancelled(session, nid, worker_id="late", reason="late reason")
        else:
            result = mark_failed(session, nid, worker_id="late", error="late error")
    assert result is False
    after = row(session_factory, "k:1")
    fields = ("state", "claimed_by", "claimed_at", "attempts", "next_attempt_at", "slack_ts", "slack_channel", "last_error")
    assert {f: getattr(after, f) for f in fields} == {f: getattr(before, f) for f in fields}


@pytest.mark.parametrize("settle", ["mark_sent", "release", "mark_failed"])
def test_a_row_no_longer_being_sent_cannot_be_settled_even_by_its_last_claimer(session_factory, person, now, settle) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    [nid] = claim(session_factory, now, "w1")
    with session_factory() as session, session.begin():
        assert release(session, nid, worker_id="w1", retry_at=now, error=None, count_attempt=True)
        # claimed_by is cleared on release; put it back to show the state alone decides
        session.execute(update(Notification).values(claimed_by="w1"))
    with session_factory() as session, session.begin():
        if settle == "mark_sent":
            assert mark_sent(session, nid, worker_id="w1", now=now, channel="D1", ts="1.1") is False
        elif settle == "release":
            assert release(session, nid, worker_id="w1", retry_at=now, error="x", count_attempt=False) is False
        else:
            assert mark_failed(session, nid, worker_id="w1", error="x") is False
    assert row(session_factory, "k:1").state == NotificationState.PENDING
    assert row(session_factory, "k:1").attempts == 1


def test_settling_a_row_that_does_not_exist_is_refused(session_factory, person, now) -> None:
    with session_factory() as session, session.begin():
        assert mark_sent(session, 987654, worker_id="w1", now=now, channel="D1", ts="1.1") is False
        assert release(session, 987654, worker_id="w1", retry_at=now, error=None, count_attempt=True) is False
        assert mark_failed(session, 987654, worker_id="w1", error="x") is False


def test_release_hands_the_row_back_and_counts_only_attempts_slack_saw(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    at = now
    for _ in range(3):  # three attempts that reached Slack
        [nid] = claim(session_factory, at, "w1")
        with session_factory() as session, session.begin():
            assert release(session, nid, worker_id="w1", retry_at=at, error="HTTP 500", count_attempt=True) is True
    assert row(session_factory, "k:1").attempts == 3

    [nid] = claim(session_factory, at, "w1")  # a fourth, rate limited before Slack looked at it
    retry_at = at + dt.timedelta(seconds=30)
    with session_factory() as session, session.begin():
        assert release(session, nid, worker_id="w1", retry_at=retry_at, error=None, count_attempt=False) is True
    released = row(session_factory, "k:1")
    assert (released.state, released.attempts, released.claimed_by, released.next_attempt_at, released.last_error) == (
        NotificationState.PENDING, 3, None, retry_at, "HTTP 500",
    ), "an uncounted release gives its attempt back and keeps the last real error"

    [nid] = claim(session_factory, retry_at, "w1")
    with session_factory() as session, session.begin():
        release(session, nid, worker_id="w1", retry_at=retry_at, error="rate limited", count_attempt=True)
    assert (row(session_factory, "k:1").attempts, row(session_factory, "k:1").last_error) == (4, "rate limited")


def test_an_uncounted_release_never_takes_attempts_below_zero(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    [nid] = claim(session_factory, now, "w1")
    with session_factory() as session, session.begin():
        session.execute(update(Notification).values(attempts=0))  # a row claimed by an older version
        assert release(session, nid, worker_id="w1", retry_at=now, error=None, count_attempt=False)
    assert row(session_factory, "k:1").attempts == 0
    [nid] = claim(session_factory, now, "w1")
    with session_factory() as session, session.begin():
        assert release(session, nid, worker_id="w1", retry_at=now, error=None, count_attempt=False)
    assert row(session_factory, "k:1").attempts == 0


def test_failing_or_cancelling_a_row_keeps_the_reason_for_the_operator(session_factory, person, now) -> None:
    queue(session_factory, now, person, "k:1", priority=15)
    queue(session_factory, now, person, "k:2", priority=15)
    first, second = claim(session_factory, now, "w1")
    with session_factory() as session, session.begin():
        assert mark_failed(session, first, worker_id="w1", error="no Slack account uses x") is True
        assert mark_cancelled(session, second, worker_id="w1", reason="the audit is completed") is True
    failed, cancelled = row(session_factory, "k:1"), row(session_factory, "k:2")
    assert (failed.state, failed.last_error) == (NotificationState.FAILED, "no Slack account uses x")
    assert (cancelled.state, cancelled.last_error) == (NotificationState.CANCELLED, "the audit is completed")
    assert claim(session_factory, now + dt.timedelta(days=1), "w2") == [], "neither is tried again"


def test_urgent_and_bulk_lanes_never_take_each_others_rows(session_factory, person, now) -> None:
    queue(session_factory, now, person, "alert", priority=Priority.URGENT)
    queue(session_factory, now, person, "bulk", priority=Priority.BULK)
    assert keys(session_factory, claim(session_factory, now, "w1", lane=URGENT_LANE)) == ["alert"]
    assert keys(session_factory, claim(session_factory, now, "w1", lane=BULK_LANE)) == ["bulk"]


# --- the takeover race, end to end ------------------------------------------------------------


@pytest.fixture
def slow_workspace() -> Iterator:
    with running_workspace(clock=FakeClock(), timeout_hold_seconds=30.0) as ws:
        yield ws


def test_a_late_sender_whose_post_lands_after_a_takeover_sends_nothing_more(
    session_factory, slow_workspace, now
) -> None:
    """Sender A posts, but Slack's answer is held past A's lease; sender B takes the row over,
    finds A's message by its key and settles it. When A's answer finally comes, A's settle is
    refused: the row keeps B's record, and nobody gets the message twice."""
    workspace = slow_workspace
    person_id = people_council(session_factory, count=1)[1]
    with session_factory() as session:
        person = session.get(Person, person_id)
        assert person is not None
        workspace.add_user(person.email, person.display_name)
    delivered: list[tuple[str, str]] = []

    def on_sent(worker: str):
        return lambda session, notification, at: delivered.append((worker, notification.idempotency_key))

    late = make_sender(session_factory, workspace, worker_id="A", timeout=60)
    late.on_sent = on_sent("A")
    late.client.users_lookupByEmail(email=person.email)  # warm the connection
    taker = make_sender(session_factory, workspace, worker_id="B")
    taker.on_sent = on_sent("B")

    queue(session_factory, now, person_id, "k:1")
    late.drain(now)  # resolves the DM channel and sends k:1 normally
    queue(session_factory, now, person_id, "k:2")
    workspace.fail_next(1, kind="timeout_after_store")  # A's post of k:2 lands; its answer is held

    outcome = {}
    a = threading.Thread(target=lambda: outcome.setdefault("A", late.send_due(now)))
    a.start()
    deadline = threading.Event()
    for _ in range(1000):  # until A's post has reached the workspace (bounded)
        if len(received(workspace, person.email)) == 2:
            break
        deadline.wait(0.01)
    assert received(workspace, person.email) == ["message k:1", "message k:2"]

    took_over = taker.send_due(now + LEASE + dt.timedelta(seconds=1))
    assert took_over.sent == 1
    b_record = row(session_factory, "k:2")
    assert (b_record.state, b_record.claimed_by) == (NotificationState.SENT, "B")

    workspace.release_held()
    a.join(timeout=60)
    assert not a.is_alive()

    assert received(workspace, person.email) == ["message k:1", "message k:2"]
    assert [m for m, _ in workspace.calls].count("chat.postMessage") == 2
    final = row(session_factory, "k:2")
    assert (final.state, final.claimed_by, final.slack_ts, final.sent_at) == (
        NotificationState.SENT, "B", b_record.slack_ts, b_record.sent_at,
    )
    assert delivered == [("A", "k:1"), ("B", "k:2")], "only the owner of the claim reports the delivery"


# --- two senders at the same moment (PostgreSQL: row locks; SQLite serialises whole transactions) ---


def test_a_row_being_settled_is_not_taken_over_mid_settle(engine, session_factory, person, now) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: a second sender waits for the whole transaction")
    queue(session_factory, now, person, "k:1", priority=15)
    [nid] = claim(session_factory, now, "slow")
    with session_factory() as settling, settling.begin():
        assert mark_sent(settling, nid, worker_id="slow", now=now, channel="D1", ts="1.1")  # not committed yet
        late = now + LEASE + dt.timedelta(seconds=1)
        assert claim(session_factory, late, "taker") == [], "the row being settled is locked, so it is skipped"
    settled = row(session_factory, "k:1")
    assert (settled.state, settled.claimed_by, settled.slack_ts) == (NotificationState.SENT, "slow", "1.1")


def test_concurrent_claimers_skip_locked_rows_rather_than_wait(engine, session_factory, person, now) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes the write lock at BEGIN: claimers run one after the other")
    for n in range(4):
        queue(session_factory, now, person, f"k:{n}", priority=15)
    with session_factory() as first, first.begin():
        mine = claim_due(first, now=now, lane=LANE, worker_id="w1", limit=2, lease=LEASE)  # locked until commit
        with session_factory() as second, second.begin():
            second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on the lock would fail the test
            theirs = claim_due(second, now=now, lane=LANE, worker_id="w2", limit=4, lease=LEASE)
    assert keys(session_factory, mine) == ["k:0", "k:1"]
    assert keys(session_factory, theirs) == ["k:2", "k:3"]
