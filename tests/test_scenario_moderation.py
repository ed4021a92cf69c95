"""Moderation (issue 14; Hull 22, 4.32; Bradford §3), driven through the real app: a kept grade
taken to moderation goes to the QA team with a menu of moderators from outside the case's service
and circle; the first choice wins; the moderator records the decision; Hull ends there, Bradford
lets the challenger take a grade disagreement to the Head of Service QA; the month's sample."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.ids import ActionId, CallbackId
from bot.services.moderation.sample import Candidate, choose_sample, sample_size
from bot.settings import ModerationFinal
from bot.workspace.forms import input_values
from store.models import Allocation, AuditLog, Case, Person, Role, Service
from store.records import (
    AuditAction,
    AuditChallenge,
    AuditModeration,
    AuditRecord,
    ChallengeState,
    GradeStage,
    ModerationKind,
    ModerationState,
    RecordState,
)
from tests.allocation_fixtures import Council
from tests.moderation_fixtures import kept_challenge_to_moderation
from tests.recording import record_audit
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, deliver, with_button

QUINN, QUENTIN = "quinn.qa@council.example", "quentin.qa@council.example"
DEE, GAIL, HANA = "dee.deputy@council.example", "gail.group@council.example", "hana.head@council.example"
HEIDI = "heidi.hosqa@council.example"


def more_people(sim: Simulation) -> None:
    """Senior managers around the small council: one inside each service, an IRO who is also a
    Strategic Lead (so in the circle of team A's cases), a Head of Service QA, a second QA."""
    with sim.sessions() as session, session.begin():
        c = Council(session)
        ai = session.scalars(select(Service).where(Service.name == "Assessment and Intervention")).one()
        cic = session.scalars(select(Service).where(Service.name == "Children in Care")).one()
        c.person("Ian Inside", Role.HEAD_OF_SERVICE, service=ai)
        c.person("Gail Group", Role.GROUP_MANAGER, service=cic)
        ivy = c.person("Ivy Iro", Role.IRO, Role.STRATEGIC_LEAD)
        c.person("Heidi Hosqa", Role.HEAD_OF_SERVICE_QA)
        c.person("Quentin Qa", Role.QA_COORDINATOR)
        for case in session.scalars(select(Case).where(Case.reference.startswith("CMS-1"))):
            case.iro_id = ivy.id
    for name in ("Ian Inside", "Gail Group", "Ivy Iro", "Heidi Hosqa", "Quentin Qa"):
        sim.workspace.add_user(name.lower().replace(" ", ".") + "@council.example", name)


@dataclass(frozen=True)
class Audit:
    """An allocation as the tests talk about it."""

    id: int
    reference: str
    auditor: str  # email
    auditor_name: str


def audits(sim: Simulation) -> list[Audit]:
    allocate_december(sim)
    with sim.sessions() as session:
        return [Audit(a.id, a.case.reference, a.auditor.email, a.auditor.display_name)
                for a in session.scalars(select(Allocation).order_by(Allocation.id))]


def recorded_team_a_audit(sim: Simulation) -> tuple[Audit, str]:
    """December allocated, and the first team-A audit recorded in chat (all Good) on 10 December."""
    more_people(sim)
    allocation = next(a for a in audits(sim) if a.reference.startswith("CMS-1"))
    sim.at(D(2026, 12, 10), 10)
    message = with_button(sim, allocation.auditor, ActionId.RECORD_AUDIT, allocation.reference)
    answer = record_audit(sim, allocation.auditor, message)
    assert answer["body"] == {"response_action": "clear"}
    return allocation, allocation.auditor


def to_moderation(sim: Simulation, allocation: Audit, **kwargs: Any) -> tuple[int, int]:
    """The team manager's challenge, kept by the auditor, taken to moderation on 17 December."""
    sim.at(D(2026, 12, 17), 10)
    with sim.sessions() as session, session.begin():
        record = session.scalars(select(AuditRecord).where(AuditRecord.allocation_id == allocation.id)).one()
        tm = record.allocation.case.team_manager
        challenge, moderation = kept_challenge_to_moderation(session, record, tm, sim.runtime.settings, sim.calendar,
                                                             now=sim.clock.now, **kwargs)
        ids = challenge.id, moderation.id
    deliver(sim)
    return ids


def menu_of(sim: Simulation, email: str) -> tuple[dict[str, Any], list[str]]:
    """The QA coordinator's moderation message and the names its menu lists."""
    message = next(m for m in reversed(sim.workspace.messages(user_email=email)) if m["text"].startswith("Moderation needed"))
    menus = [b["accessory"] for b in message["blocks"] if b.get("accessory", {}).get("action_id") == ActionId.CHOOSE_MODERATOR]
    return message, [o["text"]["text"] for o in (menus[0]["options"] if menus else [])]


def choose(sim: Simulation, email: str, message: dict[str, Any], name: str) -> None:
    with sim.sessions() as session:
        person_id = session.scalars(select(Person.id).where(Person.display_name == name)).one()
    moderation_id = message["blocks"][-1]["accessory"]["options"][0]["value"].split(":")[0]
    sim.workspace.click(email, message, ActionId.CHOOSE_MODERATOR, selected_option=f"{moderation_id}:{person_id}")


def second_copy(sim: Simulation, email: str, callback: CallbackId, metadata: dict[str, int],
                values: dict[str, Any]) -> dict[str, str]:
    """Submit another copy of a form (opened in a second window before the first was sent); its field errors."""
    uid = sim.workspace.user_id(email)
    payload = {
        "type": "view_submission", "team": {"id": sim.workspace.team_id, "domain": "council"},
        "user": {"id": uid, "username": uid, "name": uid, "team_id": sim.workspace.team_id}, "api_app_id": "A0LOCAL",
        "trigger_id": "", "is_enterprise_install": False, "enterprise": None, "response_urls": [],
        "view": {"id": "VSECOND", "hash": "VSECOND", "type": "modal", "callback_id": callback,
                 "private_metadata": json.dumps(metadata), "state": {"values": values}},
    }
    raw = urlencode({"payload": json.dumps(payload)}).encode()
    status, text = sim.workspace.send_raw(raw, sim.workspace.actor.signed_headers(raw))
    assert status == 200, text
    return dict(json.loads(text)["errors"])


def submit_form(sim: Simulation, email: str, typed: dict[str, str]) -> dict[str, Any]:
    view = sim.workspace.view_stack(email)[-1]
    return sim.workspace.submit_view(email, view, input_values(view, typed, sim.workspace.member_id))


def moderate(sim: Simulation, email: str, typed: dict[str, str], reference: str = "") -> dict[str, Any]:
    message = with_button(sim, email, ActionId.RECORD_MODERATION, reference)
    sim.workspace.click(email, message, ActionId.RECORD_MODERATION)
    return submit_form(sim, email, typed)


def test_the_qa_menu_lists_only_senior_managers_outside_the_service_and_circle_suggestion_first(sim: Simulation) -> None:
    allocation, _ = recorded_team_a_audit(sim)
    to_moderation(sim, allocation)
    message, names = menu_of(sim, QUINN)
    assert message["text"] == f"Moderation needed: {allocation.reference}. Please choose a moderator."
    body = json.dumps(message["blocks"])
    assert "The direct work with the family was exceptional." in body and "kept it: Good is right" in body
    eligible = sorted({"Dee Deputy", "Gail Group", "Hana Head"} - {allocation.auditor_name})
    assert names == [f"{eligible[0]} (suggested)", *eligible[1:]]
    for outside in ("Ian Inside", "Ivy Iro", "Sid Manager", "Tara Teamlead", "Heidi Hosqa"):
        assert not any(n.startswith(outside) for n in names), f"{outside} is in the case's service or circle"
    assert menu_of(sim, QUENTIN)[1] == names, "each QA coordinator gets the same menu"
    with sim.sessions() as session:
        moderation = session.scalars(select(AuditModeration)).one()
        assert (moderation.kind, moderation.state, moderation.suggested.display_name) == (
            ModerationKind.CHALLENGE, ModerationState.CHOOSING, eligible[0])


def test_hull_the_moderators_decision_is_final_and_each_step_is_told(sim: Simulation) -> None:
    allocation, auditor = recorded_team_a_audit(sim)
    challenge_id, moderation_id = to_moderation(sim, allocation)
    message, _ = menu_of(sim, QUINN)
    sim.at(D(2026, 12, 17), 11)
    choose(sim, QUINN, message, "Gail Group")
    deliver(sim)

    edited = next(m for m in sim.workspace.messages(user_email=QUINN) if m["ts"] == message["ts"])
    assert edited["text"].endswith("Gail Group is moderating it (chosen by Quinn Qa).") and menu_of(sim, QUINN)[1] == []
    assert menu_of(sim, QUENTIN)[1] == [], "the other QA copy is edited too"
    request = with_button(sim, GAIL, ActionId.RECORD_MODERATION)
    assert request["text"] == f"Moderation: {allocation.reference}: please record your decision by Tuesday 22 December 2026."
    assert "Good is right: the plan drifted for a month." in json.dumps(request["blocks"])

    sim.at(D(2026, 12, 18), 10)
    with sim.sessions() as session:
        worker = session.get_one(Allocation, allocation.id).case.allocated_worker
        worker_id, worker_email = worker.id, worker.email
    typed = {"agrees": "disagree", "grade": "outstanding", "comment": "The family work lifts it.",
             "action_1_what": "Share the direct work at the practice forum", "action_1_owner": str(worker_id),
             "action_1_due": "2027-01-29"}
    answer = moderate(sim, GAIL, typed)
    assert answer["body"] == {"response_action": "clear"}
    deliver(sim)

    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        assert [(g.stage, g.grade) for g in record.grades] == [
            (GradeStage.SUBMITTED, "good"), (GradeStage.AFTER_MODERATION, "outstanding")]
        assert record.grades[-1].by.email == GAIL and "The family work lifts it." in record.grades[-1].reason
        challenge = session.get_one(AuditChallenge, challenge_id)
        assert challenge.state == ChallengeState.SETTLED and challenge.settled_at == sim.clock.now
        moderation = session.get_one(AuditModeration, moderation_id)
        assert (moderation.state, moderation.agrees, moderation.grade) == (ModerationState.DECIDED, False, "outstanding")
        extra = session.scalars(select(AuditAction).where(AuditAction.moderation_id == moderation_id)).one()
        assert extra.text == "Share the direct work at the practice forum" and extra.owner_id == worker_id
        tm = record.allocation.case.team_manager.email
    for email in (auditor, tm, worker_email):
        told = [m for m in sim.workspace.messages(user_email=email) if m["text"].startswith("Moderation decided")]
        assert [m["text"] for m in told] == [f"Moderation decided: {allocation.reference}: overall Outstanding."]
        assert all(b["type"] != "actions" for m in told for b in m["blocks"]), "Hull: nothing to take further"
    decided = next(m for m in sim.workspace.messages(user_email=GAIL) if m["ts"] == request["ts"])
    assert decided["text"].endswith(": recorded.") and all(b["type"] != "actions" for b in decided["blocks"])

    late = second_copy(sim, GAIL, CallbackId.MODERATION, {"moderation_id": moderation_id}, {
        "agrees": {"agrees": {"type": "radio_buttons", "selected_option": {"value": "agree"}}},
        "grade": {"grade": {"type": "static_select", "selected_option": {"value": "good"}}},
        "comment": {"comment": {"type": "plain_text_input", "value": "Good after all."}}})
    assert late["agrees"].startswith(f"The moderation of {allocation.reference} was already recorded by Gail Group")
    with sim.sessions() as session:
        assert len(session.scalars(select(AuditRecord)).one().grades) == 2, "the late copy changed nothing"


def test_bradford_the_challenger_takes_a_grade_disagreement_to_the_head_of_service_qa(sim: Simulation) -> None:
    sim.runtime.settings.moderation_final = ModerationFinal.HEAD_OF_SERVICE
    allocation, auditor = recorded_team_a_audit(sim)
    challenge_id, _ = to_moderation(sim, allocation)
    choose(sim, QUINN, menu_of(sim, QUINN)[0], "Dee Deputy")
    deliver(sim)
    sim.at(D(2026, 12, 18), 10)
    answer = moderate(sim, DEE, {"agrees": "agree", "grade": "good", "comment": "Good is fair."})
    assert answer["body"] == {"response_action": "clear"}
    deliver(sim)
    with sim.sessions() as session:
        challenge = session.get_one(AuditChallenge, challenge_id)
        assert challenge.state == ChallengeState.MODERATION, "Bradford: the challenger may still take it further"
        tm = challenge.challenger.email
        assert [g.stage for g in challenge.record.grades] == [GradeStage.SUBMITTED], "the grade stood"

    offer = with_button(sim, tm, ActionId.TAKE_TO_HEAD_OF_SERVICE)
    assert "take it to the Head of Service QA" in json.dumps(offer["blocks"])
    sim.workspace.click(tm, offer, ActionId.TAKE_TO_HEAD_OF_SERVICE)
    sim.workspace.click(tm, offer, ActionId.ACCEPT_MODERATION)  # the other button, before the edit arrived
    assert [m["text"] for m in sim.workspace.messages(user_email=tm) if m["ephemeral"]][-1].startswith(
        f"The challenge about {allocation.reference} was already taken to the Head of Service by")
    deliver(sim)
    edited = next(m for m in sim.workspace.messages(user_email=tm) if m["ts"] == offer["ts"])
    assert all(b["type"] != "actions" for b in edited["blocks"]), "the challenger's buttons are gone"

    hos = with_button(sim, HEIDI, ActionId.RECORD_HEAD_OF_SERVICE)
    sim.workspace.click(HEIDI, hos, ActionId.RECORD_HEAD_OF_SERVICE)
    answer = submit_form(sim, HEIDI, {"agrees": "disagree", "grade": "good", "comment": "Not this time."})
    assert answer["body"]["errors"] == {"grade": "You disagree: choose the grade you think is right."}
    answer = submit_form(sim, HEIDI, {"agrees": "disagree", "grade": "outstanding", "comment": "Exceptional family work."})
    assert answer["body"] == {"response_action": "clear"}
    deliver(sim)
    with sim.sessions() as session:
        challenge = session.get_one(AuditChallenge, challenge_id)
        assert challenge.state == ChallengeState.SETTLED and challenge.head_of_service.email == HEIDI
        assert [(g.stage, g.grade) for g in challenge.record.grades] == [
            (GradeStage.SUBMITTED, "good"), (GradeStage.AFTER_HEAD_OF_SERVICE, "outstanding")]
    for email in (auditor, tm):
        assert any(m["text"] == f"Head of Service decision: {allocation.reference}: overall Outstanding."
                   for m in sim.workspace.messages(user_email=email))


def test_a_late_qa_choice_is_told_who_chose_whom_and_changes_nothing(sim: Simulation) -> None:
    allocation, _ = recorded_team_a_audit(sim)
    _, moderation_id = to_moderation(sim, allocation)
    quinn, quentin = menu_of(sim, QUINN)[0], menu_of(sim, QUENTIN)[0]
    choose(sim, QUINN, quinn, "Gail Group")
    choose(sim, QUENTIN, quentin, "Dee Deputy")  # clicked before the edit reached Quentin
    late = [m["text"] for m in sim.workspace.messages(user_email=QUENTIN) if m["ephemeral"]]
    assert late == [f"The moderation of {allocation.reference} was already given to Gail Group, chosen by Quinn Qa at 10:00 "
                    "on Thursday 17 December 2026. Nothing was changed."]
    with sim.sessions() as session:
        assert session.get_one(AuditModeration, moderation_id).moderator.email == GAIL
        assert [e.action for e in session.scalars(select(AuditLog).where(AuditLog.action == "moderation.assigned"))] == [
            "moderation.assigned"]


def test_reminded_after_the_answer_days_then_qa_told(sim: Simulation) -> None:
    allocation, _ = recorded_team_a_audit(sim)
    to_moderation(sim, allocation)
    choose(sim, QUINN, menu_of(sim, QUINN)[0], "Gail Group")
    deliver(sim)  # due Tuesday 22 December (3 working days from Thursday 17)
    for day in (D(2026, 12, 22), D(2026, 12, 23), D(2026, 12, 23), D(2026, 12, 24)):
        sim.step(sim.at(day, 10))
    reminders = [m["text"] for m in sim.workspace.messages(user_email=GAIL) if m["text"].startswith("Reminder")]
    assert reminders == [f"Reminder: {allocation.reference}."], "once, the day after it was due"
    told = [m["text"] for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("Moderation waiting")]
    assert told == [f"Moderation waiting: {allocation.reference}."]


@pytest.mark.parametrize(("finalised", "sampled"), [(60, 6), (69, 7), (1, 1), (10, 1), (11, 2), (0, 0)])
def test_a_tenth_of_the_finalised_audits_rounded_up(finalised: int, sampled: int) -> None:
    assert sample_size(finalised, 10) == sampled
    candidates = [Candidate(n, challenged=n % 20 == 0, over_the_cap=n % 30 == 1) for n in range(finalised)]
    chosen = choose_sample(candidates, 10, seed=42)
    assert len(chosen) == sampled and len({r for r, _ in chosen}) == sampled
    assert chosen == choose_sample(list(reversed(candidates)), 10, seed=42), "the recorded seed reproduces it"


def test_challenged_and_over_the_cap_audits_come_first() -> None:
    candidates = [Candidate(n, challenged=n in (5, 50), over_the_cap=n in (7, 50)) for n in range(60)]
    chosen = choose_sample(candidates, 10, seed=1)
    assert chosen[:3] == [(5, "challenged"), (50, "challenged"), (7, "over_the_cap")]
    assert [why for _, why in chosen[3:]] == ["random"] * 3


def test_the_months_sample_is_previewed_to_qa_then_sent_to_the_moderators(sim: Simulation) -> None:
    more_people(sim)
    allocations = audits(sim)
    sim.at(D(2026, 12, 10), 10)
    for allocation in allocations:
        record_audit(sim, allocation.auditor, with_button(sim, allocation.auditor, ActionId.RECORD_AUDIT, allocation.reference))
    with sim.sessions() as session, session.begin():
        records = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        for record in records:
            record.state = RecordState.FINALISED
        records[-1].rule_reason = "Strong direct work outweighs the late records."
        over_cap = records[-1].allocation.case.reference
    sim.step(sim.at(D(2026, 12, 31), 10))
    samples = [m for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("Moderation sample")]
    assert not samples, "not before the month ends"

    sim.step(sim.at(D(2027, 1, 4), 10))
    sim.step(sim.at(D(2027, 1, 4), 11))  # a second tick proposes nothing more
    previews = [m for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("Moderation sample")]
    assert [m["text"] for m in previews] == [
        "Moderation sample for December 2026: 1 of 4 finalised audit(s), plus 4 for Heads of Service — please check and send."]
    body = json.dumps(previews[0]["blocks"])
    assert f"*{over_cap}*" in body and "overall above the rule of thumb" in body
    with sim.sessions() as session:
        rows = session.scalars(select(AuditModeration).order_by(AuditModeration.id)).all()
        assert [m.kind for m in rows] == [ModerationKind.SAMPLE] + [ModerationKind.HEAD_OF_SERVICE] * 4
        assert {m.state for m in rows} == {ModerationState.PROPOSED} and len({m.seed for m in rows}) == 1
        for m in rows:
            case = m.record.allocation.case
            assert m.suggested is not None and m.suggested.id not in (case.team_manager_id, case.allocated_worker_id)
            service = m.suggested.service_id or (m.suggested.team.service_id if m.suggested.team else None)
            assert service != case.team.service_id, "never from the case's service"
        heads = {m.suggested.display_name for m in rows if m.kind == ModerationKind.HEAD_OF_SERVICE}
        assert heads == {"Dee Deputy", "Hana Head", "Heidi Hosqa", "Ian Inside"}, "one each, none from their own service"
        sampled = rows[0].record.allocation.case.reference

    quentins = next(m for m in sim.workspace.messages(user_email=QUENTIN) if m["text"].startswith("Moderation sample"))
    sim.workspace.click(QUINN, previews[0], ActionId.SEND_SAMPLE)
    sim.workspace.click(QUENTIN, quentins, ActionId.SEND_SAMPLE)  # before the edit reached Quentin
    assert [m["text"] for m in sim.workspace.messages(user_email=QUENTIN) if m["ephemeral"]][-1].startswith(
        "The moderation sample for December 2026 was already sent to the moderators by Quinn Qa")
    deliver(sim)
    with sim.sessions() as session:
        rows = session.scalars(select(AuditModeration).order_by(AuditModeration.id)).all()
        assert {m.state for m in rows} == {ModerationState.WITH_MODERATOR}
        moderators = [m.moderator.email for m in rows]
    for email in moderators:
        assert with_button(sim, email, ActionId.RECORD_MODERATION)
    sent = next(m for m in sim.workspace.messages(user_email=QUINN) if m["ts"] == previews[0]["ts"])
    assert "Sent to the moderators by" in json.dumps(sent["blocks"]) and all(b["type"] != "actions" for b in sent["blocks"])

    # A sample has no challenge: the moderator agrees or disagrees with the grade.
    answer = moderate(sim, moderators[0], {"agrees": "disagree", "grade": "requires_improvement", "comment": "The plan drifted."},
                      sampled)
    assert answer["body"] == {"response_action": "clear"}
    with sim.sessions() as session:
        record = session.get_one(AuditModeration, rows[0].id).record
        assert [(g.stage, g.grade) for g in record.grades][-1] == (GradeStage.AFTER_MODERATION, "requires_improvement")


def test_calibration_per_auditor_and_moderator(sim: Simulation) -> None:
    from click.testing import CliRunner

    from bot.cli import _register_all, cli

    allocation, _ = recorded_team_a_audit(sim)
    to_moderation(sim, allocation)
    choose(sim, QUINN, menu_of(sim, QUINN)[0], "Gail Group")
    deliver(sim)
    moderate(sim, GAIL, {"agrees": "disagree", "grade": "requires_improvement", "comment": "Drift in the plan."})
    if "moderation" not in cli.commands:
        _register_all()
    env = {"AUDITBOT_DATABASE_URL": sim.runtime.settings.database_url}
    result = CliRunner().invoke(cli, ["moderation", "--month", "2026-12"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Moderation calibration, audits of December 2026 (for the QA team: not to be shared)"
    assert f"  {allocation.auditor_name}: 1 of 1 moderated; 1 lowered one grade; 1 of 1 challenged" in lines
    assert "  Gail Group: agreed in 0 of 1 moderation(s)" in lines
    year = CliRunner().invoke(cli, ["moderation", "--year", "2025"], env=env)
    assert year.exit_code == 0 and year.output == "no audits recorded for 2025\n"
    both = CliRunner().invoke(cli, ["moderation"], env=env)
    assert both.exit_code == 2 and "give --month YYYY-MM or --year YYYY" in both.output


def test_hull_an_action_the_moderator_agrees_should_go_is_withdrawn(sim: Simulation) -> None:
    allocation, _ = recorded_team_a_audit(sim)
    with sim.sessions() as session, session.begin():
        record = session.scalars(select(AuditRecord)).one()
        action = AuditAction(text="Weekly visits for a year", owner_id=record.allocation.case.allocated_worker_id,
                             due_date=D(2027, 3, 1), created_at=sim.clock.now)
        record.actions.append(action)
        session.flush()
        action_id = action.id
    to_moderation(sim, allocation, target="action", key=str(action_id), proposed=None)
    choose(sim, QUINN, menu_of(sim, QUINN)[0], "Gail Group")
    deliver(sim)
    sim.workspace.click(GAIL, with_button(sim, GAIL, ActionId.RECORD_MODERATION), ActionId.RECORD_MODERATION)
    form = sim.workspace.view_stack(GAIL)[-1]
    assert "grade" not in {b["block_id"] for b in form["blocks"]}, "no grade to give for an action"
    assert submit_form(sim, GAIL, {"agrees": "disagree", "comment": "Weekly for a year is not proportionate."})["body"] == {
        "response_action": "clear"}
    deliver(sim)
    with sim.sessions() as session:
        assert session.get_one(AuditAction, action_id).status.value == "withdrawn"
        assert session.scalars(select(AuditChallenge)).one().state == ChallengeState.SETTLED
    assert any("the action is withdrawn" in json.dumps(m["blocks"])
               for m in sim.workspace.messages(user_email=allocation.auditor))


def test_the_qa_team_is_reminded_once_when_nobody_chooses_a_moderator(sim: Simulation) -> None:
    allocation, _ = recorded_team_a_audit(sim)
    to_moderation(sim, allocation)  # asked for on Thursday 17 December: a moderator due to be chosen by Tuesday 22
    for day in (D(2026, 12, 22), D(2026, 12, 23), D(2026, 12, 24)):
        sim.step(sim.at(day, 10))
    for qa in (QUINN, QUENTIN):
        chased = [m["text"] for m in sim.workspace.messages(user_email=qa) if m["text"].startswith("Choose a moderator")]
        assert chased == [f"Choose a moderator: {allocation.reference}."], qa
    choose(sim, QUINN, menu_of(sim, QUINN)[0], "Gail Group")
    sim.step(sim.at(D(2026, 12, 29), 10))
    assert len([m for m in sim.workspace.messages(user_email=QUINN) if m["text"].startswith("Choose a moderator")]) == 1
