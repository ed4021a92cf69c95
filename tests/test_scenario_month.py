"""Whole simulated months, tick by tick, against the local workspace and the real app.

Each test states, by hand, the dates on which people must hear from the bot, and checks that
everyone received exactly those messages — no more, none twice.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bot.calendar import WorkingCalendar
from bot.ids import ActionId
from bot.runtime import make_senders, start_runtime
from bot.scheduler.tick import tick
from bot.settings import Settings
from bot.workspace import LocalWorkspace
from store.db import make_sessionmaker
from store.models import Allocation, AllocationState, AuditBreak, BreakState, Case, Person
from store.months import month_row
from tests.recording import record_audit
from tests.simulation import WEEKS, Received, Simulation
from tests.support import FakeTime, another_engine

D = dt.date


def allocations(sessions: sessionmaker[Session], month: dt.date) -> list[Allocation]:
    with sessions() as session:
        return list(
            session.scalars(
                select(Allocation)
                .options(
                    joinedload(Allocation.auditor).joinedload(Person.line_manager),
                    joinedload(Allocation.case).joinedload(Case.allocated_worker),
                    joinedload(Allocation.case).joinedload(Case.team_manager),
                )
                .where(Allocation.month_start == month)
                .order_by(Allocation.id)
            )
        )


def allocation_messages(rows: list[Allocation], day: dt.date) -> Counter[Received]:
    expected: Counter[Received] = Counter()
    for a in rows:
        ref = a.case.reference
        expected[Received(a.auditor.email, day, "allocated", ref)] += 1
        expected[Received(a.case.allocated_worker.email, day, "case audited", ref)] += 1
        expected[Received(a.case.team_manager.email, day, "team case audited", ref)] += 1
    return expected


def chasing(rows: list[Allocation], day: dt.date, kind: str) -> Counter[Received]:
    expected: Counter[Received] = Counter()
    for a in rows:
        expected[Received(a.auditor.email, day, kind, a.case.reference)] += 1
        if a.auditor.line_manager is not None:
            expected[Received(a.auditor.line_manager.email, day, f"{kind} copy", a.case.reference)] += 1
    return expected


@WEEKS
def test_december_allocation_reminders_completion_break_and_overdue(sim: Simulation, emails: dict[str, str]) -> None:
    """Dec 2026: allocated Tue 1 Dec; reminders Thu 24 Dec; due Thu 31 Dec; 1 Jan is a bank
    holiday so the first overdue notices go on Mon 4 Jan, and again a week after that first notice
    (Mon 11 Jan) -- not a week after the deadline (Fri 8 Jan, only four days after the first)."""
    clicks: dict[str, str] = {}

    def on_christmas_eve() -> None:
        first, second = allocations(sim.sessions, D(2026, 12, 1))[:2]
        reminder = next(
            m for m in sim.workspace.messages(user_email=first.auditor.email)
            if m["text"].startswith("Reminder") and first.case.reference in m["text"]
        )
        assert record_audit(sim, first.auditor.email, reminder)["body"] == {"response_action": "clear"}
        clicks["completed"] = first.case.reference
        other = next(
            m for m in sim.workspace.messages(user_email=second.auditor.email)
            if m["text"].startswith("Reminder") and second.case.reference in m["text"]
        )
        sim.workspace.click(second.auditor.email, other, ActionId.REQUEST_BREAK)
        clicks["on_break"] = second.auditor.email

    sim.run(D(2026, 11, 25), D(2027, 1, 12), hooks={D(2026, 12, 24): on_christmas_eve})

    december = allocations(sim.sessions, D(2026, 12, 1))
    january = allocations(sim.sessions, D(2027, 1, 1))
    assert len(december) == 4 and len(january) == 4
    assert {a.case.reference for a in december}.isdisjoint({a.case.reference for a in january})
    assert all(a.due_date == D(2026, 12, 31) for a in december)
    done = [a for a in december if a.case.reference == clicks["completed"]]
    owed = [a for a in december if a.case.reference != clicks["completed"]]
    assert done[0].state == AllocationState.COMPLETED and all(a.state == AllocationState.ALLOCATED for a in owed)
    assert clicks["on_break"] not in {a.auditor.email for a in january}, "a booked break is honoured in January"

    quinn = emails["Quinn Qa"]
    expected: Counter[Received] = Counter(
        {
            Received(quinn, D(2026, 11, 26), "preview", ""): 1,  # 3 working days before Tue 1 Dec
            Received(quinn, D(2026, 12, 29), "preview", ""): 1,  # 3 working days before Mon 4 Jan
            Received(quinn, D(2027, 1, 4), "overdue digest", ""): 1,
            Received(quinn, D(2027, 1, 11), "overdue digest", ""): 1,
            # Hana's break fills January (1 of at most 1): QA and every other Head of Service are told (Hull A.2-3)
            Received(quinn, D(2026, 12, 24), "break notice", ""): 1,
            Received(emails["Dee Deputy"], D(2026, 12, 24), "break notice", ""): 1,
        }
    )
    expected += allocation_messages(december, D(2026, 12, 1))
    expected += chasing(december, D(2026, 12, 24), "reminder")
    expected += allocation_messages(january, D(2027, 1, 4))
    expected += chasing(owed, D(2027, 1, 4), "overdue")
    expected += chasing(owed, D(2027, 1, 11), "overdue")
    # With no reflection meeting arranged five working days after allocation, the auditor is nudged
    # and the worker told they may get in touch (Tue 8 Dec; Mon 11 Jan for January).
    for rows, day in ((december, D(2026, 12, 8)), (january, D(2027, 1, 11))):
        for a in rows:
            for person in (a.auditor, a.case.allocated_worker):
                expected[Received(person.email, day, "meeting nudge", a.case.reference)] += 1
    # The recorded audit's findings go to its worker and team manager, its summary to the auditor.
    ref = done[0].case.reference
    expected[Received(done[0].case.allocated_worker.email, D(2026, 12, 24), "findings", ref)] += 1
    expected[Received(done[0].case.team_manager.email, D(2026, 12, 24), "findings", ref)] += 1
    expected[Received(done[0].auditor.email, D(2026, 12, 24), "recorded", ref)] += 1
    # Nobody answers: reminded a working day before the window closes (Tue 5 Jan), final the next morning.
    for person in (done[0].case.allocated_worker, done[0].case.team_manager):
        expected[Received(person.email, D(2027, 1, 4), "reply reminder", ref)] += 1
    for person in (done[0].auditor, done[0].case.allocated_worker, done[0].case.team_manager):
        expected[Received(person.email, D(2027, 1, 6), "final", ref)] += 1
    # Final: the QA team checks it, and December's moderation sample is proposed to them.
    expected[Received(quinn, D(2027, 1, 6), "qa check", ref)] += 1
    expected[Received(quinn, D(2027, 1, 6), "moderation sample", "")] += 1
    # ...and its team manager is asked for management oversight within 10 working days of Tue 5 Jan, when it became final.
    tm = done[0].case.team_manager.email
    expected[Received(tm, D(2027, 1, 6), f"Oversight due Tuesday 19 January 2027: the audit of case {ref} is final.", ref)] += 1
    assert Counter(sim.received) == expected

    # The allocation message and the reminder now say who recorded it, without buttons; the break was confirmed.
    auditor = done[0].auditor.email
    replaced = [m for m in sim.workspace.messages(user_email=auditor) if m["text"].startswith(f"Audit of case {ref} recorded by")]
    assert len(replaced) == 2 and all(m["edited"] and all(b["type"] != "actions" for b in m["blocks"]) for m in replaced)
    confirmations = [m for m in sim.workspace.messages(user_email=clicks["on_break"]) if m["ephemeral"]]
    assert [m["text"] for m in confirmations] == [
        "Your audit break is booked: no audits will be allocated to you in January 2027."
    ]


def test_a_month_starting_on_a_saturday_is_allocated_on_the_monday(sim: Simulation, emails: dict[str, str]) -> None:
    sim.run(D(2026, 7, 27), D(2026, 8, 5))

    august = allocations(sim.sessions, D(2026, 8, 1))
    expected = allocation_messages(august, D(2026, 8, 3))
    expected[Received(emails["Quinn Qa"], D(2026, 7, 29), "preview", "")] += 1  # Wed: 3 working days before Mon 3 Aug
    assert Counter(sim.received) == expected
    first = next(r for r in sim.reports if r.allocated)
    assert (first.local.date(), first.local.hour) == (D(2026, 8, 3), 9), "not before working hours (08:30) on Monday"


def test_easter_moves_the_first_working_day_and_the_preview(sim: Simulation, emails: dict[str, str]) -> None:
    """April 2029: Easter Sunday 1 Apr, Easter Monday 2 Apr, Good Friday 30 Mar."""
    sim.run(D(2029, 3, 26), D(2029, 4, 5))

    april = allocations(sim.sessions, D(2029, 4, 1))
    expected = allocation_messages(april, D(2029, 4, 3))
    expected[Received(emails["Quinn Qa"], D(2029, 3, 27), "preview", "")] += 1
    assert len(april) == 4 and Counter(sim.received) == expected


def test_a_paused_month_allocates_and_chases_nothing(sim: Simulation, emails: dict[str, str]) -> None:
    with sim.sessions() as session, session.begin():
        month_row(session, D(2026, 12, 1)).paused = True
    sim.run(D(2026, 11, 20), D(2026, 12, 10))

    assert sim.received == []
    assert allocations(sim.sessions, D(2026, 12, 1)) == []
    december_ticks = [r for r in sim.reports if r.local.date() == D(2026, 12, 1) and r.working_hours]
    assert december_ticks and all(r.paused and r.planned == 0 for r in december_ticks)


def test_a_restart_between_planning_and_sending_loses_and_repeats_nothing(
    sim: Simulation, engine: Engine, settings: Settings, workspace: LocalWorkspace, emails: dict[str, str]
) -> None:
    first = tick(sim.sessions, settings, sim.calendar, sim.at(D(2026, 12, 1), 9))
    assert first.allocated == 4 and first.allocation_messages == 12
    assert sim.runtime.server is not None
    sim.runtime.server.stop()  # the process dies before sending anything

    clock = FakeTime(sim.calendar.utc(D(2026, 12, 1), dt.time(9, 30)))
    restarted = start_runtime(settings, engine=another_engine(engine), clock=clock,
                              background=False, workspace=workspace, http_port=0)
    try:
        after = Simulation(restarted, workspace, sim.calendar, clock)
        after.run(D(2026, 12, 1), D(2026, 12, 3))
        assert sum(r.planned for r in after.reports) == 0, "the restarted process plans nothing again"
        assert Counter(after.received) == allocation_messages(allocations(sim.sessions, D(2026, 12, 1)), D(2026, 12, 1))
    finally:
        assert restarted.server is not None
        restarted.server.stop()
        restarted.engine.dispose()


def test_two_workers_ticking_at_the_same_instant_allocate_and_send_once(
    engine: Engine, settings: Settings, emails: dict[str, str], workspace: LocalWorkspace, session_factory
) -> None:
    calendar = WorkingCalendar.from_settings(settings)
    now = calendar.utc(D(2026, 12, 1), dt.time(9, 0))
    for user in emails.values():
        workspace.add_user(user, user)
    engines = [another_engine(engine) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(own: Engine, name: str) -> None:
        try:
            sessions = make_sessionmaker(own)
            senders = make_senders(settings, sessions, workspace.bot_token, workspace.base_url)
            barrier.wait()
            tick(sessions, settings, calendar, now)
            for sender in senders.values():
                sender.drain(now)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(e, f"w{n}")) for n, e in enumerate(engines)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for e in engines:
        e.dispose()

    assert errors == []
    rows = allocations(session_factory, D(2026, 12, 1))
    assert len(rows) == 4
    got: Counter[tuple[str, str]] = Counter()
    for email in emails.values():
        for m in workspace.messages(user_email=email):
            got[(email, m["text"])] += 1
    assert sum(got.values()) == 12 and max(got.values()) == 1, "twelve messages, nobody got one twice"


def test_break_rules_apply_to_the_slash_command(sim: Simulation, emails: dict[str, str]) -> None:
    """5 auditors: 20% means one break a month; breaks must be asked for before the month."""
    sim.at(D(2026, 11, 23))
    sim.workspace.slash_command(emails["Ben Teamlead"], "/audit", "break 2027-01")
    sim.workspace.slash_command(emails["Tara Teamlead"], "/audit", "break 2027-01")
    sim.workspace.slash_command(emails["Tara Teamlead"], "/audit", "break 2026-11")
    sim.workspace.slash_command(emails["Wendy A1"], "/audit", "break 2027-02")
    sim.workspace.slash_command(emails["Quinn Qa"], "/audit", "breaks 2027-01")

    def said(name: str) -> list[str]:
        return [m["text"] for m in sim.workspace.messages(user_email=emails[name]) if m["ephemeral"]]

    assert said("Ben Teamlead") == ["Your audit break is booked: no audits will be allocated to you in January 2027."]
    assert said("Tara Teamlead") == [
        "Your audit break was not booked. The most auditors who can be on a break in January 2027 is 1 (20% of auditors), "
        "and that many already are.",
        "Your audit break was not booked. Breaks must be asked for before the end of the month before. "
        "It is too late to ask for November 2026.",
    ]
    assert said("Wendy A1") == ["Only auditors can take an audit break, and you are not listed as an auditor."]
    assert said("Quinn Qa") == ["Audit breaks in January 2027: 1 of 5 auditors (at most 1)."]
    with sim.sessions() as session:
        rows = session.scalars(select(AuditBreak).order_by(AuditBreak.id)).all()
        assert [(r.state, r.reason) for r in rows] == [
            (BreakState.APPROVED, ""), (BreakState.REFUSED, "month_full"), (BreakState.REFUSED, "too_late")
        ]


def test_messages_about_one_audit_arrive_in_the_order_they_were_decided(sim: Simulation) -> None:
    tick(sim.sessions, sim.runtime.settings, sim.calendar, sim.at(D(2026, 12, 1), 9))  # allocation: not sent yet
    sim.step(sim.at(D(2026, 12, 24), 9))  # reminders planned; everything goes out now

    first = allocations(sim.sessions, D(2026, 12, 1))[0]
    kinds = [kind for _, kind, ref in sim.inbox(first.auditor.email) if ref == first.case.reference]
    assert kinds == ["allocated", "reminder", "meeting nudge"]  # decided in one tick: the reminder, then the nudge


def test_an_unplannable_prepared_request_does_not_stop_reminders(sim: Simulation, emails: dict[str, str]) -> None:
    tick(sim.sessions, sim.runtime.settings, sim.calendar, sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session, session.begin():  # January prepared with a thematic sample but no theme
        month_row(session, D(2027, 1, 1)).prepared_request = {
            "month": "2027-01-01", "control": None, "thematic_filter": "type=CP", "theme": None,
            "thematic_count": 2, "cases": [], "cases_type": "dip", "allow_recent": False, "seed": None,
        }
    report = sim.step(sim.at(D(2026, 12, 29), 9))  # the January preview is due, and so are the reminders

    assert report.errors == ["preview: RequestError"]
    assert report.reminders > 0


def test_an_overdue_audit_whose_auditor_has_left_goes_to_the_qa_team(sim: Simulation, emails: dict[str, str]) -> None:
    sim.step(sim.at(D(2026, 12, 1), 9))
    first = allocations(sim.sessions, D(2026, 12, 1))[0]
    with sim.sessions() as session, session.begin():
        leaver = session.get(Person, first.auditor_id)
        assert leaver is not None
        leaver.active = False
    sim.run(D(2027, 1, 4), D(2027, 1, 9))

    mine = [(day, kind) for day, kind, ref in sim.inbox(emails["Quinn Qa"]) if kind == "overdue digest"]
    assert (D(2027, 1, 4), "overdue digest") in mine
    texts = [m["text"] for m in sim.workspace.messages(user_email=emails["Quinn Qa"])]
    assert any(t == "1 audit(s) overdue today." for t in texts), "a notice just for the audit nobody is doing"
    summaries = [
        b["text"]["text"] for m in sim.workspace.messages(user_email=emails["Quinn Qa"])
        if m["text"] == "1 audit(s) overdue today."
        for b in m["blocks"] if b.get("block_id") == "summary"
    ]
    assert summaries and all("Everyone auditing it has left, so nobody else has been told" in t for t in summaries)
    assert len([r for r in sim.received if r.email == first.auditor.email and r.kind == "overdue"]) == 0
