"""The QA assurance sample (issue 15; Hull App. E): on the month's first working day the QA team
gets min(10, eligible) random audits whose actions are all signed off, the seed recorded on each;
**Verified** or **Not evidenced…** (a note, to the Group Manager for QA), first decision wins,
every copy edited, a late click told who decided; once a month; outsiders refused."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select

from bot.calendar import WorkingCalendar
from bot.ids import ActionId, CallbackId
from bot.services.assurance.decisions import decide, group_managers_for_qa
from bot.services.assurance.sample import choose_sample
from bot.services.authz import RefusalCode
from store.followup import AssuranceCheck, AssuranceState
from store.models import AuditLog, Case, CaseType, Person, PersonRole, Role, Team
from store.records import ActionStatus, AuditAction, AuditRecord, RecordState
from tests.allocation_fixtures import Council
from tests.moderation_fixtures import stored_record
from tests.simulation import Simulation

D = dt.date
QUINN = "quinn.qa@council.example"
RITA = "rita.qa@council.example"
GWEN = "gwen.group@council.example"
NOVEMBER = D(2026, 11, 1)


def audits(sim: Simulation, n: int, *, statuses: tuple[ActionStatus, ...] = (ActionStatus.SIGNED_OFF,), prefix: str = "ASR",
           auditor: str = "tara.teamlead@council.example") -> list[int]:
    """``n`` final November audits of (closed) team-A cases, each with actions of ``statuses``; their record ids."""
    now = sim.calendar.utc(D(2026, 11, 20), dt.time(10))
    ids = []
    with sim.sessions() as session, session.begin():
        council = Council(session)
        team = session.scalars(select(Team).where(Team.name == "Assessment Team North")).one()
        by = session.scalars(select(Person).where(Person.email == auditor)).one()
        worker = session.scalars(select(Person).where(Person.display_name == "Wendy A1")).one()
        tm = session.scalars(select(Person).where(Person.display_name == "Tara Teamlead")).one()
        taken = session.scalar(select(func.count()).select_from(Case).where(Case.reference.startswith(prefix))) or 0
        for k in range(taken, taken + n):
            case = council.case(f"{prefix}-{k:03d}", team, CaseType.CP, worker=worker, team_manager=tm, active=False)
            record = stored_record(session, council.allocation(case, by, NOVEMBER), now=now)
            record.state, record.finalised_at = RecordState.FINALISED, now
            for j, status in enumerate(statuses):
                signed = status == ActionStatus.SIGNED_OFF
                session.add(AuditAction(record_id=record.id, text=f"Update the chronology ({j + 1})", owner_id=worker.id,
                                        due_date=D(2026, 12, 15), status=status, created_at=now,
                                        signed_off_at=now if signed else None, signed_off_by_id=tm.id if signed else None))
            session.flush()
            ids.append(record.id)
    return ids


def sampled(sim: Simulation) -> list[tuple[dt.date, int, int, AssuranceState]]:
    with sim.sessions() as session:
        rows = session.scalars(select(AssuranceCheck).order_by(AssuranceCheck.id)).all()
        return [(c.month, c.record_id, c.seed, c.state) for c in rows]


def samples(sim: Simulation, email: str) -> list[dict[str, Any]]:
    return [m for m in sim.workspace.messages(user_email=email) if m["text"].startswith("QA assurance sample")]


def current(sim: Simulation, email: str, message: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in sim.workspace.messages(user_email=email) if m["ts"] == message["ts"])


def buttons(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def check_ids(sim: Simulation) -> list[int]:
    with sim.sessions() as session:
        return list(session.scalars(select(AssuranceCheck.id).order_by(AssuranceCheck.id)))


def reference_of(sim: Simulation, check_id: int) -> str:
    with sim.sessions() as session:
        record = session.get_one(AuditRecord, session.get_one(AssuranceCheck, check_id).record_id)
        return record.allocation.case.reference


def add_person(sim: Simulation, name: str, *roles: Role, manages_quinn: bool = False) -> None:
    with sim.sessions() as session, session.begin():
        person = Council(session).person(name, *roles)
        if manages_quinn:
            session.scalars(select(Person).where(Person.email == QUINN)).one().line_manager_id = person.id
    sim.workspace.add_user(person_email(name), name)


def person_email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@council.example"


def test_twelve_eligible_give_ten_at_random_on_the_first_working_day_with_the_seed_recorded(sim: Simulation) -> None:
    eligible = audits(sim, 12, statuses=(ActionStatus.SIGNED_OFF, ActionStatus.WITHDRAWN, ActionStatus.SIGNED_OFF))
    not_yet = audits(sim, 1, statuses=(ActionStatus.SIGNED_OFF, ActionStatus.DONE), prefix="OPEN")
    nothing = audits(sim, 1, statuses=(), prefix="NONE") + audits(sim, 1, statuses=(ActionStatus.WITHDRAWN,), prefix="GONE")

    sim.step(sim.at(D(2026, 11, 30), 10))  # November's first working day has passed: nothing
    sim.step(sim.at(D(2026, 12, 1), 7))  # December's, but before working hours
    assert sampled(sim) == [] and samples(sim, QUINN) == []

    sim.step(sim.at(D(2026, 12, 1), 9))
    rows = sampled(sim)
    assert len(rows) == 10 and {r[0] for r in rows} == {D(2026, 12, 1)} and {r[3] for r in rows} == {AssuranceState.PENDING}
    seed = rows[0][2]
    assert {r[2] for r in rows} == {seed}, "one seed, recorded on each"
    chosen = [r[1] for r in rows]
    assert set(chosen) <= set(eligible) and not set(chosen) & set(not_yet + nothing)
    assert chosen == choose_sample(eligible, 10, seed), "reproducible from the seed"
    with sim.sessions() as session:
        logged = session.scalars(select(AuditLog).where(AuditLog.action == "assurance.sample_proposed")).one()
        assert logged.detail == {"eligible": 12, "sampled": 10, "seed": seed}

    [message] = samples(sim, QUINN)
    assert message["text"] == ("QA assurance sample for December 2026: 10 audit(s) whose actions are all signed off. "
                               "Please check each was really done.")
    assert "from 12 whose actions are all signed off (seed " + str(seed) + ")" in json.dumps(message["blocks"])
    assert buttons(message) == [(a, str(c)) for c in check_ids(sim)
                                for a in (ActionId.ASSURANCE_VERIFIED, ActionId.ASSURANCE_NOT_EVIDENCED)]
    assert ("Update the chronology (3)" in json.dumps(message["blocks"])
            and "(2)" not in json.dumps(message["blocks"])), "withdrawn left out"


def test_three_eligible_are_all_sampled_once_a_month_and_never_again(sim: Simulation) -> None:
    first = audits(sim, 3)
    sim.step(sim.at(D(2026, 12, 1), 9))
    assert sorted(r[1] for r in sampled(sim)) == first

    later = audits(sim, 2)  # signed off later in the month: for January's sample
    for moment in (sim.at(D(2026, 12, 1), 9, 30), sim.at(D(2026, 12, 1), 16), sim.at(D(2026, 12, 2), 9)):
        sim.step(moment)
    assert len(sampled(sim)) == 3 and len(samples(sim, QUINN)) == 1

    sim.step(sim.at(D(2027, 1, 1), 10))  # New Year's Day: a bank holiday
    assert len(sampled(sim)) == 3
    sim.step(sim.at(D(2027, 1, 4), 9))  # January's first working day: only the new ones
    assert [(r[0], r[1]) for r in sampled(sim)[3:]] == [(D(2027, 1, 1), r) for r in later]
    assert [m["text"].split(":")[0] for m in samples(sim, QUINN)] == ["QA assurance sample for December 2026",
                                                                      "QA assurance sample for January 2027"]


def test_verified_edits_every_copy_and_a_second_click_has_one_effect(sim: Simulation) -> None:
    add_person(sim, "Rita Qa", Role.QA_COORDINATOR)
    audits(sim, 2)
    sim.step(sim.at(D(2026, 12, 1), 9))
    [quinns], [ritas] = samples(sim, QUINN), samples(sim, RITA)
    first, second = check_ids(sim)
    reference = reference_of(sim, first)

    sim.at(D(2026, 12, 1), 11)
    sim.workspace.click(QUINN, quinns, ActionId.ASSURANCE_VERIFIED, value=str(first))
    sim.workspace.click(QUINN, quinns, ActionId.ASSURANCE_VERIFIED, value=str(first))  # a double click
    sim.workspace.click(RITA, ritas, ActionId.ASSURANCE_NOT_EVIDENCED, value=str(first))  # Rita's copy, before its edit
    late = sim.workspace.messages(user_email=RITA)[-1]
    assert late["ephemeral"] and late["text"] == (
        f"The assurance check of {reference} was already done: verified by Quinn Qa at 11:00 on Tuesday 1 December 2026. "
        "Nothing was changed.")
    assert sim.workspace.view_stack(RITA) == []
    sim.step(sim.clock.now)

    assert [r[3] for r in sampled(sim)] == [AssuranceState.VERIFIED, AssuranceState.PENDING]
    quinn = sim.workspace.user_id(QUINN)
    with sim.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "assurance.verified")) == 1
    for email, copy in ((QUINN, quinns), (RITA, ritas)):
        edited = current(sim, email, copy)
        assert edited["edited"] and edited["text"].endswith("— 1 checked.")
        assert f"Verified by <@{quinn}> at 11:00 on Tuesday 1 December 2026." in json.dumps(edited["blocks"])
        assert buttons(edited) == [(ActionId.ASSURANCE_VERIFIED, str(second)), (ActionId.ASSURANCE_NOT_EVIDENCED, str(second))]


def not_evidenced(sim: Simulation, email: str, message: dict[str, Any], check_id: int, note: str) -> dict[str, Any]:
    sim.workspace.click(email, message, ActionId.ASSURANCE_NOT_EVIDENCED, value=str(check_id))
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == CallbackId.ASSURANCE_NOTE
    return sim.workspace.submit_view(email, view, {"note": {"note": {"type": "plain_text_input", "value": note}}})


def test_not_evidenced_needs_a_note_and_goes_to_the_group_manager_for_qa(sim: Simulation) -> None:
    add_person(sim, "Gwen Group", Role.GROUP_MANAGER, manages_quinn=True)
    add_person(sim, "Hal Headqa", Role.HEAD_OF_SERVICE_QA)  # a Group Manager who manages QA comes first
    audits(sim, 1)
    sim.step(sim.at(D(2026, 12, 1), 9))
    [message] = samples(sim, QUINN)
    [check_id] = check_ids(sim)
    reference = reference_of(sim, check_id)
    sim.at(D(2026, 12, 1), 14)

    assert not_evidenced(sim, QUINN, message, check_id, "  ")["body"]["errors"] == {
        "note": "Say what evidence is missing, so the Group Manager for QA can follow it up."}
    errors = not_evidenced(sim, QUINN, message, check_id, "Family moved to LS1 4AP, no visit")["body"]["errors"]
    assert list(errors) == ["note"] and "postcode" in errors["note"] and "LS1" not in errors["note"]
    assert [r[3] for r in sampled(sim)] == [AssuranceState.PENDING]

    answer = not_evidenced(sim, QUINN, message, check_id, "No supervision note shows the chronology was updated.")
    assert answer["status"] == 200 and not answer["body"]
    sim.step(sim.clock.now)
    assert [r[3] for r in sampled(sim)] == [AssuranceState.NOT_EVIDENCED]
    [told] = [m for m in sim.workspace.messages(user_email=GWEN) if m["text"].startswith("Actions not evidenced")]
    assert told["text"] == (f"Actions not evidenced: the QA assurance check of case {reference} found no evidence "
                            "that its signed-off actions were done.")
    body = json.dumps(told["blocks"])
    assert "Update the chronology (1)" in body and "No supervision note shows the chronology was updated." in body
    assert "December 2026" in body
    assert not [m for m in sim.workspace.messages(user_email=person_email("Hal Headqa")) if not m["ephemeral"]]
    edited = current(sim, QUINN, message)
    assert "Not evidenced" in json.dumps(edited["blocks"]) and buttons(edited) == []


def test_the_group_manager_for_qa_falls_back_to_the_head_of_service_qa_then_the_qa_team(sim: Simulation) -> None:
    def names() -> list[str]:
        with sim.sessions() as session:
            return [p.display_name for p in group_managers_for_qa(session)]

    add_person(sim, "Gail Group", Role.GROUP_MANAGER)  # manages nobody in QA
    assert names() == ["Quinn Qa"]
    add_person(sim, "Hal Headqa", Role.HEAD_OF_SERVICE_QA)
    assert names() == ["Hal Headqa"]
    add_person(sim, "Gwen Group", Role.GROUP_MANAGER, manages_quinn=True)
    assert names() == ["Gwen Group"]


def test_outsiders_and_the_audits_own_auditor_are_refused(sim: Simulation) -> None:
    with sim.sessions() as session, session.begin():
        quinn = session.scalars(select(Person).where(Person.email == QUINN)).one()
        quinn.role_rows.append(PersonRole(role=Role.AUDITOR))
    own = audits(sim, 1, auditor=QUINN)
    sim.step(sim.at(D(2026, 12, 1), 9))
    [message] = samples(sim, QUINN)
    assert buttons(message) == [] and "You audited this case" in json.dumps(message["blocks"])
    [check_id] = check_ids(sim)
    assert sampled(sim)[0][1] == own[0]

    calendar = WorkingCalendar.from_settings(sim.runtime.settings)
    for email, code in ((QUINN, RefusalCode.OWN_AUDIT), ("will.b1@council.example", RefusalCode.QA_CHECKS_ONLY)):
        with sim.sessions() as session, session.begin():
            person = session.scalars(select(Person).where(Person.email == email)).one()
            outcome = decide(session, check_id, person, verified=True, note="", settings=sim.runtime.settings,
                             calendar=calendar, now=sim.clock.now, actor_ref="test")
            assert outcome.decision.code == code
    assert [r[3] for r in sampled(sim)] == [AssuranceState.PENDING]
