"""The renderer: escaping, strictness, mentions, and Block Kit limits for every template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from bot.blockkit import BlockKitError, validate_message, validate_view
from bot.ids import ActionId, BlockId, FormBlock, Template
from bot.render import render, slack_escape
from bot.services.audits.form import Step, step_fields
from bot.services.audits.schemes import load_scheme
from bot.services.home.month import GLANCE_BLOCKS
from bot.services.inadequate.outcomes import outcome_field
from bot.services.meetings.arrange import FORM_FIELDS as MEETING_FORM_FIELDS
from bot.services.meetings.reflection import MAX_ANSWER, questions, reflection_field

SAM = {"id": 1, "name": "Sam Patel"}
ALEX = {"id": 2, "name": "Alex O'Neill"}
JO = {"id": 3, "name": "Jo Smith"}
KIM = {"id": 4, "name": "Kim Lee"}


#: Every kind of waiting item (bot.services.home), with the longest details they carry.
WAITING_KINDS = ("exemption_exemption", "exemption_extension", "challenge_answer", "challenge_decide", "head_of_service",
                 "moderation", "alert_acknowledge", "alert_corrective", "sign_off", "more_time", "meeting", "oversight",
                 "supervision", "reply", "qa_check", "qa_amend", "assurance", "meeting_resolve", "meeting_book", "reflection",
                 "inadequate_meeting", "inadequate_hos", "inadequate_review")
#: Waiting kinds whose detail is a date.
DATED = ("oversight", "qa_amend", "reply", "inadequate_review")


def waiting_items(n: int) -> list[dict[str, Any]]:
    """``n`` waiting items, every kind in turn, each detail as long as an action's text can be."""
    times = [{"id": 900 + t, "at": f"2026-12-0{t + 2}T10:00:00+00:00"} for t in range(3)]
    return [{"kind": WAITING_KINDS[i % len(WAITING_KINDS)], "id": 1000 + i, "at": "2026-12-01T09:30:00+00:00",
             "reference": f"CMS-{100000 + i}",
             "detail": "2026-12-15" if WAITING_KINDS[i % len(WAITING_KINDS)] in DATED else "Sam Patel: " + "x" * 500,
             "times": times if WAITING_KINDS[i % len(WAITING_KINDS)] == "meeting" else [],
             "suggested": "2026-12-18T11:00:00+00:00" if WAITING_KINDS[i % len(WAITING_KINDS)] == "meeting_book" else None}
            for i in range(n)]


#: The QA team's month at a glance (bot.services.home.month), every figure as wide as it gets.
GLANCE = {"month": "2026-12-01", "paused": False, "allocated": 12345, "owed": 12000, "submitted": 11000, "completion": "92%",
          "late": 1000, "overdue": 999, "exemptions_asked": 345, "exemptions_agreed": 300, "concerns_open": 77,
          "concerns_unacknowledged": 7, "moderated": 40, "moderation_target": 1235}


def report_context(**overrides: Any) -> dict[str, Any]:
    """The month's report modal (bot.services.reports.modal), with large counts and every grade."""
    counts = dict.fromkeys(("allocated", "cancelled", "exempted", "completed", "late", "overdue", "reaudits_allocated",
                            "reaudits_exempted", "reaudits_completed", "graded", "in_reply_window", "changed_after_reply",
                            "changed_after_moderation", "family_views_sought", "open_inadequate_cycles", "actions_open",
                            "actions_overdue", "actions_done", "actions_signed_off", "oversight_overdue", "moderated",
                            "moderated_sample", "moderation_agreed", "exemptions_asked", "exemptions_agreed",
                            "exemptions_declined", "extensions_asked", "extensions_agreed", "extensions_declined",
                            "concerns_raised", "concerns_acknowledged", "owed", "on_time", "non_completions",
                            "not_yet_due"), 1234)
    grades = [{"label": label, "count": 300, "percent": 25} for label in
              ("Outstanding", "Good", "Requires Improvement with elements of good practice", "Requires Improvement",
               "Inadequate")]
    return {"month": "2026-12-01", "as_of": "2026-12-15", "paused": False, "completion": "48%", "counts": counts,
            "final_grades": grades, "original_grades": grades, "moderation_target": 124, "finalised": 1200,
            "concerns_open": 17, "concerns_unacknowledged": 3, **overrides}


def home_context_worst() -> dict[str, Any]:
    """A full Home: a notice, the QA team's month at a glance, every section at one screen, each with more behind it."""
    return {
        "unknown": False, "notice": "Already done: " + "y" * 300, "glance": GLANCE,
        "waiting": waiting_items(20), "waiting_more": 130,
        "audits": [{"id": n, "state": "allocated", "due_date": "2026-12-31", "audit_type": "re_audit", "reference": f"CMS-{n}",
                    "late": n % 2 == 0} for n in range(10)],
        "audits_more": 5,
        "actions": [{"id": n, "text": "z" * 500, "due_date": "2027-01-31", "extension_state": "pending" if n % 2 else None,
                     "reference": f"CMS-{n}"} for n in range(10)],
        "actions_more": 7,
    }


def allocation_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "allocation_id": 7,
        "reallocated": False,
        "case": {"reference": "CMS-104233", "type": "CP", "team": "Assessment Team North"},
        "audit": {"type": "thematic", "theme": "Neglect", "month": "2026-12-01", "due_date": "2026-12-31"},
        "auditor": SAM,
        "co_auditor": None,
        "worker": ALEX,
        "previous_worker": None,
        "worker_changed_on": None,
        "team_manager": JO,
        "iro": KIM,
        "reason": "not in Assessment Team North or its management line; 3 of 10 audits in the last 12 months",
    }
    context.update(overrides)
    return context


def request_context(**overrides: Any) -> dict[str, Any]:
    context = allocation_context(
        request_id=3, stage="ask", kind="exemption", reason="I managed this family's case until May.",
        new_due_date=None, original_due_date="2026-12-31", requester=SAM, approver=JO, routed_to=KIM,
        escalated_to=ALEX, asked_on="2026-12-02T10:00:00+00:00", exemptions_this_year=1, state="pending",
        decided_by=JO, decided_at="2026-12-04T10:00:00+00:00", comment=None, reallocated_to=None,
        resend_days=2,
    )
    context.update(overrides)
    return context


def meeting_context(**overrides: Any) -> dict[str, Any]:
    """A reflection meeting as the meetings service describes it: three times, everyone in it."""
    base: dict[str, Any] = {
        "meeting_id": 7, "allocation_id": 11, "reference": "CMS-104233", "team": "Children in Care Team 1 (South & East)",
        "audit_type": "re_audit", "due_date": "2026-12-31", "state": "proposed", "round": 2, "sequence": 0,
        "place": "Room 2 <Civic Centre> & Teams: https://teams.example/meet/" + "x" * 150, "minutes": 60,
        "starts_at": "2026-12-08T10:00:00+00:00", "proposed_by": SAM, "organiser": SAM, "open": True, "to": ALEX,
        "times": [{"id": 21, "at": "2026-12-08T10:00:00+00:00"}, {"id": 22, "at": "2026-12-09T14:30:00+00:00"},
                  {"id": 23, "at": "2026-12-10T09:00:00+00:00"}],
        "people": [
            {"person": SAM, "role": "auditor", "left_out": None, "answer": None, "proposer": True},
            {"person": ALEX, "role": "worker", "left_out": None,
             "answer": {"kind": "accepted", "at": "2026-12-08T10:00:00+00:00"},
             "proposer": False},
            {"person": JO, "role": "previous_worker", "left_out": None, "answer": {"kind": "none_work", "at": None},
             "proposer": False},
            {"person": KIM, "role": "team_manager", "left_out": None, "answer": {"kind": "no_answer", "at": None},
             "proposer": False},
            {"person": {"id": 5, "name": "Ian Iro"}, "role": "iro", "left_out": "On leave until January " + "y" * 170,
             "answer": None, "proposer": False},
        ],
    }
    return {**base, **overrides}


def inadequate_context(**overrides: Any) -> dict[str, Any]:
    """An Inadequate follow-up cycle at its longest: the second, every step recorded, its re-audit allocated."""
    held = {"by": SAM, "at": "2026-03-12T10:00:00+00:00"}
    return {
        "cycle_id": 4, "number": 2, "state": "reaudit_due", "final_on": "2026-03-10", "review_due": "2026-04-07",
        "reaudit_latest": "2026-05-10", "case": {"reference": "CMS-104233", "type": "CP", "team": "Assessment Team North"},
        "group_manager": SAM, "team_manager": JO, "worker": ALEX, "head_of_service": KIM, "meeting_held": held,
        "review_held": held, "hos_meeting_held": {"by": None, "at": "2026-03-13T10:00:00+00:00"},
        "reaudit": {"due_date": "2026-04-30", "auditor": KIM}, "recipient": KIM, **overrides,
    }


def record_context(**overrides: Any) -> dict[str, Any]:
    """A recorded audit at its longest: nine sections, every text at its limit, five actions."""
    context = allocation_context(
        record_id=9, source="chat", submitted_on="2026-12-10", days_late=0, role="team_manager",
        scheme="Hull: nine domains (Met to N/A) and an overall grade on five points",
        overall="Requires Improvement with elements of good practice",
        sections=[{"label": f"KSS {n}: " + "x" * 100, "grade": "Partially met"} for n in range(1, 10)],
        rationale="r" * 1000, strengths="s" * 1000, good_elements="e" * 500, rule_reason="",
        flags=["immediate_follow_up", "good_practice_example", "organisational_learning"],
        actions=[{"text": "a" * 300, "owner": [ALEX, JO][n % 2], "due_date": "2027-01-15"} for n in range(5)],
        no_actions_reason=None, told=[{"role": "worker", "person": ALEX}, {"role": "team_manager", "person": JO}],
        missing=["iro"],
    )
    context.update(overrides)
    return context


def record_view(step: str, **overrides: Any) -> dict[str, Any]:
    """The record form's ``step``, with a draft filling every field and a hundred possible owners."""
    from bot.services.audits.findings import scheme_context

    scheme = scheme_context(load_scheme("hull"))
    draft: dict[str, Any] = {f"section:{s['key']}": "met" for s in scheme["sections"]}
    draft |= {"overall": "good", "good_practice": "g & <b>" + "g" * 993, "rationale": "r" * 1000, "elements": "e" * 500,
              "flags": ["organisational_learning"], "seen": ["child", "worker"], "family_sought": "yes",
              "family_by": ["parent"], "family_view": "mixed", "child_feedback": "yes",
              "no_actions": "", "no_meeting": "m" * 300, **{f"action_{n}_what": "a" * 300 for n in range(1, 6)},
              **{f"action_{n}_owner": "7" for n in range(1, 6)}, **{f"action_{n}_due": "2027-01-15" for n in range(1, 6)}}
    context: dict[str, Any] = {
        "step": step, "allocation_id": 7, "case": {"reference": "CMS-104233", "team": "Assessment Team North", "type": "CP"},
        "audit": {"type": "control", "due_date": "2026-12-31"}, "scheme": scheme, "draft": draft,
        "draft_saved_at": "2026-12-09T16:00:00+00:00", "today": "2026-12-10",
        "owners": [{"id": n, "name": f"Person {n} " + "n" * 80} for n in range(100)], "slots": [1, 2, 3, 4, 5],
        "reflection": reflection_sheet(), "ask_no_meeting": True,
    }
    context.update(overrides)
    return context


def reflection_sheet() -> dict[str, Any]:
    """An answered reflection sheet: every question answered at the longest, with markup typed in."""
    answers = [{"key": q.key, "question": q.text, "answer": "a & <b> *x*\n" + "a" * (MAX_ANSWER - 12)} for q in questions()]
    return {"by": ALEX, "at": "2026-12-10T15:00:00+00:00", "answers": answers}


def challenge_context(**overrides: Any) -> dict[str, Any]:
    """A challenge to the overall grade, answered by the auditor."""
    context: dict[str, Any] = {
        "record_id": 9, "challenge_id": 4, "case": {"reference": "CMS-104233", "type": "CP", "team": "Assessment Team North"},
        "audit": {"type": "control", "theme": None, "month": "2026-12-01", "due_date": "2026-12-31"}, "auditor": SAM,
        "target": "overall", "about": "The overall grade", "grade": "Inadequate", "proposed": "Requires Improvement",
        "reason": "r" * 1000, "challenger": JO, "raised_at": "2026-12-11T11:00:00+00:00", "state": "answered",
        "due_on": "2026-12-16", "decision": None, "scale": [{"value": "good", "label": "Good"}],
        "answer": {"decision": "change", "grade": "Requires Improvement", "reason": "a" * 1000,
                   "at": "2026-12-14T10:00:00+00:00"},
    }
    context.update(overrides)
    return context


def assurance_item(n: int, state: str) -> dict[str, Any]:
    """One audit of the QA assurance sample, its actions signed off (the longest texts allowed)."""
    decided = state != "pending"
    return {
        "check_id": n, "reference": f"CMS-1042{n:02d}", "team": "Assessment Team North", "auditor": SAM,
        "finalised_at": "2026-12-10T11:00:00+00:00", "state": state, "own": n == 3,
        "actions": [{"text": "Update the chronology " + "a" * 1000, "owner": ALEX, "due": "2027-02-15", "signed_off_by": JO,
                     "signed_off_at": "2026-12-20T10:00:00+00:00"} for _ in range(7)],
        "by": KIM if decided else None, "at": "2027-01-05T10:00:00+00:00" if decided else None,
        "note": "No supervision record of the chronology update. " + "n" * 450 if state == "not_evidenced" else None,
    }


def qa_context(**overrides: Any) -> dict[str, Any]:
    """A QA check of an amended audit at its longest, returned (the reason at its limit)."""
    returned = {"state": "returned", "by": KIM, "at": "2026-12-24T10:00:00+00:00", "reason": "q" * 1000,
                "amend_due": "2026-12-31", "amended_at": None}
    context = record_context(check_id=12, original_overall="Inadequate", decision=returned,
                             amended_after={**returned, "amended_at": "2026-12-29T11:00:00+00:00"}, auditors=[SAM, JO])
    context.update(overrides)
    return context


def action_item(n: int) -> dict[str, Any]:
    """An action at its longest, as a message shows it (waiting for the team manager's decisions)."""
    return {"id": n, "text": "a" * 300, "reference": "CMS-104233", "team": "Assessment Team North " + "t" * 60, "owner": ALEX,
            "due_date": "2027-01-15", "status": "open",
            "done_note": "d" * 500, "done_at": "2027-01-14T10:00:00+00:00", "not_yet_reason": "n" * 500,
            "requested_due": "2027-02-15", "extension_reason": "e" * 500, "extension_state": "pending"}


def alert_context(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "alert_id": 5, "case": {"reference": "CMS-104233", "team": "Assessment Team North"}, "urgency": "immediate",
        "note": "Home visit today; check who is living at the address.", "raised_by": SAM,
        "raised_at": "2026-12-02T09:41:00+00:00", "lead": JO, "lead_acknowledged_at": None, "escalation_level": 1,
        "recipients": [
            {"person": ALEX, "role": "worker", "why": "recipient", "acknowledged_at": "2026-12-02T09:50:00+00:00"},
            {"person": JO, "role": "team_manager", "why": "recipient", "acknowledged_at": None},
            {"person": KIM, "role": "service_manager", "why": "escalation", "acknowledged_at": None},
        ],
        "corrective": {"by": JO, "at": "2026-12-02T11:00:00+00:00", "note": "Recorded as management oversight."},
    }
    context.update(overrides)
    return context


def moderation_context(**overrides: Any) -> dict[str, Any]:
    """A moderated challenge at its longest: the record, the challenge and both answers, a decision."""
    challenge = {
        "id": 12, "target": "section", "about": "KSS 4: " + "x" * 100, "current": "Partially met", "proposed": "Met",
        "reason": "c" * 1000, "challenger": JO, "auditor_decision": "keep", "auditor_grade": None, "auditor_reason": "k" * 1000,
        "state": "moderation", "head_of_service": KIM, "head_of_service_agrees": False, "head_of_service_grade": "Met",
        "head_of_service_comment": "h" * 1000, "due_on": "2027-01-08",
    }
    context = record_context(
        moderation_id=21, kind="challenge", state="decided", final="head_of_service", challenge=challenge, target="section",
        current="Partially met", moderator=KIM, suggested=KIM, chosen_by=SAM, due_on="2027-01-06", agrees=True,
        grade="Partially met", comment="m" * 1000, decided_at="2027-01-05T11:00:00+00:00",
        extra_actions=[{"text": "a" * 300, "owner": ALEX, "due_date": "2027-02-01"} for _ in range(3)],
    )
    context.update(overrides)
    return context


def report_summary_worst(service: str | None = None) -> dict[str, Any]:
    """The monthly report's summary at its longest: long names, the longest grade labels, every part listed and more."""
    from bot.services.reports.model import Counts, Figures, GradeCount, Programme
    from bot.services.reports.publish import LISTED, figures_context

    label = "Requires Improvement with elements of good practice " + "l" * 40
    grades = tuple(GradeCount(f"g{n}", label, 9999, 33) for n in range(5))
    answers = tuple((f"q{n}", "What will you do differently after this audit? " + "w" * 200, 999) for n in range(4))

    def slice_(name: str | None, team: str | None = None, paused: bool = False) -> dict[str, Any]:
        counts = Counts(allocated=99999, completed=88888)
        return figures_context(Figures(month=None, service=name, team=team, paused=paused, counts=counts,
                                       final_grades=grades, original_grades=grades, minutes_to_acknowledge=12.5,
                                       programme=None if name else Programme(reflection_answers=answers, moderation_target=12)))

    parts = [slice_("Service & <" + "s" * 190 + ">", team=("Team " + "t" * 195) if service else None, paused=n == 1)
             for n in range(LISTED)]
    return {"period": "December 2026", "as_of": "2027-01-15", "service": service, "whole": slice_(service),
            "parts": parts, "parts_more": 40, "files": 4, "so_far": service is None}


INVITE_ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:meeting-7@auditbot\r\nSEQUENCE:0\r\n"
              "DTSTART:20261208T100000Z\r\nSUMMARY:Reflection meeting CMS-104233\r\nLOCATION:Room 2 & 3 <Town Hall>\r\n"
              "END:VEVENT\r\nEND:VCALENDAR\r\n")


#: One realistic context per template; a new template without an entry fails test_every_template_renders.
CONTEXTS: dict[Template, dict[str, Any]] = {
    Template.ALLOCATION_AUDITOR: allocation_context(),
    Template.ALLOCATION_WORKER: allocation_context(),
    Template.ALLOCATION_TEAM_MANAGER: allocation_context(),
    Template.NO_SLACK_ACCOUNT: {"person": ALEX, "email": "alex.oneill@council.example", "about": "alloc", "undelivered": 2},
    Template.HELP: {"unknown": None},
    Template.MY_AUDITS: {
        "name": "Sam Patel",
        "lines": [
            {
                "reference": f"CMS-{n}",
                "team": "Assessment Team North",
                "audit_type": "control",
                "due_date": "2026-12-31",
                "state": "allocated",
                "my_part": "auditor",
                "auditor": "Sam Patel",
            }
            for n in range(40)
        ],
        "more": 3,
        "waiting": waiting_items(10),
        "waiting_more": 140,
        "glance": GLANCE,
    },
    Template.ERROR: {"message": "Sorry, something went wrong.", "reference": "ab12cd34"},
    Template.REFUSAL: {"code": "unknown_person"},
    Template.ALLOCATION_PREVIEW: {
        "month": "2026-12-01",
        "first_working_day": "2026-12-01",
        "source": "prepared",
        "prepared_by": "quinn.qa@council.example",
        "theme": "Neglect",
        "counts": {"control": 40, "thematic": 20},
        "total": 60,
        "auditors": 31,
        "max_load": 2,
        "unallocated": [{"reference": f"CMS-{n}", "reason": "no eligible auditor: 12 in the case's team"} for n in range(10)],
        "unallocated_more": 4,
        "notes": ["control sample: 40 requested, 0 already allocated, 40 planned"],
    },
    Template.REMINDER_AUDITOR: allocation_context(days_left=7, next_month="2027-01-01", today="2026-12-24"),
    Template.REMINDER_MANAGER: allocation_context(days_left=1, next_month="2027-01-01", today="2026-12-30"),
    Template.OVERDUE_AUDITOR: allocation_context(days_left=-4, days_late=4, next_month="2027-01-01", today="2027-01-04"),
    Template.OVERDUE_MANAGER: allocation_context(days_left=-4, days_late=4, next_month="2027-01-01", today="2027-01-04"),
    Template.OVERDUE_QA: {
        "today": "2027-01-04",
        "overdue": [
            {"reference": f"CMS-{n}", "team": "Assessment Team North", "auditor": SAM, "due_date": "2026-12-31", "days_late": 4}
            for n in range(40)
        ],
        "more": 5,
    },
    Template.AUDIT_RECORDED: record_context(),
    Template.AUDIT_FINDINGS: record_context(reply_open=True, may_agree=False, closes_at="2026-12-17T17:30:00+00:00",
                                            reply={"kind": "challenge", "at": "2026-12-11T11:00:00+00:00"},
                                            my_challenges=[{"open": True, "target": "overall"}]),
    Template.REPLY_COMMENTED: {"reference": "CMS-104233", "by": JO, "role": "team_manager", "comment": "c" * 1000,
                               "record_id": 9},
    Template.REPLY_REMINDER: {"reference": "CMS-104233", "record_id": 9, "closes_at": "2026-12-17T17:30:00+00:00"},
    Template.CHALLENGE_AUDITOR: challenge_context(stage="answered", by=SAM),
    Template.CHALLENGE_ANSWERED: challenge_context(stage="ask"),
    Template.CHALLENGE_CHASER: challenge_context(waiting_for="answered", to="qa"),
    Template.VIEW_REPLY_COMMENT: {"record_id": 9, "reference": "CMS-104233"},
    Template.VIEW_CHALLENGE: {"record_id": 9, "reference": "CMS-104233",
                              "targets": [{"value": f"action:{n}", "label": "Action: " + "a" * 300} for n in range(120)],
                              "overall_scale": [{"value": "good", "label": "Good"}],
                              "section_scale": [{"value": "met", "label": "Met"}]},
    Template.VIEW_CHALLENGE_ANSWER: challenge_context(decision="change"),
    Template.CALIBRATION: {
        "period": "2026", "month": False, "everyone": True, "more": 3,
        "auditors": [{"name": f"Auditor {n}", "audits": 9, "challenged": 2, "moderated": 3,
                      "moved": [{"by": -1, "n": 2}, {"by": 0, "n": 1}]} for n in range(40)],
        "moderators": [{"name": f"Moderator {n}", "decided": 4, "agreed": 3} for n in range(40)],
    },
    Template.REAUDIT_NO_AUDITOR: {"reference": "CMS-104233", "team": "Assessment Team North", "month": "2026-04-01",
                                  "due_date": "2026-04-30"},
    Template.AUDIT_FINALISED: record_context(original_overall="Inadequate", challenged=True, recipient=JO),
    Template.VIEW_RECORD: record_view("actions", previous_actions=[
        {"id": n, "text": "p" * 300, "owner": ALEX, "due_date": "2026-04-01", "status": "done", "outcome": "partly"}
        for n in range(20)]),
    Template.AUDIT_COMPLETED: allocation_context(completed_by=SAM, completed_on="2027-01-04", days_late=4, already=False),
    Template.BREAK_DECISION: {"approved": False, "already": False, "reason": "month_full", "month": "2027-01-01", "limit": 6,
                              "share": 20},
    Template.BREAKS_LIST: {"month": "2027-01-01", "people": [SAM, JO], "auditors": 31, "limit": 6},
    Template.MY_BREAKS: {
        "name": "Sam Patel", "auditor": True, "per_year": 2, "latest": "2027-12-01", "recent": ["2026-06-01"],
        "notice": {"kind": "cancelled", "month": "2027-01-01"},
        "upcoming": [
            {"month": "2026-12-01", "state": "approved", "allocated": True, "cancel": None},
            {"month": "2027-01-01", "state": "cancelled", "allocated": False, "cancel": None},
            {"month": "2027-03-01", "state": "approved", "allocated": False, "cancel": "12:1795430400000000"},
        ],
    },
    Template.EXEMPTION_ASK: request_context(stage="escalate"),
    Template.EXEMPTION_DECIDED: request_context(state="declined", comment="We need this one done by you."),
    Template.EXEMPTION_SUBMITTED: request_context(),
    Template.EXEMPTION_OUTCOME: request_context(state="approved", reallocated_to=KIM),
    Template.EXEMPTION_QA: request_context(
        state="approved", choices=[{"id": n, "name": f"Auditor {n}", "reason": "r"} for n in range(100)]
    ),
    Template.NO_APPROVER: {"person": ALEX, "email": "alex.oneill@council.example"},
    Template.DELEGATION_RESULT: {"problem": None, "already": False, "delegate": JO, "candidates": [], "starts_on": "2026-12-21",
                                 "ends_on": "2027-01-04"},
    Template.DELEGATION_NOTICE: {"principal": SAM, "starts_on": "2026-12-21", "ends_on": "2027-01-04"},
    Template.VIEW_EXEMPTION_REQUEST: {
        "allocation_id": 7, "reference": "CMS-104233", "due_date": "2026-12-31", "latest": "2027-01-15", "max_days": 10,
        "original_due_date": "2026-12-31",
    },
    Template.VIEW_DECLINE: {"request_id": 3, "requester": "Sam Patel", "kind": "exemption", "reference": "CMS-104233"},
    Template.ALERT_RECIPIENT: alert_context(stage="escalate", is_lead=True, role="service_manager",
                                            acknowledged_at="2026-12-02T10:05:00+00:00", recipient_id=8),
    Template.ALERT_STATUS: alert_context(
        also_open=[{"raised_by": [SAM, KIM][n % 2], "raised_at": "2026-12-02T09:00:00+00:00"} for n in range(7)]
    ),
    Template.ALERT_CHANNEL: {"alert_id": 5, "case": {"reference": "CMS-104233", "team": "Assessment Team North"},
                             "urgency": "immediate", "raised_by": SAM, "raised_at": "2026-12-02T09:41:00+00:00"},
    Template.ALERT_MISSING: {"alert_id": 5, "case": {"reference": "CMS-104233"}, "role": "team_manager", "missing": JO,
                             "substitute": KIM},
    Template.VIEW_ALERT: {
        "reference": "CMS-104233", "viewer_id": 2,
        "open_concerns": [{"raised_by": [SAM, ALEX][n % 2], "raised_at": "2026-12-02T09:41:00+00:00"} for n in range(7)],
    },
    Template.VIEW_CORRECTIVE: {"alert_id": 5, "reference": "CMS-104233"},
    Template.FAILURE: {"kind": "unreadable", "reference": "ab12cd34"},
    Template.BUSY: {},
    Template.FORM_EXPIRED: {},
    Template.CLICK_NOT_DONE: {"clicked_at": "14:02 on Tuesday 1 December"},
    Template.GUARDRAIL_ERROR: {"kinds": ["date_of_birth", "name"]},
    Template.BREAK_NOTICE: {"auditor": SAM, "month": "2027-01-01", "taken": 3, "limit": 3, "share": 20, "cap_reached": True},
    Template.VIEW_FAILURE: {"kind": "unexpected", "reference": "ab12cd34"},
    Template.QA_CHECK: qa_context(),
    Template.QA_OUTCOME: qa_context(stage="returned"),
    Template.QA_AMEND_OVERDUE: qa_context(),
    Template.VIEW_QA_RETURN: {"check_id": 12, "reference": "CMS-104233", "auditor": "Sam Patel", "days": 3},
    Template.ASSURANCE_SAMPLE: {"month": "2027-01-01", "seed": 123456789, "eligible": 37,
                                "items": [assurance_item(n, ["pending", "verified", "not_evidenced"][n % 3]) for n in range(20)]},
    Template.ASSURANCE_NOT_EVIDENCED: {**assurance_item(3, "not_evidenced"), "month": "2027-01-01"},
    Template.VIEW_ASSURANCE_NOTE: {"check_id": 12, "reference": "CMS-104233"},
    Template.ALREADY_DONE: {
        "what": "decision", "reference": "CMS-104233", "kind": "exemption", "state": "approved", "requester": SAM,
        "by": JO, "at": "2026-12-04T10:00:00+00:00", "audit_state": "allocated", "submitted": True,
    },
    Template.MODERATION_QA: moderation_context(
        stage="choosing", choices=[{"id": n, "name": f"Moderator {n} " + "n" * 80, "suggested": n == 0} for n in range(100)]),
    Template.MODERATION_REQUEST: moderation_context(stage="ask", acting="head_of_service"),
    Template.MODERATION_OUTCOME: moderation_context(stage="moderated", offer=True, recipient=JO),
    Template.MODERATION_CHASE: moderation_context(stage="late", step="challenger", waiting=JO, days=2),
    Template.MODERATION_SAMPLE: {
        "month": "2026-12-01", "stage": "proposed", "finalised": 69, "seed": 123456789, "sent_by": None, "sent_at": None,
        "items": [{"reference": f"CMS-1042{n:02d}", "team": "Assessment Team North " + "t" * 60, "auditor": SAM,
                   "kind": "sample" if n < 7 else "head_of_service", "why": ["challenged", "over_the_cap", "random"][n % 3],
                   "moderator": KIM if n % 4 else None, "record_id": n} for n in range(20)],
    },
    Template.VIEW_MODERATION: {
        "acting": "moderator", "moderation_id": 21, "challenge_id": None, "kind": "challenge", "reference": "CMS-104233",
        "target": "overall", "grades": [{"value": f"g{n}", "label": f"Grade {n} " + "g" * 80} for n in range(5)], "current": "g2",
        "owners": [{"id": n, "name": f"Person {n}"} for n in range(100)], "slots": [1, 2, 3], "scheme": "Hull",
    },
    Template.OVERSIGHT: {
        "record_id": 9, "stage": "overdue", "role": "copy", "reference": "CMS-104233", "team": "Assessment Team North",
        "team_manager": JO, "finalised_on": "2026-05-21", "due": "2026-06-05", "days": 10, "actions": 3, "copied": KIM,
        "oversight": None, "supervision": {"at": "2026-06-08T10:00:00+00:00", "by": JO},
    },
    Template.ACTIONS_DIGEST: {
        "day": "2027-01-15", "recipient": JO, "more": 4, "reminder_days": 2, "listed": [[n, "new", ""] for n in range(20)],
        "items": [{**action_item(n),
                   "kind": ["new", "overdue", "not_yet", "sign_off", "request", "team_overdue", "more_time"][n % 7]}
                  for n in range(20)],
    },
    Template.ACTIONS_SUMMARY: {"record_id": 9, "reference": "CMS-104233", "team": "Assessment Team North", "team_manager": JO,
                               "actions": [action_item(n) for n in range(25)]},
    Template.AUDIT_CLOSED: {"record_id": 9, "reference": "CMS-104233", "team": "Assessment Team North",
                            "finalised_at": "2026-05-21T10:00:00+00:00", "oversight_at": "2026-06-01T10:00:00+00:00",
                            "closed_at": "2026-07-01T10:00:00+00:00", "counts": {"open": 0, "done": 0, "signed_off": 3}},
    Template.ACTION_ANSWER: {"what": "late", "op": "sign_off", "action": action_item(1), "state": "signed_off", "by": JO,
                             "at": "2027-01-15T10:00:00+00:00", "submitted": False},
    Template.VIEW_ACTION: {"op": "more_time", "action": action_item(1), "max": 500},
    Template.INADEQUATE_FOLLOW_UP: inadequate_context(stage="opened", role="head_of_service"),
    Template.INADEQUATE_CLOSED: inadequate_context(stage="closed", role="auditor"),
    Template.MEETING_PROPOSAL: meeting_context(role="worker"),
    Template.MEETING_CONFIRMED: meeting_context(state="booked", booked_by=ALEX, organiser_view=True, sequence=2),
    Template.MEETING_NOTICE: meeting_context(kind="unanswered", about=KIM, about_role="team_manager", attempts=2, needed=2,
                                             invitee_id=31),
    Template.MEETING_ESCALATION: meeting_context(about=KIM, about_role="team_manager", attempts=2, invitee_id=31, by=SAM,
                                                 to={"id": 6, "name": "Sid Manager"}),
    Template.VIEW_MEETING: {"mode": "propose", "allocation_id": 11, "reference": "CMS-104233", "team": "Children in Care Team 1",
                            "audit_type": "control", "due_date": "2026-12-31", "minutes": 60, "earliest": "08:30",
                            "latest": "16:30", "round": 1, "place": "Room 2 & <the annexe>",
                            "invitees": [{"role": r, "person": p, "field": f"leave_out_{r}", "may_leave_out": r != "auditor",
                                          "reason": "On leave until January & <back> 4th" if r == "iro" else ""}
                                         for r, p in (("worker", ALEX), ("previous_worker", JO), ("team_manager", KIM),
                                                      ("iro", {"id": 5, "name": "Ian Iro"}), ("auditor", SAM))]},
    Template.VIEW_MEETING_DECLINE: meeting_context(proposal_id=21, earliest="08:30", latest="17:30"),
    Template.MEETING_INVITE: {
        "meeting_id": 7, "sequence": 0, "method": "REQUEST", "reference": "CMS-104233", "starts_at": "2026-12-08T10:00:00+00:00",
        "place": "Room 2 & 3 <Town Hall>", "invite": {
            "filename": "reflection-meeting-CMS-104233.ics", "title": "Reflection meeting CMS-104233 (invite 1)",
            "content": INVITE_ICS},
    },
    Template.REFLECTION_SHEET: {"allocation_id": 7, "meeting_id": 3, "reference": "CMS-104233",
                                "held_at": "2026-12-10T15:00:00+00:00",
                                "worker": ALEX, "questions": 4, "answered": {"by": ALEX, "at": "2026-12-11T09:00:00+00:00"},
                                "role": "auditor"},
    Template.REFLECTION_ANSWERED: {"allocation_id": 7, "reference": "CMS-104233", **reflection_sheet()},
    Template.VIEW_REFLECTION: {"allocation_id": 7, "reference": "CMS-104233", "max": MAX_ANSWER,
                               "questions": [{"key": q.key, "text": q.text, "block": reflection_field(q.key)}
                                             for q in questions()]},
    Template.VIEW_HOME: home_context_worst(),
    Template.REPORT_SUMMARY: report_summary_worst(),
    Template.REPORT_FILE: {"text": "Bar chart of completion by month. December 2026: 95% (19 of 20 owed). " + "x" * 1900,
                           "filename": "audit-report-2026-12-completion-by-month.png",
                           "title": "Audits completed, by month: December 2026", "content_base64": "iVBORw0KGgo="},
    Template.VIEW_REPORT: report_context(),
    Template.VIEW_ALLOCATION_PREVIEW: {"month": "2027-01-01", "paused": False, "allocated": 0, "preview": {
        "month": "2027-01-01", "first_working_day": "2027-01-04", "source": "rules", "prepared_by": None, "theme": None,
        "counts": {"control": 40}, "total": 40, "auditors": 31, "max_load": 2,
        "unallocated": [{"reference": f"CMS-{n}", "reason": "no eligible auditor: 12 in the case's team"} for n in range(10)],
        "unallocated_more": 4, "notes": ["control sample: 40 requested, 0 already allocated, 40 planned"]}},
    Template.MODERATION_LATE: {"what": "chosen", "reference": "CMS-104233", "to": KIM, "by": SAM,
                               "at": "2027-01-05T11:00:00+00:00",
                               "submitted": False},
}


def all_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


@pytest.mark.parametrize("template", list(Template))
def test_every_template_renders_within_block_kit_limits(template: Template) -> None:
    payload = render(template, CONTEXTS[template])
    if template.is_view:
        assert validate_view(payload) == []
        assert isinstance(json.loads(payload["private_metadata"]), dict)
    else:
        assert validate_message(payload) == []
        assert payload["text"].strip(), "every message needs a plain-text fallback"


def plain_texts(value: Any) -> list[str]:
    """Every plain_text object's words in a payload (Slack shows ``<@U…>`` there as typed)."""
    if isinstance(value, dict):
        found = [str(value["text"])] if value.get("type") == "plain_text" else []
        return found + [t for v in value.values() for t in plain_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in plain_texts(v)]
    return []


@pytest.mark.parametrize("template", list(Template))
def test_mentions_only_where_slack_shows_them_as_names(template: Template) -> None:
    """With everyone's Slack id known, no fallback text, title or plain_text shows a raw ``<@U…>``."""
    context = dict(CONTEXTS[template])
    if template is Template.DELEGATION_RESULT:  # also the answer listing several people
        context = {**context, "problem": "ambiguous_delegate", "candidates": [{"person": SAM, "email": "sam@x.example"}]}
    payload = render(template, context, slack_ids={1: "USAM", 2: "UALEX", 3: "UJO", 4: "UKIM"})
    outside_mrkdwn = [payload.get("text", ""), *plain_texts(payload)]
    assert not [t for t in outside_mrkdwn if "<@" in t]
    if template is Template.DELEGATION_RESULT:
        assert payload["text"] == ("Nothing was changed. More than one person in the staff list goes by that name: "
                                   "Sam Patel (sam@x.example). Name the one you mean with an @mention or their email.")
        assert "<@USAM> (sam@x.example)" in payload["blocks"][0]["text"]["text"]  # the blocks still mention


#: The record form's fields: its enum's members, and one per section of the scheme (and action row).
RECORD_FIELDS = {f for step in Step for f in step_fields(step, load_scheme("hull"))} | {
    s.key for s in load_scheme("hull").sections} | {outcome_field(n) for n in range(20)} | MEETING_FORM_FIELDS | {
    reflection_field(q.key) for q in questions()}


@pytest.mark.parametrize("template", list(Template))
def test_interactive_ids_are_enum_members(template: Template) -> None:
    """Every button, menu and input in every template uses ids the handlers know."""
    for block in render(template, CONTEXTS[template]).get("blocks", []):
        elements = list(block.get("elements") or []) if block["type"] == "actions" else []
        elements += [block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)]
        interactive = [e for e in elements if "action_id" in e]
        for element in interactive:
            assert element["action_id"] in {a.value for a in ActionId} | {f.value for f in FormBlock} | RECORD_FIELDS, element
        if block["type"] == "actions":
            assert block["block_id"].split(":")[0] in {b.value for b in BlockId}, block["block_id"]  # ":n" when one a row
        if block["type"] == "input":
            assert block["block_id"] in {f.value for f in FormBlock} | RECORD_FIELDS, block["block_id"]


def test_allocation_message_to_the_auditor_shows_what_they_need() -> None:
    payload = render(Template.ALLOCATION_AUDITOR, allocation_context(), slack_ids={2: "UALEX", 3: "UJO"})
    text = all_text(payload)
    assert payload["blocks"][0]["text"]["text"] == "You have a case file audit for December 2026"
    for expected in ("CMS-104233", "Assessment Team North", "Child protection (CP)", "Thematic audit — theme: Neglect",
                     "Thursday 31 December 2026", "<@UALEX>", "<@UJO>", "Kim Lee", "3 of 10 audits"):
        assert expected in text
    assert payload["text"] == (
        "You have a case file audit for December 2026: case CMS-104233, Assessment Team North, due Thursday 31 December 2026."
    )


def test_previous_worker_is_named_when_the_case_changed_hands() -> None:
    payload = render(
        Template.ALLOCATION_AUDITOR, allocation_context(previous_worker=JO, worker_changed_on="2026-11-20")
    )
    assert ("Previous social worker: Jo Smith (the case changed worker on Friday 20 November 2026: "
            "please meet both workers)") in all_text(payload)


def test_values_are_slack_escaped_and_cannot_inject_markup() -> None:
    payload = render(
        Template.ALLOCATION_WORKER,
        allocation_context(case={"reference": "CMS-1", "type": "CIN", "team": "<!channel> & <@U999>"}),
    )
    text = all_text(payload)
    assert "&lt;!channel&gt; &amp; &lt;@U999&gt;" in text
    assert "<!channel>" not in text and "<@U999>" not in text


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    context = allocation_context()
    del context["iro"]
    with pytest.raises(UndefinedError):
        render(Template.ALLOCATION_AUDITOR, context)


def test_the_template_sandbox_blocks_attribute_escapes(tmp_path, monkeypatch) -> None:
    from bot import render as render_module

    env = render_module._environment()
    with pytest.raises(SecurityError):
        env.from_string("{{ x.__class__.__mro__[1].__subclasses__() }}").render(x="")


def test_a_payload_over_the_limits_is_refused_at_render_time() -> None:
    context = dict(CONTEXTS[Template.MY_AUDITS])
    context["lines"] = context["lines"] * 2  # 80 sections + headers: over Slack's 50 blocks
    with pytest.raises(BlockKitError, match="50"):
        render(Template.MY_AUDITS, context)


def test_reminder_carries_the_record_and_break_buttons_with_ids() -> None:
    payload = render(Template.REMINDER_AUDITOR, CONTEXTS[Template.REMINDER_AUDITOR])
    actions = next(b for b in payload["blocks"] if b["type"] == "actions")
    assert actions["block_id"] == BlockId.AUDIT_ACTIONS
    record, exempt, concern, rest = actions["elements"]
    assert (exempt["action_id"], exempt["value"]) == (ActionId.REQUEST_EXEMPTION, "7")
    assert (concern["action_id"], concern["value"], concern["text"]["text"]) == (
        ActionId.RAISE_CONCERN, "CMS-104233", "Raise a safeguarding concern"
    )
    assert (record["action_id"], record["value"], record["text"]["text"]) == (ActionId.RECORD_AUDIT, "7", "Record the audit")
    assert (rest["action_id"], rest["value"], rest["text"]["text"]) == (
        ActionId.REQUEST_BREAK, "2027-01-01", "Ask for a break in January 2027"
    )
    assert payload["blocks"][0]["text"]["text"] == "Reminder: audit due in 7 days"


def test_findings_of_a_long_imported_record_stay_within_block_kit_limits() -> None:
    """A council's scheme with 25 sections and an import with 40 actions: every grade shown, twenty actions and a count."""
    context = record_context(sections=[{"label": f"Section {n}", "grade": "Good"} for n in range(25)],
                             actions=[{"text": "a" * 300, "owner": ALEX, "due_date": "2027-01-15"} for _ in range(40)])
    payload = render(Template.AUDIT_FINDINGS, context)
    assert validate_message(payload) == []
    text = all_text(payload)
    assert text.count("*Section ") == 25 and "20. " + "a" * 300 in text and "21. " not in text
    assert "… and 20 more actions." in text


@pytest.mark.parametrize("step", ["grades", "findings", "actions"])
def test_each_step_of_the_record_form_offers_the_draft_back_within_limits(step: str) -> None:
    """Every field at its longest, filled from a draft: within Block Kit's limits, each initial
    option one of the options, and typed text shown as typed (not Slack-escaped)."""
    view = render(Template.VIEW_RECORD, record_view(step))
    assert validate_view(view) == []
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert inputs, "a step has fields"
    for block in inputs:
        element = block["element"]
        for chosen in [element.get("initial_option"), *list(element.get("initial_options") or [])]:
            if chosen is not None:
                assert chosen in element["options"], block["block_id"]
    if step == "grades":
        good_practice = next(b for b in inputs if b["block_id"] == "good_practice")
        assert good_practice["element"]["initial_value"].startswith("g & <b>")
        assert sum(1 for b in inputs if "initial_option" in b["element"]) == 10, "nine domains and the overall grade"
    if step == "actions":
        owners = [b for b in inputs if b["block_id"].endswith("_owner")]
        assert len(owners) == 5 and all(len(b["element"]["options"]) == 100 for b in owners)


def test_escape_function() -> None:
    assert slack_escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


@pytest.mark.parametrize(
    ("method", "sequence", "said"),
    [
        ("REQUEST", 0, "Calendar invite: the reflection meeting for case CMS-104233, 10:00 on Tuesday 8 December 2026. "
                       "Open the file to add it to your calendar."),
        ("REQUEST", 2, "Updated calendar invite: the reflection meeting for case CMS-104233 is now at 10:00 on Tuesday "
                       "8 December 2026. Opening the file updates the meeting in your calendar."),
        ("CANCEL", 3, "Cancelled: the reflection meeting for case CMS-104233 at 10:00 on Tuesday 8 December 2026. "
                      "Opening the file removes it from your calendar."),
    ],
)
def test_a_meeting_invite_is_a_file_with_its_ics_as_written(method: str, sequence: int, said: str) -> None:
    """The comment names the case and the time; the .ics reaches the calendar byte for byte, never Slack-escaped."""
    context = {**CONTEXTS[Template.MEETING_INVITE], "method": method, "sequence": sequence}
    payload = render(Template.MEETING_INVITE, context)
    assert payload == {"text": said, "file": {
        "filename": "reflection-meeting-CMS-104233.ics", "title": "Reflection meeting CMS-104233 (invite 1)",
        "content": INVITE_ICS}}
    assert "LOCATION:Room 2 & 3 <Town Hall>\r\n" in payload["file"]["content"]


def test_a_meeting_invites_reference_is_escaped_in_its_comment() -> None:
    context = {**CONTEXTS[Template.MEETING_INVITE], "reference": "CMS-1<&>"}
    assert "case CMS-1&lt;&amp;&gt;," in render(Template.MEETING_INVITE, context)["text"]


@pytest.mark.parametrize("kind", ["none_work", "unanswered", "resolving", "withdrawn", "reminder", "nudge_auditor",
                                  "nudge_worker"])
def test_every_kind_of_meeting_notice_renders_within_limits(kind: str) -> None:
    extra: dict[str, Any] = {"from": ALEX, "suggested_at": "2026-12-10T09:00:00+00:00", "note": "In court & <busy>",
                             "answer_id": 9,
                             "about": KIM, "about_role": "team_manager", "attempts": 1, "needed": 2, "invitee_id": None,
                             "by": {"id": 6, "name": "Sid Manager"}, "cancelled_by": SAM, "worker": ALEX, "auditor": SAM,
                             "days": 5}
    payload = render(Template.MEETING_NOTICE, meeting_context(kind=kind, **extra))
    assert "CMS-104233" in payload["text"] and "&lt;busy&gt;" not in payload["text"]
    if kind == "none_work":
        assert "In court &amp; &lt;busy&gt;" in all_text(payload)
        assert [e["action_id"] for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
            ActionId.BOOK_SUGGESTION, ActionId.ARRANGE_MEETING]


def test_a_full_home_stays_within_one_hundred_blocks_and_counts_the_rest() -> None:
    payload = render(Template.VIEW_HOME, home_context_worst())
    assert payload["type"] == "home" and len(payload["blocks"]) <= 100
    text = all_text(payload)
    assert "…and 130 more" in text and "…and 5 more" in text and "…and 7 more" in text
    buttons = {(e["action_id"], e["value"]) for b in payload["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert {(ActionId.APPROVE_EXEMPTION, "1000"), (ActionId.DECLINE_EXEMPTION, "1000"), (ActionId.ACKNOWLEDGE_ALERT, "1006"),
            (ActionId.CORRECTIVE_ACTION, "1007"), (ActionId.ACTION_SIGN_OFF, "1008"), (ActionId.AGREE_MORE_TIME, "1009"),
            (ActionId.MEETING_TIME, "900"), (ActionId.MEETING_NONE, "900"), (ActionId.OVERSIGHT_RECORDED, "1011"),
            (ActionId.CHALLENGE_CHANGE, "1002"), (ActionId.CHALLENGE_ACCEPT, "1003"), (ActionId.RECORD_HEAD_OF_SERVICE, "1004"),
            (ActionId.RECORD_MODERATION, "1005"), (ActionId.ACTION_DONE, "0")} <= buttons


def test_an_empty_home_says_so_and_a_stranger_is_told_why() -> None:
    empty = {"unknown": False, "notice": None, "waiting": [], "waiting_more": 0, "audits": [], "audits_more": 0,
             "actions": [], "actions_more": 0, "glance": None}
    text = all_text(render(Template.VIEW_HOME, empty))
    assert "Nothing is waiting for you" in text and "You have no audits to do." in text and "no open actions" in text
    stranger = all_text(render(Template.VIEW_HOME, {**empty, "unknown": True}))
    assert "not in the council's staff list" in stranger and "Your audits" not in stranger


def test_a_services_report_summary_lists_its_teams_within_limits() -> None:
    payload = render(Template.REPORT_SUMMARY, report_summary_worst(service="Children in Care"))
    text = json.dumps(payload, ensure_ascii=False)
    assert "Case file audits, Children in Care: December 2026" in text and "*By team*:" in text and "Team ttt" in text
    longest = "Children in Care & Care Leavers " + "c" * 168  # services.name holds 200 characters
    header = render(Template.REPORT_SUMMARY, report_summary_worst(service=longest))["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and header.startswith("Case file audits, Children in Care &amp; Care Leavers ccc")
    assert header.endswith("…: December 2026")
    assert "…and 40 more." in text and "the CSV" not in text  # a Head of Service gets the charts, not the CSV
    whole = render(Template.REPORT_SUMMARY, report_summary_worst())
    said = json.dumps(whole, ensure_ascii=False)
    assert "…and 40 more (the CSV has them all)." in said and "paused (99999 allocated, 88888 completed)" in said
    assert "median 12.5 minutes to acknowledge" in said
    assert "Case file audits: December 2026 so far" in said and "The month's report follows on its report day." in said
def test_the_glance_takes_four_blocks_and_its_buttons_open_the_preview_and_the_report() -> None:
    with_glance = render(Template.VIEW_HOME, home_context_worst())
    without = render(Template.VIEW_HOME, {**home_context_worst(), "glance": None})
    assert len(with_glance["blocks"]) - len(without["blocks"]) == GLANCE_BLOCKS
    assert len(with_glance["blocks"]) <= 100
    buttons = [e["action_id"] for b in with_glance["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[:2] == [ActionId.PREVIEW_ALLOCATION, ActionId.MONTH_REPORT], "at the top, after the notice"
    text = all_text(with_glance)
    assert "This month at a glance: December 2026" in text and "1000 submitted after the deadline" in text
    assert "40 done of a target of 1235" in text and "77 (7 not acknowledged)" in text
    paused = all_text(render(Template.VIEW_HOME, {**home_context_worst(), "glance": {**GLANCE, "paused": True}}))
    assert "December 2026 (paused)" in paused and "paused: nothing is chased" in paused and "999 past" not in paused
    assert "at a glance" not in all_text(without)


def test_the_report_modal_says_paused_never_zero_percent_and_preview_says_why_there_is_none() -> None:
    paused = all_text(render(Template.VIEW_REPORT, report_context(paused=True, completion="paused")))
    assert "paused: nothing is allocated or chased (1234 allocated, 1234 completed)" in paused and "0%" not in paused
    running = all_text(render(Template.VIEW_REPORT, report_context()))
    assert "1234 of 1234 submitted (48%)" in running and "Final: Outstanding 300 (25%)" in running
    assert "1234 done of a target of 124" in running and "17 open now" in running
    base = {"month": "2027-01-01", "allocated": 0, "preview": None}
    assert "paused for January 2027" in all_text(render(Template.VIEW_ALLOCATION_PREVIEW, {**base, "paused": True}))
    allocated = all_text(render(Template.VIEW_ALLOCATION_PREVIEW, {**base, "paused": False, "allocated": 42}))
    assert "January 2027 is allocated already: 42 audit(s)" in allocated


def test_every_waiting_kind_has_words_and_the_buttons_of_its_message() -> None:
    """Each kind the Home lists renders its words and at least one button whose id the app handles."""
    items = waiting_items(len(WAITING_KINDS))
    view = render(Template.VIEW_HOME, {**home_context_worst(), "waiting": items, "waiting_more": 0})
    for item in items:
        [row] = [b for b in view["blocks"] if b.get("block_id") == f"home_item:{item['kind']}:{item['id']}"]
        assert row["elements"], item["kind"]
        assert all(e["action_id"] in {a.value for a in ActionId} for e in row["elements"]), item["kind"]
        assert all(e["value"] == str(item["id"]) for e in row["elements"] if e["action_id"] != "meeting_none"), item["kind"]
