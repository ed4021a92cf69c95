"""Audit breaks: a month off granted automatically within the rules (shared/domain.md step 1; Hull A.2-3)."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.ids import Template
from bot.render import render
from bot.services.authz import RefusalCode
from bot.services.breaks.booking import BreakOutcome, BreakRefusal, bookable_break_month, month_breaks, month_limit, request_break
from bot.settings import Settings, load_settings
from store.models import AuditBreak, AuditLog, AuditMonth, BreakState, Notification, Person, Role, Team
from store.months import allocated_months
from tests.allocation_fixtures import Council

DEC = dt.date(2026, 12, 1)
TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
RULES = load_settings(database_url="sqlite://")


def staff(s: Session, auditors: int, *, prefix: str = "Auditor") -> tuple[Council, Team, list[Person]]:
    """A council with ``auditors`` active auditors in one team (named ``Auditor 00``...)."""
    c = Council(s)
    team = c.team("Quality Team", c.service("Quality Assurance"))
    return c, team, [c.auditor(f"{prefix} {i:02d}", team=team) for i in range(auditors)]


def ids(people: list[Person]) -> list[int]:
    return [p.id for p in people]


def ask(
    sessions: sessionmaker[Session],
    person_id: int | None,
    month: dt.date = DEC,
    *,
    today: dt.date = TODAY,
    now: dt.datetime = NOW,
    rules: Settings = RULES,
) -> BreakOutcome:
    """Request a break in its own unit of work, as a handler would."""
    with sessions() as s, s.begin():
        person = s.get(Person, person_id) if person_id is not None else None
        return request_break(s, person, month, rules, today=today, now=now, actor_ref="U-slack")


def breaks(sessions: sessionmaker[Session]) -> list[tuple[int, dt.date, BreakState, str]]:
    with sessions() as s:
        rows = s.scalars(select(AuditBreak).order_by(AuditBreak.id)).all()
        return [(b.person_id, b.month, b.state, b.reason) for b in rows]


def log(sessions: sessionmaker[Session]) -> list[tuple[str, str, int | None, str, str, int | None, dict[str, Any]]]:
    with sessions() as s:
        rows = s.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(r.action, r.outcome, r.actor_id, r.actor_ref, r.subject_type, r.subject_id, r.detail) for r in rows]


# --- granted --------------------------------------------------------------------------------


def test_break_asked_before_the_month_is_approved_and_logged(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id

    outcome = ask(session_factory, alex)

    assert (outcome.decision.allowed, outcome.approved, outcome.already, outcome.reason) == (True, True, False, None)
    assert outcome.context() == {
        "approved": True, "already": False, "reason": None, "month": "2026-12-01", "limit": 2, "share": 20, "held": 0,
        "latest": "2027-11-01",
    }
    assert breaks(session_factory) == [(alex, DEC, BreakState.APPROVED, "")]
    with session_factory() as s:
        row = s.scalars(select(AuditBreak)).one()
        assert row.requested_at == NOW
        break_id = row.id
    assert log(session_factory) == [
        ("break.request", "ok", alex, "U-slack", "audit_break", break_id, {"month": "2026-12-01", "reason": None})
    ]


def test_asking_again_reports_already_approved_without_a_second_row(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id
    assert ask(session_factory, alex).approved

    again = ask(session_factory, alex, now=NOW + dt.timedelta(days=2), today=TODAY + dt.timedelta(days=2))

    assert (again.approved, again.already, again.reason) == (True, True, None)
    assert breaks(session_factory) == [(alex, DEC, BreakState.APPROVED, "")]
    with session_factory() as s:
        assert s.scalars(select(AuditBreak.requested_at)).one() == NOW  # the first request stands
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "break.request")) == 1


def test_the_last_day_of_the_previous_month_is_still_in_time(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
    outcome = ask(session_factory, people[0].id, today=dt.date(2026, 11, 30))
    assert (outcome.approved, outcome.reason) == (True, None)


# --- refused by the rules -------------------------------------------------------------------


def test_a_month_gone_by_is_refused_without_making_a_month_or_break_row(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id

    outcome = ask(session_factory, alex, month=dt.date(1, 1, 1), today=dt.date(2026, 11, 23))

    assert (outcome.approved, outcome.reason) == (False, BreakRefusal.TOO_LATE)
    assert breaks(session_factory) == []
    with session_factory() as s:
        assert s.scalars(select(AuditMonth.month)).all() == []
    assert [entry[-1] for entry in log(session_factory)] == [{"month": "0001-01-01", "reason": "too_late"}]


@pytest.mark.parametrize("today", [dt.date(2026, 12, 1), dt.date(2026, 12, 15)])  # a month gone by: above
def test_asking_on_or_after_the_first_of_the_month_is_too_late(
    session_factory: sessionmaker[Session], today: dt.date
) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id

    outcome = ask(session_factory, alex, today=today)

    assert outcome.decision.allowed  # an auditor may ask; the rules refuse
    assert (outcome.approved, outcome.already, outcome.reason) == (False, False, BreakRefusal.TOO_LATE)
    assert outcome.context()["reason"] == "too_late"
    assert breaks(session_factory) == [(alex, DEC, BreakState.REFUSED, "too_late")]
    with session_factory() as s:
        break_id = s.scalars(select(AuditBreak.id)).one()
    assert log(session_factory) == [
        ("break.request", "refused", alex, "U-slack", "audit_break", break_id, {"month": "2026-12-01", "reason": "too_late"})
    ]


def test_no_break_in_a_paused_month(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        c.month(DEC, paused=True)
        alex = people[0].id

    outcome = ask(session_factory, alex)

    assert (outcome.approved, outcome.reason) == (False, BreakRefusal.PAUSED)
    assert breaks(session_factory) == [(alex, DEC, BreakState.REFUSED, "paused")]


def test_yearly_limit_counts_any_twelve_month_window_containing_the_month(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        alex = people[0].id
        c.audit_break(people[0], dt.date(2027, 1, 1))
        c.audit_break(people[0], dt.date(2027, 2, 1))
        c.audit_break(people[0], dt.date(2027, 6, 1), BreakState.REFUSED)  # refused breaks do not count
        c.audit_break(people[1], dt.date(2026, 12, 1))  # someone else's break does not count

    december = ask(session_factory, alex, dt.date(2026, 12, 1))
    assert (december.approved, december.reason, december.limit) == (False, BreakRefusal.YEARLY_LIMIT, 2)
    assert december.context()["limit"] == 2
    next_year = dt.date(2027, 1, 4)  # (December 2027 and January 2028 are bookable from then: 12 months ahead)
    late_2027 = ask(session_factory, alex, dt.date(2027, 12, 1), today=next_year)  # Jan-Dec 2027 would hold three
    assert (late_2027.approved, late_2027.reason) == (False, BreakRefusal.YEARLY_LIMIT)
    june = ask(session_factory, alex, dt.date(2027, 6, 1))  # re-asking a refused month is checked again
    assert (june.approved, june.reason) == (False, BreakRefusal.YEARLY_LIMIT)

    january_2028 = ask(session_factory, alex, dt.date(2028, 1, 1), today=next_year)  # Feb 2027-Jan 2028 holds two
    assert (january_2028.approved, january_2028.reason) == (True, None)

    mine = [(m, state, reason) for pid, m, state, reason in breaks(session_factory) if pid == alex]
    assert mine == [
        (dt.date(2027, 1, 1), BreakState.APPROVED, ""),
        (dt.date(2027, 2, 1), BreakState.APPROVED, ""),
        (dt.date(2027, 6, 1), BreakState.REFUSED, "yearly_limit"),
        (dt.date(2026, 12, 1), BreakState.REFUSED, "yearly_limit"),
        (dt.date(2027, 12, 1), BreakState.REFUSED, "yearly_limit"),
        (dt.date(2028, 1, 1), BreakState.APPROVED, ""),
    ]


def test_one_break_a_year_setting(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        c.audit_break(people[0], dt.date(2026, 3, 1))
    rules = load_settings(database_url="sqlite://", max_breaks_per_year=1)
    refused = ask(session_factory, people[0].id, dt.date(2027, 2, 1), rules=rules)  # Mar 2026-Feb 2027
    assert (refused.reason, refused.limit) == (BreakRefusal.YEARLY_LIMIT, 1)
    assert ask(session_factory, people[0].id, dt.date(2027, 3, 1), rules=rules).approved


def test_at_most_twenty_percent_of_auditors_in_one_month(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        first, second, third, *_ = ids(people)
        assert month_limit(s, RULES) == 2

    assert ask(session_factory, first).approved
    assert ask(session_factory, second).approved
    full = ask(session_factory, third)

    assert (full.approved, full.reason, full.limit, full.share_percent) == (False, BreakRefusal.MONTH_FULL, 2, 20)
    assert full.context() == {
        "approved": False, "already": False, "reason": "month_full", "month": "2026-12-01", "limit": 2, "share": 20, "held": 0,
        "latest": "2027-11-01",
    }
    assert breaks(session_factory) == [
        (first, DEC, BreakState.APPROVED, ""),
        (second, DEC, BreakState.APPROVED, ""),
        (third, DEC, BreakState.REFUSED, "month_full"),
    ]
    # Another month has its own places.
    assert ask(session_factory, third, dt.date(2027, 1, 1)).approved


def test_month_limit_rounds_down_and_counts_only_active_auditors(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, team, people = staff(s, 9)
        c.auditor("Gone Auditor", team=team, active=False)
        c.person("Quinn QA", Role.QA_COORDINATOR, team=team)
        c.person("Wendy Worker", Role.SOCIAL_WORKER, team=team)
        assert month_limit(s, RULES) == 1  # 9 x 20% = 1.8
        assert month_limit(s, load_settings(database_url="sqlite://", max_break_share=0.5)) == 4

    assert ask(session_factory, people[0].id).approved
    full = ask(session_factory, people[1].id)
    assert (full.approved, full.reason, full.limit) == (False, BreakRefusal.MONTH_FULL, 1)


def test_fewer_than_five_auditors_means_no_breaks(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 4)
        assert month_limit(s, RULES) == 0
    outcome = ask(session_factory, people[0].id)
    assert (outcome.approved, outcome.reason, outcome.limit) == (False, BreakRefusal.MONTH_FULL, 0)


def test_a_refused_request_asked_again_later_updates_the_same_row(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        c.audit_break(people[1], DEC)
        taken = c.audit_break(people[2], DEC)
        alex, taken_id = people[0].id, taken.id

    refused = ask(session_factory, alex)
    assert refused.reason == BreakRefusal.MONTH_FULL
    with session_factory() as s:
        row_id = s.scalars(select(AuditBreak.id).where(AuditBreak.person_id == alex)).one()

    with session_factory() as s, s.begin():  # a place frees up
        s.get_one(AuditBreak, taken_id).state = BreakState.CANCELLED
    later = NOW + dt.timedelta(days=3)
    approved = ask(session_factory, alex, now=later, today=later.date())

    assert (approved.approved, approved.already, approved.reason) == (True, False, None)
    with session_factory() as s:
        mine = s.scalars(select(AuditBreak).where(AuditBreak.person_id == alex)).all()
        assert [(b.id, b.state, b.reason, b.requested_at) for b in mine] == [(row_id, BreakState.APPROVED, "", later)]
    assert [entry for entry in log(session_factory) if entry[2] == alex] == [
        ("break.request", "refused", alex, "U-slack", "audit_break", row_id, {"month": "2026-12-01", "reason": "month_full"}),
        ("break.request", "ok", alex, "U-slack", "audit_break", row_id, {"month": "2026-12-01", "reason": None}),
    ]


# --- who may ask ----------------------------------------------------------------------------


def test_a_person_without_the_auditor_role_is_refused_and_logged(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, team, _ = staff(s, 10)
        wendy = c.person("Wendy Worker", Role.SOCIAL_WORKER, team=team).id

    outcome = ask(session_factory, wendy)

    assert outcome.decision.allowed is False
    assert outcome.decision.code == RefusalCode.NOT_AN_AUDITOR
    assert (outcome.approved, outcome.reason) == (False, None)
    assert breaks(session_factory) == []
    assert log(session_factory) == [
        ("request_break", "refused", wendy, "U-slack", "audit_break", None, {"reason": "not_an_auditor"})
    ]


def test_an_unknown_person_is_refused_and_logged(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        staff(s, 10)

    outcome = ask(session_factory, None)

    assert (outcome.decision.allowed, outcome.decision.code) == (False, RefusalCode.UNKNOWN_PERSON)
    assert breaks(session_factory) == []
    assert log(session_factory) == [
        ("request_break", "refused", None, "U-slack", "audit_break", None, {"reason": "unknown_person"})
    ]


def test_an_auditor_who_has_left_is_refused(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, team, _ = staff(s, 10)
        gone = c.auditor("Gone Auditor", team=team, active=False).id
    outcome = ask(session_factory, gone)
    assert (outcome.decision.allowed, outcome.decision.code) == (False, RefusalCode.INACTIVE_PERSON)
    assert breaks(session_factory) == []


# --- who is on a break ----------------------------------------------------------------------


def test_month_breaks_lists_approved_names_for_qa_coordinators(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as s, s.begin():
        c, team, people = staff(s, 8)
        zoe = c.auditor("zoe Adams", team=team)
        bea = c.auditor("Bea Brown", team=team)
        c.audit_break(zoe, DEC)
        c.audit_break(bea, DEC)
        c.audit_break(people[0], DEC, BreakState.REFUSED)
        c.audit_break(people[1], DEC, BreakState.CANCELLED)
        c.audit_break(people[2], dt.date(2027, 1, 1))
        quinn = c.person("Quinn QA", Role.QA_COORDINATOR, team=team).id
        expected = [{"id": bea.id, "name": "Bea Brown"}, {"id": zoe.id, "name": "zoe Adams"}]

    with session_factory() as s, s.begin():
        decision, context = month_breaks(s, s.get(Person, quinn), DEC, RULES, now=NOW, actor_ref="U-qa")

    assert decision.allowed
    assert context == {"month": "2026-12-01", "people": expected, "auditors": 10, "limit": 2}
    assert log(session_factory) == []


@pytest.mark.parametrize("who", ["auditor", "nobody"])
def test_month_breaks_is_for_qa_coordinators_only(session_factory: sessionmaker[Session], who: str) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        c.audit_break(people[1], DEC)
        asker = people[0].id if who == "auditor" else None

    with session_factory() as s, s.begin():
        person = s.get(Person, asker) if asker is not None else None
        decision, context = month_breaks(s, person, DEC, RULES, now=NOW, actor_ref="U-asker")

    code = RefusalCode.QA_ONLY if who == "auditor" else RefusalCode.UNKNOWN_PERSON
    assert (decision.allowed, decision.code, context) == (False, code, {})
    assert log(session_factory) == [
        ("view_breaks", "refused", asker, "U-asker", "audit_break", None, {"reason": code.value})
    ]


# --- concurrency ----------------------------------------------------------------------------


def test_two_requests_racing_for_the_last_place_give_it_to_one(
    session_factory: sessionmaker[Session], engine: Engine
) -> None:
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        c.month(DEC)  # the month's row exists: only its lock can serialise the two
        c.audit_break(people[0], DEC)  # one of the two places taken
        racers = ids(people[1:3])
    postgres = engine.dialect.name == "postgresql"
    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[int, BreakOutcome] = {}
    errors: list[BaseException] = []

    def race(person_id: int) -> None:
        try:
            if not postgres:  # SQLite transactions take the write lock at BEGIN: meet before it
                barrier.wait()
            with session_factory() as s, s.begin():
                person = s.get_one(Person, person_id)
                if postgres:  # both transactions open and reading before either decides
                    barrier.wait()
                outcomes[person_id] = request_break(
                    s, person, DEC, RULES, today=TODAY, now=NOW, actor_ref=f"racer-{person_id}"
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(pid,)) for pid in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sorted(o.approved for o in outcomes.values()) == [False, True]
    assert [o.reason for o in outcomes.values() if not o.approved] == [BreakRefusal.MONTH_FULL]
    with session_factory() as s:
        approved = s.scalar(
            select(func.count()).select_from(AuditBreak).where(AuditBreak.month == DEC, AuditBreak.state == BreakState.APPROVED)
        )
        assert approved == 2
        refused = s.scalars(select(AuditBreak).where(AuditBreak.state == BreakState.REFUSED)).all()
        assert [(b.person_id in racers, b.reason) for b in refused] == [(True, "month_full")]


# --- audits already held in the month ---------------------------------------------------------


def test_a_break_is_refused_while_the_auditor_holds_audits_that_month(session_factory: sessionmaker[Session]) -> None:
    """A break does not take away audits already allocated (by hand, early, with the scheduled
    allocation still to come): ask for an exemption."""
    from bot.ids import Template
    from bot.render import render
    from store.models import AllocationState

    with session_factory() as s, s.begin():
        c, _team, people = staff(s, 10)
        alex, sam, kim = people[0], people[1], people[2]
        other = c.team("Assessment Team North")
        c.allocation(c.case("CMS-1", other), alex, DEC)
        c.allocation(c.case("CMS-2", other), sam, DEC, second=alex)  # as the second auditor of a pair
        c.allocation(c.case("CMS-3", other), kim, DEC, state=AllocationState.EXEMPTED)  # given up: not held
        c.allocation(c.case("CMS-4", other), kim, DEC, state=AllocationState.CANCELLED)
        c.allocation(c.case("CMS-5", other), sam, dt.date(2027, 1, 1))  # another month
        c.month(DEC).prepared_request = {"control": 40}  # the scheduled allocation is still to come
        ids_ = (alex.id, sam.id, kim.id)

    refused = ask(session_factory, ids_[0])
    one = ask(session_factory, ids_[1])
    free = ask(session_factory, ids_[2])

    assert (refused.approved, refused.reason, refused.held) == (False, BreakRefusal.HAS_AUDITS, 2)
    assert (one.approved, one.reason, one.held) == (False, BreakRefusal.HAS_AUDITS, 1)
    assert (free.approved, free.reason) == (True, None)
    assert breaks(session_factory) == [
        (ids_[0], DEC, BreakState.REFUSED, "has_audits"),
        (ids_[1], DEC, BreakState.REFUSED, "has_audits"),
        (ids_[2], DEC, BreakState.APPROVED, ""),
    ]
    assert render(Template.BREAK_DECISION, refused.context())["text"] == (
        "Your audit break was not booked. You already hold 2 audits allocated in December 2026, and a break does not "
        "take audits away. If you cannot do them, ask for an exemption instead (\"Ask for an exemption or extension\" "
        "on the allocation message, or /audit exempt CASE-REF)."
    )
    assert "You already hold 1 audit allocated in December 2026" in render(Template.BREAK_DECISION, one.context())["text"]
    refusals = [entry[-1] for entry in log(session_factory) if entry[1] == "refused"]
    assert refusals == [{"month": "2026-12-01", "reason": "has_audits"}] * 2


def test_the_head_of_service_and_the_qa_team_are_told_and_every_head_when_the_cap_is_reached(
    session_factory: sessionmaker[Session],
) -> None:
    """Hull A.2-3: the Head of Service and QA are told of a break; the Head of Service when the month is full."""
    with session_factory() as s, s.begin():
        c, _team, people = staff(s, 10)
        head = c.person("Hana Head", Role.HEAD_OF_SERVICE)
        other_head = c.person("Olly Head", Role.HEAD_OF_SERVICE)
        qa = c.person("Quinn Qa", Role.QA_COORDINATOR)
        manager = c.person("Mo Manager", Role.SERVICE_MANAGER, line_manager=head)
        for p in people:
            p.line_manager = manager
        first, second = ids(people)[:2]
        head_id, other_id, qa_id = head.id, other_head.id, qa.id

    assert ask(session_factory, first).approved

    def told() -> list[tuple[int | None, str]]:
        with session_factory() as s:
            rows = s.scalars(select(Notification).where(Notification.template == "break_notice").order_by(Notification.id))
            return [(n.recipient_id, n.context["cap_reached"]) for n in rows]

    assert sorted(told()) == sorted([(head_id, False), (qa_id, False)]), "the auditor's own Head of Service and QA"
    assert ask(session_factory, second).approved  # 2 of 2: the month is now full
    assert sorted(told()[2:]) == sorted([(head_id, True), (other_id, True), (qa_id, True)])
    with session_factory() as s:
        newest = s.scalars(select(Notification).order_by(Notification.id.desc())).first()
        text = render(Template.BREAK_NOTICE, newest.context)["text"]
    assert text == (
        "Auditor 01 has an audit break in December 2026: no audits will be allocated to them that month "
        "(2 of at most 2 auditors on a break). That is the most the month allows (20% of auditors): "
        "no further breaks can be booked for it."
    )


# --- how far ahead, and months already allocated (issue 12, item 11) ---------------------------


def test_a_break_more_than_twelve_months_ahead_is_refused_and_nothing_is_made_for_that_month(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as s, s.begin():
        _, _, people = staff(s, 10)
        alex = people[0].id

    furthest = ask(session_factory, alex, dt.date(2027, 11, 1))  # asked on 23 Nov 2026: 12 months ahead
    too_far = ask(session_factory, alex, dt.date(2027, 12, 1))
    far_far = ask(session_factory, alex, dt.date(9999, 12, 1))

    assert (furthest.approved, furthest.reason) == (True, None)
    assert (too_far.approved, too_far.reason, too_far.latest) == (False, BreakRefusal.TOO_FAR, dt.date(2027, 11, 1))
    assert far_far.reason == BreakRefusal.TOO_FAR
    assert render(Template.BREAK_DECISION, too_far.context())["text"] == (
        "Your audit break was not booked. Breaks can be booked at most 12 months ahead: the furthest you can book "
        "now is November 2027. Please ask again nearer the time."
    )
    assert breaks(session_factory) == [(alex, dt.date(2027, 11, 1), BreakState.APPROVED, "")]
    with session_factory() as s:
        assert s.scalars(select(AuditMonth.month)).all() == [dt.date(2027, 11, 1)], "no month row for a refused far month"
    assert [entry for entry in log(session_factory) if entry[1] == "refused"] == [
        ("break.request", "refused", alex, "U-slack", "audit_break", None, {"month": "2027-12-01", "reason": "too_far"}),
        ("break.request", "refused", alex, "U-slack", "audit_break", None, {"month": "9999-12-01", "reason": "too_far"}),
    ]


@pytest.mark.parametrize("how", ["scheduled", "by hand"])
def test_no_break_in_a_month_already_allocated(session_factory: sessionmaker[Session], how: str) -> None:
    """Allocated by the scheduler, or by hand with no prepared request waiting (the scheduler then
    adds none): nothing more is allocated in the month, so a break there is refused, and not offered."""
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        other = c.team("Assessment Team North")
        if how == "scheduled":
            c.month(DEC).auto_allocated_at = NOW - dt.timedelta(days=1)
        else:
            c.allocation(c.case("CMS-1", other), people[1], DEC)
        alex = people[0].id
        assert bookable_break_month(s, people[0], RULES, today=TODAY) is None

    outcome = ask(session_factory, alex)

    assert (outcome.approved, outcome.reason) == (False, BreakRefusal.ALLOCATED)
    assert render(Template.BREAK_DECISION, outcome.context())["text"] == (
        "Your audit break was not booked. The audits for December 2026 have already been allocated (none to you), "
        "so it is too late to book a break for it. If you can't take on an audit that month, please tell the QA team."
    )
    assert breaks(session_factory) == [(alex, DEC, BreakState.REFUSED, "allocated")]
    assert log(session_factory)[-1][1:2] == ("refused",) and log(session_factory)[-1][-1]["reason"] == "allocated"


def test_a_month_with_only_cancelled_allocations_or_a_prepared_request_is_not_yet_allocated(
    session_factory: sessionmaker[Session],
) -> None:
    from store.models import AllocationState

    jan = dt.date(2027, 1, 1)
    with session_factory() as s, s.begin():
        c, _, people = staff(s, 10)
        other = c.team("Assessment Team North")
        c.allocation(c.case("CMS-1", other), people[1], DEC, state=AllocationState.CANCELLED)
        c.allocation(c.case("CMS-2", other), people[1], jan)
        c.month(jan).prepared_request = {"control": 40}  # the scheduler will still top January up
        c.allocation(c.case("CMS-3", other), people[1], dt.date(2027, 2, 1))
        assert allocated_months(s, {DEC, jan, dt.date(2027, 2, 1), dt.date(2027, 3, 1)}) == {dt.date(2027, 2, 1)}
        assert bookable_break_month(s, people[0], RULES, today=TODAY) == DEC
        alex = people[0].id

    assert ask(session_factory, alex).approved
    assert ask(session_factory, alex, jan).approved
    assert ask(session_factory, alex, dt.date(2027, 2, 1)).reason == BreakRefusal.ALLOCATED  # allocated by hand
