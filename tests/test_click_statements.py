"""How much database work one "Mark audit complete" click does: before Slack is answered (its receipt alone,
bot/web.py) and after (bot/delivery/clicks.py: who is asking, the completion, the message's mentions), pinned by
counting the SQL statements and transactions it sends, so that a joined-load tree or a per-person lookup cannot
creep back in, nor anything but the receipt onto the answer's path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.ids import ActionId
from store.models import Allocation, AllocationState, Person
from tests.simulation import Simulation
from tests.test_clicks import clicked_and_held
from tests.test_followups import mark_complete_button, state_of
from tests.test_scenario_exemptions import allocate_december, email_of

#: Before the answer: the receipt, in autocommit.
ANSWER_STATEMENTS = 1
#: Then the listener: the clicker with their roles; the allocation (locked) with the people its message names; the
#: audit log entry; the allocation's new state; its pending requests (to withdraw); the receipt cleared in the same
#: transaction. BEGIN on SQLite is not counted.
CLICK_STATEMENTS = ANSWER_STATEMENTS + 6
#: Connections checked out: the receipt's, and the unit of work's.
CLICK_CHECKOUTS = 2
#: Transactions (BEGIN ... COMMIT): the unit of work's; the receipt is inserted in autocommit, one round trip.
CLICK_TRANSACTIONS = 1


@contextmanager
def counting(sim: Simulation) -> Iterator[dict[str, list[Any]]]:
    """The statements sent and the connections checked out while the block runs."""
    engine = sim.sessions.kw["bind"]
    seen: dict[str, list[Any]] = {"statements": [], "checkouts": [], "transactions": []}

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if not sql.lstrip().upper().startswith("BEGIN"):
            seen["statements"].append(sql.split("\n")[0])

    def checkout(*args: Any) -> None:
        seen["checkouts"].append(args[0])

    def begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            seen["transactions"].append(conn)

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "begin", begin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "begin", begin)


def test_a_click_is_answered_after_one_statement_and_completes_the_audit_in_one_transaction(
    sim: Simulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = allocate_december(sim)[:2]
    warm = mark_complete_button(sim, second.id)
    sim.workspace.click(email_of(sim, second.auditor_id), warm, ActionId.MARK_COMPLETE)  # first use of the templates
    auditor = email_of(sim, first.auditor_id)
    message = mark_complete_button(sim, first.id)
    lane, followups = sim.runtime.clicks, sim.runtime.followups
    assert lane is not None and followups is not None

    with counting(sim) as seen:  # answered 200, the listener handed to the lane, not run before the answer
        held = clicked_and_held(sim, monkeypatch, lambda: sim.workspace.click(auditor, message, ActionId.MARK_COMPLETE))
        answered, sizes = list(seen["statements"]), {name: len(items) for name, items in seen.items()}
        assert state_of(sim, first.id) == AllocationState.ALLOCATED, "nothing was decided before the answer"
        for name, size in sizes.items():  # not the check's own query
            del seen[name][size:]
        lane.take(*held)
        assert followups.wait_idle(10)

    assert len(answered) == ANSWER_STATEMENTS and answered[0].startswith("INSERT INTO request_receipts"), answered
    assert len(seen["statements"]) <= CLICK_STATEMENTS, "\n".join(seen["statements"])
    assert len(seen["checkouts"]) <= CLICK_CHECKOUTS, seen["statements"]
    assert len(seen["transactions"]) == CLICK_TRANSACTIONS, "the receipt costs no BEGIN and COMMIT of its own"
    with sim.sessions() as session:
        assert session.scalar(select(Allocation.state).where(Allocation.id == first.id)) == AllocationState.COMPLETED
        slack_id = session.scalar(select(Person.slack_user_id).where(Person.id == first.auditor_id))
    replaced = next(m for m in sim.workspace.messages(channel=message["channel"]) if m["ts"] == message["ts"])
    assert f"<@{slack_id}>" in json.dumps(replaced["blocks"]), "who marked it complete is a mention, as before"


def test_a_refused_click_costs_no_more(sim: Simulation) -> None:
    first, second = allocate_december(sim)[:2]
    stranger = email_of(sim, second.auditor_id)
    message = mark_complete_button(sim, first.id)

    with counting(sim) as seen:
        sim.workspace.click(stranger, message, ActionId.MARK_COMPLETE)

    # the receipt, the clicker, the allocation, the refusal's log entry, the receipt cleared with it
    assert len(seen["statements"]) <= 5, seen["statements"]
    assert len(seen["checkouts"]) <= CLICK_CHECKOUTS and len(seen["transactions"]) == CLICK_TRANSACTIONS
    with sim.sessions() as session:
        assert session.scalar(select(Allocation.state).where(Allocation.id == first.id)) == AllocationState.ALLOCATED
