"""The right to reply (issue 14): the findings carry Agree / Comment… / Challenge…; a challenge
goes to the auditor first, who changes or keeps it; the challenger accepts or asks for
moderation; silence is no comment when the window closes on the fifth working day; the audit is
then final, with every grade it had in its history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.ids import ActionId
from bot.workspace.forms import input_values
from store.models import AuditLog, Person
from store.records import AuditRecord, ChallengeState, GradeStage, RecordState, ReplyKind
from tests.recording import BRADFORD_GRADES, record_audit, submit
from tests.simulation import Simulation
from tests.test_scenario_exemptions import D, allocate_december, deliver, email_of, with_button

#: Stockton 2.6: submitted Inadequate; the team manager's reply changed it to Requires Improvement.
INADEQUATE = {**BRADFORD_GRADES, "section:risk_and_need": "inadequate", "section:plans_and_reviews": "inadequate",
              "overall": "inadequate", "rationale": "Risk is not assessed since the change of worker."}


def recorded(sim: Simulation, grades: dict[str, str] | None = None) -> tuple[str, dict[str, str], int]:
    """December allocated, the first audit recorded on Thu 10 Dec 2026 at 10:00 and its findings delivered:
    the auditor's email, the case's people, the record id."""
    first = allocate_december(sim)[0]
    sim.at(D(2026, 12, 10), 10)
    x = email_of(sim, first.auditor_id)
    assert record_audit(sim, x, with_button(sim, x, ActionId.RECORD_AUDIT), grades=grades)["body"] == {"response_action": "clear"}
    deliver(sim)
    with sim.sessions() as session:
        record = session.scalars(select(AuditRecord)).one()
        case = record.allocation.case
        people = {"worker": case.allocated_worker.email, "tm": case.team_manager.email, "ref": case.reference}
        return x, people, record.id


def findings_message(sim: Simulation, email: str) -> dict[str, Any]:
    return next(m for m in reversed(sim.workspace.messages(user_email=email)) if m["text"].startswith("Audit findings"))


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["text"]["text"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


def state_of(sim: Simulation, record_id: int) -> AuditRecord:
    with sim.sessions() as session:
        record = session.get(AuditRecord, record_id)
        assert record is not None
        session.expunge_all()
        return record


def history(sim: Simulation, record_id: int) -> list[tuple[str, str | None, str]]:
    with sim.sessions() as session:
        record = session.get(AuditRecord, record_id)
        assert record is not None
        return [(g.stage.value, g.section_key, g.grade) for g in record.grades]


def challenge(sim: Simulation, email: str, target: str, reason: str, proposed: str = "") -> dict[str, Any]:
    sim.workspace.click(email, findings_message(sim, email), ActionId.REPLY_CHALLENGE)
    typed = {"target": target, "reason": reason, **({"proposed": proposed} if proposed else {})}
    return submit(sim, email, typed)


def test_stockton_the_team_managers_challenge_moves_inadequate_to_requires_improvement(sim: Simulation) -> None:
    x, people, record_id = recorded(sim, INADEQUATE)
    tm = people["tm"]
    assert buttons(findings_message(sim, tm)) == ["Agree", "Comment…", "Challenge…"]

    sim.at(D(2026, 12, 11), 11)
    answer = challenge(sim, tm, "overall", "Safety planning is in place and reviewed weekly.", proposed="requires_improvement")
    assert answer["body"] in ("", {}), answer["body"]
    deliver(sim)
    ask = next(m for m in reversed(sim.workspace.messages(user_email=x)) if m["text"].startswith(f"{name(sim, tm)} challenged"))
    assert buttons(ask) == ["Change the grade…", "Keep it…"]
    assert "proposing Requires Improvement" in str(ask["blocks"]) and "Safety planning" in str(ask["blocks"])
    assert buttons(findings_message(sim, tm)) == ["Challenge…"], "Agree and Comment go once they have challenged"

    sim.at(D(2026, 12, 14), 10)
    sim.workspace.click(x, ask, ActionId.CHALLENGE_CHANGE)
    assert submit(sim, x, {"grade": "Requires Improvement", "reason": "Agreed: the safety plan is reviewed."})["body"] in ("", {})
    deliver(sim)
    answered = next(m for m in reversed(sim.workspace.messages(user_email=tm))
                    if m["text"].startswith(f"{name(sim, x)} answered"))
    assert buttons(answered) == ["Accept", "Ask for moderation"]
    edited = next(m for m in sim.workspace.messages(user_email=x) if m["ts"] == ask["ts"])
    assert buttons(edited) == [] and "changed it to Requires Improvement" in str(edited["blocks"])

    sim.workspace.click(tm, answered, ActionId.CHALLENGE_ACCEPT)
    sim.workspace.click(tm, answered, ActionId.CHALLENGE_ACCEPT)  # a double click: one decision, the second told so
    assert sim.workspace.messages(user_email=tm)[-1]["ephemeral"]
    assert "is settled" in sim.workspace.messages(user_email=tm)[-1]["text"]
    for email in (people["worker"],):
        sim.workspace.click(email, findings_message(sim, email), ActionId.REPLY_AGREE)
    deliver(sim)  # everyone answered and nothing is open: final before the window's end

    record = state_of(sim, record_id)
    assert record.state == RecordState.FINALISED
    assert history(sim, record_id) == [("submitted", None, "inadequate"), ("after_reply", None, "requires_improvement")]
    final = next(m for m in reversed(sim.workspace.messages(user_email=tm)) if m["text"].startswith("The audit of case"))
    assert final["text"] == (f"The audit of case {people['ref']} is final: overall Requires Improvement "
                             "(submitted as Inadequate).")
    with sim.sessions() as session:
        assert [c.state for c in session.get(AuditRecord, record_id).challenges] == [ChallengeState.SETTLED]  # type: ignore[union-attr]


def name(sim: Simulation, email: str) -> str:
    with sim.sessions() as session:
        return session.scalars(select(Person.display_name).where(Person.email == email)).one()


def test_silence_is_no_comment_and_the_audit_is_final_on_the_fifth_working_day(sim: Simulation) -> None:
    _, people, record_id = recorded(sim)  # Thu 10 Dec: the window closes at the end of Thu 17 Dec
    sim.step(sim.at(D(2026, 12, 16), 9))  # a working day before it closes: the reminder
    for email in (people["worker"], people["tm"]):
        reminder = sim.workspace.messages(user_email=email)[-1]
        assert reminder["text"] == (f"Reminder: the window to reply to the audit findings for case {people['ref']} closes "
                                    "at 17:30 on Thursday 17 December 2026.")
        assert buttons(reminder) == ["Agree", "Comment…", "Challenge…"]
    sim.step(sim.at(D(2026, 12, 17), 17, 29))
    assert state_of(sim, record_id).state == RecordState.REPLY_WINDOW
    sim.step(sim.at(D(2026, 12, 17), 17, 30))
    record = state_of(sim, record_id)
    assert record.state == RecordState.FINALISED and record.finalised_at == sim.clock.now
    with sim.sessions() as session:
        replies = session.get(AuditRecord, record_id).replies  # type: ignore[union-attr]
        assert sorted((r.role, r.kind) for r in replies) == [("team_manager", ReplyKind.NO_COMMENT),
                                                             ("worker", ReplyKind.NO_COMMENT)]
    sim.step(sim.at(D(2026, 12, 18), 9))
    assert buttons(findings_message(sim, people["tm"])) == []
    assert "did not answer before the window closed: recorded as no comment" in str(findings_message(sim, people["tm"])["blocks"])
    tm_texts = [m["text"] for m in sim.workspace.messages(user_email=people["tm"])]
    assert tm_texts[-2].startswith(f"The audit of case {people['ref']} is final")
    assert tm_texts[-1] == f"Oversight due Tuesday 5 January 2027: the audit of case {people['ref']} is final."
    late = sim.workspace.click(people["tm"], with_button(sim, people["tm"], ActionId.REPLY_AGREE), ActionId.REPLY_AGREE)
    assert late["status"] == 200
    assert sim.workspace.messages(user_email=people["tm"])[-1]["text"] == (
        f"The window to reply to the findings for {people['ref']} closed at 17:30 on Thursday 17 December 2026. "
        "Nothing was changed.")


def test_a_comment_goes_to_the_auditor_and_an_unanswered_challenge_is_chased(sim: Simulation) -> None:
    x, people, record_id = recorded(sim)
    worker, tm = people["worker"], people["tm"]
    sim.workspace.click(worker, findings_message(sim, worker), ActionId.REPLY_COMMENT)
    assert submit(sim, worker, {"comment": "Thanks: useful for supervision."})["body"] in ("", {})
    answer = challenge(sim, tm, "section:records", "The case notes are up to date.", proposed="section:outstanding")
    assert answer["body"] in ("", {})
    deliver(sim)
    assert any(m["text"].startswith(f"{name(sim, worker)} commented") for m in sim.workspace.messages(user_email=x))

    sim.step(sim.at(D(2026, 12, 15), 9))  # due by the end of Tue 15 Dec (3 working days)
    assert not [m for m in sim.workspace.messages(user_email=x) if m["text"].startswith("Reminder: a challenge")]
    sim.step(sim.at(D(2026, 12, 16), 9))
    assert sim.workspace.messages(user_email=x)[-1]["text"] == (
        f"Reminder: a challenge to your audit of case {people['ref']} is waiting for you.")
    sim.step(sim.at(D(2026, 12, 17), 9))
    quinn = "quinn.qa@council.example"
    assert sim.workspace.messages(user_email=quinn)[-1]["text"].startswith(f"A challenge to the audit of case {people['ref']}")
    sim.step(sim.at(D(2026, 12, 18), 9))  # the window closed, but the challenge is open: not final
    assert state_of(sim, record_id).state == RecordState.REPLY_WINDOW


def test_challenges_are_checked_field_by_field(sim: Simulation) -> None:
    _, people, _record_id = recorded(sim)
    tm = people["tm"]
    assert challenge(sim, tm, "overall", "", proposed="good")["body"]["errors"] == {
        "proposed": "That is the grade it has now.", "reason": "Say why you disagree."}
    assert challenge(sim, tm, "overall", "No.", proposed="section:good")["body"]["errors"] == {
        "proposed": "Choose from the overall grades for the overall grade."}
    assert challenge(sim, tm, "overall", "Seen at LS1 4AP.")["body"]["errors"]["reason"].startswith("Please remove")


def test_two_simultaneous_answers_to_a_challenge_make_one_decision(sim: Simulation) -> None:
    import threading

    from bot.services.replies.challenges import KEEP, answer_challenge

    x, people, record_id = recorded(sim)
    assert challenge(sim, people["tm"], "overall", "The plan is stronger than this says.")["body"] in ("", {})
    with sim.sessions() as session:
        challenge_id = session.get_one(AuditRecord, record_id).challenges[0].id
        auditor_id = session.scalars(select(Person.id).where(Person.email == x)).one()
    now = sim.at(D(2026, 12, 11), 10)
    outcomes: dict[str, Any] = {}
    answered, commit = threading.Event(), threading.Event()

    def answer(name: str, hold: bool) -> None:
        try:
            with sim.sessions() as session, session.begin():
                outcomes[name] = answer_challenge(session, challenge_id, session.get_one(Person, auditor_id), KEEP, "",
                                                  f"Kept ({name}).", sim.runtime.settings, sim.calendar, now=now,
                                                  actor_ref="U1")
                if hold:
                    answered.set()  # answered, not yet committed
                    commit.wait(10)
        except Exception as exc:  # noqa: BLE001 - asserted below
            outcomes[name] = exc

    one = threading.Thread(target=answer, args=("one", True))
    one.start()
    assert answered.wait(10)
    two = threading.Thread(target=answer, args=("two", False))
    two.start()
    two.join(1.0)  # waits for the first's lock on the record
    commit.set()
    one.join(30)
    two.join(30)

    assert outcomes["one"].late is None and not outcomes["one"].errors
    assert outcomes["two"].late is not None and outcomes["two"].late["state"] == "answered"
    with sim.sessions() as session:
        assert session.get_one(AuditRecord, record_id).challenges[0].auditor_reason == "Kept (one)."
        logged = session.scalars(select(AuditLog.action).where(AuditLog.action == "audit.challenge.keep")).all()
        assert logged == ["audit.challenge.keep"]


def test_a_kept_grade_taken_to_moderation_ends_with_the_moderator_under_hull(sim: Simulation) -> None:
    from store.models import Case, Team

    x, people, record_id = recorded(sim)
    tm, worker, quinn = people["tm"], people["worker"], "quinn.qa@council.example"
    assert challenge(sim, tm, "overall", "The family work is exceptional.", proposed="outstanding")["body"] in ("", {})
    deliver(sim)
    ask = next(m for m in reversed(sim.workspace.messages(user_email=x)) if m["text"].startswith(f"{name(sim, tm)} challenged"))
    sim.workspace.click(x, ask, ActionId.CHALLENGE_KEEP)
    assert submit(sim, x, {"reason": "Good is right: the plan drifted for a month."})["body"] in ("", {})
    deliver(sim)
    answered = next(m for m in reversed(sim.workspace.messages(user_email=tm))
                    if m["text"].startswith(f"{name(sim, x)} answered"))
    sim.workspace.click(tm, answered, ActionId.CHALLENGE_MODERATE)
    deliver(sim)
    answered_now = next(m for m in sim.workspace.messages(user_email=tm) if m["ts"] == answered["ts"])
    assert "You asked for moderation" in str(answered_now["blocks"])

    menu_message = next(m for m in reversed(sim.workspace.messages(user_email=quinn))
                        if m["text"].startswith("Moderation needed"))
    menu = next(b["accessory"] for b in menu_message["blocks"]
                if b.get("accessory", {}).get("action_id") == ActionId.CHOOSE_MODERATOR)
    with sim.sessions() as session:
        record = session.get_one(AuditRecord, record_id)
        service_id = session.get_one(Team, session.get_one(Case, record.allocation.case_id).team_id).service_id
        in_service = {p.id for p in session.scalars(select(Person).where((Person.service_id == service_id) | Person.team_id.in_(
            select(Team.id).where(Team.service_id == service_id))))}
        auditor_id = record.allocation.auditor_id
    listed = {int(o["value"].split(":")[1]) for o in menu["options"]}
    assert listed and not listed & (in_service | {auditor_id}), "nobody from the case's service or its auditor"
    choice = menu["options"][0]
    sim.workspace.click(quinn, menu_message, ActionId.CHOOSE_MODERATOR, selected_option=choice["value"])
    deliver(sim)
    with sim.sessions() as session:
        moderator = session.get_one(Person, int(choice["value"].split(":")[1])).email
    sim.workspace.click(worker, findings_message(sim, worker), ActionId.REPLY_AGREE)
    request = with_button(sim, moderator, ActionId.RECORD_MODERATION)
    sim.workspace.click(moderator, request, ActionId.RECORD_MODERATION)
    view = sim.workspace.view_stack(moderator)[-1]
    typed = {"agrees": "disagree", "grade": "outstanding", "comment": "The family work lifts it."}
    assert sim.workspace.submit_view(moderator, view, input_values(view, typed, sim.workspace.member_id))["body"] == {
        "response_action": "clear"}
    deliver(sim)

    assert history(sim, record_id) == [("submitted", None, "good"), ("after_moderation", None, "outstanding")]
    assert state_of(sim, record_id).state == RecordState.FINALISED, "settled, everyone answered: final"


def test_calibration_in_chat_is_the_qa_teams_and_each_auditors_own(sim: Simulation) -> None:
    x, people, record_id = recorded(sim)
    with sim.sessions() as session, session.begin():  # moderated: the grade lowered one step
        from store.records import AuditGradeEvent, AuditModeration, ModerationKind, ModerationState

        record = session.get_one(AuditRecord, record_id)
        dee = session.scalars(select(Person).where(Person.display_name == "Dee Deputy")).one()
        record.grades.append(AuditGradeEvent(stage=GradeStage.AFTER_MODERATION, grade="requires_improvement", by_id=dee.id,
                                             at=sim.clock.now, reason="r"))
        session.add(AuditModeration(record_id=record_id, kind=ModerationKind.SAMPLE, state=ModerationState.DECIDED,
                                    moderator_id=dee.id, created_at=sim.clock.now, agrees=False, grade="requires_improvement"))
    quinn = "quinn.qa@council.example"
    qa_view = sim.workspace.slash_command(quinn, "/audit", "calibration 2026-12")["body"]
    text = str(qa_view["blocks"])
    assert f"*{name(sim, x)}*: 1 of 1 moderated; 1 lowered one grade; 0 of 1 challenged" in text
    assert "*Dee Deputy*: agreed in 0 of 1 moderation(s)" in text
    own = str(sim.workspace.slash_command(x, "/audit", "calibration 2026-12")["body"]["blocks"])
    assert f"*{name(sim, x)}*: 1 of 1 moderated" in own and "Moderators" not in own and "Only you and the QA team" in own
    other = sim.workspace.slash_command(people["worker"], "/audit", "calibration 2026")["body"]
    assert other["text"].startswith("Only the QA team, and each auditor for their own audits")
