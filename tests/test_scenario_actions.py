"""After the audit (issue 15; Hull 23-27, App. D, 4.3.4): management oversight due ten working days
after the audit is final, reminded two working days before, then weekly overdue with the team
manager's own manager copied; each action's owner gets one digest a day with Done… and Ask for
more time…; the team manager signs done actions off (or says not yet) and decides more time in
their own digest; the IRO gets a read-only summary; the audit closes once oversight is recorded
and every action is signed off."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.ids import ActionId, CallbackId, Template
from bot.services.actions.oversight import plan_oversight
from bot.services.replies.lifecycle import finalise
from store.models import Allocation, Notification, Person, Role
from store.records import ActionStatus, AuditAction, AuditRecord, RecordState
from tests.allocation_fixtures import Council
from tests.moderation_fixtures import stored_record
from tests.recording import record_audit
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, email_of, with_button

DEC_10 = D(2026, 12, 10)

IVY = "ivy.iro@council.example"


@dataclass(frozen=True)
class Final:
    """A finalised audit with actions, and the people around it."""

    record_id: int
    reference: str
    auditor: str
    worker: str
    tm: str
    tm_manager: str
    action_ids: list[int]


def finalised(sim: Simulation, day: dt.date = DEC_10, *, dues: tuple[str, ...] = ("2027-01-15", "2027-02-15"),
              iro: bool = False) -> Final:
    """December allocated; the first audit recorded on ``day`` with an action per due date, owned by
    the case's worker, and final an hour later (nothing ticked yet)."""
    first = allocate_december(sim)[0]
    auditor = email_of(sim, first.auditor_id)
    if iro:
        with sim.sessions() as session, session.begin():
            ivy = Council(session).person("Ivy Iro", Role.IRO)
            session.get_one(Allocation, first.id).case.iro_id = ivy.id
        sim.workspace.add_user(IVY, "Ivy Iro")
    sim.at(day, 10)
    with sim.sessions() as session:
        case = session.get_one(Allocation, first.id).case
        worker, tm = case.allocated_worker, case.team_manager
        people = (worker.email, tm.email, tm.line_manager.email, str(worker.id))
    actions: dict[str, str] = {}
    for n, due in enumerate(dues, start=1):
        actions |= {f"action_{n}_what": f"Action {n}: update the plan", f"action_{n}_owner": people[3], f"action_{n}_due": due}
    answer = record_audit(sim, auditor, with_button(sim, auditor, ActionId.RECORD_AUDIT), actions=actions)
    assert answer["body"] == {"response_action": "clear"}
    sim.at(day, 11)
    with sim.sessions() as session, session.begin():
        record = session.scalars(select(AuditRecord)).one()
        finalise(session, record, sim.runtime.settings, sim.calendar, now=sim.clock.now)
        ids = [a.id for a in record.actions]
        return Final(record.id, record.allocation.case.reference, auditor, *people[:3], ids)


def run_days(sim: Simulation, start: dt.date, end: dt.date, *emails: str) -> list[tuple[str, dt.date, str]]:
    """Tick at 10:00 each day from ``start`` to ``end`` (exclusive): who got what new message on which day."""
    seen = {(e, m["ts"]) for e in emails for m in sim.workspace.messages(user_email=e)}
    got: list[tuple[str, dt.date, str]] = []
    day = start
    while day < end:
        sim.step(sim.at(day, 10))
        for email in emails:
            for m in sim.workspace.messages(user_email=email):
                if (email, m["ts"]) not in seen and not m["ephemeral"]:
                    seen.add((email, m["ts"]))
                    got.append((email, day, m["text"]))
        day += dt.timedelta(days=1)
    return got


def texts(sim: Simulation, email: str, start: str = "") -> list[str]:
    return [m["text"] for m in sim.workspace.messages(user_email=email) if not m["ephemeral"] and m["text"].startswith(start)]


def last(sim: Simulation, email: str, start: str) -> dict[str, Any]:
    mine = sim.workspace.messages(user_email=email)
    return next(m for m in reversed(mine) if not m["ephemeral"] and m["text"].startswith(start))


def current(sim: Simulation, email: str, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in sim.workspace.messages(user_email=email) if m["ts"] == message["ts"])


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def answer_to(sim: Simulation, email: str) -> str:
    """The last ephemeral answer the person got."""
    return [m["text"] for m in sim.workspace.messages(user_email=email) if m["ephemeral"]][-1]


def click(sim: Simulation, email: str, message: dict[str, Any], action: ActionId, value: int) -> str:
    sim.workspace.click(email, message, action, value=str(value))
    return answer_to(sim, email)


def submit_form(sim: Simulation, email: str, message: dict[str, Any], action: ActionId, value: int, text: str,
                new_date: str | None = None) -> dict[str, Any]:
    """Click ``action`` (which opens the action's modal) and submit ``text`` (and ``new_date``)."""
    sim.workspace.click(email, message, action, value=str(value))
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == CallbackId.ACTION
    block = "note" if action == ActionId.ACTION_DONE else "reason"
    values: dict[str, Any] = {block: {block: {"type": "plain_text_input", "value": text}}}
    if new_date is not None:
        values["new_date"] = {"new_date": {"type": "datepicker", "selected_date": new_date}}
    return sim.workspace.submit_view(email, view, values)


def action_rows(sim: Simulation) -> list[tuple[ActionStatus, dt.date, str | None]]:
    with sim.sessions() as session:
        return [(a.status, a.due_date, a.extension_state) for a in session.scalars(select(AuditAction).order_by(AuditAction.id))]


def record_of(sim: Simulation) -> AuditRecord:
    with sim.sessions() as session:
        return session.scalars(select(AuditRecord)).one()


@pytest.mark.parametrize(("finalised_on", "due"), [
    (D(2026, 5, 21), D(2026, 6, 5)),  # Thursday; Monday 25 May is a bank holiday
    (D(2026, 12, 18), D(2027, 1, 6)),  # Friday; Christmas, Boxing Day (on the 28th) and New Year's Day
])
def test_oversight_is_due_ten_working_days_after_the_audit_is_final(sim: Simulation, finalised_on: dt.date, due: dt.date) -> None:
    with sim.sessions() as session, session.begin():
        allocation = session.scalars(select(Allocation)).first() or _one_allocation(session)
        record = stored_record(session, allocation, now=sim.calendar.utc(finalised_on, dt.time(10)))
        record.state, record.finalised_at = RecordState.FINALISED, sim.calendar.utc(finalised_on, dt.time(16))
        tm_id = allocation.case.team_manager_id
        at = sim.calendar.utc(finalised_on, dt.time(16, 30))
        plan_oversight(session, sim.runtime.settings, sim.calendar, now=at)
        plan_oversight(session, sim.runtime.settings, sim.calendar, now=at)  # a second tick changes nothing
        assert record.oversight_due == due
        sent = session.scalars(select(Notification).where(Notification.template == Template.OVERSIGHT.value)).all()
        assert [(n.recipient_id, n.context["stage"], n.context["due"]) for n in sent] == [(tm_id, "due", due.isoformat())]


def _one_allocation(session: Any) -> Allocation:
    from store.models import Case

    case = session.scalars(select(Case).order_by(Case.id)).first()
    auditor = session.scalars(select(Person).where(Person.display_name == "Hana Head")).one()
    return Council(session).allocation(case, auditor, D(2026, 5, 1))


def test_oversight_reminded_then_overdue_weekly_with_the_managers_manager_copied(sim: Simulation) -> None:
    f = finalised(sim)
    sim.step(sim.clock.now)
    assert record_of(sim).oversight_due == D(2026, 12, 24)
    due = last(sim, f.tm, "Oversight due")
    assert due["text"] == f"Oversight due Thursday 24 December 2026: the audit of case {f.reference} is final."
    assert buttons(due) == [ActionId.OVERSIGHT_RECORDED, ActionId.SUPERVISION_DISCUSSED]

    got = run_days(sim, D(2026, 12, 11), D(2027, 1, 9), f.tm, f.tm_manager)
    reminders = [(day, text) for who, day, text in got if who == f.tm and "oversight" in text.lower()]
    assert reminders == [
        (D(2026, 12, 22), f"Reminder: oversight of the audit of case {f.reference} is due Thursday 24 December 2026."),
        (D(2026, 12, 29), f"Oversight overdue: the audit of case {f.reference} needed it by Thursday 24 December 2026."),
        (D(2027, 1, 5), f"Oversight overdue: the audit of case {f.reference} needed it by Thursday 24 December 2026."),
    ]  # the first working day after the due day, then a week later
    copies = [day for who, day, text in got if who == f.tm_manager and text.startswith("Copy: ") and "oversight" in text]
    assert copies == [D(2026, 12, 29), D(2027, 1, 5)]
    assert buttons(last(sim, f.tm_manager, "Copy: ")) == [], "the manager is copied, not asked"

    overdue = last(sim, f.tm, "Oversight overdue")
    assert click(sim, f.tm, overdue, ActionId.OVERSIGHT_RECORDED, f.record_id) == (
        f"Management oversight of the audit of {f.reference} is recorded.")
    assert click(sim, f.tm, due, ActionId.OVERSIGHT_RECORDED, f.record_id).startswith(
        f"Management oversight of the audit of {f.reference} was already recorded by ")
    sim.step(sim.clock.now)
    edited = current(sim, f.tm, due)
    assert buttons(edited) == [ActionId.SUPERVISION_DISCUSSED] and "Oversight recorded by" in str(edited["blocks"])
    assert buttons(current(sim, f.tm, overdue)) == [ActionId.SUPERVISION_DISCUSSED]
    assert click(sim, f.tm, edited, ActionId.SUPERVISION_DISCUSSED, f.record_id).endswith("is recorded.")
    sim.step(sim.clock.now)
    assert buttons(current(sim, f.tm, due)) == []
    before = len(texts(sim, f.tm, "Oversight overdue"))
    run_days(sim, D(2027, 1, 9), D(2027, 1, 20), f.tm)
    assert len(texts(sim, f.tm, "Oversight overdue")) == before, "no more chasing once recorded"
    record = record_of(sim)
    assert record.oversight_recorded_at is not None and record.supervision_at is not None and record.closed_at is None


def test_one_digest_per_person_per_day_and_due_reminders(sim: Simulation) -> None:
    f = finalised(sim, dues=("2026-12-16", "2026-12-23", "2027-02-15"))
    sim.step(sim.clock.now)
    sim.step(sim.at(D(2026, 12, 10), 14))
    digests = texts(sim, f.worker, "Audit actions for")
    assert digests == ["Audit actions for Thursday 10 December 2026: 3 of your actions."]
    digest = last(sim, f.worker, "Audit actions for")
    assert buttons(digest) == [ActionId.ACTION_DONE, ActionId.ACTION_MORE_TIME] * 3

    got = run_days(sim, D(2026, 12, 11), D(2026, 12, 18), f.worker, f.tm, f.tm_manager)
    days = [day for who, day, text in got if who == f.worker and text.startswith("Audit actions for")]
    assert days == [D(2026, 12, 14), D(2026, 12, 16), D(2026, 12, 17)]  # 2 WD before, the day, overdue
    assert texts(sim, f.worker, "Audit actions for Monday 14")[0].endswith("1 of your actions.")
    overdue = last(sim, f.worker, "Audit actions for Thursday 17")
    assert "Overdue: it was due Wednesday 16 December 2026" in str(overdue["blocks"])
    team = [day for who, day, text in got if who in (f.tm, f.tm_manager) and text.startswith("Audit actions for")]
    assert team == [D(2026, 12, 17), D(2026, 12, 17)], "the team manager and their manager told of the overdue action"
    assert "overdue in your teams" in last(sim, f.tm_manager, "Audit actions for")["text"]
    with sim.sessions() as session:
        sent = session.scalars(select(Notification).where(Notification.template == Template.ACTIONS_DIGEST.value)).all()
        assert {n.channel for n in sent} == {None}, "actions never go to a channel"


def test_done_then_sign_off_closes_the_audit_once_oversight_is_recorded(sim: Simulation) -> None:
    f = finalised(sim, dues=("2027-01-15",))
    sim.step(sim.clock.now)
    digest = last(sim, f.worker, "Audit actions for")
    answer = submit_form(sim, f.worker, digest, ActionId.ACTION_DONE, f.action_ids[0], "Plan updated at the review.")
    assert answer["status"] == 200 and not answer["body"]
    assert action_rows(sim) == [(ActionStatus.DONE, D(2027, 1, 15), None)]
    assert click(sim, f.worker, digest, ActionId.ACTION_DONE, f.action_ids[0]).startswith("Nothing was changed: for Action 1")

    sim.step(sim.at(D(2026, 12, 11), 9))
    to_sign = last(sim, f.tm, "Audit actions for Friday 11")
    assert to_sign["text"] == "Audit actions for Friday 11 December 2026: 1 to decide."
    assert "says it is done: Plan updated at the review." in str(to_sign["blocks"])
    assert buttons(to_sign) == [ActionId.ACTION_SIGN_OFF, ActionId.ACTION_NOT_YET]
    oversight = last(sim, f.tm, "Oversight due")
    click(sim, f.tm, oversight, ActionId.OVERSIGHT_RECORDED, f.record_id)
    assert record_of(sim).closed_at is None, "an action is still to sign off"

    assert click(sim, f.tm, to_sign, ActionId.ACTION_SIGN_OFF, f.action_ids[0]) == (
        f"Signed off: Action 1: update the plan ({f.reference}). Oversight is recorded and every action is signed off, "
        "so the audit is closed.")
    second = click(sim, f.tm, to_sign, ActionId.ACTION_SIGN_OFF, f.action_ids[0])
    assert second.startswith("Nothing was changed: for Action 1: update the plan") and "already signed off by" in second
    record = record_of(sim)
    assert record.closed_at is not None
    with sim.sessions() as session:
        signed = session.scalars(select(Notification).where(Notification.template == Template.AUDIT_CLOSED.value)).all()
        assert len(signed) == 3, "the auditor, team manager and worker are told, once"
        from store.models import AuditLog

        assert len(session.scalars(select(AuditLog).where(AuditLog.action == "action.sign_off")).all()) == 1
    sim.step(sim.clock.now)
    assert texts(sim, f.worker, "The audit of case")[-1] == (
        f"The audit of case {f.reference} is closed: management oversight is recorded and every action is signed off.")


def test_not_yet_sends_it_back_to_the_owner_with_the_reason(sim: Simulation) -> None:
    f = finalised(sim, dues=("2027-01-15",))
    sim.step(sim.clock.now)
    submit_form(sim, f.worker, last(sim, f.worker, "Audit actions for"), ActionId.ACTION_DONE, f.action_ids[0], "Done.")
    sim.step(sim.at(D(2026, 12, 11), 9))
    to_sign = last(sim, f.tm, "Audit actions for")
    answer = submit_form(sim, f.tm, to_sign, ActionId.ACTION_NOT_YET, f.action_ids[0], "The plan still lacks dates.")
    assert answer["body"] in ("", {})
    assert action_rows(sim) == [(ActionStatus.OPEN, D(2027, 1, 15), None)]
    assert click(sim, f.tm, to_sign, ActionId.ACTION_SIGN_OFF, f.action_ids[0]).startswith("Nothing was changed")
    sim.step(sim.at(D(2026, 12, 14), 9))
    back = last(sim, f.worker, "Audit actions for Monday 14")
    assert "Your team manager says not yet: The plan still lacks dates." in str(back["blocks"])
    assert buttons(back) == [ActionId.ACTION_DONE, ActionId.ACTION_MORE_TIME]


def test_more_time_agreed_moves_the_due_date(sim: Simulation) -> None:
    f = finalised(sim, dues=("2027-01-15",))
    sim.step(sim.clock.now)
    digest = last(sim, f.worker, "Audit actions for")
    too_early = submit_form(sim, f.worker, digest, ActionId.ACTION_MORE_TIME, f.action_ids[0], "Review moved.", "2027-01-10")
    assert "new_date" in too_early["body"]["errors"]
    view = sim.workspace.view_stack(f.worker)[-1]
    ok = sim.workspace.submit_view(f.worker, view, {
        "new_date": {"new_date": {"type": "datepicker", "selected_date": "2027-02-12"}},
        "reason": {"reason": {"type": "plain_text_input", "value": "The review moved to February."}},
    })
    assert ok["status"] == 200 and not ok["body"]
    assert action_rows(sim) == [(ActionStatus.OPEN, D(2027, 1, 15), "pending")]
    sim.step(sim.at(D(2026, 12, 11), 9))
    request = last(sim, f.tm, "Audit actions for")
    assert buttons(request) == [ActionId.AGREE_MORE_TIME, ActionId.DECLINE_MORE_TIME]
    assert click(sim, f.tm, request, ActionId.AGREE_MORE_TIME, f.action_ids[0]) == (
        f"Agreed: Action 1: update the plan ({f.reference}) is now due Friday 12 February 2027.")
    assert "already agreed by" in click(sim, f.tm, request, ActionId.DECLINE_MORE_TIME, f.action_ids[0])
    assert action_rows(sim) == [(ActionStatus.OPEN, D(2027, 2, 12), "approved")]
    sim.step(sim.at(D(2026, 12, 14), 9))
    told = last(sim, f.worker, "Audit actions for Monday 14")
    assert "More time agreed: now due Friday 12 February 2027." in str(told["blocks"])


def test_the_iro_gets_a_read_only_summary_of_the_actions(sim: Simulation) -> None:
    f = finalised(sim, iro=True)
    sim.step(sim.clock.now)
    sim.step(sim.at(D(2026, 12, 11), 9))
    summary = texts(sim, IVY, "Actions from the audit")
    assert summary == [f"Actions from the audit of case {f.reference}: 2 action(s), for your information."]
    message = last(sim, IVY, "Actions from the audit")
    assert buttons(message) == [] and "Action 2: update the plan" in str(message["blocks"])
    assert texts(sim, IVY, "Audit actions for") == [], "the IRO is sighted, not chased"


def test_the_store_refuses_an_action_with_no_owner_or_date(sim: Simulation) -> None:
    with sim.sessions() as session:
        allocation = _one_allocation(session)
        record = stored_record(session, allocation, now=sim.clock.now)
        for missing in ({"owner_id": None}, {"due_date": None}):
            with pytest.raises(IntegrityError), session.begin_nested():
                values = {"record_id": record.id, "text": "Update the plan", "owner_id": allocation.auditor_id,
                          "due_date": D(2027, 1, 15), "created_at": sim.clock.now, **missing}
                session.add(AuditAction(**values))
                session.flush()
        session.rollback()


def test_qa_lists_the_final_audits_still_waiting_for_oversight_or_sign_off(sim: Simulation) -> None:
    from bot.services.actions.report import describe, waiting

    f = finalised(sim)
    sim.step(sim.clock.now)
    submit_form(sim, f.worker, last(sim, f.worker, "Audit actions for"), ActionId.ACTION_DONE, f.action_ids[0], "Done.")
    with sim.sessions() as session:
        rows, closed = waiting(session, sim.calendar, D(2026, 12, 1))
        assert closed == 0 and waiting(session, sim.calendar, D(2026, 11, 1)) == ([], 0)
    assert [describe(r, D(2026, 12, 28)) for r in rows] == [
        f"{f.reference}  Assessment Team North  finalised 10 Dec 2026  oversight due 24 Dec 2026 OVERDUE  "
        "actions: 1 open, 1 done (to sign off), 0 signed off"
    ]


def test_an_audit_without_actions_closes_when_oversight_is_recorded(sim: Simulation) -> None:
    f = finalised(sim, dues=())
    sim.step(sim.clock.now)
    assert texts(sim, f.worker, "Audit actions for") == []
    oversight = last(sim, f.tm, "Oversight due")
    assert "The audit has no actions." in str(oversight["blocks"])
    assert click(sim, f.tm, oversight, ActionId.OVERSIGHT_RECORDED, f.record_id) == (
        f"Management oversight of the audit of {f.reference} is recorded. Nothing else is outstanding, so the audit is closed.")
    assert record_of(sim).closed_at == sim.clock.now
    sim.step(sim.clock.now)
    assert texts(sim, f.auditor, "The audit of case")[-1] == (
        f"The audit of case {f.reference} is closed: management oversight is recorded; it had no actions.")
