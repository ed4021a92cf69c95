"""Every refusal, of every command and button, is seen by the person, changes nothing and is in
the audit log -- driven through the real app with signed requests against the local workspace.

One council is set up once per database backend (an allocated month, a pending exemption
request, a raised safeguarding concern); then each kind of outsider -- another auditor, a social
worker not on the case, a Slack user the programme does not know, an approver of another
service -- tries every action. A refused attempt leaves the store exactly as it was apart from
one new audit-log row (and the request's receipt).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.handlers.commands import ROUTES
from bot.ids import ActionId, BlockId, CallbackId, FormBlock, Template
from bot.render import render
from bot.runtime import start_runtime
from bot.services.alerts.concerns import circle_ids
from bot.services.authz import RefusalCode
from bot.services.breaks.mine import BreakRef
from bot.services.meetings.reflection import questions, reflection_field
from bot.services.moderation.requests import assign
from bot.settings import load_settings
from store.db import make_sessionmaker
from store.followup import AssuranceCheck, AssuranceState, CycleState, InadequateCycle
from store.meetings import AnswerKind, InviteeRole, MeetingAnswer, MeetingInvitee, MeetingProposal, ReflectionMeeting
from store.models import (
    Allocation,
    AuditLog,
    Base,
    Case,
    ExemptionRequest,
    Person,
    Role,
    SafeguardingAlert,
    Service,
)
from store.records import AuditAction, AuditChallenge, AuditRecord
from tests.allocation_fixtures import Council
from tests.conftest import BACKENDS, drop_database, new_engine
from tests.moderation_fixtures import kept_challenge_to_moderation, stored_record
from tests.qa_fixtures import returned_check
from tests.recording import BRADFORD_GRADES, FINDINGS, NO_ACTIONS, submit
from tests.simulation import Simulation, small_council
from tests.support import TOKEN, FakeClock, FakeTime, running_workspace

D = dt.date
DEE = "dee.deputy@council.example"  # whom the outsiders name as their delegate
UNKNOWN = "sam.stranger@elsewhere.example"  # in the Slack workspace, not in the programme
OLGA = "olga.director@council.example"  # Assistant Director of Children in Care
NOTE = "Concern from outside the circle"
#: Rows a refused request may add: the refusal itself, and the receipt that makes a replay harmless.
BOOKKEEPING = {"audit_log", "request_receipts"}


@dataclass
class World:
    """The running bot and what the outsiders try to act on."""

    sim: Simulation
    reference: str  # a team-A case, allocated in December
    allocation_id: int
    request_id: int  # the allocated auditor's pending exemption request
    alert_id: int  # a concern raised by the case's social worker
    spare_auditor_id: int  # who a forged "choose auditor" menu names
    break_value: str  # the Cancel button of the allocated auditor's February break
    actors: dict[str, str]  # kind of outsider -> email
    record_id: int  # a second audit of the team, recorded; its team manager challenged the overall grade
    challenge_id: int
    moderated_challenge_id: int = 0  # the first audit's team manager's challenge, taken to moderation
    moderation_id: int = 0  # its moderation, given to Dee Deputy
    qa_check_id: int = 0  # another audit's QA check, returned to its auditor for amendment
    assurance_id: int = 0  # the second audit in a QA assurance sample
    action_id: int = 0  # an action of the second audit, its worker's
    cycle_id: int = 0  # an Inadequate follow-up of the second audit (its group manager: the team manager's manager)
    #: the first audit's reflection meeting: proposed by its auditor to its worker, who suggested another time;
    #: the worker's silence escalated to the team manager's manager
    meeting: tuple[int, int, int, int] = (0, 0, 0, 0)  # meeting, a proposal, the suggestion, the escalated invitee
    _copies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _views: Iterator[int] = field(default_factory=itertools.count)

    @property
    def ws(self) -> Any:
        return self.sim.workspace


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("refusals")
    engine, schema = new_engine(str(request.param), folder, migrated=True)
    try:
        sessions = make_sessionmaker(engine)
        emails = small_council(sessions)
        with sessions() as session, session.begin():
            council = Council(session)
            dan = session.scalars(select(Person).where(Person.display_name == "Dan Director")).one()
            cic = session.scalars(select(Service).where(Service.name == "Children in Care")).one()
            council.person("Olga Director", Role.ASSISTANT_DIRECTOR, service=cic, line_manager=dan)
        settings = load_settings(
            data_dir=folder, database_url=engine.url.render_as_string(hide_password=False), control_sample_size=4,
            slack_channel_burst=1000, form_trigger_seconds=60,  # the workspace's own clock expires its triggers
        )
        with running_workspace(clock=FakeClock(), channel_burst=1000) as ws:
            ws.add_user(UNKNOWN, "Sam Stranger")
            clock = FakeTime(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
            runtime = start_runtime(settings, engine=engine, clock=clock, background=False, workspace=ws, http_port=0)
            try:
                yield _set_up(Simulation(runtime, ws, WorkingCalendar.from_settings(settings), clock), emails)
            finally:
                runtime.stop()
    finally:
        engine.dispose()
        if schema:
            drop_database(schema)


def _set_up(sim: Simulation, emails: dict[str, str]) -> World:
    """December allocated; the auditor of a team-A case asks for an exemption; its worker raises a concern."""
    sim.step(sim.at(D(2026, 12, 1), 9))
    with sim.sessions() as session:
        allocation = next(
            a for a in session.scalars(select(Allocation).order_by(Allocation.id)) if a.case.reference.startswith("CMS-1")
        )
        reference, auditor, worker = allocation.case.reference, allocation.auditor.email, allocation.case.allocated_worker.email
        circle = circle_ids(session, allocation.case)
        outsiders = [
            p for name in ("Ben Teamlead", "Sue Manager", "Hana Head")
            for p in session.scalars(select(Person).where(Person.display_name == name))
            if p.id not in circle
        ]
        allocation_id, spare = allocation.id, outsiders[-1].id

    sim.at(D(2026, 12, 2), 10)
    asking = next(m for m in reversed(sim.workspace.messages(user_email=auditor)) if _has(m, ActionId.REQUEST_EXEMPTION))
    sim.workspace.click(auditor, asking, ActionId.REQUEST_EXEMPTION)
    form = sim.workspace.view_stack(auditor)[-1]
    answer = sim.workspace.submit_view(auditor, form, {
        "kind": {"kind": {"type": "radio_buttons", "selected_option": {"value": "exemption"}}},
        "reason": {"reason": {"type": "plain_text_input", "value": "Conflict of interest"}},
    })
    assert answer["status"] == 200 and not answer["body"]
    assert _raise(sim, worker, reference, "Home visit today") == {}
    sim.step(sim.clock.now)
    sim.runtime.senders["urgent"].drain(sim.clock.now)
    with sim.sessions() as session, session.begin():
        request_id = session.scalars(select(ExemptionRequest.id)).one()
        alert_id = session.scalars(select(SafeguardingAlert.id)).one()
        owner = session.scalars(select(Person).where(Person.email == auditor)).one()
        booked = Council(session).audit_break(owner, D(2027, 2, 1))
        session.flush()
        break_value = BreakRef.of(booked).value
        moderated_challenge_id, moderation_id = _in_moderation(sim, session, allocation_id)

    # the same auditor audits a second case of the team, records it, and its team manager challenges
    # it: what the right-to-reply cells act on (the first audit's exemption request stays pending)
    with sim.sessions() as session, session.begin():
        first = session.get_one(Allocation, allocation_id)
        taken = set(session.scalars(select(Allocation.case_id)))
        other = next(c for c in session.scalars(select(Case).where(Case.team_id == first.case.team_id).order_by(Case.id))
                     if c.id not in taken)
        Council(session).allocation(other, first.auditor, D(2026, 12, 1))
        second_ref, second_tm = other.reference, other.team_manager.email
    sim.workspace.slash_command(auditor, "/audit", f"record {second_ref}")
    for typed in (BRADFORD_GRADES, FINDINGS, NO_ACTIONS):
        assert submit(sim, auditor, typed)["status"] == 200
    sim.step(sim.clock.now)
    findings = next(m for m in reversed(sim.workspace.messages(user_email=second_tm)) if _has(m, ActionId.REPLY_CHALLENGE))
    sim.workspace.click(second_tm, findings, ActionId.REPLY_CHALLENGE)
    assert submit(sim, second_tm, {"target": "overall", "reason": "The plan is stronger than this says."})["status"] == 200
    with sim.sessions() as session:
        record_id = session.scalars(select(AuditRecord.id).join(Allocation).join(Case).where(Case.reference == second_ref)).one()
        challenge_id = session.scalars(select(AuditChallenge.id).where(AuditChallenge.record_id == record_id)).one()

    actors = {
        "another auditor": session_email(sim, outsiders[0].id),
        "a social worker not on the case": emails["Will B1"],
        "an unknown Slack user": UNKNOWN,
        "an approver of another service": OLGA,
    }
    for email in [*actors.values(), DEE]:  # (Dee is named by the outsiders' /audit delegate)
        if email != UNKNOWN:  # a person's first request links them to their Slack account: done before the matrix
            assert sim.workspace.slash_command(email, "/audit", "mine")["status"] == 200
    with sim.sessions() as session, session.begin():
        others = session.scalars(select(Allocation).where(Allocation.id != allocation_id).order_by(Allocation.id)).all()
        elsewhere = next(a for a in others
                         if {a.auditor.email, a.second_auditor and a.second_auditor.email}.isdisjoint(actors.values()))
        qa_check_id = returned_check(session, elsewhere, now=sim.clock.now, amend_due=D(2026, 12, 7)).id
        assurance = AssuranceCheck(month=D(2026, 12, 1), record_id=record_id, seed=7, state=AssuranceState.PENDING,
                                   created_at=sim.clock.now)
        session.add(assurance)
        session.flush()
        assurance_id = assurance.id
    with sim.sessions() as session, session.begin():
        record = session.get_one(AuditRecord, record_id)
        action = AuditAction(record_id=record_id, text="Update the plan", owner_id=record.allocation.case.allocated_worker_id,
                             due_date=D(2027, 1, 15), created_at=sim.clock.now)
        session.add(action)
        session.flush()
        action_id = action.id
        cycle_id = _inadequate_cycle(session, record_id, now=sim.clock.now)
        meeting = _meeting(session, allocation_id, now=sim.clock.now)
    return World(sim, reference, allocation_id, request_id, alert_id, spare, break_value, actors, record_id, challenge_id,
                 moderated_challenge_id, moderation_id, qa_check_id, assurance_id, action_id, cycle_id, meeting)


def _meeting(session: Session, allocation_id: int, *, now: dt.datetime) -> tuple[int, int, int, int]:
    """A reflection meeting the allocation's auditor proposed to its worker (who suggested another
    time, and whose silence was escalated to the team manager's manager)."""
    allocation = session.get_one(Allocation, allocation_id)
    case = allocation.case
    meeting = ReflectionMeeting(allocation_id=allocation.id, uid="refusals@auditbot", proposed_by_id=allocation.auditor_id,
                                organiser_id=allocation.auditor_id, place="Room 2", round_sent_at=now, created_at=now)
    session.add(meeting)
    session.flush()
    worker = MeetingInvitee(meeting_id=meeting.id, person_id=case.allocated_worker_id, role=InviteeRole.WORKER,
                            escalated_at=now, escalated_to_id=case.team_manager.line_manager_id)
    proposal = MeetingProposal(meeting_id=meeting.id, round=1, starts_at=now + dt.timedelta(days=7))
    session.add_all([MeetingInvitee(meeting_id=meeting.id, person_id=allocation.auditor_id, role=InviteeRole.AUDITOR),
                     worker, proposal])
    session.flush()
    answer = MeetingAnswer(meeting_id=meeting.id, round=1, person_id=case.allocated_worker_id, kind=AnswerKind.NONE_WORK,
                           suggested_at=now + dt.timedelta(days=8), at=now)
    session.add(answer)
    session.flush()
    return meeting.id, proposal.id, answer.id, worker.id


def _inadequate_cycle(session: Session, record_id: int, *, now: dt.datetime) -> int:
    """An Inadequate follow-up cycle of ``record_id``, its group manager the team manager's manager."""
    record = session.get_one(AuditRecord, record_id)
    case = record.allocation.case
    cycle = InadequateCycle(case_id=case.id, record_id=record.id, number=1, state=CycleState.MEETING_DUE, opened_at=now,
                            group_manager_id=case.team_manager.line_manager_id, review_due=D(2027, 1, 7),
                            reaudit_latest=D(2027, 2, 10))
    session.add(cycle)
    session.flush()
    return cycle.id


def _in_moderation(sim: Simulation, session: Session, allocation_id: int) -> tuple[int, int]:
    """The audit recorded, the team manager's challenge kept by the auditor and taken to moderation, given to Dee."""
    allocation = session.get_one(Allocation, allocation_id)
    record = stored_record(session, allocation, now=sim.clock.now)
    challenge, moderation = kept_challenge_to_moderation(session, record, allocation.case.team_manager, sim.runtime.settings,
                                                         sim.calendar, now=sim.clock.now)
    dee = session.scalars(select(Person).where(Person.email == DEE)).one()
    assign(session, moderation, dee, None, sim.runtime.settings, sim.calendar, now=sim.clock.now)
    return challenge.id, moderation.id


def session_email(sim: Simulation, person_id: int) -> str:
    with sim.sessions() as session:
        return session.get_one(Person, person_id).email


def _has(message: dict[str, Any], action: str) -> bool:
    return any(
        e.get("action_id") == action for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]
    )


def _raise(sim: Simulation, email: str, reference: str, note: str = NOTE, *,
           button: dict[str, Any] | None = None) -> dict[str, str]:
    """Open the concern modal (``/audit concern REF``, or a click on ``button``), submit it; the field errors."""
    if button is None:
        sim.workspace.slash_command(email, "/audit", f"concern {reference}")
    else:
        sim.workspace.click(email, button, ActionId.RAISE_CONCERN)
    view = sim.workspace.view_stack(email)[-1]
    assert view["callback_id"] == CallbackId.ALERT
    answer = sim.workspace.submit_view(email, view, {
        "case": {"case": {"type": "plain_text_input", "value": reference}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "immediate"}}},
        "note": {"note": {"type": "plain_text_input", "value": note}},
    })
    body = answer["body"] if isinstance(answer["body"], dict) else {}
    return dict(body.get("errors") or {})


# --- what an outsider does ---------------------------------------------------------------------


def command(w: World, email: str, text: str) -> str:
    """Run ``/audit text``; what the person was answered."""
    body = w.ws.slash_command(email, "/audit", text)["body"]
    return str(body.get("text")) if isinstance(body, dict) else str(body)


def forwarded(w: World, action: str, value: str) -> dict[str, Any]:
    """A copy of a message carrying the bot's ``action`` element (with ``value``), as forwarded to
    a channel everyone can see -- an outsider's only way to click it."""
    key = (action, value)
    if key not in w._copies:
        channel = w.ws.add_channel("forwarded")
        text = {"type": "plain_text", "text": "Do it"}
        if action in (ActionId.CHOOSE_AUDITOR, ActionId.CHOOSE_MODERATOR):
            blocks = [{"type": "section", "block_id": BlockId.CHOOSE_AUDITOR, "text": {"type": "mrkdwn", "text": "Choose"},
                       "accessory": {"type": "static_select", "action_id": action, "placeholder": text,
                                     "options": [{"text": text, "value": value}]}}]
        else:
            blocks = [{"type": "actions", "block_id": BlockId.AUDIT_ACTIONS,
                       "elements": [{"type": "button", "action_id": action, "text": text, "value": value}]}]
        posted = WebClient(token=TOKEN, base_url=w.ws.base_url).chat_postMessage(channel=channel, text="fwd", blocks=blocks)
        w._copies[key] = next(m for m in w.ws.messages(channel=channel) if m["ts"] == posted["ts"])
    return w._copies[key]


def click(w: World, email: str, action: str, value: str) -> str:
    """Click ``action`` on a forwarded copy; the one ephemeral answer the person got."""
    before = len([m for m in w.ws.messages(user_email=email) if m["ephemeral"]])
    message = forwarded(w, action, value)
    if action in (ActionId.CHOOSE_AUDITOR, ActionId.CHOOSE_MODERATOR):
        w.ws.click(email, message, action, selected_option=value)
    else:
        w.ws.click(email, message, action)
    answers = [m["text"] for m in w.ws.messages(user_email=email) if m["ephemeral"]][before:]
    assert len(answers) == 1, f"expected one answer, got {answers}"
    return str(answers[0])


def forged_submission(w: World, email: str, callback: CallbackId, metadata: dict[str, int], values: dict[str, Any],
                      block: FormBlock) -> str:
    """Submit a modal the person was never shown (a signed request with a made-up view); the error under ``block``."""
    uid = w.ws.user_id(email)
    view_id = f"VFORGED{next(w._views)}"
    payload = {
        "type": "view_submission", "team": {"id": w.ws.team_id, "domain": "council"},
        "user": {"id": uid, "username": uid, "name": uid, "team_id": w.ws.team_id}, "api_app_id": "A0LOCAL",
        "trigger_id": "", "is_enterprise_install": False, "enterprise": None, "response_urls": [],
        "view": {"id": view_id, "hash": view_id, "type": "modal", "callback_id": callback,
                 "private_metadata": json.dumps(metadata), "state": {"values": values}},
    }
    raw = urlencode({"payload": json.dumps(payload)}).encode()
    status, text = w.ws.send_raw(raw, w.ws.actor.signed_headers(raw))
    assert status == 200, text
    return str(json.loads(text)["errors"][block])


def typed(block: str, value: str) -> dict[str, Any]:
    return {block: {block: {"type": "plain_text_input", "value": value}}}


# --- the matrix --------------------------------------------------------------------------------

Attempt = Callable[[World, str], str]
OUTSIDERS = ("another auditor", "a social worker not on the case", "an unknown Slack user", "an approver of another service")


@dataclass(frozen=True)
class Cell:
    """One action, how an outsider attempts it, and the reason logged for each kind of outsider
    (None: not a refusal for them -- e.g. an auditor may book their own break)."""

    name: str
    attempt: Attempt
    reasons: dict[str, RefusalCode | None]
    told: RefusalCode | None = None  # what the person is told, if not the logged reason
    subcommand: str | None = None
    action: ActionId | None = None


def every(code: RefusalCode, **others: RefusalCode | None) -> dict[str, RefusalCode | None]:
    reasons: dict[str, RefusalCode | None] = dict.fromkeys(OUTSIDERS, code)
    reasons["an unknown Slack user"] = RefusalCode.UNKNOWN_PERSON
    reasons.update({k.replace("_", " "): v for k, v in others.items()})
    return reasons


MATRIX = (
    Cell("/audit complete REF", lambda w, e: command(w, e, f"complete {w.reference}"),
         every(RefusalCode.NOT_YOUR_AUDIT), subcommand="complete"),
    Cell("/audit exempt REF", lambda w, e: command(w, e, f"exempt {w.reference}"),
         every(RefusalCode.NOT_YOUR_REQUEST), told=RefusalCode.UNKNOWN_CASE, subcommand="exempt"),
    Cell("/audit concern REF, submitted", lambda w, e: _raise(w.sim, e, w.reference)[FormBlock.CASE],
         every(RefusalCode.NOT_IN_CIRCLE), subcommand="concern"),
    Cell("/audit break YYYY-MM", lambda w, e: command(w, e, "break 2027-01"),
         every(RefusalCode.NOT_AN_AUDITOR, another_auditor=None), subcommand="break"),
    Cell("/audit breaks YYYY-MM", lambda w, e: command(w, e, "breaks 2026-12"), every(RefusalCode.QA_ONLY), subcommand="breaks"),
    Cell("/audit breaks", lambda w, e: command(w, e, "breaks"),
         {**dict.fromkeys(OUTSIDERS), "an unknown Slack user": RefusalCode.UNKNOWN_PERSON}),
    Cell("/audit delegate @person FROM TO",
         lambda w, e: command(w, e, f"delegate <@{w.ws.user_id(DEE)}|dee> 2026-12-10 2026-12-20"),
         every(RefusalCode.NOT_AN_APPROVER, an_approver_of_another_service=None), subcommand="delegate"),
    Cell("/audit mine", lambda w, e: command(w, e, "mine"),
         {**dict.fromkeys(OUTSIDERS), "an unknown Slack user": RefusalCode.UNKNOWN_PERSON}, subcommand="mine"),
    Cell("Mark audit complete", lambda w, e: click(w, e, ActionId.MARK_COMPLETE, str(w.allocation_id)),
         every(RefusalCode.NOT_YOUR_AUDIT), action=ActionId.MARK_COMPLETE),
    Cell("/audit calibration", lambda w, e: command(w, e, "calibration 2026"),
         every(RefusalCode.CALIBRATION_PRIVATE, another_auditor=None), subcommand="calibration"),
    Cell("/audit record REF", lambda w, e: command(w, e, f"record {w.reference}"),
         every(RefusalCode.NOT_THE_AUDITOR), subcommand="record"),
    Cell("Record the audit", lambda w, e: click(w, e, ActionId.RECORD_AUDIT, str(w.allocation_id)),
         every(RefusalCode.NOT_THE_AUDITOR), action=ActionId.RECORD_AUDIT),
    Cell("record form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.RECORD, {"allocation_id": w.allocation_id, "step": "actions"},
                                        typed("no_actions", "None needed."), "action_1_what"),
         every(RefusalCode.NOT_THE_AUDITOR)),
    Cell("Agree", lambda w, e: click(w, e, ActionId.REPLY_AGREE, str(w.record_id)),
         every(RefusalCode.NOT_SENT_FINDINGS), action=ActionId.REPLY_AGREE),
    Cell("Comment…", lambda w, e: click(w, e, ActionId.REPLY_COMMENT, str(w.record_id)),
         every(RefusalCode.NOT_SENT_FINDINGS), action=ActionId.REPLY_COMMENT),
    Cell("Challenge…", lambda w, e: click(w, e, ActionId.REPLY_CHALLENGE, str(w.record_id)),
         every(RefusalCode.NOT_SENT_FINDINGS), action=ActionId.REPLY_CHALLENGE),
    Cell("comment modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.REPLY_COMMENT, {"record_id": w.record_id},
                                        typed(FormBlock.COMMENT, "Mine now."), FormBlock.COMMENT),
         every(RefusalCode.NOT_SENT_FINDINGS)),
    Cell("Change the grade…", lambda w, e: click(w, e, ActionId.CHALLENGE_CHANGE, str(w.challenge_id)),
         every(RefusalCode.NOT_THE_AUDITOR), action=ActionId.CHALLENGE_CHANGE),
    Cell("Keep it…", lambda w, e: click(w, e, ActionId.CHALLENGE_KEEP, str(w.challenge_id)),
         every(RefusalCode.NOT_THE_AUDITOR), action=ActionId.CHALLENGE_KEEP),
    Cell("challenge answer modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.CHALLENGE_ANSWER, {"challenge_id": w.challenge_id, "decision": "keep"},
                                        typed(FormBlock.REASON, "Kept."), FormBlock.REASON),
         every(RefusalCode.NOT_THE_AUDITOR)),
    Cell("Accept (the auditor's answer)", lambda w, e: click(w, e, ActionId.CHALLENGE_ACCEPT, str(w.challenge_id)),
         every(RefusalCode.NOT_YOUR_CHALLENGE), action=ActionId.CHALLENGE_ACCEPT),
    Cell("Ask for moderation", lambda w, e: click(w, e, ActionId.CHALLENGE_MODERATE, str(w.challenge_id)),
         every(RefusalCode.NOT_YOUR_CHALLENGE), action=ActionId.CHALLENGE_MODERATE),
    Cell("Ask for a break", lambda w, e: click(w, e, ActionId.REQUEST_BREAK, "2027-01"),
         every(RefusalCode.NOT_AN_AUDITOR, another_auditor=None), action=ActionId.REQUEST_BREAK),
    Cell("Cancel (a break)", lambda w, e: click(w, e, ActionId.CANCEL_BREAK, w.break_value),
         every(RefusalCode.NOT_YOUR_BREAK), action=ActionId.CANCEL_BREAK),
    Cell("Ask for an exemption or extension", lambda w, e: click(w, e, ActionId.REQUEST_EXEMPTION, str(w.allocation_id)),
         every(RefusalCode.NOT_YOUR_REQUEST), action=ActionId.REQUEST_EXEMPTION),
    Cell("exemption request modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.EXEMPTION_REQUEST, {"allocation_id": w.allocation_id},
                                        {"kind": {"kind": {"type": "radio_buttons", "selected_option": {"value": "exemption"}}},
                                         **typed(FormBlock.REASON, "mine now")}, FormBlock.KIND),
         every(RefusalCode.NOT_YOUR_REQUEST)),
    Cell("Approve", lambda w, e: click(w, e, ActionId.APPROVE_EXEMPTION, str(w.request_id)),
         every(RefusalCode.NOT_THE_APPROVER), action=ActionId.APPROVE_EXEMPTION),
    Cell("Decline", lambda w, e: click(w, e, ActionId.DECLINE_EXEMPTION, str(w.request_id)),
         every(RefusalCode.NOT_THE_APPROVER), action=ActionId.DECLINE_EXEMPTION),
    Cell("decline modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.DECLINE, {"request_id": w.request_id},
                                        typed(FormBlock.COMMENT, "No."), FormBlock.COMMENT),
         every(RefusalCode.NOT_THE_APPROVER)),
    Cell("Choose the new auditor", lambda w, e: click(w, e, ActionId.CHOOSE_AUDITOR, f"{w.request_id}:{w.spare_auditor_id}"),
         every(RefusalCode.QA_ONLY), action=ActionId.CHOOSE_AUDITOR),
    Cell("Raise a safeguarding concern, submitted",
         lambda w, e: _raise(w.sim, e, w.reference, button=forwarded(w, ActionId.RAISE_CONCERN, w.reference))[FormBlock.CASE],
         every(RefusalCode.NOT_IN_CIRCLE), action=ActionId.RAISE_CONCERN),
    Cell("Acknowledge", lambda w, e: click(w, e, ActionId.ACKNOWLEDGE_ALERT, str(w.alert_id)),
         every(RefusalCode.NOT_IN_CIRCLE), action=ActionId.ACKNOWLEDGE_ALERT),
    Cell("Corrective action recorded", lambda w, e: click(w, e, ActionId.CORRECTIVE_ACTION, str(w.alert_id)),
         every(RefusalCode.NOT_IN_CIRCLE), action=ActionId.CORRECTIVE_ACTION),
    Cell("corrective action modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.CORRECTIVE, {"alert_id": w.alert_id},
                                        typed(FormBlock.NOTE, "Done."), FormBlock.NOTE),
         every(RefusalCode.NOT_THE_LEAD)),
    Cell("Choose the moderator", lambda w, e: click(w, e, ActionId.CHOOSE_MODERATOR, f"{w.moderation_id}:{w.spare_auditor_id}"),
         every(RefusalCode.QA_ONLY), action=ActionId.CHOOSE_MODERATOR),
    Cell("Record the moderation", lambda w, e: click(w, e, ActionId.RECORD_MODERATION, str(w.moderation_id)),
         every(RefusalCode.NOT_THE_MODERATOR), action=ActionId.RECORD_MODERATION),
    Cell("moderation form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.MODERATION, {"moderation_id": w.moderation_id},
                                        typed(FormBlock.COMMENT, "Agreed."), FormBlock.AGREES),
         every(RefusalCode.NOT_THE_MODERATOR)),
    Cell("Accept (the moderation)", lambda w, e: click(w, e, ActionId.ACCEPT_MODERATION, str(w.moderated_challenge_id)),
         every(RefusalCode.NOT_THE_CHALLENGER), action=ActionId.ACCEPT_MODERATION),
    Cell("Take it to the Head of Service",
         lambda w, e: click(w, e, ActionId.TAKE_TO_HEAD_OF_SERVICE, str(w.moderated_challenge_id)),
         every(RefusalCode.NOT_THE_CHALLENGER), action=ActionId.TAKE_TO_HEAD_OF_SERVICE),
    Cell("Record your decision (Head of Service)",
         lambda w, e: click(w, e, ActionId.RECORD_HEAD_OF_SERVICE, str(w.moderated_challenge_id)),
         every(RefusalCode.NOT_THE_HEAD_OF_SERVICE), action=ActionId.RECORD_HEAD_OF_SERVICE),
    Cell("Head of Service form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.HEAD_OF_SERVICE_DECISION, {"challenge_id": w.moderated_challenge_id},
                                        typed(FormBlock.COMMENT, "Final."), FormBlock.AGREES),
         every(RefusalCode.NOT_THE_HEAD_OF_SERVICE)),
    Cell("Send to the moderators", lambda w, e: click(w, e, ActionId.SEND_SAMPLE, "2026-12"),
         every(RefusalCode.QA_ONLY), action=ActionId.SEND_SAMPLE),
    Cell("Accept (the QA check)", lambda w, e: click(w, e, ActionId.ACCEPT_AUDIT, str(w.qa_check_id)),
         every(RefusalCode.QA_CHECKS_ONLY), action=ActionId.ACCEPT_AUDIT),
    Cell("Return for amendment…", lambda w, e: click(w, e, ActionId.RETURN_AUDIT, str(w.qa_check_id)),
         every(RefusalCode.QA_CHECKS_ONLY), action=ActionId.RETURN_AUDIT),
    Cell("return modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.QA_RETURN, {"check_id": w.qa_check_id},
                                        typed(FormBlock.REASON, "Redo it."), FormBlock.REASON),
         every(RefusalCode.QA_CHECKS_ONLY)),
    Cell("Amend the audit", lambda w, e: click(w, e, ActionId.AMEND_AUDIT, str(w.qa_check_id)),
         every(RefusalCode.NOT_THE_AUDITOR), told=RefusalCode.ONLY_THE_AUDITOR, action=ActionId.AMEND_AUDIT),
    Cell("amend form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.AMEND, {"check_id": w.qa_check_id, "step": "actions"},
                                        typed("no_actions", "None needed."), "action_1_what"),
         every(RefusalCode.NOT_THE_AUDITOR), told=RefusalCode.ONLY_THE_AUDITOR),
    Cell("Verified (the assurance sample)", lambda w, e: click(w, e, ActionId.ASSURANCE_VERIFIED, str(w.assurance_id)),
         every(RefusalCode.QA_CHECKS_ONLY), action=ActionId.ASSURANCE_VERIFIED),
    Cell("Not evidenced…", lambda w, e: click(w, e, ActionId.ASSURANCE_NOT_EVIDENCED, str(w.assurance_id)),
         every(RefusalCode.QA_CHECKS_ONLY), action=ActionId.ASSURANCE_NOT_EVIDENCED),
    Cell("not evidenced modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.ASSURANCE_NOTE, {"check_id": w.assurance_id},
                                        typed(FormBlock.NOTE, "No evidence."), FormBlock.NOTE),
         every(RefusalCode.QA_CHECKS_ONLY)),
    Cell("Oversight recorded", lambda w, e: click(w, e, ActionId.OVERSIGHT_RECORDED, str(w.record_id)),
         every(RefusalCode.NOT_THE_TEAM_MANAGER), action=ActionId.OVERSIGHT_RECORDED),
    Cell("Discussed in supervision", lambda w, e: click(w, e, ActionId.SUPERVISION_DISCUSSED, str(w.record_id)),
         every(RefusalCode.NOT_THE_TEAM_MANAGER), action=ActionId.SUPERVISION_DISCUSSED),
    Cell("Done…", lambda w, e: click(w, e, ActionId.ACTION_DONE, str(w.action_id)),
         every(RefusalCode.NOT_YOUR_ACTION), action=ActionId.ACTION_DONE),
    Cell("Ask for more time…", lambda w, e: click(w, e, ActionId.ACTION_MORE_TIME, str(w.action_id)),
         every(RefusalCode.NOT_YOUR_ACTION), action=ActionId.ACTION_MORE_TIME),
    Cell("action modal, forged",
         lambda w, e: forged_submission(w, e, CallbackId.ACTION, {"action_id": w.action_id, "op": "done"},
                                        typed(FormBlock.NOTE, "Done."), FormBlock.NOTE),
         every(RefusalCode.NOT_YOUR_ACTION)),
    Cell("Sign off", lambda w, e: click(w, e, ActionId.ACTION_SIGN_OFF, str(w.action_id)),
         every(RefusalCode.NOT_THE_TEAM_MANAGER), action=ActionId.ACTION_SIGN_OFF),
    Cell("Not yet…", lambda w, e: click(w, e, ActionId.ACTION_NOT_YET, str(w.action_id)),
         every(RefusalCode.NOT_THE_TEAM_MANAGER), action=ActionId.ACTION_NOT_YET),
    Cell("Agree (more time)", lambda w, e: click(w, e, ActionId.AGREE_MORE_TIME, str(w.action_id)),
         every(RefusalCode.NOT_THE_TEAM_MANAGER), action=ActionId.AGREE_MORE_TIME),
    Cell("Decline (more time)", lambda w, e: click(w, e, ActionId.DECLINE_MORE_TIME, str(w.action_id)),
         every(RefusalCode.NOT_THE_TEAM_MANAGER), action=ActionId.DECLINE_MORE_TIME),
    Cell("Arrange the reflection meeting", lambda w, e: click(w, e, ActionId.ARRANGE_MEETING, str(w.allocation_id)),
         every(RefusalCode.NOT_IN_MEETING), action=ActionId.ARRANGE_MEETING),
    Cell("propose form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.MEETING, {"allocation_id": w.allocation_id, "mode": "propose"},
                                        typed(FormBlock.PLACE, "Room 2"), "day_1"),  # type: ignore[arg-type]
         every(RefusalCode.NOT_IN_MEETING)),
    Cell("a meeting time", lambda w, e: click(w, e, ActionId.MEETING_TIME, str(w.meeting[1])),
         every(RefusalCode.NOT_INVITED), action=ActionId.MEETING_TIME),
    Cell("None of these work…", lambda w, e: click(w, e, ActionId.MEETING_NONE, str(w.meeting[1])),
         every(RefusalCode.NOT_INVITED), action=ActionId.MEETING_NONE),
    Cell("decline form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.MEETING_DECLINE, {"proposal_id": w.meeting[1]},
                                        typed(FormBlock.NOTE, "Not Tuesday."), FormBlock.NOTE),
         every(RefusalCode.NOT_INVITED)),
    Cell("Book the suggested time", lambda w, e: click(w, e, ActionId.BOOK_SUGGESTION, str(w.meeting[2])),
         every(RefusalCode.NOT_IN_MEETING), action=ActionId.BOOK_SUGGESTION),
    Cell("Move…", lambda w, e: click(w, e, ActionId.MOVE_MEETING, str(w.meeting[0])),
         every(RefusalCode.NOT_IN_MEETING), action=ActionId.MOVE_MEETING),
    Cell("move form, forged",
         lambda w, e: forged_submission(w, e, CallbackId.MEETING, {"meeting_id": w.meeting[0], "mode": "move"},
                                        typed(FormBlock.PLACE, "Room 3"), "day_1"),  # type: ignore[arg-type]
         every(RefusalCode.NOT_IN_MEETING)),
    Cell("Cancel the meeting", lambda w, e: click(w, e, ActionId.CANCEL_MEETING, str(w.meeting[0])),
         every(RefusalCode.NOT_IN_MEETING), action=ActionId.CANCEL_MEETING),
    Cell("Escalate to the group manager", lambda w, e: click(w, e, ActionId.ESCALATE_MEETING, str(w.meeting[3])),
         every(RefusalCode.NOT_IN_MEETING), action=ActionId.ESCALATE_MEETING),
    Cell("I'll resolve this", lambda w, e: click(w, e, ActionId.RESOLVE_MEETING, str(w.meeting[3])),
         every(RefusalCode.NOT_ASKED_TO_RESOLVE), action=ActionId.RESOLVE_MEETING),
    Cell("Meeting held", lambda w, e: click(w, e, ActionId.MEETING_HELD, str(w.cycle_id)),
         every(RefusalCode.NOT_IN_FOLLOW_UP), action=ActionId.MEETING_HELD),
    Cell("Review held", lambda w, e: click(w, e, ActionId.REVIEW_HELD, str(w.cycle_id)),
         every(RefusalCode.NOT_IN_FOLLOW_UP), action=ActionId.REVIEW_HELD),
    Cell("Head of Service meeting held", lambda w, e: click(w, e, ActionId.HEAD_OF_SERVICE_MEETING_HELD, str(w.cycle_id)),
         every(RefusalCode.NOT_IN_FOLLOW_UP), action=ActionId.HEAD_OF_SERVICE_MEETING_HELD),
    Cell("Answer the reflection questions", lambda w, e: click(w, e, ActionId.ANSWER_REFLECTION, str(w.allocation_id)),
         every(RefusalCode.NOT_YOUR_REFLECTION), action=ActionId.ANSWER_REFLECTION),
    Cell("Preview next month's allocation", lambda w, e: click(w, e, ActionId.PREVIEW_ALLOCATION, "2026-12-01"),
         every(RefusalCode.QA_ONLY), action=ActionId.PREVIEW_ALLOCATION),
    Cell("This month's report", lambda w, e: click(w, e, ActionId.MONTH_REPORT, "2026-12-01"),
         every(RefusalCode.QA_ONLY), action=ActionId.MONTH_REPORT),
    Cell("reflection sheet, forged",
         lambda w, e: forged_submission(w, e, CallbackId.REFLECTION, {"allocation_id": w.allocation_id},
                                        {k: v for q in questions()
                                         for k, v in typed(reflection_field(q.key), "Went well.").items()},
                                        reflection_field(questions()[0].key)),
         every(RefusalCode.NOT_YOUR_REFLECTION)),
)
#: Attempts naming things that do not exist: the person is told as before, the log says why.
MISSING = (
    Cell("/audit complete CMS-999", lambda w, e: command(w, e, "complete CMS-999"), every(RefusalCode.NO_SUCH_AUDIT)),
    Cell("/audit exempt CMS-999", lambda w, e: command(w, e, "exempt CMS-999"), every(RefusalCode.UNKNOWN_CASE)),
    Cell("/audit concern CMS-999, submitted", lambda w, e: _raise(w.sim, e, "CMS-999")[FormBlock.CASE],
         every(RefusalCode.UNKNOWN_CASE), told=RefusalCode.NOT_IN_CIRCLE),
    Cell("Mark audit complete, no such audit", lambda w, e: click(w, e, ActionId.MARK_COMPLETE, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.AUDIT_CLOSED),
    Cell("/audit record CMS-999", lambda w, e: command(w, e, "record CMS-999"), every(RefusalCode.UNKNOWN_CASE)),
    Cell("Record the audit, no such audit", lambda w, e: click(w, e, ActionId.RECORD_AUDIT, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.UNKNOWN_CASE),
    Cell("Agree, no such audit", lambda w, e: click(w, e, ActionId.REPLY_AGREE, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_SENT_FINDINGS),
    Cell("Keep it…, no such challenge", lambda w, e: click(w, e, ActionId.CHALLENGE_KEEP, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_THE_AUDITOR),
    Cell("Cancel, no such break", lambda w, e: click(w, e, ActionId.CANCEL_BREAK, "999999:1"),
         every(RefusalCode.NO_SUCH_BREAK), told=RefusalCode.NOT_YOUR_BREAK),
    Cell("Approve, no such request", lambda w, e: click(w, e, ActionId.APPROVE_EXEMPTION, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.AUDIT_CLOSED),
    Cell("Record the moderation, no such moderation", lambda w, e: click(w, e, ActionId.RECORD_MODERATION, "999999"),
         every(RefusalCode.NO_SUCH_MODERATION), told=RefusalCode.NOT_THE_MODERATOR),
    Cell("Amend the audit, no such check", lambda w, e: click(w, e, ActionId.AMEND_AUDIT, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.UNKNOWN_CASE),
    Cell("Sign off, no such action", lambda w, e: click(w, e, ActionId.ACTION_SIGN_OFF, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_THE_TEAM_MANAGER),
    Cell("Oversight recorded, no such audit", lambda w, e: click(w, e, ActionId.OVERSIGHT_RECORDED, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_THE_TEAM_MANAGER),
    Cell("Meeting held, no such follow-up", lambda w, e: click(w, e, ActionId.MEETING_HELD, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_IN_FOLLOW_UP),
    Cell("a meeting time, no such proposal", lambda w, e: click(w, e, ActionId.MEETING_TIME, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_INVITED),
    Cell("Move…, no such meeting", lambda w, e: click(w, e, ActionId.MOVE_MEETING, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_IN_MEETING),
    Cell("Answer the reflection questions, no such audit", lambda w, e: click(w, e, ActionId.ANSWER_REFLECTION, "999999"),
         every(RefusalCode.NO_SUCH_AUDIT), told=RefusalCode.NOT_YOUR_REFLECTION),
    Cell("Acknowledge, no such alert", lambda w, e: click(w, e, ActionId.ACKNOWLEDGE_ALERT, "999999"),
         every(RefusalCode.NOT_IN_CIRCLE)),
)


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the refusal's bookkeeping."""
    return {
        table.name: [tuple(row) for row in session.execute(table.select().order_by(*table.primary_key.columns))]
        for table in Base.metadata.sorted_tables
        if table.name not in BOOKKEEPING
    }


def attempt(w: World, cell: Cell, who: str) -> list[str]:
    """``who`` tries ``cell``: what is wrong with how it was refused (nothing, ideally)."""
    reason = cell.reasons[who]
    assert reason is not None
    email = w.actors[who]
    told = RefusalCode.UNKNOWN_PERSON if reason == RefusalCode.UNKNOWN_PERSON else (cell.told or reason)
    with w.sim.sessions() as session:
        before = snapshot(session)
        last = session.scalar(select(func.max(AuditLog.id))) or 0
        person_id = session.scalar(select(Person.id).where(Person.email == email))
    seen = cell.attempt(w, email)
    problems = []
    expected = render(Template.REFUSAL, {"code": told.value})["text"]
    if seen != expected:
        problems.append(f"saw {seen!r}, not the {told.value} refusal")
    with w.sim.sessions() as session:
        if snapshot(session) != before:
            problems.append("the store changed")
        logged = [
            (e.outcome, e.actor_id, e.actor_ref, e.detail.get("reason"), e.detail.get("told", e.detail.get("reason")))
            for e in session.scalars(select(AuditLog).where(AuditLog.id > last).order_by(AuditLog.id))
        ]
    wanted = ("refused", person_id, w.ws.user_id(email), reason.value, told.value)
    if logged != [wanted]:
        problems.append(f"audit log {logged}, not one refusal {wanted}")
    return [f"{cell.name} by {who}: {p}" for p in problems]


@pytest.mark.parametrize("who", OUTSIDERS)
def test_every_outsider_is_refused_everything_and_each_refusal_is_logged(world: World, who: str) -> None:
    assert {c.subcommand for c in MATRIX} - {None} == set(ROUTES) - {"help"}, "every subcommand but help (which refuses nobody)"
    assert {c.action for c in MATRIX} - {None} == set(ActionId), "every button and menu"
    cells = [c for c in MATRIX + MISSING if c.reasons[who] is not None]
    problems = [p for cell in cells for p in attempt(world, cell, who)]
    assert problems == []


def test_outside_a_case_no_such_case_reads_as_not_your_case(world: World) -> None:
    outsider = world.actors["a social worker not on the case"]
    real = _raise(world.sim, outsider, world.reference)
    missing = _raise(world.sim, outsider, "CMS-999")
    assert real == missing == {FormBlock.CASE: render(Template.REFUSAL, {"code": "not_in_circle"})["text"]}
    with world.sim.sessions() as session:
        last_two = session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(2)).all()
        assert [(e.action, e.subject_type, e.detail) for e in reversed(last_two)] == [
            ("raise_alert", "case", {"reason": "not_in_circle"}),
            ("raise_alert", "case", {"reason": "unknown_case", "told": "not_in_circle"}),
        ]
        case_id = session.scalars(select(Case.id).where(Case.reference == world.reference)).one()
        assert [e.subject_id for e in reversed(last_two)] == [case_id, None]
