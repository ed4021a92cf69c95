"""The QA check (issue 14; Hull 19-20): a finalised audit goes to the QA team after a tick, with
Accept and Return for amendment…; a returned audit is due back in three working days, reminded
on the day, the QA team told the next working day; the auditor amends it through the same record
form, each changed grade appended to the history, and the amended audit is checked again.
One decision per check: a second QA coordinator's late click is told who decided."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from bot.ids import ActionId, CallbackId
from bot.services.replies.lifecycle import OVERALL, change_grade, finalise
from bot.workspace.forms import input_values
from store.models import Allocation, AuditLog, Notification, Person, Role
from store.records import ActionStatus, AuditQaCheck, AuditRecord, GradeStage, QaCheckState, RecordState
from tests.allocation_fixtures import Council
from tests.recording import BRADFORD_GRADES, FINDINGS, record_audit
from tests.simulation import Simulation
from tests.support import TOKEN
from tests.test_scenario_exemptions import QUINN, D, allocate_december, deliver, email_of, with_button

DEC_10 = D(2026, 12, 10)

RITA = "rita.qa@council.example"


def finalised(sim: Simulation, day: dt.date = DEC_10, *, moved_to: str | None = None) -> tuple[str, str, int]:
    """December allocated; the first audit recorded on ``day`` (all Good, one action) and, an hour
    later, final (its overall grade ``moved_to`` on a challenge first). The auditor's email, the
    case reference and the record's id."""
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    sim.at(day, 10)
    with sim.sessions() as session:
        worker = str(session.get_one(Allocation, first.id).case.allocated_worker_id)
    actions = {"action_1_what": "Update the chronology", "action_1_owner": worker, "action_1_due": "2027-02-15"}
    assert record_audit(sim, auditor, with_button(sim, auditor, ActionId.RECORD_AUDIT), actions=actions)["body"] == {
        "response_action": "clear"}
    sim.at(day, 11)
    with sim.sessions() as session, session.begin():
        record = session.scalars(select(AuditRecord)).one()
        if moved_to is not None:
            change_grade(session, record, OVERALL, None, moved_to, stage=GradeStage.AFTER_REPLY, by=None,
                         reason="Agreed on a challenge.", now=sim.clock.now)
        finalise(session, record, sim.runtime.settings, sim.calendar, now=sim.clock.now)
        return auditor, record.allocation.case.reference, record.id


def qa_message(sim: Simulation, email: str, reference: str) -> dict[str, Any]:
    return next(m for m in reversed(sim.workspace.messages(user_email=email))
                if m["text"].startswith(f"QA check: the audit of case {reference}"))


def current(sim: Simulation, email: str, message: dict[str, Any]) -> dict[str, Any]:
    """The message as it stands now (edited in place, maybe)."""
    return next(m for m in sim.workspace.messages(user_email=email) if m["ts"] == message["ts"])


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def checks(sim: Simulation) -> list[tuple[QaCheckState, dt.date | None]]:
    with sim.sessions() as session:
        return [(c.state, c.amend_due) for c in session.scalars(select(AuditQaCheck).order_by(AuditQaCheck.id))]


def record_state(sim: Simulation) -> RecordState:
    with sim.sessions() as session:
        return session.scalars(select(AuditRecord.state)).one()


def return_for_amendment(sim: Simulation, email: str, message: dict[str, Any], reason: str) -> dict[str, Any]:
    """Click Return for amendment… and submit the reason; the modal's answer."""
    sim.workspace.click(email, message, ActionId.RETURN_AUDIT)
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == CallbackId.QA_RETURN
    return sim.workspace.submit_view(email, view, {"reason": {"reason": {"type": "plain_text_input", "value": reason}}})


def add_second_qa(sim: Simulation) -> None:
    with sim.sessions() as session, session.begin():
        Council(session).person("Rita Qa", Role.QA_COORDINATOR)
    sim.workspace.add_user(RITA, "Rita Qa")


def test_a_finalised_audit_goes_to_the_qa_team_once_with_its_original_and_final_grades(sim: Simulation) -> None:
    auditor, reference, _ = finalised(sim, moved_to="requires_improvement")
    assert checks(sim) == []
    sim.step(sim.clock.now)
    assert checks(sim) == [(QaCheckState.PENDING, None)]
    message = qa_message(sim, QUINN, reference)
    name = sim.workspace.user_id(auditor)
    assert message["text"] == (f"QA check: the audit of case {reference} by {_name(sim, auditor)} is final, overall "
                               "Requires Improvement. Accept it, or return it for amendment.")
    body = json.dumps(message["blocks"])
    assert f"<@{name}>" in body and "Overall *Requires Improvement* (submitted as Good)." in body
    assert "Risk and need" in body and "Update the chronology" in body and "Control sample" in body
    assert buttons(message) == [ActionId.ACCEPT_AUDIT, ActionId.RETURN_AUDIT]

    sim.step(sim.at(D(2026, 12, 10), 13))  # another tick opens nothing and sends nothing again
    assert checks(sim) == [(QaCheckState.PENDING, None)]
    assert len([m for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("QA check:")]) == 1
    with sim.sessions() as session:
        sent = session.scalars(select(Notification).where(Notification.template.like("qa_%"))).all()
        assert {n.channel for n in sent} == {None}, "direct messages only: grades never go to a channel"


def _name(sim: Simulation, email: str) -> str:
    with sim.sessions() as session:
        return session.scalars(select(Person.display_name).where(Person.email == email)).one()


def test_accept_closes_the_check_tells_the_auditor_and_edits_every_copy(sim: Simulation) -> None:
    add_second_qa(sim)
    auditor, reference, record_id = finalised(sim)
    sim.step(sim.clock.now)
    quinns, ritas = qa_message(sim, QUINN, reference), qa_message(sim, RITA, reference)

    sim.at(D(2026, 12, 10), 14)
    sim.workspace.click(QUINN, quinns, ActionId.ACCEPT_AUDIT)
    sim.workspace.click(RITA, ritas, ActionId.ACCEPT_AUDIT)  # Rita's copy, before its edit arrives
    late = sim.workspace.messages(user_email=RITA)[-1]
    assert late["ephemeral"] and late["text"] == (
        f"The QA check of {reference} was already done: accepted by Quinn Qa at 14:00 on Thursday 10 December 2026. "
        "Nothing was changed.")
    deliver(sim)

    assert checks(sim) == [(QaCheckState.ACCEPTED, None)] and record_state(sim) == RecordState.ACCEPTED
    for email, copy in ((QUINN, quinns), (RITA, ritas)):
        edited = current(sim, email, copy)
        assert edited["edited"] and edited["text"] == f"QA check of case {reference}: accepted by Quinn Qa."
        assert buttons(edited) == []
    assert sim.workspace.messages(user_email=auditor)[-1]["text"] == f"The QA team accepted your audit of case {reference}."
    quinn = int(_id_of(sim, QUINN))
    with sim.sessions() as session:
        logged = session.scalars(select(AuditLog).where(AuditLog.action.like("qa_check.%")).order_by(AuditLog.id)).all()
        assert [(e.action, e.outcome, e.actor_id) for e in logged] == [
            ("qa_check.opened", "ok", None), ("qa_check.accepted", "ok", quinn)]
        assert logged[0].subject_id == record_id


def test_a_reason_submitted_after_another_coordinator_accepted_is_not_sent(sim: Simulation) -> None:
    add_second_qa(sim)
    auditor, reference, _ = finalised(sim)
    sim.step(sim.clock.now)
    sim.at(D(2026, 12, 10), 14)
    sim.workspace.click(RITA, qa_message(sim, RITA, reference), ActionId.RETURN_AUDIT)  # Rita starts typing a reason...
    view = sim.workspace.view_stack(RITA)[-1]
    sim.workspace.click(QUINN, qa_message(sim, QUINN, reference), ActionId.ACCEPT_AUDIT)  # ...Quinn accepts meanwhile
    answer = sim.workspace.submit_view(RITA, view, {"reason": {"reason": {"type": "plain_text_input", "value": "Redo it."}}})
    assert answer["body"] == {"response_action": "errors", "errors": {"reason": (
        f"The QA check of {reference} was already done: accepted by Quinn Qa at 14:00 on Thursday 10 December 2026. "
        "Your reason was not sent: nothing was changed.")}}
    deliver(sim)
    assert checks(sim) == [(QaCheckState.ACCEPTED, None)]
    assert not [m for m in sim.workspace.messages(user_email=auditor) if m["text"].startswith("Audit returned")]


def test_return_needs_a_reason_the_guardrail_passes_and_tells_the_auditor_when_it_is_due(sim: Simulation) -> None:
    auditor, reference, _ = finalised(sim)
    sim.step(sim.clock.now)
    message = qa_message(sim, QUINN, reference)
    sim.at(D(2026, 12, 10), 14)

    assert return_for_amendment(sim, QUINN, message, "  ")["body"]["errors"] == {
        "reason": "Say what needs amending, so the auditor knows."}
    errors = return_for_amendment(sim, QUINN, message, "Visit at LS1 4AP not covered")["body"]["errors"]
    assert list(errors) == ["reason"] and "postcode" in errors["reason"] and "LS1" not in errors["reason"]
    assert checks(sim) == [(QaCheckState.PENDING, None)]

    answer = return_for_amendment(sim, QUINN, message, "The rationale does not cover the plan's review.")
    assert answer["status"] == 200 and not answer["body"]
    deliver(sim)
    assert checks(sim) == [(QaCheckState.RETURNED, D(2026, 12, 15))] and record_state(sim) == RecordState.RETURNED
    told = sim.workspace.messages(user_email=auditor)[-1]
    assert told["text"] == f"Audit returned for amendment: case {reference}, due back by Tuesday 15 December 2026."
    assert "*Reason:* The rationale does not cover the plan's review." in json.dumps(told["blocks"])
    assert buttons(told) == [ActionId.AMEND_AUDIT]
    edited = current(sim, QUINN, message)
    assert edited["text"] == f"QA check of case {reference}: returned for amendment by Quinn Qa." and buttons(edited) == []


def test_returned_on_christmas_eve_is_due_on_the_31st_reminded_then_and_the_qa_team_told_after_new_year(sim: Simulation) -> None:
    auditor, reference, _ = finalised(sim)
    sim.step(sim.at(D(2026, 12, 24), 9))
    message = qa_message(sim, QUINN, reference)
    sim.at(D(2026, 12, 24), 10)  # Thursday
    assert not return_for_amendment(sim, QUINN, message, "Name the good practice seen.")["body"]
    deliver(sim)
    assert checks(sim) == [(QaCheckState.RETURNED, D(2026, 12, 31))], "25 Dec, the weekend and the 28th's bank holiday skipped"
    assert sim.workspace.messages(user_email=auditor)[-1]["text"].endswith("due back by Thursday 31 December 2026.")

    def reminded() -> list[str]:
        return [m["text"] for m in sim.workspace.messages(user_email=auditor)
                if m["text"].startswith("Reminder: the audit of case")]

    def quinn_told() -> list[str]:
        return [m["text"] for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("Amendment overdue")]

    sim.step(sim.at(D(2026, 12, 30), 9))
    assert reminded() == [] and quinn_told() == []
    sim.step(sim.at(D(2026, 12, 31), 9))
    sim.step(sim.at(D(2026, 12, 31), 15))
    assert reminded() == [f"Reminder: the audit of case {reference} is due back amended today, Thursday 31 December 2026."]
    assert buttons(next(m for m in reversed(sim.workspace.messages(user_email=auditor)) if m["text"] in reminded())) == [
        ActionId.AMEND_AUDIT]
    assert quinn_told() == []
    sim.step(sim.at(D(2027, 1, 1), 10))  # New Year's Day: not a working day
    assert quinn_told() == []
    sim.step(sim.at(D(2027, 1, 4), 9))
    sim.step(sim.at(D(2027, 1, 4), 12))
    assert quinn_told() == [f"Amendment overdue: the audit of case {reference} was due back by Thursday 31 December 2026 "
                            "and has not been amended."]
    assert len(reminded()) == 1


def test_the_auditor_amends_through_the_record_form_and_the_amended_audit_is_checked_again(sim: Simulation) -> None:
    auditor, reference, record_id = finalised(sim, moved_to="requires_improvement")
    sim.step(sim.clock.now)
    sim.at(D(2026, 12, 10), 14)
    assert not return_for_amendment(sim, QUINN, qa_message(sim, QUINN, reference), "Impact is not graded as found.")["body"]
    deliver(sim)
    returned = sim.workspace.messages(user_email=auditor)[-1]

    sim.at(D(2026, 12, 11), 10)
    sim.workspace.click(auditor, returned, ActionId.AMEND_AUDIT)
    view = sim.workspace.view_stack(auditor)[-1]
    assert (view["title"]["text"], view["callback_id"]) == ("Amend the audit (1/3)", CallbackId.AMEND)
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert "*Reason:* Impact is not graded as found." in blocks["returned"]["text"]["text"]
    assert blocks["overall"]["element"]["initial_option"]["value"] == "requires_improvement", "the grade as it stands"
    assert blocks["section:impact"]["element"]["initial_option"]["value"] == "good"
    assert blocks["rationale"]["element"]["initial_value"] == BRADFORD_GRADES["rationale"]

    answer = submit_top(sim, auditor, {"section:impact": "requires_improvement", "rationale": "Impact for the child is unclear."})
    assert answer["body"]["response_action"] == "push"
    findings = sim.workspace.view_stack(auditor)[-1]
    seen = {b["block_id"]: b for b in findings["blocks"]}["seen"]["element"]
    assert [o["value"] for o in seen["initial_options"]] == FINDINGS["seen"].split(", ")
    assert submit_top(sim, auditor, {})["body"]["response_action"] == "push"
    actions = sim.workspace.view_stack(auditor)[-1]
    assert actions["submit"]["text"] == "Submit the amendment"
    first = {b["block_id"]: b for b in actions["blocks"]}["action_1_what"]["element"]
    assert first["initial_value"] == "Update the chronology"
    tm = _id_of(sim, _case_tm(sim, record_id))
    answer = submit_top(sim, auditor, {"action_1_what": "Update the chronology and the plan",
                                       "action_2_what": "Review impact in supervision", "action_2_owner": tm,
                                       "action_2_due": "2027-01-29"})
    assert answer["body"] == {"response_action": "clear"}

    with sim.sessions() as session:
        record = session.get_one(AuditRecord, record_id)
        assert record.state == RecordState.FINALISED and record.rationale == "Impact for the child is unclear."
        assert [(g.stage, g.section_key, g.grade) for g in record.grades] == [
            (GradeStage.SUBMITTED, None, "good"), (GradeStage.AFTER_REPLY, None, "requires_improvement"),
            (GradeStage.AFTER_AMENDMENT, "impact", "requires_improvement")]
        assert record.grades[-1].by is not None and record.grades[-1].by.email == auditor
        assert {s.section_key: s.grade for s in record.sections}["impact"] == "requires_improvement"
        assert [(a.text, a.status) for a in record.actions] == [
            ("Update the chronology", ActionStatus.WITHDRAWN), ("Update the chronology and the plan", ActionStatus.OPEN),
            ("Review impact in supervision", ActionStatus.OPEN)]
        amended = session.scalars(select(AuditQaCheck)).one()
        assert amended.state == QaCheckState.AMENDED and amended.amended_at == sim.clock.now
    sim.workspace.click(auditor, returned, ActionId.AMEND_AUDIT)  # again, before the message's edit arrives
    assert sim.workspace.messages(user_email=auditor)[-1]["text"] == (
        f"The audit of {reference} was already amended by {_name(sim, auditor)} at 10:00 on Friday 11 December 2026. "
        "Nothing was changed.")
    assert sim.workspace.view_stack(auditor) == []
    deliver(sim)
    edited = current(sim, auditor, returned)
    assert edited["text"] == f"The audit of case {reference} was amended and is with the QA team again." and buttons(edited) == []

    sim.step(sim.at(D(2026, 12, 11), 11))
    assert [s for s, _ in checks(sim)] == [QaCheckState.AMENDED, QaCheckState.PENDING]
    again = qa_message(sim, QUINN, reference)
    assert buttons(again) == [ActionId.ACCEPT_AUDIT, ActionId.RETURN_AUDIT]
    body = json.dumps(again["blocks"])
    assert "This is the amended audit" in body and "Impact is not graded as found." in body
    assert "Review impact in supervision" in body and "Update the chronology and the plan" in body


def submit_top(sim: Simulation, email: str, typed: dict[str, str]) -> dict[str, Any]:
    """Change ``typed`` in the modal on top (the rest as it was filled in) and submit it."""
    view = sim.workspace.view_stack(email)[-1]
    return sim.workspace.submit_view(email, view, input_values(view, typed, sim.workspace.member_id))


def _case_tm(sim: Simulation, record_id: int) -> str:
    with sim.sessions() as session:
        return session.get_one(AuditRecord, record_id).allocation.case.team_manager.email


def _id_of(sim: Simulation, email: str) -> str:
    with sim.sessions() as session:
        return str(session.scalars(select(Person.id).where(Person.email == email)).one())


def test_only_the_qa_team_decides_and_only_the_auditor_amends(sim: Simulation, emails: dict[str, str]) -> None:
    auditor, reference, _ = finalised(sim)
    sim.step(sim.clock.now)
    message = qa_message(sim, QUINN, reference)
    outsider = emails["Will B1"]
    with sim.sessions() as session:
        check_id = session.scalars(select(AuditQaCheck.id)).one()
    channel = sim.workspace.add_channel("forwarded")  # the check forwarded where an outsider can click it
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=channel, text="fwd", blocks=[b for b in message["blocks"] if b["type"] == "actions"])
    copy = next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])
    sim.workspace.click(outsider, copy, ActionId.ACCEPT_AUDIT)
    assert sim.workspace.messages(user_email=outsider)[-1]["text"] == "Only the QA team checks audits. Nothing was changed."
    assert checks(sim) == [(QaCheckState.PENDING, None)]

    assert not return_for_amendment(sim, QUINN, message, "Say who the family views came from.")["body"]
    deliver(sim)
    returned = sim.workspace.messages(user_email=auditor)[-1]
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=channel, text="fwd", blocks=[b for b in returned["blocks"] if b["type"] == "actions"])
    copy = next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])
    sim.workspace.click(QUINN, copy, ActionId.AMEND_AUDIT)
    assert sim.workspace.messages(user_email=QUINN)[-1]["text"] == "Only the audit's auditors can amend it. Nothing was changed."
    assert sim.workspace.view_stack(QUINN) == []
    with sim.sessions() as session:
        refused = session.scalars(select(AuditLog).where(AuditLog.outcome == "refused").order_by(AuditLog.id)).all()
        assert [(e.action, e.detail["reason"], e.subject_type) for e in refused] == [
            ("decide_qa_check", "qa_checks_only", "qa_check"), ("record_audit", "not_the_auditor", "audit_record")]
        assert refused[1].detail["told"] == "only_the_auditor"
        assert refused[0].subject_id == check_id


def test_a_closed_amend_form_keeps_what_was_typed_and_the_record_is_unchanged_until_submitted(sim: Simulation) -> None:
    auditor, reference, record_id = finalised(sim)
    sim.step(sim.clock.now)
    sim.at(D(2026, 12, 10), 14)
    assert not return_for_amendment(sim, QUINN, qa_message(sim, QUINN, reference), "Say why the plan is good.")["body"]
    deliver(sim)
    returned = sim.workspace.messages(user_email=auditor)[-1]
    sim.workspace.click(auditor, returned, ActionId.AMEND_AUDIT)
    view = sim.workspace.view_stack(auditor)[-1]
    closed = sim.workspace.close_modal(auditor, input_values(view, {"rationale": "The plan is reviewed monthly."},
                                                             sim.workspace.member_id))
    assert closed is not None and closed["notified"] and closed["status"] == 200
    with sim.sessions() as session:
        assert session.get_one(AuditRecord, record_id).rationale == BRADFORD_GRADES["rationale"]

    sim.at(D(2026, 12, 11), 9)
    sim.workspace.click(auditor, returned, ActionId.AMEND_AUDIT)
    blocks = {b["block_id"]: b for b in sim.workspace.view_stack(auditor)[-1]["blocks"]}
    assert blocks["rationale"]["element"]["initial_value"] == "The plan is reviewed monthly."
    assert blocks["overall"]["element"]["initial_option"]["value"] == "good"
    assert checks(sim) == [(QaCheckState.RETURNED, D(2026, 12, 15))]
