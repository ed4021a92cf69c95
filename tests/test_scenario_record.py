"""Recording the audit in chat (issue 13): the three-step form from the allocation message or
``/audit record``, the scheme's rules as field errors, the draft kept when the form is closed,
and on submission the audit done on time, the chasers stopped and the findings sent to the
worker, team manager and IRO — never to a channel."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from bot.ids import ActionId
from bot.workspace.forms import input_values
from store.models import Allocation, AllocationState, Notification, Person
from store.records import AuditDraft, AuditRecord, GradeStage
from tests.recording import NO_MEETING
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, deliver, email_of, with_button

BRADFORD_SECTIONS = ("risk_and_need", "assessments", "plans_and_reviews", "voice_of_the_child", "family_engagement",
                     "partner_collaboration", "management_oversight", "records", "impact")


def top(sim: Simulation, email: str) -> dict[str, Any]:
    stack = sim.workspace.view_stack(email)
    assert stack, f"{email} has no modal open"
    return stack[-1]


def submit(sim: Simulation, email: str, typed: dict[str, str]) -> dict[str, Any]:
    """Fill the modal on top with ``typed`` (field → words or value) and submit it."""
    view = top(sim, email)
    return sim.workspace.submit_view(email, view, input_values(view, typed, sim.workspace.member_id))


def open_form(sim: Simulation, allocation: Allocation) -> str:
    x = email_of(sim, allocation.auditor_id)
    sim.workspace.click(x, with_button(sim, x, ActionId.RECORD_AUDIT), ActionId.RECORD_AUDIT)
    return x


def grades(sections: dict[str, str], overall: str, **more: str) -> dict[str, str]:
    return {**{f"section:{k}": v for k, v in sections.items()}, "overall": overall, "rationale": "Plans are clear.", **NO_MEETING,
            **more}


FINDINGS = {"seen": "worker, team_manager", "family_sought": "yes", "family_by": "parent", "family_view": "mixed",
            "child_feedback": "yes", "flags": "organisational_learning"}


def owner_id(sim: Simulation, email: str) -> str:
    with sim.sessions() as session:
        return str(session.scalars(select(Person.id).where(Person.email == email)).one())


def record_id(sim: Simulation, allocation: Allocation) -> AuditRecord | None:
    with sim.sessions() as session:
        return session.scalar(select(AuditRecord).where(AuditRecord.allocation_id == allocation.id))


def case_people(sim: Simulation, allocation: Allocation) -> dict[str, str]:
    with sim.sessions() as session:
        row = session.get(Allocation, allocation.id)
        assert row is not None
        return {"worker": row.case.allocated_worker.email, "tm": row.case.team_manager.email, "ref": row.case.reference}


def test_bradford_rule_of_thumb_needs_a_reason_and_a_good_overall_is_accepted(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    assert top(sim, x)["title"]["text"] == "Record the audit (1/3)"
    eight_good = dict.fromkeys(BRADFORD_SECTIONS[:8], "Good") | {"impact": "Requires Improvement"}

    answer = submit(sim, x, grades(eight_good, "Outstanding", good_practice="Direct work with the family."))
    assert answer["body"]["response_action"] == "errors"
    assert answer["body"]["errors"] == {"reason": (
        "Outstanding is more than 1 grade above the lowest section (Requires Improvement): an overall grade is not "
        "usually that far above it. Say why, or change the grade.")}
    assert len(sim.workspace.view_stack(x)) == 1, "the form stays on the grades"

    answer = submit(sim, x, grades(eight_good, "Good", good_practice="Direct work with the family."))
    assert answer["body"]["response_action"] == "push"
    assert top(sim, x)["title"]["text"] == "Record the audit (2/3)"


def test_bradford_one_inadequate_section_with_overall_ri_is_accepted_and_recorded(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    sections = dict.fromkeys(BRADFORD_SECTIONS[1:], "good") | {"risk_and_need": "inadequate"}
    graded = grades(sections, "requires_improvement", good_practice="Timely visits.")
    assert submit(sim, x, graded)["body"]["response_action"] == "push"
    assert submit(sim, x, FINDINGS)["body"]["response_action"] == "push"
    actions = {"action_1_what": "Update the risk assessment", "action_1_owner": owner_id(sim, people["worker"]),
               "action_1_due": "2027-01-15"}
    answer = submit(sim, x, actions)
    assert answer["body"] == {"response_action": "clear"} and sim.workspace.view_stack(x) == []

    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        assert (record.scheme, record.scheme_version, record.overall_grade) == ("bradford", 1, "requires_improvement")
        assert {s.section_key: s.grade for s in record.sections}["risk_and_need"] == "inadequate"
        assert [(g.stage, g.grade) for g in record.grades] == [(GradeStage.SUBMITTED, "requires_improvement")]
        assert [(a.text, a.owner.email, a.due_date) for a in record.actions] == [
            ("Update the risk assessment", people["worker"], dt.date(2027, 1, 15))]
        assert record.family_views == {"sought": "yes", "by_role": ["parent"], "view": "mixed", "child_feedback": True}
        assert record.seen_roles == ["worker", "team_manager"] and record.flags == ["organisational_learning"]
        allocation = session.get(Allocation, first.id)
        assert allocation is not None and allocation.state == AllocationState.COMPLETED
        assert allocation.completed_at == sim.clock.now
        assert session.scalars(select(AuditDraft)).all() == []

    deliver(sim)
    for email in (people["worker"], people["tm"]):
        [findings] = [m for m in sim.workspace.messages(user_email=email) if m["text"].startswith("Audit findings")]
        assert findings["text"].startswith(f"Audit findings for case {people['ref']}: overall Requires Improvement")
        body = json.dumps(findings["blocks"])
        assert "Risk and need" in body and "Inadequate" in body and "Update the risk assessment" in body
    summary = sim.workspace.messages(user_email=x)[-1]
    assert summary["text"] == f"Audit of case {people['ref']} recorded: overall Requires Improvement."
    assert ("You recorded the audit of" in json.dumps(summary["blocks"])
            and "on time, the reminders have stopped" in json.dumps(summary["blocks"]))
    with sim.sessions() as session:
        sent = session.scalars(select(Notification).where(Notification.template.in_(["audit_findings", "audit_recorded"])))
        assert sorted((n.channel, n.recipient.email) for n in sent) == sorted(
            (None, e) for e in (people["worker"], people["tm"], x)), "direct messages only: grades never go to a channel"


def test_hull_ri_with_elements_needs_the_elements_named(sim: Simulation) -> None:
    sim.runtime.settings.grading_scheme = "hull"
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    view = top(sim, x)
    assert next(b["label"]["text"] for b in view["blocks"] if b["type"] == "input").startswith("KSS 1")
    domains = {f"section:{b['block_id'].split(':')[1]}": "Met" for b in view["blocks"] if b["block_id"].startswith("section:")}

    answer = submit(sim, x, {**domains, "overall": "Requires Improvement with elements of good practice", "rationale": "Mixed.",
                             **NO_MEETING})
    assert answer["body"]["errors"] == {
        "elements": 'Name the elements of good practice: "Requires Improvement with elements of good practice" needs them.'}

    answer = submit(sim, x, {**domains, "overall": "requires_improvement_with_elements", "rationale": "Mixed.",
                             "elements": "Good direct work.", **NO_MEETING})
    assert answer["body"]["response_action"] == "push"


def test_a_closed_form_keeps_a_draft_offered_again_but_never_text_the_guardrail_stops(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    view = top(sim, x)
    typed = input_values(view, {"risk_and_need": "Good", "overall": "Good", "good_practice": "Warm, steady direct work",
                                "rationale": "Seen at LS1 4AP with mum"}, sim.workspace.member_id)
    closed = sim.workspace.close_modal(x, typed)  # typed, then X: Slack sends what was typed with view_closed
    assert closed is not None and closed["notified"] and closed["status"] == 200

    with sim.sessions() as session:
        draft = session.scalars(select(AuditDraft)).one()
        assert draft.values == {"section:risk_and_need": "good", "overall": "good", "good_practice": "Warm, steady direct work"}
        assert "LS1" not in json.dumps(draft.values), "a postcode is never stored, not even in a draft"

    sim.at(D(2026, 12, 11), 9)
    sim.workspace.slash_command(x, "/audit", f"record {people['ref']}")
    again = top(sim, x)
    blocks = {b["block_id"]: b for b in again["blocks"]}
    assert blocks["draft"]["elements"][0]["text"].startswith(":memo: Filled in from your draft saved at 10:00 "
                                                             "on Thursday 10 December")
    assert blocks["section:risk_and_need"]["element"]["initial_option"]["value"] == "good"
    assert blocks["good_practice"]["element"]["initial_value"] == "Warm, steady direct work"
    assert "initial_value" not in blocks["rationale"]["element"]


def test_text_that_could_identify_a_child_is_a_field_error_naming_only_its_kind(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    sections = dict.fromkeys(BRADFORD_SECTIONS, "good")
    answer = submit(sim, x, grades(sections, "good", good_practice="Good work", rationale="Child DOB 03/04/2015 noted."))
    errors = answer["body"]["errors"]
    assert list(errors) == ["rationale"] and "date of birth" in errors["rationale"] and "03/04" not in errors["rationale"]
    assert submit(sim, x, grades(sections, "good", good_practice="Good work"))["body"]["response_action"] == "push"
    assert submit(sim, x, FINDINGS)["body"]["response_action"] == "push"
    answer = submit(sim, x, {"action_1_what": "Call NHS 943 476 5919 back", "action_1_owner": owner_id(sim, x),
                             "action_1_due": "2027-01-15"})
    assert list(answer["body"]["errors"]) == ["action_1_what"] and "NHS number" in answer["body"]["errors"]["action_1_what"]


def to_actions(sim: Simulation, allocation: Allocation) -> str:
    """Open the form and pass the grades and findings (all Good): the auditor, on the last step."""
    x = open_form(sim, allocation)
    all_good = grades(dict.fromkeys(BRADFORD_SECTIONS, "good"), "good", good_practice="Good work")
    assert submit(sim, x, all_good)["body"]["response_action"] == "push"
    assert submit(sim, x, FINDINGS)["body"]["response_action"] == "push"
    return x


def test_the_actions_step_names_each_field_to_fix(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    sim.at(D(2026, 12, 10), 10)
    x = to_actions(sim, first)

    assert submit(sim, x, {})["body"]["errors"] == {
        "action_1_what": "Add at least one action, or say below why no action is needed.",
        "no_actions": "If no action is needed, say why."}
    answer = submit(sim, x, {"action_1_what": "Review the plan", "action_2_owner": owner_id(sim, people["worker"]),
                             "action_2_due": "2026-12-09", "no_actions": "None"})
    assert answer["body"]["errors"] == {
        "action_1_owner": "Action 1: choose who will do it.", "action_1_due": "Action 1: choose the date it is due.",
        "action_2_what": "Action 2: say what needs to be done.", "action_2_due": "Action 2: the due date must be after today.",
        "no_actions": "You have listed actions: leave this empty, or remove the actions."}
    assert record_id(sim, first) is None


def test_a_second_submission_changes_nothing_and_says_who_recorded_it(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    sim.at(D(2026, 12, 10), 10)
    x = to_actions(sim, first)
    last = top(sim, x)
    values = input_values(last, {"no_actions": "Nothing more is needed."}, sim.workspace.member_id)
    assert sim.workspace.submit_view(x, last, values)["body"] == {"response_action": "clear"}

    with sim.workspace.state.lock:  # the same form submitted again from another copy (a second device)
        stored = sim.workspace.state.views[last["id"]]
        stored.open, stored.hash = True, sim.workspace.state.new_hash()
    sim.at(D(2026, 12, 10), 10, 1)
    again = sim.workspace.submit_view(x, last, values)
    name = sim_name(sim, x)
    assert again["body"] == {"response_action": "errors", "errors": {"action_1_what": (
        f"The audit of {people['ref']} was already recorded by {name} at 10:00 on Thursday 10 December 2026. "
        "Your form was not submitted again: nothing was changed.")}}
    sim.workspace.click(x, with_button(sim, x, ActionId.RECORD_AUDIT), ActionId.RECORD_AUDIT)
    assert sim.workspace.messages(user_email=x)[-1]["ephemeral"]
    assert sim.workspace.messages(user_email=x)[-1]["text"].startswith(f"The audit of {people['ref']} was already recorded by")
    deliver(sim)
    with sim.sessions() as session:
        assert len(session.scalars(select(AuditRecord)).all()) == 1
        findings = session.scalars(select(Notification).where(Notification.template == "audit_findings")).all()
        assert sorted(n.recipient.email for n in findings) == sorted([people["worker"], people["tm"]])


def sim_name(sim: Simulation, email: str) -> str:
    with sim.sessions() as session:
        return session.scalars(select(Person.display_name).where(Person.email == email)).one()


def test_recorded_late_at_night_stops_the_reminder_and_the_findings_wait_for_the_morning(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    with sim.sessions() as session, session.begin():  # the case has an IRO: they are sighted on the findings too
        iro = session.scalars(select(Person).where(Person.email == sim_email(sim, "Dee Deputy"))).one()
        session.get(Allocation, first.id).case.iro_id = iro.id  # type: ignore[union-attr]
    sim.at(D(2026, 12, 22), 21, 30)  # Tuesday evening, before Thursday's reminder
    x = to_actions(sim, first)
    assert submit(sim, x, {"no_actions": "Nothing more is needed."})["body"] == {"response_action": "clear"}
    deliver(sim)
    assert sim.workspace.messages(user_email=x)[-1]["text"].startswith(f"Audit of case {people['ref']} recorded")
    assert not [m for m in sim.workspace.messages(user_email=people["tm"]) if m["text"].startswith("Audit findings")]

    sim.step(sim.at(D(2026, 12, 23), 8, 30))  # the start of the working day
    for email in (people["worker"], people["tm"], sim_email(sim, "Dee Deputy")):
        found = [m["text"] for m in sim.workspace.messages(user_email=email) if m["text"].startswith("Audit findings")]
        assert found and found[-1].startswith(f"Audit findings for case {people['ref']}")
    sim.step(sim.at(D(2026, 12, 24), 9))  # reminder day: this audit is done
    assert not [m for m in sim.workspace.messages(user_email=x)
                if m["text"].startswith("Reminder") and people["ref"] in m["text"]]
    with sim.sessions() as session:
        allocation = session.get(Allocation, first.id)
        assert allocation is not None and allocation.completed_at == sim.calendar.utc(D(2026, 12, 22), dt.time(21, 30))


def sim_email(sim: Simulation, name: str) -> str:
    with sim.sessions() as session:
        return session.scalars(select(Person.email).where(Person.display_name == name)).one()


def test_a_draft_of_an_audit_that_went_elsewhere_is_forgotten(sim: Simulation) -> None:
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = open_form(sim, first)
    sim.workspace.close_modal(x)
    with sim.sessions() as session, session.begin():
        assert len(session.scalars(select(AuditDraft)).all()) == 1
        session.get(Allocation, first.id).state = AllocationState.CANCELLED  # type: ignore[union-attr]
    sim.step(sim.at(D(2026, 12, 11), 9))
    with sim.sessions() as session:
        assert session.scalars(select(AuditDraft)).all() == []


def test_changing_the_scheme_leaves_recorded_audits_as_they_were_graded(sim: Simulation) -> None:
    first, second = allocate_december(sim)[:2]
    sim.at(D(2026, 12, 10), 10)
    x = to_actions(sim, first)
    assert submit(sim, x, {"no_actions": "Nothing more is needed."})["body"] == {"response_action": "clear"}
    y = to_actions(sim, second)  # a form filled in on Bradford's sections, not yet submitted...

    sim.runtime.settings.grading_scheme = "hull"  # ...when the council moves to Hull's scheme
    answer = submit(sim, y, {"no_actions": "Nothing more is needed."})
    assert answer["body"]["response_action"] == "errors"
    assert answer["body"]["errors"]["action_1_what"].startswith("Go back: an earlier step needs a change. Grade KSS 1")
    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        assert (record.allocation_id, record.scheme, record.scheme_version) == (first.id, "bradford", 1)
        assert {s.grade for s in record.sections} == {"good"} and len(record.sections) == 9
    sim.workspace.close_modal(y)
    sim.workspace.click(y, with_button(sim, y, ActionId.RECORD_AUDIT), ActionId.RECORD_AUDIT)
    assert "Step 1 of 3: the grades, on Hull" in json.dumps(top(sim, y)["blocks"][0])


def test_in_a_team_of_more_than_a_hundred_the_owner_menu_keeps_the_case_circle(sim: Simulation) -> None:
    from store.models import Role, Team
    from tests.allocation_fixtures import Council

    first = allocate_december(sim)[0]
    people = case_people(sim, first)
    with sim.sessions() as session, session.begin():
        team = session.get(Team, session.get(Allocation, first.id).case.team_id)  # type: ignore[union-attr]
        council = Council(session)
        for n in range(120):  # "Aaron 000"... sort before everyone in the circle
            council.person(f"Aaron {n:03}", Role.SOCIAL_WORKER, team=team)
    sim.at(D(2026, 12, 10), 10)
    x = to_actions(sim, first)
    owners = next(b for b in top(sim, x)["blocks"] if b["block_id"] == "action_1_owner")["element"]["options"]
    assert len(owners) == 100
    values = {o["value"] for o in owners}
    for email in (people["worker"], people["tm"], x):
        assert owner_id(sim, email) in values
