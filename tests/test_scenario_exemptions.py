"""Exemptions and extensions end to end: signed clicks and modals against the real app."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from bot.ids import ActionId
from store.models import Allocation, AllocationState, AuditLog, Delegation, ExemptionRequest, RequestState
from tests.recording import record_audit
from tests.simulation import WEEKS, Simulation
from tests.support import TOKEN

D = dt.date
AMY, DAN, DEE, QUINN = ("amy.director@council.example", "dan.director@council.example", "dee.deputy@council.example",
                        "quinn.qa@council.example")


def allocate_december(sim: Simulation) -> list[Allocation]:
    sim.step(sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session:
        return list(session.scalars(select(Allocation).order_by(Allocation.id)))


def email_of(sim: Simulation, person_id: int) -> str:
    from store.models import Person

    with sim.sessions() as session:
        person = session.get(Person, person_id)
        assert person is not None
        return person.email


def with_button(sim: Simulation, email: str, action: ActionId, text: str = "") -> dict[str, Any]:
    for message in reversed(sim.workspace.messages(user_email=email)):
        actions = [e["action_id"] for b in message.get("blocks") or [] for e in b.get("elements", []) if b["type"] == "actions"]
        if action in actions and text in message["text"]:
            return message
    raise AssertionError(f"{email} has no message with {action} and {text!r}")


def form(kind: str | None, reason: str, new_date: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    return {
        "kind": {"kind": {"type": "radio_buttons", "selected_option": {"value": kind} if kind else None}},
        "new_date": {"new_date": {"type": "datepicker", "selected_date": new_date}},
        "reason": {"reason": {"type": "plain_text_input", "value": reason}},
    }


def ask(sim: Simulation, allocation: Allocation, kind: str | None, reason: str, new_date: str | None = None) -> dict[str, Any]:
    email = email_of(sim, allocation.auditor_id)
    sim.workspace.click(email, with_button(sim, email, ActionId.REQUEST_EXEMPTION), ActionId.REQUEST_EXEMPTION)
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == "exemption_request"
    return sim.workspace.submit_view(email, view, form(kind, reason, new_date))


def texts(sim: Simulation, email: str) -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email)]


def deliver(sim: Simulation) -> None:
    sim.step(sim.clock.now)


def test_approved_exemption_is_reallocated_and_everyone_is_told(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    with sim.sessions() as session:
        allocation = session.get(Allocation, first.id)
        assert allocation is not None
        ref, requester = allocation.case.reference, allocation.auditor.display_name
        worker, manager = allocation.case.allocated_worker.email, allocation.case.team_manager.email
    before = {e: len(texts(sim, e)) for e in (x, AMY, QUINN, worker, manager)}

    sim.at(D(2026, 12, 2), 10)
    answer = ask(sim, first, "exemption", "I managed this family until May & I'm conflicted.")
    assert answer["status"] == 200 and not answer["body"]
    deliver(sim)
    ask_message = with_button(sim, AMY, ActionId.APPROVE_EXEMPTION, ref)
    assert ask_message["text"].startswith(f"Exemption request: {ref} from ")
    body = json.dumps(ask_message["blocks"])
    assert "I managed this family until May &amp; I'm conflicted." in body
    assert "Exemptions approved for them in the last 12 months:* 0" in body

    sim.at(D(2026, 12, 3), 11)
    sim.workspace.click(AMY, ask_message, ActionId.APPROVE_EXEMPTION)
    deliver(sim)

    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        allocation = session.get(Allocation, first.id)
        assert allocation is not None
        assert request.state == RequestState.APPROVED and request.decided_by.email == AMY
        assert allocation.state == AllocationState.ALLOCATED and allocation.auditor_id == request.reallocated_to_id
        assert allocation.auditor_id != first.auditor_id
        new_auditor = allocation.auditor.email
        actions = [e.action for e in session.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert actions[-2:] == ["exemption.request", "exemption.approved"]

    edited = next(m for m in sim.workspace.messages(user_email=AMY) if m["ts"] == ask_message["ts"])
    assert edited["edited"] and edited["text"].startswith(f"Exemption approved: {ref} by Amy Director")
    assert all(b["type"] != "actions" for b in edited["blocks"]), "the buttons are gone"
    new = {e: texts(sim, e)[before.get(e, 0):] for e in (x, QUINN, worker, manager)}
    assert new[x] == [
        f"Your exemption request for case {ref} has gone to Amy Director.",
        f"Exemption approved: case {ref}.",
    ]
    assert new[QUINN] == [f"Exemption approved: {ref} ({requester}, decided by Amy Director)."]
    assert [t for t in new[worker] if "reallocated" in t] == [
        next(t for t in texts(sim, worker) if t.startswith("An audit of your case has been reallocated"))
    ]
    assert any(t.startswith("An audit in your team has been reallocated") and ref in t for t in new[manager])
    assert [t for t in texts(sim, new_auditor) if t.startswith("Case reallocated to you")] == [
        next(t for t in texts(sim, new_auditor) if ref in t and t.startswith("Case reallocated"))
    ]


def test_decline_needs_a_comment_and_keeps_the_audit_owed(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    ask(sim, first, "exemption", "Too busy")
    deliver(sim)
    ask_message = with_button(sim, AMY, ActionId.DECLINE_EXEMPTION)

    sim.workspace.click(AMY, ask_message, ActionId.DECLINE_EXEMPTION)
    modal = sim.workspace.view_stack(AMY)[-1]
    empty = sim.workspace.submit_view(AMY, modal, {"comment": {"comment": {"type": "plain_text_input", "value": ""}}})
    assert empty["body"] == {"response_action": "errors", "errors": {"comment": "Please say why, so the auditor knows."}}
    done = sim.workspace.submit_view(
        AMY, modal, {"comment": {"comment": {"type": "plain_text_input", "value": "Please do this one; ask QA for help."}}}
    )
    assert done["status"] == 200 and not done["body"]
    deliver(sim)

    with sim.sessions() as session:
        allocation = session.get(Allocation, first.id)
        assert allocation is not None and allocation.auditor_id == first.auditor_id
        assert allocation.state == AllocationState.ALLOCATED
    assert texts(sim, x)[-1] == f"Exemption declined: case {_ref(sim, first)}."
    outcome = sim.workspace.messages(user_email=x)[-1]["blocks"][0]["text"]["text"]
    assert outcome.endswith(
        "was declined by <@" + sim.workspace.user_id(AMY) + ">: Please do this one; ask QA for help. The audit stays with you "
        "and is still owed; if it is not done by Thursday 31 December 2026 it counts as a non-completion."
    )


def _ref(sim: Simulation, allocation: Allocation) -> str:
    with sim.sessions() as session:
        row = session.get(Allocation, allocation.id)
        assert row is not None
        return row.case.reference


def test_invalid_modal_input_shows_field_errors_and_changes_nothing(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)
    assert ask(sim, first, None, "")["body"] == {
        "response_action": "errors",
        "errors": {"kind": "Choose an exemption or an extension.",
                   "reason": "Say briefly why (not the child's name or case details)."},
    }
    assert ask(sim, first, "extension", "Leave", None)["body"]["errors"] == {"new_date": "Choose the new deadline you need."}
    assert ask(sim, first, "extension", "Leave", "2026-11-30")["body"]["errors"] == {"new_date": "That date is in the past."}
    assert ask(sim, first, "extension", "Leave", "2026-12-31")["body"]["errors"] == {
        "new_date": "Choose a date after the current deadline (31/12/2026)."
    }
    assert ask(sim, first, "extension", "Leave", "2027-01-18")["body"]["errors"] == {
        "new_date": "An extension can be at most 10 working days past the original deadline (31/12/2026), "
        "counting any extension already given: 15/01/2027 at the latest."
    }
    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest)).all() == []


@WEEKS
def test_approved_extension_moves_the_reminder_and_the_overdue_notice(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    sim.at(D(2026, 12, 2), 10)
    assert not ask(sim, first, "extension", "Annual leave", "2027-01-08")["body"]
    deliver(sim)
    sim.workspace.click(AMY, with_button(sim, AMY, ActionId.APPROVE_EXEMPTION), ActionId.APPROVE_EXEMPTION)
    deliver(sim)
    with sim.sessions() as session:
        row = session.get(Allocation, first.id)
        assert row is not None and row.due_date == D(2027, 1, 8)

    sim.run(D(2026, 12, 3), D(2027, 1, 13))
    ref = _ref(sim, first)
    mine = [(day, kind) for day, kind, r in sim.inbox(x) if r == ref and kind in ("reminder", "overdue")]
    # 7 days before 8 Jan is 1 Jan, a bank holiday: the reminder goes the working day before,
    # Thursday 31 Dec, never later. Overdue from Saturday 9 Jan waits for Monday 11 Jan.
    assert mine == [(D(2026, 12, 31), "reminder"), (D(2027, 1, 11), "overdue")]
    assert texts(sim, x)[2] == f"Extension approved: case {ref}."


def test_requests_go_to_the_delegate_in_the_window(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False  # this council lets Amy name her deputy
    first, second = allocate_december(sim)[:2]
    sim.at(D(2026, 12, 1), 15)
    dee = sim.workspace.user_id(DEE)
    answer = sim.workspace.slash_command(AMY, "/audit", f"delegate <@{dee}|dee> 2026-12-02 2026-12-04")
    assert answer["status"] == 200
    assert texts(sim, AMY)[-1] == (  # the fallback text names her; the block mentions her
        "Done: Dee Deputy will decide exemption and extension requests for you from Wednesday 2 December 2026 "
        "to Friday 4 December 2026. They have been told."
    )
    assert sim.workspace.messages(user_email=AMY)[-1]["blocks"][0]["text"]["text"].startswith(f"Done: <@{dee}> will")
    deliver(sim)
    assert texts(sim, DEE) == [
        "Amy Director has named you as their delegate: from Wednesday 2 December 2026 to Friday 4 December 2026 "
        "you will receive and decide their exemption and extension requests."
    ]

    sim.at(D(2026, 12, 3), 10)
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    assert not [t for t in texts(sim, AMY) if t.startswith("Exemption request")]
    sim.workspace.click(DEE, with_button(sim, DEE, ActionId.APPROVE_EXEMPTION), ActionId.APPROVE_EXEMPTION)
    deliver(sim)

    sim.at(D(2026, 12, 7), 10)  # after the window
    ask(sim, second, "exemption", "Conflict of interest")
    deliver(sim)
    assert len([t for t in texts(sim, AMY) if t.startswith("Exemption request")]) == 1
    with sim.sessions() as session:
        rows = session.scalars(select(ExemptionRequest).order_by(ExemptionRequest.id)).all()
        assert [(r.routed_to.email, r.state) for r in rows] == [(DEE, RequestState.APPROVED), (AMY, RequestState.PENDING)]
        assert rows[0].decided_by.email == DEE


def test_by_default_a_delegate_must_hold_an_approver_role(sim: Simulation) -> None:
    """Hull A.4: exemptions "can only be agreed by" the Assistant Director."""
    sim.at(D(2026, 12, 1), 15)
    dee = sim.workspace.user_id(DEE)  # a Head of Service, not an Assistant Director
    sim.workspace.slash_command(AMY, "/audit", f"delegate <@{dee}|dee> 2026-12-02 2026-12-04")
    assert texts(sim, AMY)[-1] == (
        "Nothing was changed. Exemptions can only be agreed by someone who holds an approver role (for example "
        "another Assistant Director), so your delegate must hold one too."
    )
    with sim.sessions() as session:
        assert session.scalars(select(Delegation)).all() == []


def test_silence_resends_after_two_working_days_then_escalates(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)  # Wednesday
    ask(sim, first, "exemption", "Conflict of interest")
    sim.run(D(2026, 12, 2), D(2026, 12, 10))

    amy_asks = [m["text"] for m in sim.workspace.messages(user_email=AMY) if "Exemption request" in m["text"]]
    assert [t.split(":")[0] for t in amy_asks] == ["Exemption request", "Still waiting"]
    dan = [m["text"] for m in sim.workspace.messages(user_email=DAN)]
    assert len(dan) == 1 and dan[0].startswith("Escalated to you: Exemption request for ")
    escalated = json.dumps(sim.workspace.messages(user_email=DAN)[0]["blocks"])
    assert ("Amy Director has not decided it, so it comes to you as the more senior authority: "
            "you may approve or decline it.") in escalated
    received = {(r.email, r.day) for r in sim.received if r.email in (AMY, DAN)}
    assert (AMY, D(2026, 12, 4)) in received and (DAN, D(2026, 12, 8)) in received  # Fri +2, Tue +4 working days
    sim.workspace.click(DAN, with_button(sim, DAN, ActionId.APPROVE_EXEMPTION), ActionId.APPROVE_EXEMPTION)
    deliver(sim)
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        assert (request.state, request.decided_by.email, request.escalated_to.email) == (RequestState.APPROVED, DAN, DAN)


def test_a_stranger_cannot_decide_and_a_double_click_decides_once(sim: Simulation, emails: dict[str, str]) -> None:
    first = allocate_december(sim)[0]
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    message = with_button(sim, AMY, ActionId.APPROVE_EXEMPTION)
    shared = sim.workspace.add_channel("audit-leads")
    client = WebClient(token=TOKEN, base_url=sim.workspace.base_url)
    posted = client.chat_postMessage(channel=shared, text=message["text"], blocks=message["blocks"])
    copy = next(m for m in sim.workspace.messages(channel=shared) if m["ts"] == posted["ts"])
    stranger = emails["Ben Teamlead"]

    sim.workspace.click(stranger, copy, ActionId.APPROVE_EXEMPTION)
    refusal = [m for m in sim.workspace.messages(user_email=stranger) if m["ephemeral"]][-1]
    assert refusal["text"] == "Only the approver this request was sent to (or their delegate) can decide it. Nothing was changed."

    sim.workspace.click(AMY, message, ActionId.APPROVE_EXEMPTION)
    sim.workspace.click(AMY, message, ActionId.APPROVE_EXEMPTION)
    second = [m for m in sim.workspace.messages(user_email=AMY) if m["ephemeral"]][-1]
    assert second["text"].startswith(f"Exemption approved: {_ref(sim, first)} by Amy Director")
    with sim.sessions() as session:
        log = [(e.action, e.outcome) for e in session.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert log.count(("exemption.approved", "ok")) == 1
        assert ("decide_exemption", "refused") in log


def test_two_approvers_racing_produce_one_decision(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False  # Dee is a Head of Service
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 1), 15)
    dee = sim.workspace.user_id(DEE)
    sim.workspace.slash_command(AMY, "/audit", f"delegate <@{dee}|dee> 2026-12-01 2026-12-31")
    ask(sim, first, "extension", "Leave", "2027-01-08")
    sim.step(sim.clock.now)
    dee_message = with_button(sim, DEE, ActionId.APPROVE_EXEMPTION)
    barrier = threading.Barrier(2)
    results: list[BaseException | None] = []

    def click(email: str, message: dict[str, Any]) -> None:
        try:
            barrier.wait()
            sim.workspace.click(email, message, ActionId.APPROVE_EXEMPTION)
            results.append(None)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            results.append(exc)

    shared = sim.workspace.add_channel("approvers")  # Amy, the principal, decides from a copy shared with her
    client = WebClient(token=TOKEN, base_url=sim.workspace.base_url)
    posted = client.chat_postMessage(channel=shared, text=dee_message["text"], blocks=dee_message["blocks"])
    amy_copy = next(m for m in sim.workspace.messages(channel=shared) if m["ts"] == posted["ts"])
    threads = [threading.Thread(target=click, args=(DEE, dee_message)), threading.Thread(target=click, args=(AMY, amy_copy))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == [None, None]
    with sim.sessions() as session:
        decided = [e for e in session.scalars(select(AuditLog)) if e.action == "extension.approved"]
        assert len(decided) == 1
        assert session.scalars(select(ExemptionRequest)).one().state == RequestState.APPROVED


def test_slash_command_opens_the_form_only_for_the_allocated_auditor(sim: Simulation, emails: dict[str, str]) -> None:
    first = allocate_december(sim)[0]
    ref = _ref(sim, first)
    x = email_of(sim, first.auditor_id)
    sim.workspace.slash_command(x, "/audit", f"exempt {ref}")
    assert sim.workspace.view_stack(x)[-1]["callback_id"] == "exemption_request"
    someone = next(e for n, e in emails.items() if n.startswith("Wendy"))
    sim.workspace.slash_command(someone, "/audit", f"exempt {ref}")
    assert [m["text"] for m in sim.workspace.messages(user_email=someone) if m["ephemeral"]] == [
        "I can't find an open audit of that case allocated to you. Check the case reference (e.g. /audit exempt CMS-104233)."
    ]


def exempt_with_nobody_eligible(sim: Simulation) -> tuple[Allocation, list[str]]:
    """An approved exemption nobody can take automatically: the QA team gets a menu. Returns the
    allocation and the names the menu should offer."""
    from store.models import Person, Team
    from tests.allocation_fixtures import Council

    rows = allocate_december(sim)
    with sim.sessions() as session:
        target = next(a for a in (session.get(Allocation, r.id) for r in rows)
                      if a is not None and a.case.reference.startswith("CMS-1"))
        exempted = target.auditor_id
        named = select(Person).where(Person.display_name.in_(["Ben Teamlead", "Sue Manager", "Hana Head"]))
        others = [
            p for p in session.scalars(named)
            if p.id != exempted
        ]
        names = sorted(p.display_name for p in others)
    with sim.sessions() as session, session.begin():  # everyone else has done 10 audits this year
        council = Council(session)
        old_team = session.scalars(select(Team).where(Team.name == "Children in Care Team 1")).one()
        for person in others:
            council.history(session.get(Person, person.id), [D(2026, m, 1) for m in range(1, 11)], old_team)

    ask(sim, target, "exemption", "Conflict of interest")
    deliver(sim)
    sim.workspace.click(AMY, with_button(sim, AMY, ActionId.APPROVE_EXEMPTION), ActionId.APPROVE_EXEMPTION)
    deliver(sim)
    return target, names


def test_when_nobody_is_eligible_the_qa_team_chooses_from_a_menu(sim: Simulation) -> None:
    target, names = exempt_with_nobody_eligible(sim)
    with sim.sessions() as session:
        row = session.get(Allocation, target.id)
        assert row is not None and row.state == AllocationState.EXEMPTED
    qa_message = sim.workspace.messages(user_email=QUINN)[-1]
    assert qa_message["text"].endswith("Please choose a new auditor.")
    menu = qa_message["blocks"][0]["accessory"]
    assert menu["action_id"] == ActionId.CHOOSE_AUDITOR
    assert sorted(o["text"]["text"] for o in menu["options"]) == names, "only auditors the hard rules allow"
    choice = menu["options"][0]
    sim.workspace.click(QUINN, qa_message, ActionId.CHOOSE_AUDITOR, selected_option=choice)
    deliver(sim)

    with sim.sessions() as session:
        row = session.get(Allocation, target.id)
        assert row is not None and row.state == AllocationState.ALLOCATED
        chosen = row.auditor
        assert chosen.display_name == choice["text"]["text"] and row.reason.endswith("(chosen by the QA team)")
    assert [t for t in texts(sim, chosen.email) if t.startswith("Case reallocated to you")]
    edited = next(m for m in sim.workspace.messages(user_email=QUINN) if m["ts"] == qa_message["ts"])
    assert edited["edited"] and f"Reallocated to <@{sim.workspace.user_id(chosen.email)}>" in json.dumps(edited["blocks"])


def test_a_failure_inside_a_modal_is_answered_in_the_modal(sim: Simulation, monkeypatch) -> None:
    from bot.handlers import exemptions as handlers

    first = allocate_december(sim)[0]

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(handlers, "submit_request", broken)
    answer = ask(sim, first, "exemption", "Conflict of interest")

    assert answer["status"] == 200
    assert answer["body"]["response_action"] == "update"
    assert answer["body"]["view"]["title"]["text"] == "Something went wrong"
    assert "database on fire" not in json.dumps(answer["body"])


def test_nobody_decides_their_own_request(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    sim.at(D(2026, 12, 1), 15)
    sim.workspace.slash_command(AMY, "/audit", f"delegate <@{sim.workspace.user_id(x)}|x> 2026-12-01 2026-12-31")
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        assert request.routed_to.email == AMY, "the auditor is Amy's delegate, but not for their own request"
    assert not [m for m in sim.workspace.messages(user_email=x) if "Exemption request" in m["text"]]


def test_completing_the_audit_withdraws_a_pending_request(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    ask_message = with_button(sim, AMY, ActionId.APPROVE_EXEMPTION)
    sim.step(sim.at(D(2026, 12, 24), 9))
    x = email_of(sim, first.auditor_id)
    ref = _ref(sim, first)
    record_audit(sim, x, with_button(sim, x, ActionId.RECORD_AUDIT, ref))

    # Before the edit reaches Amy, she clicks Approve, then Decline: each is answered, nothing changes.
    withdrawn = f"Exemption request for {ref} was withdrawn: the audit was completed, so there is nothing to decide."
    sim.workspace.click(AMY, ask_message, ActionId.APPROVE_EXEMPTION)
    assert [m for m in sim.workspace.messages(user_email=AMY) if m["ephemeral"]][-1]["text"] == withdrawn
    declined = sim.workspace.click(AMY, ask_message, ActionId.DECLINE_EXEMPTION)
    assert declined["status"] == 200 and not sim.workspace.view_stack(AMY)
    assert [m["text"] for m in sim.workspace.messages(user_email=AMY) if m["ephemeral"]][-2:] == [withdrawn, withdrawn]

    deliver(sim)
    edited = next(m for m in sim.workspace.messages(user_email=AMY) if m["ts"] == ask_message["ts"])
    assert edited["edited"] and edited["text"] == withdrawn
    assert all(b["type"] != "actions" for b in edited["blocks"]), "no Approve / Decline left on a withdrawn request"
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        allocation = session.get(Allocation, first.id)
        assert request.state == RequestState.WITHDRAWN and request.decided_by_id is None and allocation is not None
        assert (allocation.state, allocation.auditor_id) == (AllocationState.COMPLETED, first.auditor_id)
        log = [(e.action, e.outcome) for e in session.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert log[-3:] == [("allocation.complete", "ok"), ("exemption.withdrawn", "ok"), ("audit.record", "ok")]


def test_one_of_a_pair_exempted_with_nobody_free_leaves_the_other_auditing(sim: Simulation) -> None:
    from store.models import Person, Role

    first = allocate_december(sim)[0]
    with sim.sessions() as session, session.begin():
        row = session.get(Allocation, first.id)
        assert row is not None
        partner = session.scalars(select(Person).where(Person.display_name == "Hana Head")).one()
        if partner.id == row.auditor_id:
            partner = session.scalars(select(Person).where(Person.display_name == "Sue Manager")).one()
        row.second_auditor_id = partner.id
        partner_id = partner.id
        for p in session.scalars(select(Person)):  # nobody else can take it
            if p.id not in (row.auditor_id, partner_id) and p.has_role(Role.AUDITOR):
                p.active = False
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    sim.workspace.click(AMY, with_button(sim, AMY, ActionId.APPROVE_EXEMPTION), ActionId.APPROVE_EXEMPTION)
    with sim.sessions() as session:
        row = session.get(Allocation, first.id)
        assert row is not None
        assert (row.state, row.auditor_id, row.second_auditor_id) == (AllocationState.ALLOCATED, partner_id, None)


def exempted_on(sim: Simulation, day: dt.date) -> Allocation:
    """The first December audit, its exemption asked for and approved by Amy on ``day``."""
    first = allocate_december(sim)[0]
    sim.at(day, 10)
    ask(sim, first, "exemption", "Off sick from tomorrow")
    deliver(sim)
    with sim.sessions() as session:
        ref = session.get(Allocation, first.id).case.reference  # type: ignore[union-attr]
    sim.workspace.click(AMY, with_button(sim, AMY, ActionId.APPROVE_EXEMPTION, ref), ActionId.APPROVE_EXEMPTION)
    deliver(sim)
    return first


def test_a_late_reallocation_gets_a_fair_deadline_shown_in_the_message(sim: Simulation) -> None:
    first = exempted_on(sim, D(2026, 12, 21))
    with sim.sessions() as session:
        allocation = session.get(Allocation, first.id)
        assert allocation is not None and allocation.auditor_id != first.auditor_id
        # 10 working days from Mon 21 Dec: Christmas, Boxing Day (substitute) and New Year's Day skipped
        assert allocation.due_date == D(2027, 1, 7)
        new_auditor = allocation.auditor.email
    message = next(m for m in sim.workspace.messages(user_email=new_auditor) if m["text"].startswith("Case reallocated"))
    assert "Thursday 7 January 2027" in json.dumps(message["blocks"])


def test_an_early_reallocation_keeps_the_original_deadline(sim: Simulation) -> None:
    first = exempted_on(sim, D(2026, 12, 2))
    with sim.sessions() as session:
        allocation = session.get(Allocation, first.id)
        assert allocation is not None and allocation.auditor_id != first.auditor_id
        assert allocation.due_date == D(2026, 12, 31)
