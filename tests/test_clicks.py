"""A click is answered once its receipt is durable and acted on afterwards (bot/delivery/clicks.py): what the
person sees and the store holds when its listener runs, when the bot stops before it runs, and when it is busy."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient, signature
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot import web
from bot.delivery.clicks import ClickLane
from bot.delivery.followups import FollowUps, Scope
from bot.ids import ActionId, Template
from bot.web import SLACK_PATH, Gate, make_wsgi, serve_in_thread
from store.models import Allocation, AllocationState, Notification, Person, RequestReceipt
from store.receipts import ReceiptLapsed, acting_on, first_receipt, pending_receipts, prune_receipts
from tests.simulation import Simulation
from tests.support import TOKEN
from tests.test_edge import UNAVAILABLE
from tests.test_followups import BUSY, EXPIRED, mark_complete_button, state_of
from tests.test_scenario_exemptions import allocate_december, email_of, with_button

NOT_DONE = "reached the audit bot, but it stopped before acting on it, so nothing was changed"


def slack_id(sim: Simulation, person_id: int) -> str:
    with sim.sessions() as session:
        found = session.scalar(select(Person.slack_user_id).where(Person.id == person_id))
        assert found is not None
        return found


def received(sim: Simulation, key: str, at: dt.datetime, user: str | None) -> None:
    """A click answered at ``at`` and never acted on."""
    with sim.sessions() as session:
        assert first_receipt(session, key, now=at, pending=True, slack_user_id=user)


def clicked_and_held(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch, click: Callable[[], dict[str, Any]]
) -> tuple[float, Any]:
    """Make ``click`` (answered 200) while the lane holds its listener back, as if the bot stopped between the
    answer and the listener; returns what ``ClickLane.take`` was given, for the test to run later."""
    lane = sim.runtime.clicks
    assert lane is not None
    held: list[tuple[float, Any]] = []
    settle, sim.workspace.settle = sim.workspace.settle, None  # the member does not wait for the held listener
    try:
        with monkeypatch.context() as patched:
            patched.setattr(lane, "take", lambda arrived, unit: held.append((arrived, unit)))
            assert click()["status"] == 200
    finally:
        sim.workspace.settle = settle
    assert len(held) == 1, "answered, and the listener handed to the lane"
    return held[0]


def completed_and_held(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> tuple[Allocation, str, dt.datetime, tuple[float, Any]]:
    """The first auditor clicks "Mark audit complete" at 10:00 on 2 December, its listener held back: the allocation,
    the auditor's email, when they clicked, and the held listener."""
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)
    clicked = sim.at(dt.date(2026, 12, 2), 10, 0)
    held = clicked_and_held(sim, monkeypatch, lambda: sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE))
    return first, auditor, clicked, held


def told_not_done(sim: Simulation, email: str) -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email) if NOT_DONE in m["text"]]


def test_a_click_leaves_no_pending_receipt_once_acted_on(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    message = mark_complete_button(sim, first.id)

    answer = sim.workspace.click(email_of(sim, first.auditor_id), message, ActionId.MARK_COMPLETE)

    assert answer["status"] == 200 and state_of(sim, first.id) == AllocationState.COMPLETED
    with sim.sessions() as session:
        receipts = session.execute(select(RequestReceipt.pending, RequestReceipt.slack_user_id)).all()
    assert receipts == [(False, slack_id(sim, first.auditor_id))]


def test_a_refused_click_and_a_form_click_leave_no_pending_receipt(sim: Simulation) -> None:
    first, second = allocate_december(sim)[:2]
    message = mark_complete_button(sim, first.id)
    sim.workspace.click(email_of(sim, second.auditor_id), message, ActionId.MARK_COMPLETE)  # not theirs: refused
    assert state_of(sim, first.id) == AllocationState.ALLOCATED
    auditor = email_of(sim, first.auditor_id)
    sim.workspace.click(auditor, with_button(sim, auditor, ActionId.REQUEST_EXEMPTION), ActionId.REQUEST_EXEMPTION)
    assert sim.workspace.view_stack(auditor), "the form opened"
    with sim.sessions() as session:
        assert pending_receipts(session) == []
        assert len(session.scalars(select(RequestReceipt.id)).all()) == 2


def test_a_click_the_bot_never_acted_on_is_told_once_that_nothing_was_changed(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, auditor, clicked, held = completed_and_held(sim, monkeypatch)
    lane = sim.runtime.clicks
    assert lane is not None and sim.runtime.followups is not None

    sim.step(clicked + dt.timedelta(minutes=4))
    assert told_not_done(sim, auditor) == [], "a click may still be in hand for five minutes"
    sim.step(clicked + dt.timedelta(minutes=6))
    sim.step(clicked + dt.timedelta(minutes=7))

    assert told_not_done(sim, auditor) == [
        "A button you clicked at 10:00 on Wednesday 2 December reached the audit bot, but it stopped before acting on it,"
        " so nothing was changed. Please click it again."
    ]
    with sim.sessions() as session:
        assert pending_receipts(session) == []
    # the listener turns up after all (another process, a slow database): its commit is refused
    lane.take(*held)
    assert sim.runtime.followups.wait_idle(10)
    assert state_of(sim, first.id) == AllocationState.ALLOCATED, "what the auditor was told stays true"
    assert [m for m in sim.workspace.messages(user_email=auditor) if m["ephemeral"]] == [], "and nothing more is said"


def test_out_of_hours_only_a_recent_unfinished_click_is_told_at_once(sim: Simulation) -> None:
    first, second = allocate_december(sim)[:2]
    evening = sim.at(dt.date(2026, 12, 2), 20, 0)
    received(sim, "block_actions:recent", evening - dt.timedelta(minutes=6), slack_id(sim, first.auditor_id))
    received(sim, "block_actions:old", evening - dt.timedelta(hours=2), slack_id(sim, second.auditor_id))
    newcomer = sim.workspace.add_user("new.starter@council.example", "New Starter")  # in Slack; not yet in the directory
    received(sim, "block_actions:newcomer", evening - dt.timedelta(minutes=6), newcomer)

    sim.step(evening)
    assert len(told_not_done(sim, email_of(sim, first.auditor_id))) == 1
    assert len(told_not_done(sim, "new.starter@council.example")) == 1, "told in their DM, by Slack user id"
    assert told_not_done(sim, email_of(sim, second.auditor_id)) == [], "not in the evening, about a click two hours old"
    with sim.sessions() as session:
        assert pending_receipts(session) == ["block_actions:old"]
        prune_receipts(session, now=evening + dt.timedelta(days=3))
        session.commit()
        assert pending_receipts(session) == ["block_actions:old"], "pruning keeps a click nobody was told about"

    sim.step(sim.at(dt.date(2026, 12, 3), 9, 0))
    assert len(told_not_done(sim, email_of(sim, second.auditor_id))) == 1
    with sim.sessions() as session:
        told = session.scalars(select(Notification.template).where(Notification.template == Template.CLICK_NOT_DONE)).all()
    assert len(told) == 3, "each person once"


def test_a_commit_after_the_click_was_handed_over_is_refused(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    now = sim.clock.now
    received(sim, "block_actions:late", now - dt.timedelta(minutes=10), None)
    sim.step(now)  # handed over: nobody to tell
    with pytest.raises(ReceiptLapsed), acting_on("block_actions:late"), sim.sessions() as session, session.begin():
        session.get(Allocation, first.id).state = AllocationState.COMPLETED  # type: ignore[union-attr]
    assert state_of(sim, first.id) == AllocationState.ALLOCATED


def test_a_busy_lane_answers_a_click_busy_at_once_and_records_nothing(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    message = mark_complete_button(sim, first.id)
    followups = sim.runtime.followups
    assert followups is not None
    secret = sim.runtime.settings.slack_signing_secret
    assert secret is not None
    full = ClickLane(followups, threads=0)  # takes nothing
    wsgi = make_wsgi(sim.runtime.app, sim.sessions, signing_secret=secret.get_secret_value(), followups=followups,
                     gate=Gate(), clicks=full, clock=sim.clock)
    server = serve_in_thread(wsgi)
    before, sim.workspace.bot_endpoint = sim.workspace.bot_endpoint, server.url + SLACK_PATH
    try:
        answer = sim.workspace.click(email_of(sim, first.auditor_id), message, ActionId.MARK_COMPLETE)
    finally:
        sim.workspace.bot_endpoint = before
        server.stop()

    assert answer["status"] == 200
    assert [m["text"] for m in sim.workspace.messages(user_email=email_of(sim, first.auditor_id)) if m["ephemeral"]] == [BUSY]
    assert state_of(sim, first.id) == AllocationState.ALLOCATED
    with sim.sessions() as session:
        assert session.scalar(select(RequestReceipt.id)) is None, "no receipt: clicking again acts"


def test_a_lane_is_busy_once_its_oldest_click_has_waited_too_long() -> None:
    now = [0.0]
    followups = FollowUps()
    lane = ClickLane(followups, threads=1, max_wait=0.5, clock=lambda: now[0])
    gate = threading.Event()
    ran: list[str] = []

    def unit(name: str) -> Scope:
        gate.wait(5)
        ran.append(name)
        return Scope(0.0)

    lane.start()
    try:
        for name in ("first", "second"):
            followups.reserve()
            lane.take(now[0], lambda name=name: unit(name))  # type: ignore[misc]
        assert not lane.busy()
        now[0] = 0.6
        assert lane.busy(), "the second click has waited 0.6 s behind the first"
        gate.set()
        assert followups.wait_idle(5)
        assert ran == ["first", "second"] and not lane.busy()
    finally:
        gate.set()
        lane.stop()



def test_a_click_no_listener_takes_is_done_and_nobody_is_told_later(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    channel = sim.workspace.add_channel("links")
    button = {"type": "actions", "block_id": "b", "elements": [{"type": "button", "action_id": "not_ours",
                                                                "text": {"type": "plain_text", "text": "Open"}}]}
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(channel=channel, text="x", blocks=[button])
    message = next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])
    clicked = sim.at(dt.date(2026, 12, 2), 10, 0)

    assert sim.workspace.click(auditor, message, "not_ours")["status"] == 200

    with sim.sessions() as session:
        assert pending_receipts(session) == [] and session.scalar(select(RequestReceipt.id)) is not None
    sim.step(clicked + dt.timedelta(minutes=6))
    assert told_not_done(sim, auditor) == []


def test_a_click_whose_signature_is_stale_by_the_time_it_runs_stays_pending_and_is_told(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, auditor, clicked, held = completed_and_held(sim, monkeypatch)
    lane, followups = sim.runtime.clicks, sim.runtime.followups
    assert lane is not None and followups is not None
    with monkeypatch.context() as patched:  # by the time its thread runs it, Bolt finds the signature too old
        patched.setattr(signature.Clock, "now", lambda self: time.time() + 400)
        lane.take(*held)
        assert followups.wait_idle(10)

    assert state_of(sim, first.id) == AllocationState.ALLOCATED
    with sim.sessions() as session:
        assert len(pending_receipts(session)) == 1, "not cleared: nothing was done"
    sim.step(clicked + dt.timedelta(minutes=6))
    assert len(told_not_done(sim, auditor)) == 1


def test_a_form_click_that_waited_for_a_thread_counts_its_trigger_from_the_click(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    lane, followups = sim.runtime.clicks, sim.runtime.followups
    assert lane is not None and followups is not None
    form_button = with_button(sim, auditor, ActionId.REQUEST_EXEMPTION)
    held = clicked_and_held(sim, monkeypatch, lambda: sim.workspace.click(auditor, form_button, ActionId.REQUEST_EXEMPTION))
    with monkeypatch.context() as patched:  # three seconds after the click, its listener gets a thread
        patched.setattr(followups, "trigger_deadline", 2.5)  # as outside the simulation (Slack's 3 s, less a margin)
        patched.setattr(followups, "clock", lambda: time.monotonic() + 3)
        lane.take(*held)
        assert followups.wait_idle(10)

    assert sim.workspace.view_stack(auditor) == [], "its trigger had expired: no form"
    said = [m["text"] for m in sim.workspace.messages(user_email=auditor) if m["ephemeral"]]
    assert said == [EXPIRED]


def test_a_pool_timeout_when_a_click_arrives_is_answered_with_words(sim: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)

    def no_connection(*args: Any, **kwargs: Any) -> bool:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    monkeypatch.setattr(web, "first_receipt", no_connection)
    answer = sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE)

    assert answer["status"] == 200
    assert [m["text"] for m in sim.workspace.messages(user_email=auditor) if m["ephemeral"]] == [UNAVAILABLE]
    assert state_of(sim, first.id) == AllocationState.ALLOCATED


def test_only_a_real_commit_clears_the_receipt(sim: Simulation) -> None:
    now = sim.clock.now
    received(sim, "block_actions:nested", now, None)
    with acting_on("block_actions:nested"):
        with sim.sessions() as session:
            session.begin()
            with session.begin_nested():
                pass  # a savepoint released: not the commit
            session.rollback()  # the transaction is rolled back after all
        with sim.sessions() as session:
            assert pending_receipts(session) == ["block_actions:nested"]
        with sim.sessions() as session, session.begin():
            session.execute(select(1))  # the unit's real commit
    with sim.sessions() as session:
        assert pending_receipts(session) == []


def test_on_a_bank_holiday_an_old_unfinished_click_waits_for_the_next_working_day(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    christmas = sim.at(dt.date(2026, 12, 25), 10, 0)  # a Friday, and a bank holiday: out of working hours all day
    received(sim, "block_actions:christmas", christmas - dt.timedelta(hours=2), slack_id(sim, first.auditor_id))

    sim.step(christmas)
    assert told_not_done(sim, email_of(sim, first.auditor_id)) == []

    sim.step(sim.at(sim.calendar.next_working_day(dt.date(2026, 12, 25)), 9, 0))  # Tuesday 29th: Boxing Day moves to Monday
    assert len(told_not_done(sim, email_of(sim, first.auditor_id))) == 1
