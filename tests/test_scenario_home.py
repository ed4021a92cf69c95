"""The App Home tab (issue 17) through the real app and the local workspace: what is waiting for a
person, with the same buttons as the messages that asked, clicked from Home; republished when their
work changes; within Block Kit's 100 blocks; nothing of other people's cases; ``/audit mine``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from bot.ids import ActionId
from bot.services.replies.lifecycle import finalise
from store.meetings import AnswerKind, MeetingAnswer
from store.models import AlertRecipient, Allocation, ExemptionRequest, Person, RequestKind, RequestState, SafeguardingAlert
from store.records import ActionStatus, AuditAction, AuditRecord
from tests.recording import record_audit
from tests.simulation import Simulation
from tests.test_scenario_alerts import raise_concern, urgent
from tests.test_scenario_exemptions import AMY, D, allocate_december, ask, deliver, email_of, with_button
from tests.test_scenario_meetings import propose

QUINN = "quinn.qa@council.example"


def home(sim: Simulation, email: str) -> dict[str, Any]:
    view = sim.workspace.home(email)
    assert view is not None, f"{email} has no Home published"
    return view


def opened(sim: Simulation, email: str) -> dict[str, Any]:
    answer = sim.workspace.open_home(email)
    assert answer["status"] == 200
    return home(sim, email)


def words(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def buttons(view: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["action_id"], e["value"]) for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]}


def republish(sim: Simulation) -> int:
    """What the publisher thread does when the bot runs in the background."""
    assert sim.runtime.homes is not None
    return sim.runtime.homes.flush()


def test_a_team_manager_sees_a_concern_a_sign_off_and_a_meeting_and_acts_on_each_from_home(sim: Simulation) -> None:
    allocations = allocate_december(sim)
    with sim.sessions() as session:
        rows = [session.get_one(Allocation, a.id) for a in allocations]
        first = rows[0]
        tm = first.case.team_manager
        assert tm is not None and first.case.allocated_worker is not None
        tm_email, worker, reference = tm.email, first.case.allocated_worker.email, first.case.reference
        auditor = first.auditor.email
        worker_id = first.case.allocated_worker.id

    # A reflection meeting proposed to the team manager (the auditor's times, one round).
    sim.at(D(2026, 12, 1), 10)
    propose(sim, auditor, with_button(sim, auditor, ActionId.ARRANGE_MEETING), [("2026-12-14", "10:00"), ("2026-12-15", "14:00")])
    sim.step(sim.clock.now)

    # A done action on a final audit of the team manager's case.
    sim.at(D(2026, 12, 10), 10)
    actions = {"action_1_what": "Action 1: update the plan", "action_1_owner": str(worker_id), "action_1_due": "2027-01-15"}
    answer = record_audit(sim, auditor, with_button(sim, auditor, ActionId.RECORD_AUDIT), actions=actions)
    assert answer["body"] == {"response_action": "clear"}, answer["body"]
    sim.at(D(2026, 12, 10), 11)
    with sim.sessions() as session, session.begin():
        record = session.scalars(select(AuditRecord)).one()
        finalise(session, record, sim.runtime.settings, sim.calendar, now=sim.clock.now)
        [action] = record.actions
        action.status, action.done_at, action.done_note = ActionStatus.DONE, sim.clock.now, "Plan updated at the review."
        action_id = action.id

    # A concern about the case: the team manager leads it and has not acknowledged it.
    sim.at(D(2026, 12, 10), 12)
    raise_concern(sim, auditor, reference)
    urgent(sim)
    with sim.sessions() as session:
        alert_id = session.scalars(select(SafeguardingAlert.id)).one()

    view = opened(sim, tm_email)
    text = words(view)
    assert "Safeguarding concern to acknowledge" in text and "Action done: sign it off" in text
    assert "Reflection meeting: choose a time" in text and reference in text
    assert (ActionId.ACKNOWLEDGE_ALERT, str(alert_id)) in buttons(view)
    assert (ActionId.ACTION_SIGN_OFF, str(action_id)) in buttons(view)
    times = [v for a, v in buttons(view) if a == ActionId.MEETING_TIME]
    assert len(times) == 2, "one button per proposed time, as on the message"
    assert NOTE_WORDS not in text, "never the concern's note"
    with sim.sessions() as session:
        assert session.scalars(select(Person.home_opened_at).where(Person.email == tm_email)).one() is not None

    # Acknowledge from Home: the same handler as the message's button; Home republished without it.
    sim.clock.now += dt.timedelta(minutes=5)
    click = sim.workspace.click_view(tm_email, view, ActionId.ACKNOWLEDGE_ALERT, value=str(alert_id))
    assert click["status"] == 200
    with sim.sessions() as session:
        row = session.scalars(select(AlertRecipient).join(Person).where(Person.email == tm_email,
                                                                        AlertRecipient.alert_id == alert_id)).one()
        assert row.acknowledged_at is not None
    assert republish(sim) == 1
    view = home(sim, tm_email)
    assert (ActionId.ACKNOWLEDGE_ALERT, str(alert_id)) not in buttons(view)
    assert (ActionId.CORRECTIVE_ACTION, str(alert_id)) in buttons(view), "now the corrective action is waiting"
    assert "Safeguarding concern to acknowledge" not in words(view)

    # Sign off from Home; a second click before the Home is republished (a double click) is
    # answered at the top of the republished Home, as the message's button answers it ephemerally.
    sim.workspace.click_view(tm_email, view, ActionId.ACTION_SIGN_OFF, value=str(action_id))
    with sim.sessions() as session:
        assert session.get_one(AuditAction, action_id).status == ActionStatus.SIGNED_OFF
    sim.clock.now += dt.timedelta(seconds=2)
    sim.workspace.click_view(tm_email, view, ActionId.ACTION_SIGN_OFF, value=str(action_id))
    republish(sim)
    view = home(sim, tm_email)
    assert "Action done: sign it off" not in words(view)
    notice = next(b for b in view["blocks"] if b.get("block_id") == "home_notice")["text"]["text"]
    assert notice.startswith("Nothing was changed: for Action 1: update the plan") and "already signed off by" in notice

    # Choose a meeting time from Home.
    chosen = sorted(times)[0]
    sim.workspace.click_view(tm_email, view, ActionId.MEETING_TIME, value=chosen)
    with sim.sessions() as session:
        [answer_row] = session.scalars(select(MeetingAnswer)).all()
        assert (answer_row.kind, answer_row.proposal_id) == (AnswerKind.ACCEPTED, int(chosen))
        assert session.get_one(Person, answer_row.person_id).email == tm_email
    republish(sim)
    assert "Reflection meeting: choose a time" not in words(home(sim, tm_email))

    assert "home_notice" not in words(home(sim, tm_email)), "a notice is shown once"
    assert worker  # the worker's Home was never opened: nothing published for them
    assert sim.workspace.home(worker) is None


NOTE_WORDS = "Home visit today"


def test_an_approver_approves_a_pending_exemption_from_home(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)
    ask(sim, first, "exemption", "I managed this family until May.")
    deliver(sim)
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        request_id, reference = request.id, request.allocation.case.reference
    view = opened(sim, AMY)
    assert "Exemption request to decide" in words(view) and reference in words(view)
    assert {(ActionId.APPROVE_EXEMPTION, str(request_id)), (ActionId.DECLINE_EXEMPTION, str(request_id))} <= buttons(view)

    sim.at(D(2026, 12, 3), 11)
    assert sim.workspace.click_view(AMY, view, ActionId.APPROVE_EXEMPTION, value=str(request_id))["status"] == 200
    with sim.sessions() as session:
        request = session.get_one(ExemptionRequest, request_id)
        assert request.state == RequestState.APPROVED and request.decided_by is not None and request.decided_by.email == AMY
    deliver(sim)  # the outcome reaches Amy's DM too: her Home is asked for again
    republish(sim)
    after = home(sim, AMY)
    assert "Exemption request to decide" not in words(after) and "Nothing is waiting for you" in words(after)
    edited = next(m for m in sim.workspace.messages(user_email=AMY) if m["text"].startswith("Exemption approved: "))
    assert edited["edited"], "the same handler edited the message that asked"


def pending_extensions(sim: Simulation, allocations: list[Allocation], approver: str, n: int) -> None:
    """``n`` extension requests pending with ``approver``, over ``allocations`` in turn, a minute apart."""
    with sim.sessions() as session, session.begin():
        to = session.scalars(select(Person).where(Person.email == approver)).one()
        for i in range(n):
            allocation = allocations[i % len(allocations)]
            session.add(ExemptionRequest(
                allocation_id=allocation.id, auditor_id=allocation.auditor_id, kind=RequestKind.EXTENSION, reason="Leave.",
                due_date=allocation.due_date, new_due_date=D(2027, 1, 29), state=RequestState.PENDING, approver_id=to.id,
                routed_to_id=to.id, created_at=sim.clock.now + dt.timedelta(minutes=i)))


def test_a_hundred_and_fifty_waiting_items_fit_in_one_hundred_blocks_with_the_rest_counted(sim: Simulation) -> None:
    pending_extensions(sim, allocate_december(sim), AMY, 150)
    view = opened(sim, AMY)
    assert len(view["blocks"]) <= 100
    shown = [a for a, _ in buttons(view) if a == ActionId.APPROVE_EXEMPTION]
    assert len(shown) == 20 and "…and 130 more" in words(view)
    with sim.sessions() as session:
        newest = session.scalars(select(ExemptionRequest.id).order_by(ExemptionRequest.created_at.desc())).first()
    assert (ActionId.APPROVE_EXEMPTION, str(newest)) in buttons(view), "newest first"

    mine = sim.workspace.slash_command(AMY, "/audit", "mine")["body"]
    assert len(mine["blocks"]) <= 50 and "…and 140 more" in json.dumps(mine, ensure_ascii=False)


def test_nothing_waiting_is_said_plainly_and_a_stranger_sees_nothing_of_anyones_cases(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)
    ask(sim, first, "exemption", "I managed this family until May.")
    raise_concern(sim, email_of(sim, first.auditor_id), reference_of(sim, first.id))
    urgent(sim)
    deliver(sim)

    quiet = opened(sim, QUINN)
    assert "Nothing is waiting for you" in words(quiet) and "You have no audits to do." in words(quiet)
    assert "CMS-" not in words(quiet)
    assert buttons(quiet) == {(ActionId.PREVIEW_ALLOCATION, "2026-12-01"), (ActionId.MONTH_REPORT, "2026-12-01")}, (
        "Quinn is in the QA team: only the month at a glance's buttons")

    sim.workspace.add_user("visitor@elsewhere.example", "A Visitor")
    stranger = opened(sim, "visitor@elsewhere.example")
    assert "not in the council's staff list" in words(stranger)
    assert "CMS-" not in words(stranger) and not buttons(stranger)


def reference_of(sim: Simulation, allocation_id: int) -> str:
    with sim.sessions() as session:
        return session.get_one(Allocation, allocation_id).case.reference


def test_a_delivery_republishes_the_home_of_someone_who_opened_it_and_audit_mine_lists_the_concern(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    with sim.sessions() as session:
        allocation = session.get_one(Allocation, first.id)
        assert allocation.case.team_manager is not None
        tm, reference, auditor = allocation.case.team_manager.email, allocation.case.reference, allocation.auditor.email
    before = opened(sim, tm)
    assert "Safeguarding concern" not in words(before)

    sim.at(D(2026, 12, 2), 10)
    raise_concern(sim, auditor, reference)
    assert home(sim, tm) == before, "nothing is published inside the request or the transaction"
    urgent(sim)
    assert sim.runtime.homes is not None and sim.workspace.user_id(tm) in sim.runtime.homes.pending()
    assert republish(sim) >= 1
    assert "Safeguarding concern to acknowledge" in words(home(sim, tm))

    mine = sim.workspace.slash_command(tm, "/audit", "mine")["body"]
    waiting = next(b for b in mine["blocks"] if b.get("block_id") == "waiting")
    assert "Safeguarding concern to acknowledge" in waiting["text"]["text"] and reference in waiting["text"]["text"]
    assert NOTE_WORDS not in json.dumps(mine)


def test_a_click_from_home_that_fails_is_told_on_the_republished_home(sim: Simulation) -> None:
    allocate_december(sim)
    opened(sim, QUINN)
    broken = {"type": "home", "blocks": [{"type": "actions", "block_id": "home_item:alert_acknowledge:1", "elements": [
        {"type": "button", "action_id": "alert_acknowledge", "text": {"type": "plain_text", "text": "Acknowledge"},
         "value": "not-an-id"}]}]}
    sim.runtime.client.views_publish(user_id=sim.workspace.user_id(QUINN), view=broken)
    answer = sim.workspace.click_view(QUINN, home(sim, QUINN), ActionId.ACKNOWLEDGE_ALERT)
    assert answer["status"] == 200
    assert republish(sim) == 1
    view = home(sim, QUINN)
    notice = next(b for b in view["blocks"] if b.get("block_id") == "home_notice")["text"]["text"]
    assert notice and "Nothing is waiting for you" in words(view), "the real Home is back, with what went wrong on top"
