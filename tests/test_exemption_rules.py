"""Exemption and extension rules found in review: who may get the case back, who may decide,
pairs, how far extensions go, configurable approver roles and chasing, late approvals."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.ids import ActionId
from bot.services.exemptions.followups import choose_replacement
from bot.services.exemptions.requests import exempted_auditors
from store.models import Allocation, AllocationState, AuditLog, ExemptionRequest, Person, RequestKind, RequestState, Role
from tests.simulation import WEEKS, Simulation
from tests.test_scenario_exemptions import (
    AMY,
    DAN,
    DEE,
    QUINN,
    D,
    _ref,
    allocate_december,
    ask,
    deliver,
    email_of,
    texts,
    with_button,
)


def approve_newest(sim: Simulation, email: str = AMY, text: str = "") -> None:
    """``email`` clicks Approve on their newest message that still has the button."""
    sim.workspace.click(email, with_button(sim, email, ActionId.APPROVE_EXEMPTION, text), ActionId.APPROVE_EXEMPTION)
    deliver(sim)


def ephemerals(sim: Simulation, email: str) -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email) if m["ephemeral"]]


def make_pair(sim: Simulation, allocation: Allocation) -> tuple[int, str]:
    """Give the allocation a second auditor (a head or service manager outside the case's line)."""
    with sim.sessions() as session, session.begin():
        row = session.get_one(Allocation, allocation.id)
        partner = session.scalars(select(Person).where(Person.display_name == "Hana Head")).one()
        if partner.id == row.auditor_id:
            partner = session.scalars(select(Person).where(Person.display_name == "Sue Manager")).one()
        row.second_auditor_id = partner.id
        return partner.id, partner.email


def ask_as(sim: Simulation, email: str, allocation_id: int, kind: str, reason: str,
           new_date: str | None = None) -> dict[str, Any]:
    """``email`` asks through ``/audit exempt REF`` (works for either auditor of a pair)."""
    from tests.test_scenario_exemptions import form

    with sim.sessions() as session:
        reference = session.get_one(Allocation, allocation_id).case.reference
    sim.workspace.slash_command(email, "/audit", f"exempt {reference}")
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == "exemption_request"
    return sim.workspace.submit_view(email, view, form(kind, reason, new_date))


# 1. -----------------------------------------------------------------------------------------


def _exempt_twice(sim: Simulation, *, before_second: Any = None) -> tuple[Allocation, int, int]:
    """A is exempted and the case goes to B; then B asks and is exempted too. Returns (row, A, B)."""
    first = allocate_december(sim)[0]
    a = first.auditor_id
    sim.at(D(2026, 12, 2), 10)
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)
    approve_newest(sim)
    with sim.sessions() as session:
        row = session.get_one(Allocation, first.id)
    b = row.auditor_id
    assert b != a
    if before_second is not None:
        before_second(a)
    ask(sim, row, "exemption", "Also conflicted")
    deliver(sim)
    approve_newest(sim)
    with sim.sessions() as session:
        return session.get_one(Allocation, first.id), a, b


def test_a_second_exemption_never_hands_the_case_back_to_an_auditor_already_exempted(sim: Simulation) -> None:
    row, a, b = _exempt_twice(sim)

    assert row.state == AllocationState.ALLOCATED
    assert row.auditor_id not in (a, b), "the case went back to an auditor already exempted from it"
    with sim.sessions() as session:
        assert exempted_auditors(session, row.id) == {a, b}
        assert [r.reallocated_to_id for r in session.scalars(select(ExemptionRequest).order_by(ExemptionRequest.id))] == [
            b, row.auditor_id
        ]


def test_the_qa_menu_never_offers_an_auditor_already_exempted(sim: Simulation) -> None:
    from store.models import Team
    from tests.allocation_fixtures import Council

    def everyone_else_at_the_yearly_limit(a: int) -> None:
        with sim.sessions() as session, session.begin():
            council = Council(session)
            old_team = session.scalars(select(Team).where(Team.name == "Children in Care Team 1")).one()
            for person in session.scalars(select(Person).where(Person.display_name.in_(["Hana Head", "Sue Manager"]))):
                council.history(person, [D(2026, m, 1) for m in range(1, 11)], old_team)
            assert session.get_one(Person, a).display_name == "Sue Manager"

    row, a, b = _exempt_twice(sim, before_second=everyone_else_at_the_yearly_limit)

    assert (row.state, row.auditor_id) == (AllocationState.EXEMPTED, b)
    qa_message = sim.workspace.messages(user_email=QUINN)[-1]
    assert qa_message["text"].endswith("Please choose a new auditor.")
    menu = qa_message["blocks"][0]["accessory"]
    assert [o["text"]["text"] for o in menu["options"]] == ["Hana Head"], "Sue, exempted first, is not offered"

    # Choosing A anyway (a stale or forged menu value) is refused and changes nothing.
    with sim.sessions() as session, session.begin():
        request_id = session.scalars(select(ExemptionRequest.id).order_by(ExemptionRequest.id.desc())).first()
        assert request_id is not None
        quinn = session.scalars(select(Person).where(Person.email == QUINN)).one()
        outcome = choose_replacement(session, request_id, quinn, a, sim.runtime.settings, now=sim.clock.now, actor_ref="UQ")
    assert outcome.errors == {"auditor": "That auditor is no longer eligible; choose another."}
    with sim.sessions() as session:
        assert session.get_one(Allocation, row.id).state == AllocationState.EXEMPTED


# 4 is in test_scenario_exemptions.test_completing_the_audit_withdraws_a_pending_request.
# 5. -----------------------------------------------------------------------------------------


def test_a_delegate_can_still_decide_a_request_routed_to_them_after_their_window_ends(sim: Simulation) -> None:
    sim.runtime.settings.delegates_must_hold_approver_role = False  # Dee is a Head of Service
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 1), 15)
    dee = sim.workspace.user_id(DEE)
    sim.workspace.slash_command(AMY, "/audit", f"delegate <@{dee}|dee> 2026-12-02 2026-12-04")
    sim.at(D(2026, 12, 4), 16)  # the window's last day
    ask(sim, first, "exemption", "Conflict of interest")
    deliver(sim)

    sim.at(D(2026, 12, 7), 9)  # the window is over
    approve_newest(sim, DEE)

    assert ephemerals(sim, DEE) == []
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        assert (request.state, request.routed_to.email, request.decided_by.email) == (RequestState.APPROVED, DEE, DEE)
    edited = [t for t in texts(sim, DEE) if t.startswith("Exemption approved")]
    assert edited == [f"Exemption approved: {_ref(sim, first)} by Dee Deputy."]


# 6. -----------------------------------------------------------------------------------------


def test_each_of_a_pair_may_ask_while_the_other_waits_and_both_decisions_hold(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    partner_id, partner = make_pair(sim, first)
    sim.at(D(2026, 12, 2), 10)
    assert not ask_as(sim, x, first.id, "extension", "Annual leave", "2027-01-15")["body"]
    assert not ask_as(sim, partner, first.id, "extension", "Training", "2027-01-08")["body"]
    # Each still has only one request at a time.
    sim.workspace.slash_command(x, "/audit", f"exempt {_ref(sim, first)}")
    assert ephemerals(sim, x)[-1] == "You already have a request for this audit waiting for a decision."
    deliver(sim)
    with sim.sessions() as session:
        rows = session.scalars(select(ExemptionRequest).order_by(ExemptionRequest.id)).all()
        assert [(r.auditor_id, r.state) for r in rows] == [
            (first.auditor_id, RequestState.PENDING), (partner_id, RequestState.PENDING)
        ]

    approve_newest(sim, AMY, f"from {_requester(sim, first)}.")  # x's later date first, then the partner's earlier one
    approve_newest(sim)
    with sim.sessions() as session:
        row = session.get_one(Allocation, first.id)
        assert row.due_date == D(2027, 1, 15), "the later date holds whichever is approved last"
        assert [r.state for r in session.scalars(select(ExemptionRequest))] == [RequestState.APPROVED] * 2
    ref = _ref(sim, first)
    assert texts(sim, partner)[-1] == f"Extension approved: case {ref}."
    outcome = sim.workspace.messages(user_email=partner)[-1]["blocks"][0]["text"]["text"]
    assert outcome.endswith("Your new deadline is Friday 15 January 2027.")


def test_one_of_a_pair_exempted_while_the_other_has_an_extension_waiting(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    partner_id, partner = make_pair(sim, first)
    sim.at(D(2026, 12, 2), 10)
    assert not ask_as(sim, x, first.id, "exemption", "Conflict of interest")["body"]
    assert not ask_as(sim, partner, first.id, "extension", "Training", "2027-01-08")["body"]
    deliver(sim)
    approve_newest(sim, AMY, "Exemption request")
    approve_newest(sim, AMY, "Extension request")
    with sim.sessions() as session:
        row = session.get_one(Allocation, first.id)
        assert first.auditor_id not in (row.auditor_id, row.second_auditor_id)
        assert partner_id in (row.auditor_id, row.second_auditor_id)
        assert (row.state, row.due_date) == (AllocationState.ALLOCATED, D(2027, 1, 8))


# 7. -----------------------------------------------------------------------------------------


def test_extensions_cannot_be_chained_past_the_limit_counted_from_the_original_deadline(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    x = email_of(sim, first.auditor_id)
    sim.at(D(2026, 12, 2), 10)
    assert not ask(sim, first, "extension", "Leave", "2027-01-08")["body"]
    deliver(sim)
    approve_newest(sim)

    sim.workspace.click(x, with_button(sim, x, ActionId.REQUEST_EXEMPTION), ActionId.REQUEST_EXEMPTION)
    hint = sim.workspace.view_stack(x)[-1]["blocks"][2]["hint"]["text"]
    assert hint == (
        "A working day, at most 10 working days past the original deadline (Thursday 31 December 2026), counting any extension "
        "already given: Friday 15 January 2027 at the latest."
    )
    with sim.sessions() as session:
        row = session.get_one(Allocation, first.id)
    assert ask(sim, row, "extension", "More leave", "2027-01-29")["body"]["errors"] == {
        "new_date": "An extension can be at most 10 working days past the original deadline (31/12/2026), "
        "counting any extension already given: 15/01/2027 at the latest."
    }
    assert not ask(sim, row, "extension", "More leave", "2027-01-15")["body"]  # still within the limit
    with sim.sessions() as session:
        assert [r.new_due_date for r in session.scalars(select(ExemptionRequest).order_by(ExemptionRequest.id))] == [
            D(2027, 1, 8), D(2027, 1, 15)
        ]


def test_an_extension_to_a_weekend_or_bank_holiday_is_refused_naming_a_working_day(sim: Simulation) -> None:
    """Issue 12, item 5: the new deadline must be a working day; the error names one to choose."""
    first = allocate_december(sim)[0]  # due Thursday 31 December 2026
    sim.at(D(2026, 12, 2), 10)
    saturday = ask(sim, first, "extension", "Leave", "2027-01-09")["body"]
    assert saturday == {
        "response_action": "errors",
        "errors": {"new_date": "09/01/2027 is a Saturday: choose a working day, e.g. Friday 08/01/2027."},
    }
    holiday = ask(sim, first, "extension", "Leave", "2027-01-01")["body"]
    # The working day before New Year's Day is the current deadline itself: the next one is named.
    assert holiday["errors"] == {
        "new_date": "01/01/2027 is a bank holiday (New Year’s Day): choose a working day, e.g. Monday 04/01/2027."
    }
    sunday = ask(sim, first, "extension", "Leave", "2027-01-03")["body"]
    assert sunday["errors"] == {"new_date": "03/01/2027 is a Sunday: choose a working day, e.g. Monday 04/01/2027."}
    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest)).all() == []
    assert not ask(sim, first, "extension", "Leave", "2027-01-08")["body"], "the working day named is accepted"


def test_a_bank_holiday_after_the_deadline_names_the_working_day_before_it(sim: Simulation) -> None:
    from bot.calendar import WorkingCalendar
    from bot.services.exemptions.requests import RequestForm, validate

    settings = sim.runtime.settings.model_copy(update={"max_extension_working_days": 20})
    allocation = Allocation(month_start=D(2026, 11, 1), due_date=D(2026, 11, 30))
    form = RequestForm(kind=RequestKind.EXTENSION, new_due_date=D(2026, 12, 25), reason="Leave")
    assert validate(form, allocation, settings, WorkingCalendar.from_settings(settings), D(2026, 11, 20)) == {
        "new_date": "25/12/2026 is a bank holiday (Christmas Day): choose a working day, e.g. Thursday 24/12/2026."
    }


# 8. -----------------------------------------------------------------------------------------


def test_who_may_delegate_follows_the_approver_role_settings(sim: Simulation) -> None:
    sim.runtime.settings.exemption_approver_role = Role.HEAD_OF_SERVICE  # Dee decides; Amy no longer does
    sim.runtime.settings.delegates_must_hold_approver_role = False  # and may name Dan, who holds no role
    allocate_december(sim)
    sim.at(D(2026, 12, 1), 15)
    dan = sim.workspace.user_id(DAN)
    sim.workspace.slash_command(DEE, "/audit", f"delegate <@{dan}|dan> 2026-12-02 2026-12-04")
    assert texts(sim, DEE)[-1].startswith("Done: Dan Director will decide exemption and extension requests for you")
    sim.workspace.slash_command(AMY, "/audit", f"delegate <@{dan}|dan> 2026-12-02 2026-12-04")
    refusal = ephemerals(sim, AMY)[-1]
    assert refusal == (
        "Only the people who decide exemptions and extensions can name a delegate, and you don't hold an approver "
        "role in the audit programme. Nothing was changed."
    )
    with sim.sessions() as session:
        log = [(e.action, e.outcome, e.detail) for e in session.scalars(select(AuditLog).order_by(AuditLog.id))]
        assert ("delegation.create", "ok") in [(a, o) for a, o, _ in log]
        assert log[-1] == ("delegate", "refused", {"reason": "not_an_approver"})


# 10. ----------------------------------------------------------------------------------------


def test_the_reminder_history_names_the_configured_resend_interval(sim: Simulation) -> None:
    sim.runtime.settings.exemption_resend_working_days = 3
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)  # Wednesday
    ask(sim, first, "exemption", "Conflict of interest")
    sim.run(D(2026, 12, 2), D(2026, 12, 8))
    resent = [m for m in sim.workspace.messages(user_email=AMY) if m["text"].startswith("Still waiting")]
    assert len(resent) == 1 and {(r.email, r.day) for r in sim.received if r.email == AMY} >= {(AMY, D(2026, 12, 7))}
    history = next(b for b in resent[0]["blocks"] if b.get("block_id") == "history")["elements"][0]["text"]
    assert "reminded after 3 working days" in history and "2 working days" not in history


# 11. ----------------------------------------------------------------------------------------


@WEEKS
def test_an_unanswered_request_that_cannot_be_escalated_is_reported_to_the_qa_team_once(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    with sim.sessions() as session, session.begin():  # Amy's manager has left
        session.scalars(select(Person).where(Person.email == DAN)).one().active = False
    sim.at(D(2026, 12, 2), 10)  # Wednesday
    ask(sim, first, "exemption", "Conflict of interest")
    sim.run(D(2026, 12, 2), D(2026, 12, 15))

    ref = _ref(sim, first)
    told = [m for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("Exemption request unanswered")]
    assert [m["text"] for m in told] == [
        f"Exemption request unanswered: {ref} ({_requester(sim, first)}'s request to Amy Director) has waited 4 working "
        "days and could not be escalated."
    ]
    body = json.dumps(told[0]["blocks"])
    assert "has no active line manager in the staff list" in body and "Conflict of interest" not in body
    assert {(r.email, r.day) for r in sim.received if r.email == QUINN and r.kind == told[0]["text"]} == {(QUINN, D(2026, 12, 8))}
    assert texts(sim, DAN) == []
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        assert (request.state, request.escalated_to_id) == (RequestState.PENDING, None)
        failed = [e for e in session.scalars(select(AuditLog)) if (e.action, e.outcome) == ("exemption.escalate", "failed")]
        assert len(failed) == 1


def _requester(sim: Simulation, allocation: Allocation) -> str:
    with sim.sessions() as session:
        return session.get_one(Allocation, allocation.id).auditor.display_name


# 12. ----------------------------------------------------------------------------------------


def test_approving_an_extension_whose_new_date_has_passed_is_refused_and_decline_is_suggested(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 2), 10)
    assert not ask(sim, first, "extension", "Annual leave", "2027-01-08")["body"]
    deliver(sim)
    ask_message = with_button(sim, AMY, ActionId.APPROVE_EXEMPTION)

    sim.at(D(2027, 1, 11), 10)  # the new date is over before Amy answers
    sim.workspace.click(AMY, ask_message, ActionId.APPROVE_EXEMPTION)
    assert ephemerals(sim, AMY)[-1] == (
        "This extension can't be approved: the new deadline it asks for has already passed. Please decline it with a "
        "comment instead; the auditor can then ask again with a date that is still ahead. Nothing was changed."
    )
    with sim.sessions() as session:
        request = session.scalars(select(ExemptionRequest)).one()
        assert (request.kind, request.state) == (RequestKind.EXTENSION, RequestState.PENDING)
        assert session.get_one(Allocation, first.id).due_date == D(2026, 12, 31)
        last = session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert last is not None and (last.action, last.outcome, last.detail["reason"]) == (
            "extension.approve", "refused", "extension_date_passed"
        )

    sim.workspace.click(AMY, ask_message, ActionId.DECLINE_EXEMPTION)  # declining still works
    modal = sim.workspace.view_stack(AMY)[-1]
    sim.workspace.submit_view(AMY, modal, {"comment": {"comment": {"type": "plain_text_input", "value": "Too late now."}}})
    with sim.sessions() as session:
        assert session.scalars(select(ExemptionRequest)).one().state == RequestState.DECLINED
