"""A click is answered once its receipt is durable and acted on afterwards (bot/delivery/clicks.py): what the
person sees and the store holds when its listener runs, when the bot stops before it runs, and when it is busy."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import select

from bot.delivery.clicks import ClickLane
from bot.delivery.followups import FollowUps, Scope
from bot.ids import ActionId, Template
from bot.web import SLACK_PATH, Gate, make_wsgi, serve_in_thread
from store.models import Allocation, AllocationState, Notification, Person, RequestReceipt
from store.receipts import ReceiptLapsed, acting_on, first_receipt, pending_receipts, prune_receipts
from tests.simulation import Simulation
from tests.test_followups import BUSY, mark_complete_button, state_of
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
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)
    lane = sim.runtime.clicks
    assert lane is not None and sim.runtime.followups is not None
    clicked = sim.at(dt.date(2026, 12, 2), 10, 0)
    held: list[tuple[float, Any]] = []
    settle, sim.workspace.settle = sim.workspace.settle, None
    with monkeypatch.context() as patched:  # the process stops between the answer and the listener
        patched.setattr(lane, "take", lambda arrived, unit: held.append((arrived, unit)))
        assert sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE)["status"] == 200
    sim.workspace.settle = settle

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
    lane.take(*held[0])
    assert sim.runtime.followups.wait_idle(10)
    assert state_of(sim, first.id) == AllocationState.ALLOCATED, "what the auditor was told stays true"
    assert [m for m in sim.workspace.messages(user_email=auditor) if m["ephemeral"]] == [], "and nothing more is said"


def test_out_of_hours_only_a_recent_unfinished_click_is_told_at_once(sim: Simulation) -> None:
    first, second = allocate_december(sim)[:2]
    evening = sim.at(dt.date(2026, 12, 2), 20, 0)
    received(sim, "block_actions:recent", evening - dt.timedelta(minutes=6), slack_id(sim, first.auditor_id))
    received(sim, "block_actions:old", evening - dt.timedelta(hours=2), slack_id(sim, second.auditor_id))
    received(sim, "block_actions:stranger", evening - dt.timedelta(minutes=6), "UNOBODY")

    sim.step(evening)
    assert len(told_not_done(sim, email_of(sim, first.auditor_id))) == 1
    assert told_not_done(sim, email_of(sim, second.auditor_id)) == [], "not in the evening, about a click two hours old"
    with sim.sessions() as session:
        assert pending_receipts(session) == ["block_actions:old"]
        prune_receipts(session, now=evening + dt.timedelta(days=3))
        session.commit()
        assert pending_receipts(session) == ["block_actions:old"], "pruning keeps a click nobody was told about"

    sim.step(sim.at(dt.date(2026, 12, 3), 9, 0))
    assert len(told_not_done(sim, email_of(sim, second.auditor_id))) == 1
    with sim.sessions() as session:
        assert session.scalar(select(Notification.id).where(Notification.template == Template.CLICK_NOT_DONE,
                                                            Notification.recipient_id.is_(None))) is None  # fmt: skip


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

