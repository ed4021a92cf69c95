"""The reflection sheet after the reflection meeting (shared/domain.md step 2; Surrey §10): the
meeting held on Thursday 10 December 2026 in the evening, the worker and the auditor get the
sheet the next working morning; the worker answers the four questions once (each required, at
most 500 characters, through the privacy guardrail); the messages are edited to say so, the
auditor gets the answers and sees them in the record form. Recording an audit with no meeting
held asks why; the month's counts never name a case."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from click.testing import CliRunner
from slack_sdk import WebClient
from sqlalchemy import select

from bot.cli import Context
from bot.cli import meetings as meetings_cli
from bot.ids import ActionId, BlockId, CallbackId
from bot.services.meetings.reflection import send_sheet
from bot.services.meetings.summary import month_summary
from bot.workspace.forms import input_values
from store.meetings import InviteeRole, MeetingInvitee, MeetingState, ReflectionMeeting, ReflectionSheet
from store.models import Allocation, AuditLog, Notification
from store.records import AuditRecord
from tests.recording import BRADFORD_GRADES, FINDINGS, NO_ACTIONS, submit
from tests.simulation import Simulation
from tests.support import TOKEN
from tests.test_scenario_exemptions import allocate_december, with_button

D = dt.date
QUINN = "quinn.qa@council.example"  # the QA coordinator: not on the case
#: Surrey §10, word for word (shared/domain.md step 2).
QUESTIONS = [
    "What do you think you have done well on this case?",
    "What have been the challenges in this case?",
    "Do you have the enough tools to enable you to undertake your role?",
    "If you had a case like this again, what would you do differently?",
]
ANSWERS = ["Regular visits and direct work.", "The family moved twice.", "Mostly; the laptop is slow.",
           "Plan the transfer earlier."]
NO_MEETING_LABEL = ("No reflection meeting has been held. Why are you recording the audit without one? "
                    "(for example, the worker is absent — Hull A.8)")
GRADES_WITHOUT_REASON = {k: v for k, v in BRADFORD_GRADES.items() if k != "no_meeting"}


def people(sim: Simulation, allocation_id: int) -> dict[str, Any]:
    with sim.sessions() as session:
        allocation = session.get_one(Allocation, allocation_id)
        return {"ref": allocation.case.reference, "worker": allocation.case.allocated_worker.email,
                "worker_name": allocation.case.allocated_worker.display_name, "auditor": allocation.auditor.email,
                "worker_id": allocation.case.allocated_worker_id}


def meeting(sim: Simulation, allocation_id: int, state: MeetingState, starts_at: dt.datetime, *, left_out: bool = False) -> int:
    """A reflection meeting of the allocation, as the arranging would leave it (the auditor proposed, the worker booked)."""
    with sim.sessions() as session, session.begin():
        allocation = session.get_one(Allocation, allocation_id)
        auditor, worker = allocation.auditor_id, allocation.case.allocated_worker_id
        row = ReflectionMeeting(
            allocation_id=allocation_id, uid=f"reflection-{allocation_id}-{state.value}@auditbot.test", state=state,
            proposed_by_id=auditor, organiser_id=auditor, place="Room 2, Civic Centre", minutes=60,
            round_sent_at=starts_at - dt.timedelta(days=5), created_at=starts_at - dt.timedelta(days=5), starts_at=starts_at,
            booked_at=starts_at - dt.timedelta(days=3), booked_by_id=worker,
            held_at=starts_at + dt.timedelta(hours=1) if state == MeetingState.HELD else None,
        )
        row.invitees = [MeetingInvitee(person_id=auditor, role=InviteeRole.AUDITOR),
                        MeetingInvitee(person_id=worker, role=InviteeRole.WORKER,
                                       left_out_reason="Absent until January" if left_out else None)]
        session.add(row)
        session.flush()
        return row.id


def send(sim: Simulation, meeting_id: int) -> int:
    """What the meeting planner does once the meeting's end has passed (it has marked it held)."""
    with sim.sessions() as session, session.begin():
        return send_sheet(session, session.get_one(ReflectionMeeting, meeting_id), sim.calendar, now=sim.clock.now)


def top(sim: Simulation, email: str) -> dict[str, Any]:
    stack = sim.workspace.view_stack(email)
    assert stack, f"{email} has no modal open"
    return stack[-1]


def answer(sim: Simulation, email: str, answers: list[str], view: dict[str, Any] | None = None) -> dict[str, Any]:
    """Type ``answers`` into the sheet's modal (by the questions' words) and submit it."""
    view = view or top(sim, email)
    typed = dict(zip(QUESTIONS, answers, strict=True))
    return sim.workspace.submit_view(email, view, input_values(view, typed, sim.workspace.member_id))


def sheet(sim: Simulation) -> ReflectionSheet | None:
    with sim.sessions() as session:
        return session.scalar(select(ReflectionSheet))


def current(sim: Simulation, email: str, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in sim.workspace.messages(user_email=email) if m["ts"] == message["ts"])


def ephemerals(sim: Simulation, email: str) -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email) if m["ephemeral"]]


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def forwarded(sim: Simulation, allocation_id: int) -> dict[str, Any]:
    """The sheet's button on a message forwarded to a channel anyone can see."""
    channel = sim.workspace.add_channel("forwarded")
    blocks = [{"type": "actions", "block_id": BlockId.REFLECTION_ACTIONS, "elements": [
        {"type": "button", "action_id": ActionId.ANSWER_REFLECTION, "text": {"type": "plain_text", "text": "Answer"},
         "value": str(allocation_id)}]}]
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(channel=channel, text="fwd", blocks=blocks)
    return next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])


def test_the_worker_answers_the_sheet_once_and_the_auditor_sees_it_with_the_audit(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    p = people(sim, first.id)
    held = meeting(sim, first.id, MeetingState.HELD, sim.calendar.utc(D(2026, 12, 10), dt.time(16, 30)))

    # the meeting ended at 17:30; at 18:00 the sheet is queued, for the next working morning
    sim.at(D(2026, 12, 10), 18)
    assert send(sim, held) == 2
    assert send(sim, held) == 0, "sending again changes nothing"
    with sim.sessions() as session:
        keys = session.scalars(select(Notification.idempotency_key).where(Notification.template == "reflection_sheet")).all()
        assert sorted(keys) == sorted(f"meeting:{held}:sheet:{pid}" for pid in (first.auditor_id, p["worker_id"]))
    sim.step(sim.clock.now)
    assert not [m for m in sim.workspace.messages(user_email=p["worker"]) if "reflection sheet" in m["text"]], "not out of hours"
    sim.step(sim.at(D(2026, 12, 11), 9))
    sent = with_button(sim, p["worker"], ActionId.ANSWER_REFLECTION)
    assert sent["text"] == (f"Your reflection meeting for case {p['ref']} was held. Please answer the reflection sheet's four "
                            "questions (a few lines each); your auditor sees the answers with the audit.")
    assert "four questions (a few lines each); your auditor sees the answers with the audit." in json.dumps(sent["blocks"])
    assert [e["text"]["text"] for b in sent["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Answer the reflection questions"]
    to_auditor = with_button(sim, p["auditor"], ActionId.ANSWER_REFLECTION)
    assert "you or the worker can fill in the reflection sheet" in to_auditor["text"]

    # the auditor opens a copy of the sheet too (it is answered once, whoever sends first)
    sim.workspace.click(p["auditor"], to_auditor, ActionId.ANSWER_REFLECTION)
    auditors_copy = top(sim, p["auditor"])

    sim.at(D(2026, 12, 11), 10)
    sim.workspace.click(p["worker"], sent, ActionId.ANSWER_REFLECTION)
    view = top(sim, p["worker"])
    assert view["callback_id"] == CallbackId.REFLECTION and json.loads(view["private_metadata"]) == {"allocation_id": first.id}
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [b["label"]["text"] for b in inputs] == QUESTIONS
    assert {b["element"]["max_length"] for b in inputs} == {500} and all(b["element"]["multiline"] for b in inputs)
    assert p["ref"] in json.dumps(view["blocks"])

    too_long = answer(sim, p["worker"], ["x" * 501, *ANSWERS[1:]])
    assert too_long["body"] == {"response_action": "errors",
                                "errors": {"reflection_done_well": "Keep this to 500 characters (it has 501)."}}
    identifying = answer(sim, p["worker"], [ANSWERS[0], "We met at LS1 4AP with mum.", *ANSWERS[2:]])
    assert identifying["body"]["response_action"] == "errors"
    [(block, error)] = identifying["body"]["errors"].items()
    assert block == "reflection_challenges" and "postcode" in error and "LS1" not in error
    empty = answer(sim, p["worker"], [ANSWERS[0], "", *ANSWERS[2:]])
    assert empty["body"]["errors"] == {"reflection_challenges": "Answer this question (a few lines)."}
    assert sheet(sim) is None, "nothing stored while a field needs a change"

    done = answer(sim, p["worker"], ANSWERS)
    assert done["status"] == 200 and not done["body"] and sim.workspace.view_stack(p["worker"]) == []
    stored = sheet(sim)
    assert stored is not None
    assert stored.answers == dict(zip(("done_well", "challenges", "tools", "differently"), ANSWERS, strict=True))
    assert (stored.allocation_id, stored.meeting_id, stored.answered_by_id) == (first.id, held, p["worker_id"])
    assert stored.answered_at == sim.clock.now
    with sim.sessions() as session:
        [logged] = session.scalars(select(AuditLog).where(AuditLog.action == "reflection.answered")).all()
        assert (logged.subject_type, logged.subject_id, logged.actor_id) == ("allocation", first.id, p["worker_id"])
        assert not any(a in json.dumps(logged.detail) for a in ANSWERS), "never the text in the log"

    # a double click before the message is edited, and the auditor's copy sent after: nothing changes
    sim.workspace.click(p["worker"], sent, ActionId.ANSWER_REFLECTION)
    assert ephemerals(sim, p["worker"])[-1].startswith(
        f"The reflection sheet for {p['ref']} was already answered by {p['worker_name']} at ")
    late = answer(sim, p["auditor"], ["Something else."] * 4, view=auditors_copy)
    assert late["body"]["response_action"] == "errors"
    assert late["body"]["errors"]["reflection_done_well"].startswith(
        f"The reflection sheet for {p['ref']} was already answered by {p['worker_name']} at ")
    assert late["body"]["errors"]["reflection_done_well"].endswith("Your answers were not saved: nothing was changed.")
    assert sheet(sim).answers["done_well"] == ANSWERS[0]  # type: ignore[union-attr]

    # the sheet messages are edited in place; the auditor gets the questions and the answers
    sim.step(sim.clock.now)
    for email, message in ((p["worker"], sent), (p["auditor"], to_auditor)):
        edited = current(sim, email, message)
        assert buttons(edited) == [] and "The reflection sheet was answered by" in json.dumps(edited["blocks"])
    answered = [m for m in sim.workspace.messages(user_email=p["auditor"])
                if m["text"] == f"{p['worker_name']} answered the reflection sheet for case {p['ref']}."]
    assert len(answered) == 1
    body = json.dumps(answered[0]["blocks"], ensure_ascii=False)
    for question, text in zip(QUESTIONS, ANSWERS, strict=True):
        assert json.dumps(f"*{question}*\n{text}", ensure_ascii=False)[1:-1] in body
    with sim.sessions() as session:
        told = session.scalars(select(Notification).where(Notification.template == "reflection_answered")).all()
        assert [n.recipient_id for n in told] == [first.auditor_id] and all(n.channel is None for n in told)

    # the record form shows the answers, and asks nothing about a meeting: one was held
    sim.workspace.click(p["auditor"], with_button(sim, p["auditor"], ActionId.RECORD_AUDIT, p["ref"]), ActionId.RECORD_AUDIT)
    form = top(sim, p["auditor"])
    shown = [b["text"]["text"] for b in form["blocks"] if b["block_id"].startswith("reflection_answer_")]
    assert shown == [f"*{q}*\n{a}" for q, a in zip(QUESTIONS, ANSWERS, strict=True)]
    assert "no_meeting" not in [b["block_id"] for b in form["blocks"]]
    for typed in (GRADES_WITHOUT_REASON, FINDINGS):
        assert submit(sim, p["auditor"], typed)["body"]["response_action"] == "push"
    assert submit(sim, p["auditor"], NO_ACTIONS)["body"] == {"response_action": "clear"}
    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord).where(AuditRecord.allocation_id == first.id)).one()
        assert record.no_meeting_reason is None


def test_a_stranger_and_a_sheet_before_the_meeting_are_refused_and_logged(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    p = people(sim, first.id)
    copy = forwarded(sim, first.id)
    sim.at(D(2026, 12, 10), 10)

    sim.workspace.click(QUINN, copy, ActionId.ANSWER_REFLECTION)
    assert ephemerals(sim, QUINN)[-1] == (
        "Only the worker on this case and its auditor can answer its reflection sheet. Nothing was changed.")
    sim.workspace.click(p["worker"], copy, ActionId.ANSWER_REFLECTION)  # the worker, but no meeting held yet
    assert ephemerals(sim, p["worker"])[-1] == (
        "The reflection sheet opens once the reflection meeting has been held. Nothing was changed.")
    assert sim.workspace.view_stack(QUINN) == [] and sim.workspace.view_stack(p["worker"]) == []
    with sim.sessions() as session:
        refused = session.scalars(select(AuditLog).where(AuditLog.action == "reflect").order_by(AuditLog.id)).all()
        assert [(e.outcome, e.subject_id, e.detail) for e in refused] == [
            ("refused", first.id, {"reason": "not_your_reflection"}), ("refused", first.id, {"reason": "no_meeting_held"})]
        assert session.scalars(select(ReflectionSheet)).all() == []


def test_a_worker_left_out_of_the_meeting_is_not_sent_the_sheet(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    p = people(sim, first.id)
    held = meeting(sim, first.id, MeetingState.HELD, sim.calendar.utc(D(2026, 12, 10), dt.time(10)), left_out=True)
    sim.at(D(2026, 12, 10), 12)
    assert send(sim, held) == 1
    sim.step(sim.clock.now)
    assert not [m for m in sim.workspace.messages(user_email=p["worker"]) if "reflection sheet" in m["text"]]
    with_button(sim, p["auditor"], ActionId.ANSWER_REFLECTION, "you or the worker can fill in the reflection sheet")


def test_recording_with_no_meeting_held_asks_why_and_keeps_the_reason_and_the_month_is_counted(sim: Simulation) -> None:
    first, second = allocate_december(sim)[:2]
    p = people(sim, first.id)
    # a meeting booked for later does not count; the form asks why there is none
    meeting(sim, first.id, MeetingState.BOOKED, sim.calendar.utc(D(2026, 12, 15), dt.time(10)))
    sim.at(D(2026, 12, 10), 10)
    sim.workspace.click(p["auditor"], with_button(sim, p["auditor"], ActionId.RECORD_AUDIT, p["ref"]), ActionId.RECORD_AUDIT)
    reason = [b for b in top(sim, p["auditor"])["blocks"] if b.get("block_id") == "no_meeting"]
    assert [(b["label"]["text"], b["optional"], b["element"]["max_length"]) for b in reason] == [(NO_MEETING_LABEL, False, 300)]
    missing = submit(sim, p["auditor"], GRADES_WITHOUT_REASON)
    assert missing["body"] == {"response_action": "errors",
                               "errors": {"no_meeting": "Say why you are recording the audit without a reflection meeting."}}
    identifying = submit(sim, p["auditor"], {**GRADES_WITHOUT_REASON, "no_meeting": "Worker off since 03/04/2015 birthday"})
    assert list(identifying["body"]["errors"]) == ["no_meeting"] and "03/04" not in identifying["body"]["errors"]["no_meeting"]
    assert submit(sim, p["auditor"], {**GRADES_WITHOUT_REASON, "no_meeting": "The worker is absent (A.8)."})["body"][
        "response_action"] == "push"
    assert submit(sim, p["auditor"], FINDINGS)["body"]["response_action"] == "push"
    assert submit(sim, p["auditor"], NO_ACTIONS)["body"] == {"response_action": "clear"}
    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord).where(AuditRecord.allocation_id == first.id)).one()
        assert record.no_meeting_reason == "The worker is absent (A.8)."

    # another audit: its meeting began (booked, an hour ago) but is not marked held yet: no reason asked
    q = people(sim, second.id)
    meeting(sim, second.id, MeetingState.BOOKED, sim.calendar.utc(D(2026, 12, 10), dt.time(9)))
    held = meeting(sim, second.id, MeetingState.HELD, sim.calendar.utc(D(2026, 12, 9), dt.time(9)))
    sim.workspace.click(q["auditor"], with_button(sim, q["auditor"], ActionId.RECORD_AUDIT, q["ref"]), ActionId.RECORD_AUDIT)
    assert "no_meeting" not in [b.get("block_id") for b in top(sim, q["auditor"])["blocks"]]
    sim.workspace.close_modal(q["auditor"])
    assert send(sim, held) >= 1
    sim.step(sim.clock.now)
    sim.workspace.click(q["worker"], with_button(sim, q["worker"], ActionId.ANSWER_REFLECTION), ActionId.ANSWER_REFLECTION)
    assert answer(sim, q["worker"], [*ANSWERS[:3], ""])["body"]["errors"] == {
        "reflection_differently": "Answer this question (a few lines)."}
    assert not answer(sim, q["worker"], ANSWERS)["body"]

    with sim.sessions() as session:
        summary = month_summary(session, D(2026, 12, 1))
    # the meeting booked for 09:00 ended at 10:00: the tick since marked it held
    assert (summary.booked, summary.held, summary.cancelled, summary.escalated) == (3, 2, 0, 0)
    assert (summary.without_meeting, summary.sheets) == (1, 1)
    assert summary.answered == {"done_well": 1, "challenges": 1, "tools": 1, "differently": 1}

    group = meetings_cli_group()
    context = Context(sim.runtime.settings, _engine=sim.runtime.engine, clock=lambda: sim.clock.now)
    result = CliRunner().invoke(group, ["meetings", "--month", "2026-12"], obj=context)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Reflection meetings for the ") and lines[0].endswith("audit(s) allocated in December 2026")
    assert lines[1:7] == ["  meetings booked: 3", "  meetings held: 2", "  meetings cancelled: 0",
                          "  invitees escalated to a group manager: 0", "  audits recorded without a meeting: 1",
                          "  reflection sheets answered: 1"]
    assert lines[7:] == [f"    1 answered: {question}" for question in QUESTIONS]
    assert p["ref"] not in result.output and q["ref"] not in result.output
    assert p["worker_name"] not in result.output and not any(a in result.output for a in ANSWERS)
    bad = CliRunner().invoke(group, ["meetings", "--month", "December"], obj=context)
    assert bad.exit_code == 2 and "YYYY-MM" in bad.output


def meetings_cli_group() -> Any:
    import click

    group = click.Group("auditbot")
    meetings_cli.register(group)
    return group
