"""An auditor's own breaks: ``/audit breaks`` lists them, and Cancel gives one up until its month is
allocated (issue 12, item 11). Service level first, then through the real app and workspace."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.handlers.breaks import break_ref
from bot.handlers.payloads import PayloadError
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.allocation.service import AllocationRequest, allocate
from bot.services.authz import Decision, RefusalCode
from bot.services.breaks.mine import BreakRef, cancel_break, my_breaks
from store.models import Allocation, AuditBreak, AuditLog, BreakState, Notification, NotificationState, Person, Role
from tests.allocation_fixtures import Council
from tests.simulation import Simulation
from tests.test_breaks import NOW, RULES, TODAY, ask, staff

D = dt.date
DEC, JAN, MAR = D(2026, 12, 1), D(2027, 1, 1), D(2027, 3, 1)


def listing(sessions: sessionmaker[Session], person_id: int | None, *, today: dt.date = TODAY) -> tuple[Decision, dict[str, Any]]:
    with sessions() as s, s.begin():
        person = s.get(Person, person_id) if person_id is not None else None
        return my_breaks(s, person, RULES, today=today, now=NOW, actor_ref="U-me")


def ref_of(sessions: sessionmaker[Session], person_id: int, month: dt.date) -> BreakRef:
    with sessions() as s:
        row = s.scalars(select(AuditBreak).where(AuditBreak.person_id == person_id, AuditBreak.month == month)).one()
        return BreakRef.of(row)


def cancel(
    sessions: sessionmaker[Session], person_id: int | None, ref: BreakRef, *, today: dt.date = TODAY, actor: str = "U-me"
) -> tuple[Decision, dict[str, Any]]:
    """A click on Cancel, in its own unit of work as the handler does it."""
    with sessions() as s, s.begin():
        person = s.get(Person, person_id) if person_id is not None else None
        return cancel_break(s, person, ref, RULES, today=today, now=NOW, actor_ref=actor)


def state(sessions: sessionmaker[Session], person_id: int, month: dt.date) -> BreakState:
    with sessions() as s:
        return s.scalars(select(AuditBreak.state).where(AuditBreak.person_id == person_id, AuditBreak.month == month)).one()


def cancel_log(sessions: sessionmaker[Session]) -> list[tuple[str, str, int | None, dict[str, Any]]]:
    with sessions() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action.in_(["break.cancel", "cancel_break"])).order_by(AuditLog.id))
        return [(r.action, r.outcome, r.actor_id, r.detail) for r in rows]


def shown(context: dict[str, Any]) -> tuple[list[tuple[str, str, bool]], list[str]]:
    """(month, state, has a Cancel button) for each upcoming break, and the recent months."""
    return [(b["month"], b["state"], b["cancel"] is not None) for b in context["upcoming"]], context["recent"]


# --- the list ---------------------------------------------------------------------------------


def test_the_list_shows_upcoming_breaks_with_cancel_buttons_and_recent_ones_briefly(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s, s.begin():
        c, _team, people = staff(s, 10)
        alex, other = people[0], people[1]
        c.audit_break(alex, D(2025, 10, 1))  # more than 12 months ago: not shown
        c.audit_break(alex, D(2026, 3, 1))  # recent
        c.audit_break(alex, D(2026, 6, 1), BreakState.CANCELLED)  # recent but cancelled: not a break taken
        c.audit_break(alex, D(2026, 11, 1))  # this month, allocated (the scheduler ran)
        c.month(D(2026, 11, 1)).auto_allocated_at = NOW - dt.timedelta(days=20)
        c.audit_break(alex, JAN, BreakState.CANCELLED)
        c.audit_break(alex, D(2027, 2, 1), BreakState.REFUSED)  # refused requests are not breaks
        c.audit_break(alex, MAR)
        c.audit_break(other, DEC)  # someone else's
        alex_id = alex.id

    decision, context = listing(session_factory, alex_id)

    assert decision.allowed
    assert shown(context) == (
        [("2026-11-01", "approved", False), ("2027-01-01", "cancelled", False), ("2027-03-01", "approved", True)],
        ["2026-03-01"],
    )
    assert (context["auditor"], context["latest"], context["per_year"], context["notice"]) == (True, "2027-11-01", 2, None)
    payload = render(Template.MY_BREAKS, context)
    assert payload["text"] == "2 audit break(s) booked from this month on."
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert texts == [
        "*November 2026* · booked. The month's audits are allocated, so it can no longer be cancelled here: "
        "please ask the QA team.",
        "~January 2027~ · Cancelled",
        "*March 2027* · booked: no audits will be allocated to you",
        "Breaks in the last 12 months: March 2026.",
    ]
    buttons = [b["accessory"] for b in payload["blocks"] if "accessory" in b]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (ActionId.CANCEL_BREAK, ref_of(session_factory, alex_id, MAR).value)
    ]
    assert buttons[0]["confirm"]["confirm"]["text"] == "Cancel the break"


def test_anyone_in_the_programme_may_list_their_breaks_a_stranger_is_refused_and_logged(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s, s.begin():
        c, team, _ = staff(s, 5)
        wendy = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=team).id

    decision, context = listing(session_factory, wendy)
    assert decision.allowed and context["upcoming"] == [] and context["auditor"] is False
    texts = [b["text"]["text"] for b in render(Template.MY_BREAKS, context)["blocks"] if b["type"] == "section"]
    assert texts == ["You have no audit breaks booked from this month on."]
    assert render(Template.MY_BREAKS, context)["blocks"][-1]["elements"][0]["text"] == "Only auditors take audit breaks."

    refused, nothing = listing(session_factory, None)
    assert (refused.code, nothing) == (RefusalCode.UNKNOWN_PERSON, {})
    with session_factory() as s:
        entries = s.scalars(select(AuditLog)).all()
        assert [(e.action, e.outcome, e.detail) for e in entries] == [
            ("view_own_breaks", "refused", {"reason": "unknown_person"})
        ]


# --- cancelling -------------------------------------------------------------------------------


def test_cancel_frees_the_month_logs_it_and_says_cancelled_once(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 5)  # 20% of 5: one break a month
        alex, bea = people[0].id, people[1].id
    assert ask(session_factory, alex).approved
    assert ask(session_factory, bea).reason is not None  # December is full
    ref = ref_of(session_factory, alex, DEC)

    decision, context = cancel(session_factory, alex, ref)
    again, second = cancel(session_factory, alex, ref)  # the double click

    assert decision.allowed and again.allowed
    assert state(session_factory, alex, DEC) == BreakState.CANCELLED
    assert context["notice"] == {"kind": "cancelled", "month": "2026-12-01"}
    assert shown(context) == ([("2026-12-01", "cancelled", False)], [])
    assert render(Template.MY_BREAKS, context)["text"] == (
        "Cancelled your audit break in December 2026: you can be allocated audits that month again. "
        "0 audit break(s) booked from this month on."
    )
    assert second["notice"] == {"kind": "already", "month": "2026-12-01"}
    assert render(Template.MY_BREAKS, second)["blocks"][1]["text"]["text"] == (
        "Your audit break in December 2026 was already cancelled. Nothing was changed."
    )
    with session_factory() as s:
        break_id = s.scalars(select(AuditBreak.id).where(AuditBreak.person_id == alex)).one()
    assert cancel_log(session_factory) == [("break.cancel", "ok", alex, {"month": "2026-12-01", "reason": None})]
    with session_factory() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "break.cancel")).one()
        assert (entry.subject_type, entry.subject_id, entry.actor_ref) == ("audit_break", break_id, "U-me")
    assert ask(session_factory, bea).approved, "the place is free again"


def test_an_old_button_never_cancels_a_later_booking_of_the_same_month(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id
    assert ask(session_factory, alex).approved
    old = ref_of(session_factory, alex, DEC)
    cancel(session_factory, alex, old)
    assert ask(session_factory, alex, now=NOW + dt.timedelta(hours=1)).approved  # booked again
    new = ref_of(session_factory, alex, DEC)
    assert new != old and new.break_id == old.break_id

    _, context = cancel(session_factory, alex, old)  # the old list's Cancel, clicked late

    assert state(session_factory, alex, DEC) == BreakState.APPROVED
    assert context["notice"] == {"kind": "rebooked", "month": "2026-12-01"}
    assert [(b["state"], b["cancel"]) for b in context["upcoming"]] == [("approved", new.value)]
    assert len(cancel_log(session_factory)) == 1
    cancel(session_factory, alex, new)
    assert state(session_factory, alex, DEC) == BreakState.CANCELLED


@pytest.mark.parametrize("how", ["scheduled", "by hand"])
def test_a_break_in_an_allocated_month_cannot_be_cancelled(session_factory: sessionmaker[Session], how: str) -> None:
    """Cancelling would give the auditor no audits (nothing more is allocated): refused, logged, told to ask QA."""
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        alex = people[0].id
    assert ask(session_factory, alex).approved
    ref = ref_of(session_factory, alex, DEC)
    with session_factory() as s, s.begin():  # December is allocated before the (stale) list's Cancel is clicked
        c = Council(s)
        if how == "scheduled":
            c.month(DEC).auto_allocated_at = NOW
        else:
            c.allocation(c.case("CMS-1", c.team("Assessment Team North")), s.get_one(Person, people[1].id), DEC)

    decision, context = cancel(session_factory, alex, ref)

    assert decision.allowed  # it is theirs; the month is closed
    assert state(session_factory, alex, DEC) == BreakState.APPROVED
    assert context["notice"] == {"kind": "allocated", "month": "2026-12-01"}
    assert shown(context) == ([("2026-12-01", "approved", False)], [])
    assert render(Template.MY_BREAKS, context)["blocks"][1]["text"]["text"] == (
        ":no_entry: Your audit break in December 2026 can't be cancelled: the month's audits have already been "
        "allocated, and cancelling now would not give you any. If you can audit that month after all, please tell "
        "the QA team. Nothing was changed."
    )
    assert cancel_log(session_factory) == [("break.cancel", "refused", alex, {"month": "2026-12-01", "reason": "allocated"})]


def test_a_break_that_is_over_cannot_be_cancelled(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        alex = people[0].id
        c.audit_break(people[0], D(2026, 10, 1))
    ref = ref_of(session_factory, alex, D(2026, 10, 1))

    _, context = cancel(session_factory, alex, ref)

    assert state(session_factory, alex, D(2026, 10, 1)) == BreakState.APPROVED
    assert context["notice"] == {"kind": "over", "month": "2026-10-01"}
    assert cancel_log(session_factory) == [("break.cancel", "refused", alex, {"month": "2026-10-01", "reason": "over"})]


@pytest.mark.parametrize("who", ["another auditor", "qa", "head of service", "nobody"])
def test_only_the_auditor_whose_break_it_is_may_cancel_it(session_factory: sessionmaker[Session], who: str) -> None:
    with session_factory() as s, s.begin():
        c, team, people = staff(s, 10)
        alex = people[0].id
        clicker = {
            "another auditor": people[1].id,
            "qa": c.person("Quinn Qa", Role.QA_COORDINATOR, team=team).id,
            "head of service": c.person("Hana Head", Role.HEAD_OF_SERVICE).id,
            "nobody": None,
        }[who]
    assert ask(session_factory, alex).approved
    ref = ref_of(session_factory, alex, DEC)

    decision, context = cancel(session_factory, clicker, ref, actor="U-other")

    code = RefusalCode.UNKNOWN_PERSON if who == "nobody" else RefusalCode.NOT_YOUR_BREAK
    assert (decision.allowed, decision.code, context) == (False, code, {})
    assert state(session_factory, alex, DEC) == BreakState.APPROVED
    assert cancel_log(session_factory) == [("cancel_break", "refused", clicker, {"reason": code.value})]
    assert render(Template.REFUSAL, {"code": "not_your_break"})["text"] == (
        "Only the auditor whose audit break it is can cancel it. Nothing was changed."
    )


def test_a_break_that_does_not_exist_is_logged_as_such_and_told_as_not_yours(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id

    decision, _ = cancel(session_factory, alex, BreakRef(999_999, 1))

    assert (decision.allowed, decision.code) == (False, RefusalCode.NOT_YOUR_BREAK)
    assert cancel_log(session_factory) == [
        ("cancel_break", "refused", alex, {"reason": "no_such_break", "told": "not_your_break"})
    ]


def test_cancelling_edits_the_notices_to_the_head_of_service_and_qa_in_place(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 5)  # one break fills the month: every Head of Service is told too
        head = c.person("Hana Head", Role.HEAD_OF_SERVICE)
        other_head = c.person("Olly Head", Role.HEAD_OF_SERVICE)
        qa = c.person("Quinn Qa", Role.QA_COORDINATOR)
        for p in people:
            p.line_manager = head
        alex, told = people[0].id, {head.id, other_head.id, qa.id}
    assert ask(session_factory, alex).approved
    ref = ref_of(session_factory, alex, DEC)

    cancel(session_factory, alex, ref)
    cancel(session_factory, alex, ref)

    with session_factory() as s:
        rows = s.scalars(select(Notification).where(Notification.template == Template.BREAK_NOTICE.value)
                         .order_by(Notification.id)).all()
        originals = {n.idempotency_key: n.recipient_id for n in rows if n.replaces_key is None}
        edits = [n for n in rows if n.replaces_key is not None]
    assert set(originals.values()) == told
    assert sorted((originals[n.replaces_key], n.recipient_id, n.idempotency_key) for n in edits) == sorted(
        (pid, pid, f"{key}:cancelled") for key, pid in originals.items()
    ), "one edit of each notice, to its recipient, however often Cancel is clicked"
    assert render(Template.BREAK_NOTICE, edits[0].context)["text"] == (
        "Auditor 00 cancelled their audit break in December 2026: they can be allocated audits that month again "
        "(0 of at most 1 auditors on a break now)."
    )


def test_two_cancels_racing_cancel_once(session_factory: sessionmaker[Session], engine: Engine) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        c.month(DEC)
        alex = people[0].id
    assert ask(session_factory, alex).approved
    ref = ref_of(session_factory, alex, DEC)
    postgres = engine.dialect.name == "postgresql"
    barrier = threading.Barrier(2, timeout=30)
    notices: list[str] = []
    errors: list[BaseException] = []

    def click() -> None:
        try:
            if not postgres:  # SQLite transactions take the write lock at BEGIN: meet before it
                barrier.wait()
            with session_factory() as s, s.begin():
                person = s.get_one(Person, alex)
                if postgres:
                    barrier.wait()
                _, context = cancel_break(s, person, ref, RULES, today=TODAY, now=NOW, actor_ref="U-me")
                notices.append(context["notice"]["kind"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(notices) == ["already", "cancelled"]
    assert len(cancel_log(session_factory)) == 1


@pytest.mark.parametrize("value", ["", "12", "12:", ":5", "abc:5", "12:x", "0:5", "12:-5", "12:5:6", "12:" + "9" * 20, "１２:5"])  # noqa: RUF001 - full-width digits on purpose
def test_a_malformed_cancel_value_is_unreadable(value: str) -> None:
    with pytest.raises(PayloadError):
        break_ref(value)


def test_a_cancel_value_round_trips() -> None:
    assert break_ref(BreakRef(12, 1795430400123456).value) == BreakRef(12, 1795430400123456)


# --- through the real app ------------------------------------------------------------------------


def ephemerals(sim: Simulation, email: str) -> list[dict[str, Any]]:
    return [m for m in sim.workspace.messages(user_email=email) if m["ephemeral"]]


def cancel_buttons(message: dict[str, Any]) -> list[str]:
    return [b["accessory"]["value"] for b in message["blocks"]
            if b.get("accessory", {}).get("action_id") == ActionId.CANCEL_BREAK]


def test_an_auditor_lists_their_breaks_and_cancels_one_the_list_is_edited_in_place(
    sim: Simulation, emails: dict[str, str]
) -> None:
    ben, tara = emails["Ben Teamlead"], emails["Tara Teamlead"]
    sim.at(D(2026, 11, 23))
    sim.workspace.slash_command(ben, "/audit", "break 2027-01")
    sim.workspace.slash_command(ben, "/audit", "break 2027-12")  # 13 months ahead
    sim.workspace.slash_command(tara, "/audit", "break 2027-01")  # 5 auditors: January is full
    booked, too_far = [m["text"] for m in ephemerals(sim, ben)]
    assert booked == "Your audit break is booked: no audits will be allocated to you in January 2027."
    assert too_far == (
        "Your audit break was not booked. Breaks can be booked at most 12 months ahead: the furthest you can book now "
        "is November 2027. Please ask again nearer the time."
    )

    sim.workspace.slash_command(ben, "/audit", "breaks")
    sim.workspace.slash_command(ben, "/audit", "breaks")  # a second list, left open
    first, second = ephemerals(sim, ben)[-2:]
    assert first["text"] == "1 audit break(s) booked from this month on."
    assert len(cancel_buttons(first)) == 1 and cancel_buttons(first) == cancel_buttons(second)

    sim.workspace.click(ben, first, ActionId.CANCEL_BREAK)
    sim.workspace.click(ben, second, ActionId.CANCEL_BREAK)  # the same break, from the other list

    after = {m["ts"]: m for m in ephemerals(sim, ben)}
    assert len(after) == 4, "both lists were edited in place; nothing new was posted"
    edited, late = after[first["ts"]], after[second["ts"]]
    assert edited["text"].startswith("Cancelled your audit break in January 2027: you can be allocated audits that month again.")
    assert late["text"].startswith("Your audit break in January 2027 was already cancelled. Nothing was changed.")
    for message in (edited, late):
        assert cancel_buttons(message) == []
        assert "~January 2027~ · Cancelled" in [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    with sim.sessions() as session:
        assert session.scalars(select(AuditBreak.state).where(AuditBreak.month == JAN, AuditBreak.reason == "")).all() == [
            BreakState.CANCELLED
        ]
        assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "break.cancel")) == 1

    sim.workspace.slash_command(tara, "/audit", "break 2027-01")  # the place is free again
    assert ephemerals(sim, tara)[-1]["text"] == "Your audit break is booked: no audits will be allocated to you in January 2027."


def test_someone_else_clicking_a_forwarded_cancel_is_refused_and_nothing_changes(sim: Simulation, emails: dict[str, str]) -> None:
    from slack_sdk import WebClient

    from tests.support import TOKEN

    ben, tara = emails["Ben Teamlead"], emails["Tara Teamlead"]
    sim.at(D(2026, 11, 23))
    sim.workspace.slash_command(ben, "/audit", "break 2027-01")
    sim.workspace.slash_command(ben, "/audit", "breaks")
    listed = ephemerals(sim, ben)[-1]
    channel = sim.workspace.add_channel("forwarded")
    posted = WebClient(token=TOKEN, base_url=sim.workspace.base_url).chat_postMessage(
        channel=channel, text="fwd", blocks=listed["blocks"]
    )
    copy = next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"])

    sim.workspace.click(tara, copy, ActionId.CANCEL_BREAK)

    assert ephemerals(sim, tara)[-1]["text"] == "Only the auditor whose audit break it is can cancel it. Nothing was changed."
    assert cancel_buttons(next(m for m in sim.workspace.messages(channel=channel) if m["ts"] == posted["ts"]))
    with sim.sessions() as session:
        assert session.scalars(select(AuditBreak.state)).all() == [BreakState.APPROVED]
        entry = session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
        assert (entry.action, entry.outcome, entry.detail) == ("cancel_break", "refused", {"reason": "not_your_break"})


def test_no_break_is_offered_or_booked_for_a_month_allocated_early_by_hand(sim: Simulation, emails: dict[str, str]) -> None:
    """December is allocated on its first working day; January by hand on 20 December. The December
    reminders offer no January break, and asking for one is refused as already allocated; a January
    break booked before then can no longer be cancelled, and its list says so."""
    ben = emails["Ben Teamlead"]
    sim.at(D(2026, 11, 23))
    sim.workspace.slash_command(ben, "/audit", "break 2027-01")
    sim.workspace.slash_command(ben, "/audit", "breaks")
    stale_list = ephemerals(sim, ben)[-1]
    sim.step(sim.at(D(2026, 12, 1), 9))
    _, result = allocate(sim.sessions, AllocationRequest(month=JAN, control=2, allow_recent=True), sim.runtime.settings,
                         now=sim.at(D(2026, 12, 20), 10), preview=False)
    assert result is not None and result.created > 0
    sim.step(sim.at(D(2026, 12, 24), 9))  # the December reminders

    with sim.sessions() as session:
        holders = {a.auditor.email for a in session.scalars(select(Allocation).where(Allocation.month_start == JAN))}
        reminded = {a.auditor.email for a in session.scalars(select(Allocation).where(Allocation.month_start == DEC))}
        auditors = {emails[n] for n in ("Hana Head", "Sid Manager", "Sue Manager", "Tara Teamlead")}
        free = sorted(auditors - holders)
    reminders = [m for e in reminded for m in sim.workspace.messages(user_email=e) if m["text"].startswith("Reminder: audit due")]
    assert len(reminders) == len(reminded) > 0
    for message in reminders:
        actions = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert ActionId.RECORD_AUDIT in {e.get("action_id") for e in actions}
        assert ActionId.REQUEST_BREAK not in {e.get("action_id") for e in actions}, message["text"]
    assert free, "an auditor holds no January audit"
    sim.workspace.slash_command(free[0], "/audit", "break 2027-01")
    assert ephemerals(sim, free[0])[-1]["text"] == (
        "Your audit break was not booked. The audits for January 2027 have already been allocated (none to you), so "
        "it is too late to book a break for it. If you can't take on an audit that month, please tell the QA team."
    )

    sim.workspace.click(ben, stale_list, ActionId.CANCEL_BREAK)
    edited = next(m for m in ephemerals(sim, ben) if m["ts"] == stale_list["ts"])
    assert edited["text"].startswith("Your audit break in January 2027 can't be cancelled: "
                                     "the month's audits have already been allocated")
    assert cancel_buttons(edited) == []
    with sim.sessions() as session:
        rows = session.scalars(select(AuditBreak).where(AuditBreak.month == JAN).order_by(AuditBreak.id)).all()
        assert [(r.state, r.reason) for r in rows] == [(BreakState.APPROVED, ""), (BreakState.REFUSED, "allocated")]


def test_a_break_notice_already_sent_is_edited_to_say_cancelled(sim: Simulation, emails: dict[str, str]) -> None:
    ben, quinn = emails["Ben Teamlead"], emails["Quinn Qa"]
    sim.at(D(2026, 11, 23))
    sim.workspace.slash_command(ben, "/audit", "break 2027-01")
    sim.step(sim.at(D(2026, 11, 23), 10))
    notice = next(m for m in sim.workspace.messages(user_email=quinn) if " has an audit break in " in m["text"])
    sim.workspace.slash_command(ben, "/audit", "breaks")
    sim.workspace.click(ben, ephemerals(sim, ben)[-1], ActionId.CANCEL_BREAK)
    sim.step(sim.at(D(2026, 11, 23), 11))

    now_reads = next(m for m in sim.workspace.messages(user_email=quinn) if m["ts"] == notice["ts"])
    assert now_reads["text"] == (
        "Ben Teamlead cancelled their audit break in January 2027: they can be allocated audits that month again "
        "(0 of at most 1 auditors on a break now)."
    )
    assert len([m for m in sim.workspace.messages(user_email=quinn) if "audit break" in m["text"]]) == 1
    with sim.sessions() as session:
        assert session.scalar(
            select(func.count()).select_from(Notification).where(Notification.state != NotificationState.SENT)
        ) == 0


def test_a_break_notice_still_queued_when_the_break_is_cancelled_is_not_sent(sim: Simulation, emails: dict[str, str]) -> None:
    """Booked after working hours, cancelled before the notices went out: the Head of Service and
    QA hear nothing (neither the booking nor its cancellation); a re-booking is told afresh."""
    ben, quinn = emails["Ben Teamlead"], emails["Quinn Qa"]
    sim.at(D(2026, 11, 23), 7)
    sim.workspace.slash_command(ben, "/audit", "break 2027-01")
    sim.workspace.slash_command(ben, "/audit", "breaks")
    sim.workspace.click(ben, ephemerals(sim, ben)[-1], ActionId.CANCEL_BREAK)

    sim.step(sim.at(D(2026, 11, 23), 10))

    assert [m["text"] for m in sim.workspace.messages(user_email=quinn) if "audit break" in m["text"]] == []
    with sim.sessions() as session:
        states = session.execute(
            select(Notification.idempotency_key, Notification.state).where(Notification.template == "break_notice")
        ).all()
    assert states and {state for _, state in states} == {NotificationState.CANCELLED}, states
    sim.workspace.slash_command(ben, "/audit", "break 2027-01")  # booked again: a new booking, told once
    sim.step(sim.at(D(2026, 11, 23), 11))
    told = [m["text"] for m in sim.workspace.messages(user_email=quinn) if "audit break" in m["text"]]
    assert len(told) == 1 and " has an audit break in January 2027" in told[0], told
