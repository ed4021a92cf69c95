"""Reflection meetings arranged in chat (issue 16; Hull A.8-A.13, Bradford §2): the auditor
proposes times from the allocation message, the worker's choice books it, and everyone gets a
calendar invite that parses with ``icalendar`` at the right time in GMT and BST; a move keeps
the UID and bumps SEQUENCE; a cancellation sends METHOD:CANCEL; two unanswered proposals let the
auditor escalate to the group manager exactly once; a recent change of worker brings in the
previous worker; nothing arranged after five working days nudges the auditor and the worker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import select

from bot.ids import ActionId
from bot.workspace.forms import input_values
from store.meetings import AnswerKind, MeetingAnswer, MeetingState, ReflectionMeeting
from store.models import Allocation, AuditLog, Notification, NotificationState, Person, Role
from tests.allocation_fixtures import Council
from tests.recording import submit
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, with_button

LONDON = ZoneInfo("Europe/London")
IRO = "ian.iro@council.example"


@dataclass(frozen=True)
class Cast:
    """The December allocation the tests arrange a meeting for, and who is in it."""

    allocation_id: int
    reference: str
    auditor: str
    worker: str
    manager: str
    group_manager: str


def december(sim: Simulation, *, iro: bool = True, previous_worker: bool = False) -> Cast:
    """Allocate December on Tue 1 Dec 2026 and take the first allocation (an IRO added to its case)."""
    allocation = allocate_december(sim)[0]
    with sim.sessions() as session, session.begin():
        allocation = session.get_one(Allocation, allocation.id)
        case = allocation.case
        if iro:
            sim.workspace.add_user(IRO, "Ian Iro")
            case.iro_id = Council(session).person("Ian Iro", Role.IRO).id
        if previous_worker:
            other = session.scalars(
                select(Person).where(Person.team_id == case.team_id, Person.id != case.allocated_worker_id,
                                     Person.display_name.startswith("W"))
            ).first()
            assert other is not None
            case.previous_worker_id, case.worker_changed_on = other.id, D(2026, 11, 20)
        manager = case.team_manager
        assert manager is not None and manager.line_manager is not None and case.allocated_worker is not None
        return Cast(allocation.id, case.reference, allocation.auditor.email, case.allocated_worker.email, manager.email,
                    manager.line_manager.email)


def propose(sim: Simulation, who: str, message: dict[str, Any], times: list[tuple[str, str]], **typed: str) -> dict[str, Any]:
    """Click Arrange / Suggest on ``message`` and submit the times (date, HH:MM) with ``typed``."""
    sim.workspace.click(who, message, ActionId.ARRANGE_MEETING)
    fields = {"place": "Room 2, Civic Centre", **typed}
    for n, (day, at) in enumerate(times, start=1):
        fields[f"day_{n}"], fields[f"time_{n}"] = day, at
    return submit(sim, who, fields)


def book(sim: Simulation, cast: Cast, first: str, second: str) -> None:
    """The auditor proposes two days at 10:00 on Tue 1 Dec; the worker chooses the first."""
    sim.at(D(2026, 12, 1), 10)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING), [(first, "10:00"), (second, "10:00")])
    sim.step(sim.clock.now)
    sim.workspace.click(cast.worker, with_button(sim, cast.worker, ActionId.MEETING_TIME), ActionId.MEETING_TIME)
    sim.step(sim.clock.now)


def messages_of(sim: Simulation, who: str, start: str = "") -> list[dict[str, Any]]:
    return [m for m in sim.workspace.messages(user_email=who) if not m["ephemeral"] and m["text"].startswith(start)]


def invites(sim: Simulation, who: str) -> list[Calendar]:
    """The calendar files in someone's DM, parsed, oldest first."""
    found = []
    for message in messages_of(sim, who):
        for file in message.get("files") or []:
            found.append(Calendar.from_ical(sim.workspace.file(file["id"])[1]))
    return found


def event(calendar: Calendar) -> Any:
    return calendar.walk("VEVENT")[0]


def meeting(sim: Simulation, allocation_id: int) -> ReflectionMeeting:
    with sim.sessions() as session:
        found = session.scalars(select(ReflectionMeeting).where(ReflectionMeeting.allocation_id == allocation_id)
                                .order_by(ReflectionMeeting.id.desc())).first()
        assert found is not None
        session.expunge(found)
        return found


def values(message: dict[str, Any], action: str) -> list[str]:
    """The values of a message's buttons for ``action``, in order."""
    return [e["value"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == action]


def ephemeral(sim: Simulation, who: str) -> str:
    return [m["text"] for m in sim.workspace.messages(user_email=who) if m["ephemeral"]][-1]


def test_proposed_times_booked_by_the_worker_reach_everyone_with_a_calendar_invite_that_moves_and_reminds(
    sim: Simulation,
) -> None:
    cast = december(sim)
    sim.at(D(2026, 12, 1), 10)
    answer = propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING),
                     [("2026-12-08", "10:00"), ("2026-12-09", "14:00")], leave_out_iro="On leave until January")
    assert not answer["body"], answer["body"]
    sim.step(sim.clock.now)

    asked = with_button(sim, cast.worker, ActionId.MEETING_TIME)
    times = [e["text"]["text"] for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert times == ["10:00 on Tuesday 8 December 2026", "14:00 on Wednesday 9 December 2026", "None of these work…"]
    assert "Room 2, Civic Centre" in str(asked["blocks"])
    with_button(sim, cast.manager, ActionId.MEETING_TIME)
    assert messages_of(sim, IRO) == []  # left out, with a reason

    # the team manager's choice does not book it; the worker's does (Hull A.8)
    manager_ask = with_button(sim, cast.manager, ActionId.MEETING_TIME)
    sim.workspace.click(cast.manager, manager_ask, ActionId.MEETING_TIME, value=values(manager_ask, ActionId.MEETING_TIME)[1])
    assert meeting(sim, cast.allocation_id).state == MeetingState.PROPOSED
    sim.workspace.click(cast.worker, asked, ActionId.MEETING_TIME)  # the first button: Tue 8 Dec 10:00
    booked = meeting(sim, cast.allocation_id)
    assert booked.state == MeetingState.BOOKED and booked.starts_at == dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
    sim.step(sim.clock.now)

    for who in (cast.auditor, cast.worker, cast.manager):
        [confirmation] = messages_of(sim, who, "Reflection meeting booked for case")
        assert "10:00 on Tuesday 8 December 2026" in confirmation["text"]
        [invite] = invites(sim, who)
        vevent = event(invite)
        assert str(invite["METHOD"]) == "REQUEST"
        start = vevent.decoded("DTSTART")
        assert start == dt.datetime(2026, 12, 8, 10, 0, tzinfo=LONDON)  # GMT: 10:00 local is 10:00 UTC
        assert start.astimezone(dt.UTC) == dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
        assert str(vevent["UID"]) == booked.uid and int(vevent["SEQUENCE"]) == 0
        assert str(vevent["ORGANIZER"]).lower() == f"mailto:{cast.auditor}"
        attendees = sorted(str(a).lower().removeprefix("mailto:") for a in vevent.get("ATTENDEE"))
        assert attendees == sorted([cast.auditor, cast.worker, cast.manager])
    assert messages_of(sim, IRO) == []
    assert cast.reference in str(event(invites(sim, cast.worker)[0])["SUMMARY"])
    # the proposals were edited: no buttons any more
    worker_ask = next(m for m in sim.workspace.messages(user_email=cast.worker) if m["ts"] == asked["ts"])
    assert "Booked for" in str(worker_ask["blocks"]) and ActionId.MEETING_TIME not in str(worker_ask["blocks"])

    # the auditor moves it: same UID, SEQUENCE 1, the booking edited in place, an updated invite
    sim.at(D(2026, 12, 2), 11)
    sim.workspace.click(cast.auditor, with_button(sim, cast.auditor, ActionId.MOVE_MEETING), ActionId.MOVE_MEETING)
    answer = submit(sim, cast.auditor, {"day_1": "2026-12-10", "time_1": "11:30"})
    assert not answer["body"], answer["body"]
    sim.step(sim.clock.now)
    for who in (cast.auditor, cast.worker, cast.manager):
        first, moved = invites(sim, who)
        assert str(event(moved)["UID"]) == str(event(first)["UID"]) and int(event(moved)["SEQUENCE"]) == 1
        assert event(moved).decoded("DTSTART").astimezone(dt.UTC) == dt.datetime(2026, 12, 10, 11, 30, tzinfo=dt.UTC)
        [confirmation] = messages_of(sim, who, "Reflection meeting booked for case")
        assert "11:30 on Thursday 10 December 2026" in confirmation["text"] and confirmation.get("edited")

    # reminded the working day before (Wed 9 Dec), once; then held after it ends
    sim.run(D(2026, 12, 3), D(2026, 12, 11), every=dt.timedelta(hours=2))
    for who in (cast.auditor, cast.worker, cast.manager):
        reminders = [r.day for r in sim.received if r.email == who and r.kind.startswith("Reminder: the reflection meeting")]
        assert reminders == [D(2026, 12, 9)], (who, reminders)
    held = meeting(sim, cast.allocation_id)
    assert held.state == MeetingState.HELD and held.held_at == dt.datetime(2026, 12, 10, 12, 30, tzinfo=dt.UTC)
    # ...and the worker is sent the reflection sheet (Surrey §10), which opens on the four questions
    sheet = with_button(sim, cast.worker, ActionId.ANSWER_REFLECTION)
    assert [r.day for r in sim.received if r.email == cast.worker and r.kind == sheet["text"]] == [D(2026, 12, 10)]
    sim.workspace.click(cast.worker, sheet, ActionId.ANSWER_REFLECTION)
    labels = [b["label"]["text"] for b in sim.workspace.view_stack(cast.worker)[-1]["blocks"] if b["type"] == "input"]
    assert labels == ["What do you think you have done well on this case?", "What have been the challenges in this case?",
                      "Do you have the enough tools to enable you to undertake your role?",
                      "If you had a case like this again, what would you do differently?"]


def test_a_meeting_in_summer_is_in_bst_and_a_cancellation_keeps_the_uid(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    book(sim, cast, "2027-06-08", "2027-06-09")
    [invite] = invites(sim, cast.worker)
    start = event(invite).decoded("DTSTART")
    assert start.astimezone(LONDON).hour == 10 and start.astimezone(dt.UTC).hour == 9  # BST: 10:00 local is 09:00 UTC
    assert "BEGIN:VTIMEZONE" in invite.to_ical().decode() and "TZID:Europe/London" in invite.to_ical().decode()

    sim.at(D(2026, 12, 2), 10)
    sim.workspace.click(cast.auditor, with_button(sim, cast.auditor, ActionId.CANCEL_MEETING), ActionId.CANCEL_MEETING)
    sim.step(sim.clock.now)
    for who in (cast.auditor, cast.worker, cast.manager):
        booked, cancelled = invites(sim, who)
        assert str(cancelled["METHOD"]) == "CANCEL" and str(event(cancelled)["STATUS"]) == "CANCELLED"
        assert str(event(cancelled)["UID"]) == str(event(booked)["UID"]) and int(event(cancelled)["SEQUENCE"]) == 1
        [note] = [m for m in messages_of(sim, who, "Cancelled: the reflection meeting for case") if not m.get("files")]
        assert note.get("edited")
    assert meeting(sim, cast.allocation_id).state == MeetingState.CANCELLED


def test_times_must_be_working_hours_on_working_days_and_in_the_future(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.at(D(2026, 12, 1), 10)
    arrange = with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING)
    answer = propose(sim, cast.auditor, arrange, [("2026-12-25", "10:00"), ("2026-12-05", "10:00"), ("2026-12-08", "17:00")])
    errors = answer["body"]["errors"]
    assert errors["day_1"] == "Friday 25 December 2026 is Christmas Day, a bank holiday: choose a working day."
    assert errors["day_2"] == "Saturday 5 December 2026 is not a working day."
    assert errors["time_3"].startswith("Choose a time in working hours, between 08:30 and 16:30")
    sim.workspace.close_modal(cast.auditor)
    answer = propose(sim, cast.auditor, arrange, [("2026-11-30", "10:00"), ("2026-12-08", "10:00"), ("2026-12-08", "10:00")],
                     place="")
    errors = answer["body"]["errors"]
    assert errors["time_1"] == "That time has passed: choose a later one."
    assert errors["time_3"] == "This is the same as another time: propose different times."
    assert "place" in errors
    sim.workspace.close_modal(cast.auditor)
    answer = propose(sim, cast.auditor, arrange, [("2026-12-08", "10:00")])
    assert answer["body"]["errors"] == {"day_2": "Propose at least 2 times."}
    sim.workspace.close_modal(cast.auditor)
    with sim.sessions() as session:
        assert session.scalars(select(ReflectionMeeting)).all() == []


def test_two_unanswered_proposals_are_escalated_to_the_group_manager_exactly_once(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.at(D(2026, 12, 1), 10)
    arrange = with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING)
    propose(sim, cast.auditor, arrange, [("2026-12-14", "10:00"), ("2026-12-15", "10:00")])
    sim.step(sim.clock.now)
    # the team manager answers; the worker does not. Two working days (Wed 2, Thu 3 Dec) pass.
    sim.workspace.click(cast.manager, with_button(sim, cast.manager, ActionId.MEETING_TIME), ActionId.MEETING_TIME)
    sim.run(D(2026, 12, 1), D(2026, 12, 5), every=dt.timedelta(hours=2))
    first = [m for m in messages_of(sim, cast.auditor) if "has not answered" in m["text"]]
    assert len(first) == 1 and ActionId.ESCALATE_MEETING not in str(first[0]["blocks"])
    assert [r.day for r in sim.received if r.email == cast.auditor and "has not answered" in r.kind] == [D(2026, 12, 4)]

    # a second round, unanswered too: now the auditor may escalate
    sim.at(D(2026, 12, 7), 9)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING, "has not answered"),
            [("2026-12-15", "11:00"), ("2026-12-16", "11:00")])
    sim.run(D(2026, 12, 7), D(2026, 12, 11), every=dt.timedelta(hours=2))
    offer = with_button(sim, cast.auditor, ActionId.ESCALATE_MEETING)
    assert "has not answered two meeting requests" in offer["text"]
    assert [m for m in messages_of(sim, cast.group_manager) if "meeting requests" in m["text"]] == []

    sim.at(D(2026, 12, 11), 10)
    sim.workspace.click(cast.auditor, offer, ActionId.ESCALATE_MEETING)
    sim.workspace.click(cast.auditor, offer, ActionId.ESCALATE_MEETING)  # a double click
    assert "already escalated" in ephemeral(sim, cast.auditor)
    sim.run(D(2026, 12, 11), D(2026, 12, 16), every=dt.timedelta(hours=2))
    escalations = [m for m in messages_of(sim, cast.group_manager) if "meeting requests" in m["text"]]
    assert len(escalations) == 1
    with sim.sessions() as session:
        worker_name = session.scalars(select(Person.display_name).where(Person.email == cast.worker)).one()
    assert escalations[0]["text"] == f"{worker_name} has not answered two meeting requests for case {cast.reference}."
    edited = next(m for m in sim.workspace.messages(user_email=cast.auditor) if m["ts"] == offer["ts"])
    assert "Escalated to" in str(edited["blocks"]) and ActionId.ESCALATE_MEETING not in str(edited["blocks"])

    sim.at(D(2026, 12, 16), 10)
    sim.workspace.click(cast.group_manager, escalations[0], ActionId.RESOLVE_MEETING)
    sim.step(sim.clock.now)
    assert [m for m in messages_of(sim, cast.auditor) if "will resolve the unanswered meeting requests" in m["text"]]
    # the worker's silence counted twice; the team manager's answer none
    with sim.sessions() as session:
        silent = session.scalars(select(MeetingAnswer.person_id).where(MeetingAnswer.kind == AnswerKind.NO_ANSWER)).all()
        worker_id = session.scalars(select(Person.id).where(Person.email == cast.worker)).one()
        manager_id = session.scalars(select(Person.id).where(Person.email == cast.manager)).one()
        assert silent.count(worker_id) == 2
        logged = session.scalars(select(AuditLog.action).where(AuditLog.action.startswith("meeting."))).all()
        assert logged.count("meeting.escalated") == 1 and logged.count("meeting.resolving") == 1
    assert silent.count(manager_id) == 1  # answered the first round, not the second: no escalation offered
    assert "Escalate" not in str([m["blocks"] for m in messages_of(sim, cast.auditor) if m["text"].startswith("Tara")])


def test_a_recent_change_of_worker_makes_it_a_three_way_meeting(sim: Simulation) -> None:
    cast = december(sim, iro=False, previous_worker=True)
    with sim.sessions() as session:
        case = session.get_one(Allocation, cast.allocation_id).case
        previous = case.previous_worker.email
    sim.at(D(2026, 12, 1), 10)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING),
            [("2026-12-08", "10:00"), ("2026-12-09", "10:00")])
    sim.step(sim.clock.now)
    with_button(sim, previous, ActionId.MEETING_TIME)  # asked too (Bradford §2)
    sim.workspace.click(cast.worker, with_button(sim, cast.worker, ActionId.MEETING_TIME), ActionId.MEETING_TIME)
    sim.step(sim.clock.now)
    for who in (cast.auditor, cast.worker, previous, cast.manager):
        [invite] = invites(sim, who)
        attendees = {str(a).lower().removeprefix("mailto:") for a in event(invite).get("ATTENDEE")}
        assert {cast.auditor, cast.worker, previous} <= attendees


def test_the_worker_may_start_it_and_the_auditor_books_a_suggested_time(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.at(D(2026, 12, 1), 10)
    suggest = with_button(sim, cast.worker, ActionId.ARRANGE_MEETING)
    assert "Suggest a meeting time" in str(suggest["blocks"])
    propose(sim, cast.worker, suggest, [("2026-12-08", "10:00"), ("2026-12-09", "10:00")], place="Teams call")
    sim.step(sim.clock.now)
    # the auditor says none of these work and suggests another time, which the worker books
    ask = with_button(sim, cast.auditor, ActionId.MEETING_NONE)
    sim.workspace.click(cast.auditor, ask, ActionId.MEETING_NONE)
    answer = submit(sim, cast.auditor, {"day_1": "2026-12-10", "time_1": "09:00", "note": "I am in court on Tuesday."})
    assert not answer["body"], answer["body"]
    sim.step(sim.clock.now)
    book = with_button(sim, cast.worker, ActionId.BOOK_SUGGESTION)
    assert "I am in court on Tuesday." in str(book["blocks"])
    sim.workspace.click(cast.worker, book, ActionId.BOOK_SUGGESTION)
    sim.step(sim.clock.now)
    booked = meeting(sim, cast.allocation_id)
    assert booked.state == MeetingState.BOOKED and booked.starts_at == dt.datetime(2026, 12, 10, 9, 0, tzinfo=dt.UTC)
    [invite] = invites(sim, cast.manager)
    assert str(event(invite)["ORGANIZER"]).lower() == f"mailto:{cast.auditor}"


def test_nothing_arranged_after_five_working_days_nudges_the_auditor_and_tells_the_worker(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.run(D(2026, 12, 1), D(2026, 12, 12), every=dt.timedelta(hours=2))
    nudges = [(r.email, r.day) for r in sim.received if r.reference == cast.reference and r.kind == "meeting nudge"]
    assert sorted(nudges) == sorted([(cast.auditor, D(2026, 12, 8)), (cast.worker, D(2026, 12, 8))]), nudges
    with_button(sim, cast.worker, ActionId.ARRANGE_MEETING, "you may contact the auditor")


def test_a_new_worker_is_nudged_after_the_first_one_was(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.run(D(2026, 12, 1), D(2026, 12, 9), every=dt.timedelta(hours=2))
    with sim.sessions() as session, session.begin():  # the case moves to another worker after the first nudges
        allocation = session.get_one(Allocation, cast.allocation_id)
        other = session.scalars(select(Person).where(Person.email == cast.group_manager)).one()
        allocation.case.allocated_worker_id = other.id
    sim.run(D(2026, 12, 9), D(2026, 12, 10), every=dt.timedelta(hours=2))

    nudges = [(r.email, r.day) for r in sim.received if r.reference == cast.reference and r.kind == "meeting nudge"]
    assert (cast.group_manager, D(2026, 12, 9)) in nudges, nudges
    assert sorted(nudges).count((cast.auditor, D(2026, 12, 8))) == 1 and len(nudges) == 3, "nobody twice"


def test_a_nudge_queued_for_the_morning_is_cancelled_when_a_meeting_was_proposed_meanwhile(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    # Tue 8 Dec 07:00: out of hours, the nudge waits for 08:30; the auditor proposes at 08:00 from home
    sim.step(sim.at(D(2026, 12, 8), 7))
    with sim.sessions() as session:
        queued = session.scalars(select(Notification).where(Notification.idempotency_key.startswith("meeting:nudge:"))).all()
    assert queued == []  # planners of the cycle run in working hours only
    sim.step(sim.at(D(2026, 12, 8), 9))
    assert [m for m in messages_of(sim, cast.auditor) if m["text"].startswith("Nothing is arranged yet")]
    with sim.sessions() as session:
        rows = session.scalars(select(Notification.state).where(Notification.idempotency_key.startswith("meeting:nudge:"))).all()
    assert set(rows) == {NotificationState.SENT}


def test_a_meeting_is_called_off_when_the_audit_goes_to_another_auditor(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    book(sim, cast, "2026-12-08", "2026-12-09")
    with sim.sessions() as session, session.begin():  # an exemption approved: the case handed to another auditor
        allocation = session.get_one(Allocation, cast.allocation_id)
        other = session.scalars(select(Person).where(Person.email == cast.group_manager)).one()
        allocation.auditor_id = other.id
    sim.step(sim.at(D(2026, 12, 2), 10))
    assert meeting(sim, cast.allocation_id).state == MeetingState.CANCELLED
    for who in (cast.auditor, cast.worker, cast.manager):
        booked, cancelled = invites(sim, who)
        assert str(cancelled["METHOD"]) == "CANCEL" and str(event(cancelled)["UID"]) == str(event(booked)["UID"])
    [note] = [m for m in messages_of(sim, cast.worker, "Cancelled: the reflection meeting") if not m.get("files")]
    assert "the audit went to another auditor or closed" in str(note["blocks"])
    # the new auditor can arrange a new one (a new calendar event)
    sim.step(sim.at(D(2026, 12, 2), 11))
    with sim.sessions() as session:
        assert session.scalars(select(ReflectionMeeting.state)).all() == [MeetingState.CANCELLED]


def partstat(calendar: Calendar) -> dict[str, str]:
    """Each attendee's email and PARTSTAT in an invite."""
    return {str(a).lower().removeprefix("mailto:"): str(a.params["PARTSTAT"]) for a in event(calendar).get("ATTENDEE")}


def test_review_one_persons_answer_never_edits_anothers_and_only_choosers_of_the_booked_time_have_accepted(
    sim: Simulation,
) -> None:
    cast = december(sim, iro=False)
    sim.at(D(2026, 12, 1), 10)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING),
            [("2026-12-08", "10:00"), ("2026-12-09", "10:00")])
    sim.step(sim.clock.now)
    with sim.sessions() as session, session.begin():  # a request to someone whose id starts with the team manager's
        manager_id = session.scalars(select(Person.id).where(Person.email == cast.manager)).one()
        ask = session.scalars(select(Notification).where(Notification.idempotency_key.endswith(f":ask:{manager_id}"))).one()
        twin = Notification(**{c: getattr(ask, c) for c in ("recipient_id", "template", "context", "priority", "state",
                                                             "attempts", "next_attempt_at", "created_at")},
                            idempotency_key=f"{ask.idempotency_key}0")
        session.add(twin)
    manager_ask = with_button(sim, cast.manager, ActionId.MEETING_TIME)
    sim.workspace.click(cast.manager, manager_ask, ActionId.MEETING_TIME, value=values(manager_ask, ActionId.MEETING_TIME)[1])
    with sim.sessions() as session:
        edits = session.scalars(select(Notification.replaces_key).where(Notification.replaces_key.is_not(None))).all()
    assert edits == [ask.idempotency_key]  # the team manager's own request, never the other one
    sim.workspace.click(cast.worker, with_button(sim, cast.worker, ActionId.MEETING_TIME), ActionId.MEETING_TIME)
    sim.step(sim.clock.now)
    [invite] = invites(sim, cast.worker)
    # the team manager chose Wednesday; Tuesday was booked: they have not accepted it
    assert partstat(invite) == {cast.auditor: "ACCEPTED", cast.worker: "ACCEPTED", cast.manager: "NEEDS-ACTION"}


def test_review_a_rearranged_meeting_has_its_own_invite_titles_and_a_leaver_is_left_out(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    book(sim, cast, "2026-12-08", "2026-12-09")
    sim.at(D(2026, 12, 2), 10)
    sim.workspace.click(cast.auditor, with_button(sim, cast.auditor, ActionId.CANCEL_MEETING), ActionId.CANCEL_MEETING)
    sim.step(sim.clock.now)
    with sim.sessions() as session, session.begin():  # the worker leaves; the case has no worker for now
        case = session.get_one(Allocation, cast.allocation_id).case
        case.allocated_worker.active = False
    sim.at(D(2026, 12, 3), 10)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING),
            [("2026-12-10", "10:00"), ("2026-12-11", "10:00")])
    sim.step(sim.clock.now)
    sim.workspace.click(cast.manager, with_button(sim, cast.manager, ActionId.MEETING_TIME), ActionId.MEETING_TIME)
    sim.step(sim.clock.now)
    booked = meeting(sim, cast.allocation_id)
    assert booked.state == MeetingState.BOOKED  # with no worker on the case, the team manager's choice books it
    titles = [f["title"] for m in messages_of(sim, cast.manager) for f in m.get("files") or []]
    assert len(titles) == 3 and len(set(titles)) == 3, titles  # invite, cancellation, the new meeting's invite
    assert [m for m in messages_of(sim, cast.worker) if "10:00 on Thursday 10 December 2026" in str(m["blocks"])] == []


def test_review_escalation_after_booking_and_a_form_overtaken_by_anothers_times_change_nothing(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.at(D(2026, 12, 1), 10)
    sim.workspace.click(cast.worker, with_button(sim, cast.worker, ActionId.ARRANGE_MEETING), ActionId.ARRANGE_MEETING)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING),
            [("2026-12-14", "10:00"), ("2026-12-15", "10:00")], leave_out_team_manager="On leave")
    # the worker's form, opened before the auditor proposed, is submitted now: it must not replace the auditor's times
    stack = sim.workspace.view_stack(cast.worker)
    typed = {"day_1": "2026-12-16", "time_1": "10:00", "day_2": "2026-12-17", "time_2": "10:00", "place": "Teams"}
    answer = sim.workspace.submit_view(cast.worker, stack[0], input_values(stack[0], typed, sim.workspace.member_id))
    assert "proposed times for the reflection meeting" in str(answer["body"]["errors"])
    with sim.sessions() as session:
        auditor_id = session.scalars(select(Person.id).where(Person.email == cast.auditor)).one()
    assert (meeting(sim, cast.allocation_id).proposed_by_id, meeting(sim, cast.allocation_id).round) == (auditor_id, 1)
    # proposing again keeps the reason the team manager was left out
    sim.workspace.click(cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING), ActionId.ARRANGE_MEETING)
    fields = {b["block_id"]: b["element"].get("initial_value") for b in sim.workspace.view_stack(cast.auditor)[-1]["blocks"]
              if b["type"] == "input"}
    assert fields["leave_out_team_manager"] == "On leave"
    sim.workspace.close_modal(cast.auditor)
    # two unanswered rounds, then the worker books before the auditor escalates
    sim.run(D(2026, 12, 1), D(2026, 12, 5), every=dt.timedelta(hours=3))
    sim.at(D(2026, 12, 7), 9)
    propose(sim, cast.auditor, with_button(sim, cast.auditor, ActionId.ARRANGE_MEETING, "has not answered"),
            [("2026-12-15", "11:00"), ("2026-12-16", "11:00")])
    sim.run(D(2026, 12, 7), D(2026, 12, 11), every=dt.timedelta(hours=3))
    offer = with_button(sim, cast.auditor, ActionId.ESCALATE_MEETING)
    sim.at(D(2026, 12, 11), 10)
    sim.workspace.click(cast.worker, with_button(sim, cast.worker, ActionId.MEETING_TIME), ActionId.MEETING_TIME)
    sim.workspace.click(cast.auditor, offer, ActionId.ESCALATE_MEETING)
    assert "is already booked" in ephemeral(sim, cast.auditor)
    sim.step(sim.clock.now)
    assert [m for m in messages_of(sim, cast.group_manager) if "meeting requests" in m["text"]] == []
    settled = next(m for m in sim.workspace.messages(user_email=cast.auditor) if m["ts"] == offer["ts"])
    assert "nothing to escalate" in str(settled["blocks"]) and ActionId.ESCALATE_MEETING not in str(settled["blocks"])


def test_review_when_the_worker_proposed_a_silent_auditor_is_reminded_and_the_worker_told(sim: Simulation) -> None:
    cast = december(sim, iro=False)
    sim.at(D(2026, 12, 1), 10)
    propose(sim, cast.worker, with_button(sim, cast.worker, ActionId.ARRANGE_MEETING),
            [("2026-12-14", "10:00"), ("2026-12-15", "10:00")], leave_out_team_manager="Not needed")
    sim.run(D(2026, 12, 1), D(2026, 12, 5), every=dt.timedelta(hours=3))
    assert [m["text"] for m in messages_of(sim, cast.auditor, "Reminder: ")][-1].endswith(
        f"suggested times for the reflection meeting for case {cast.reference}.")
    assert messages_of(sim, cast.worker, f"The auditor has not answered your suggested times for case {cast.reference}")
