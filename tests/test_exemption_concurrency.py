"""Exemption requests under concurrency (several processes on PostgreSQL; SQLite serialises
writers with BEGIN IMMEDIATE): one pending request per auditor, and no deadlock between
deciding a request and completing its audit."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from bot.services.audits.completion import complete_allocation
from bot.services.authz import RefusalCode
from bot.services.exemptions import decisions as decisions
from bot.services.exemptions import requests as ex
from store.models import Allocation, AllocationState, ExemptionRequest, Person, RequestKind, RequestState
from tests.simulation import Simulation
from tests.test_scenario_exemptions import AMY, D, allocate_december, ask, deliver


def test_two_simultaneous_submissions_make_one_pending_request(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    now = sim.at(D(2026, 12, 2), 10)
    form = ex.RequestForm(RequestKind.EXEMPTION, None, "Conflict of interest")
    outcomes: dict[str, Any] = {}

    def submit(name: str, hold: threading.Event | None = None, release: threading.Event | None = None) -> None:
        try:
            with sim.sessions() as session, session.begin():
                person = session.get_one(Person, first.auditor_id)
                outcomes[name] = ex.submit_request(
                    session, first.id, person, form, sim.runtime.settings, sim.calendar, now=now, actor_ref="U1"
                )
                if hold is not None and release is not None:
                    hold.set()  # submitted, not yet committed
                    release.wait(10)
        except Exception as exc:  # noqa: BLE001 - asserted below
            outcomes[name] = exc

    submitted, commit = threading.Event(), threading.Event()
    one = threading.Thread(target=submit, args=("one", submitted, commit))
    one.start()
    assert submitted.wait(10)
    two = threading.Thread(target=submit, args=("two",))
    two.start()
    two.join(1.0)  # the second waits for the first's lock on the allocation (or reads before it commits)
    commit.set()
    one.join(30)
    two.join(30)

    assert outcomes["one"].decision.allowed and outcomes["one"].request is not None
    assert outcomes["two"].decision.code == RefusalCode.REQUEST_PENDING
    with sim.sessions() as session:
        pending = session.scalars(select(ExemptionRequest).where(ExemptionRequest.state == RequestState.PENDING)).all()
        assert len(pending) == 1


def test_approving_while_the_audit_is_completed_does_not_deadlock(
    sim: Simulation, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)
    assert not ask(sim, first, "extension", "Leave", "2027-01-08")["body"]
    deliver(sim)
    with sim.sessions() as session:
        request_id = session.scalars(select(ExemptionRequest.id)).one()
    now = sim.clock.now

    # The decision pauses just after it has loaded the allocation; completion starts meanwhile.
    locked, go = threading.Event(), threading.Event()
    real_load = decisions.load_allocation

    def slow_load(session: Any, allocation_id: int, *args: Any, **kwargs: Any) -> Any:
        row = real_load(session, allocation_id, *args, **kwargs)
        if threading.current_thread().name == "decide":
            locked.set()
            go.wait(10)
        return row

    monkeypatch.setattr(decisions, "load_allocation", slow_load)
    errors: dict[str, str] = {}

    def decide() -> None:
        try:
            with sim.sessions() as session, session.begin():
                amy = session.scalars(select(Person).where(Person.email == AMY)).one()
                decisions.decide_request(session, request_id, amy, approve=True, comment=None, settings=sim.runtime.settings,
                                  calendar=sim.calendar, now=now, actor_ref="UAMY")
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors["decide"] = f"{type(exc).__name__}: {exc}"[:300]

    def complete() -> None:
        try:
            with sim.sessions() as session, session.begin():
                auditor = session.get_one(Person, first.auditor_id)
                complete_allocation(session, first.id, auditor, now=now, tz=sim.calendar.tz, actor_ref="UX")
        except Exception as exc:  # noqa: BLE001 - asserted below
            errors["complete"] = f"{type(exc).__name__}: {exc}"[:300]

    deciding = threading.Thread(target=decide, name="decide")
    deciding.start()
    assert locked.wait(10)
    completing = threading.Thread(target=complete, name="complete")
    completing.start()
    completing.join(1.0)  # blocked behind the decision (PostgreSQL row lock / SQLite write lock)
    go.set()
    deciding.join(30)
    completing.join(30)

    assert errors == {}
    with sim.sessions() as session:
        request = session.get_one(ExemptionRequest, request_id)
        allocation = session.get_one(Allocation, first.id)
        assert request.state == RequestState.APPROVED, "decided first, so not withdrawn"
        assert (allocation.state, allocation.due_date) == (AllocationState.COMPLETED, D(2027, 1, 8))
