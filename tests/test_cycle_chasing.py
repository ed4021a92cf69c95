"""Reminders and overdue notices as auditors and managers see them: the break button, the line
manager's copy and how often overdue notices repeat (shared/domain.md steps 1, 3 and 4)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.calendar import WorkingCalendar
from bot.cli import Context
from bot.cli import outbox as outbox_cli
from bot.ids import ActionId, Template
from bot.services.cycle.chasing import reminder_day
from bot.settings import Nation
from store.models import Allocation, Case, Notification, Person
from tests.allocation_fixtures import Council
from tests.simulation import WEEKS, Simulation

D = dt.date
FEB = "2027-02-01"


def december(sessions: sessionmaker[Session]) -> list[Allocation]:
    with sessions() as session:
        return list(session.scalars(select(Allocation).where(Allocation.month_start == D(2026, 12, 1)).order_by(Allocation.id)))


def distinct_auditors(rows: list[Allocation]) -> list[int]:
    return list(dict.fromkeys(a.auditor_id for a in rows))


def chasers(sim: Simulation, *templates: Template) -> list[tuple[int, dt.date, dict[str, Any]]]:
    """Every reminder/overdue notice planned: (recipient, local day planned, context)."""
    with sim.sessions() as session:
        rows = session.scalars(
            select(Notification).where(Notification.template.in_([str(t) for t in templates])).order_by(Notification.id)
        ).all()
        return [(n.recipient_id, sim.calendar.local_date(n.created_at), n.context) for n in rows if n.recipient_id]


def break_buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    """The "Ask for a break" buttons a message shows: (label, value)."""
    return [
        (e["text"]["text"], e["value"])
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == ActionId.REQUEST_BREAK
    ]


@WEEKS
def test_no_message_offers_a_break_that_would_be_refused(sim: Simulation) -> None:
    """The button names the month after today, and only while the rules would grant it.

    Before: every overdue notice in January (and the reminder of an audit extended into January)
    offered a break in January itself, which is always refused as too late; and the December
    reminders offered January although January was already allocated (by hand, early).
    """
    sim.step(sim.at(D(2026, 12, 1), 9))
    rows = december(sim.sessions)
    x, y, z = distinct_auditors(rows)[:3]
    with sim.sessions() as session, session.begin():
        for allocation in session.scalars(select(Allocation).where(Allocation.auditor_id == y)):
            allocation.due_date = D(2027, 1, 14)  # an extension moved Y's deadline into January
        # Z is given a January audit by hand, early: January is allocated (the scheduler adds none on 4 Jan).
        early = Council(session).allocation(session.get_one(Case, rows[-1].case_id), session.get_one(Person, z), D(2027, 1, 1))
        early.due_date = D(2027, 1, 31)
        emails = {p.id: p.email for p in session.scalars(select(Person))}

    clicked: list[str] = []

    def x_asks_for_a_break_from_the_overdue_notice() -> None:
        notice = next(
            m for m in sim.workspace.messages(user_email=emails[x]) if m["text"].startswith("Overdue: audit of")
        )
        assert break_buttons(notice) == [("Ask for a break in February 2027", FEB)]
        sim.workspace.click(emails[x], notice, ActionId.REQUEST_BREAK)
        clicked.extend(m["text"] for m in sim.workspace.messages(user_email=emails[x]) if m["ephemeral"])

    sim.run(D(2026, 12, 24), D(2027, 1, 12), hooks={D(2027, 1, 8): x_asks_for_a_break_from_the_overdue_notice})

    assert clicked == ["Your audit break is booked: no audits will be allocated to you in February 2027."]
    offered: dict[tuple[int, dt.date], set[str | None]] = defaultdict(set)
    for recipient, day, context in chasers(sim, Template.REMINDER_AUDITOR, Template.OVERDUE_AUDITOR):
        offered[(recipient, day)].add(context["next_month"])
        assert context["next_month"] is None or context["next_month"][:7] > day.isoformat()[:7], "never a month under way"

    def expected(recipient: int, day: dt.date) -> str | None:
        if day == D(2026, 12, 24):
            return None  # January is already allocated: a break would be refused (Z's too: Z holds a January audit)
        if day in (D(2027, 1, 4), D(2027, 1, 7)):
            return FEB  # overdue notices, and Y's reminder for the extended deadline
        return None  # 11 Jan: X has February off; with 5 auditors one break fills February for everyone else

    assert (y, D(2027, 1, 7)) in offered and (x, D(2027, 1, 11)) in offered
    assert {day for _, day in offered} == {D(2026, 12, 24), D(2027, 1, 4), D(2027, 1, 7), D(2027, 1, 11)}
    assert dict(offered) == {key: {expected(*key)} for key in offered}

    # What the auditors saw: the same buttons, never one for January (allocated early).
    seen = {button for person in (x, y, z) for m in sim.workspace.messages(user_email=emails[person])
            for button in break_buttons(m)}
    assert seen == {("Ask for a break in February 2027", FEB)}


def test_the_reminder_says_the_line_manager_was_copied_only_when_one_was(sim: Simulation) -> None:
    sim.step(sim.at(D(2026, 12, 1), 9))
    alone, managed = distinct_auditors(december(sim.sessions))[:2]
    with sim.sessions() as session, session.begin():
        session.get_one(Person, alone).line_manager_id = None
        emails = {p.id: p.email for p in session.scalars(select(Person))}

    sim.step(sim.at(D(2026, 12, 24), 9))
    sim.step(sim.at(D(2027, 1, 4), 9))

    def said(person: int, prefix: str) -> list[str]:
        return [
            b["text"]["text"]
            for m in sim.workspace.messages(user_email=emails[person])
            if m["text"].startswith(prefix)
            for b in m["blocks"]
            if b.get("block_id") in ("reminder", "overdue")
        ]

    assert said(alone, "Reminder") and all("line manager" not in text for text in said(alone, "Reminder"))
    assert said(managed, "Reminder") and all(
        "Your line manager has been copied on this reminder." in text for text in said(managed, "Reminder")
    )
    assert said(alone, "Overdue: audit of") and all(
        "The QA team has been told." in text and "line manager" not in text for text in said(alone, "Overdue: audit of")
    )
    assert said(managed, "Overdue: audit of") and all(
        "Your line manager and the QA team have been told." in text for text in said(managed, "Overdue: audit of")
    )
    with sim.sessions() as session:
        keys = session.scalars(select(Notification.idempotency_key)).all()
    assert not [k for k in keys if k.startswith(("remind:", "overdue:")) and ":manager:" in k and k.endswith(f":{alone}")]
    assert [k for k in keys if k.startswith("remind:") and ":manager:" in k and k.endswith(f":{managed}")]


@WEEKS
def test_overdue_notices_repeat_every_n_days_from_the_first_notice(sim: Simulation) -> None:
    """Every 5 days: first notice Mon 4 Jan (1 Jan is a bank holiday), then Sat 9 Jan -> Mon 11 Jan
    (the next working moment), then Thu 14 Jan. Counting from the deadline instead would have
    repeated on Wed 6 Jan, two days after the first notice."""
    sim.step(sim.at(D(2026, 12, 1), 9))
    sim.runtime.settings = sim.runtime.settings.model_copy(update={"overdue_repeat_days": 5})
    first = december(sim.sessions)[0]
    with sim.sessions() as session:
        email = session.get_one(Person, first.auditor_id).email
        reference = session.get_one(Case, first.case_id).reference

    sim.run(D(2026, 12, 31), D(2027, 1, 16))

    days = [day for day, kind, ref in sim.inbox(email) if kind == "overdue" and ref == reference]
    assert days == [D(2027, 1, 4), D(2027, 1, 11), D(2027, 1, 14)]
    with sim.sessions() as session:
        keys = session.scalars(
            select(Notification.idempotency_key).where(
                Notification.idempotency_key.startswith(f"overdue:{first.id}:2026-12-31:"),
                Notification.idempotency_key.endswith(f":auditor:{first.auditor_id}"),
            ).order_by(Notification.id)
        ).all()
    assert keys == [f"overdue:{first.id}:2026-12-31:{n}:auditor:{first.auditor_id}" for n in range(3)]


@pytest.mark.parametrize(
    ("deadline", "reminded_on"),
    [
        (D(2026, 10, 31), D(2026, 10, 23)),  # Sat deadline; Sat 24th is not a working day: Friday 23rd, not Monday 26th
        (D(2026, 5, 31), D(2026, 5, 22)),  # Sun deadline; Sun 24th: Friday 22nd, not Tuesday 26th after the bank holiday
        (D(2026, 12, 31), D(2026, 12, 24)),  # Thu deadline: exactly a week before, a working day
        (D(2027, 1, 8), D(2026, 12, 31)),  # Fri 1 Jan is a bank holiday: Thursday 31 December
    ],
)
def test_the_reminder_goes_on_the_last_working_day_on_or_before_a_week_before(
    deadline: dt.date, reminded_on: dt.date
) -> None:
    calendar = WorkingCalendar(Nation.ENGLAND_AND_WALES, ZoneInfo("Europe/London"))
    assert reminder_day(calendar, deadline, 7) == reminded_on


@WEEKS
def test_an_october_reminder_is_sent_on_friday_23rd_and_not_again(sim: Simulation) -> None:
    sim.step(sim.at(D(2026, 11, 2), 9))  # allocate November's audits so there is something due
    with sim.sessions() as session, session.begin():
        for allocation in session.scalars(select(Allocation)):
            allocation.due_date = D(2026, 10, 31)  # as if October's: due Saturday 31st
    sim.run(D(2026, 10, 19), D(2026, 10, 31))
    days = {day for _, day, _ in chasers(sim, Template.REMINDER_AUDITOR)}
    assert days == {D(2026, 10, 23)}


def others_all(sim: Simulation) -> list[Notification]:
    with sim.sessions() as session:
        return list(session.scalars(select(Notification)))


def test_a_reminder_still_queued_when_the_audit_is_completed_is_cancelled_not_sent(sim: Simulation) -> None:
    from bot.scheduler.tick import tick

    sim.step(sim.at(D(2026, 12, 1), 9))
    row = december(sim.sessions)[0]
    with sim.sessions() as session:
        auditor = session.get(Person, row.auditor_id)
        ref = session.get(Case, row.case_id).reference  # type: ignore[union-attr]
        assert auditor is not None
        email = auditor.email
    now = sim.at(D(2026, 12, 24), 9)
    tick(sim.sessions, sim.runtime.settings, sim.calendar, now)  # reminders planned, not yet sent (a 429, say)
    assert sim.workspace.slash_command(email, "/audit", f"complete {ref}")["status"] == 200
    sim.runtime.senders["normal"].drain(now)
    reminders = [m["text"] for m in sim.workspace.messages(user_email=email)
                 if m["text"].startswith("Reminder") and ref in m["text"]]
    assert reminders == []
    with sim.sessions() as session:
        cancelled = session.scalars(
            select(Notification).where(Notification.idempotency_key.startswith(f"remind:{row.id}:"))
        ).all()
        assert cancelled and {(n.state.value, n.last_error) for n in cancelled} == {("cancelled", "the audit is completed")}
        others = session.scalars(select(Notification).where(Notification.idempotency_key.startswith("remind:"))).all()
        assert {n.state.value for n in others if n not in cancelled} == {"sent"}, "the other reminders still went"
    group = click.Group("auditbot")
    outbox_cli.register(group)
    context = Context(sim.runtime.settings, _engine=sim.runtime.engine, clock=lambda: now)
    shown = CliRunner().invoke(group, ["outbox", "--cancelled"], obj=context).output
    # the reminders, and the nudges to arrange its reflection meeting (no longer true: the audit is done)
    nudges = [n for n in others_all(sim) if n.idempotency_key.startswith(f"meeting:nudge:{row.id}:")]
    assert nudges and {n.state.value for n in nudges} == {"cancelled"}
    assert f"cancelled: {len(cancelled) + len(nudges)}" in shown
    assert f"remind:{row.id}:2026-12-31:auditor:{row.auditor_id}  to {email}  after 1 attempt(s): the audit is completed" in shown
