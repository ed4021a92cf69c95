"""Who may do what, decided from the store in one place. Every refusal is audit-logged.

Refusals carry a ``RefusalCode``; the words shown to the person live in
``messages/refusal.json.j2``. Every refusal -- a permission ``check`` that fails, or a service
finding that the thing asked about is missing or closed -- goes through ``refuse``, the one
place that writes it to the audit log (outcome ``refused``, with the true reason). Who is asking
is judged first: an unknown or inactive person is refused as such, whatever else is wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from store.audit import record
from store.models import Allocation, ExemptionRequest, Person, Role


class Permission(StrEnum):
    """Actions that need a decision about the person asking."""

    VIEW_OWN_AUDITS = "view_own_audits"
    COMPLETE_AUDIT = "complete_audit"
    RECORD_AUDIT = "record_audit"
    #: Agree, comment on or challenge the findings: the worker, team manager and IRO they went to.
    REPLY = "reply"
    #: How often an auditor's grades were challenged or moved by moderation: the QA team, and each auditor their own.
    VIEW_CALIBRATION = "view_calibration"
    #: Change or keep a challenged grade: the audit's auditors.
    ANSWER_CHALLENGE = "answer_challenge"
    #: Accept the auditor's answer or ask for moderation: the challenger.
    DECIDE_CHALLENGE = "decide_challenge"
    REQUEST_BREAK = "request_break"
    VIEW_BREAKS = "view_breaks"
    VIEW_OWN_BREAKS = "view_own_breaks"
    CANCEL_BREAK = "cancel_break"
    REQUEST_EXEMPTION = "request_exemption"
    DECIDE_EXEMPTION = "decide_exemption"
    DELEGATE = "delegate"
    CHOOSE_AUDITOR = "choose_auditor"
    RAISE_ALERT = "raise_alert"
    ACT_ON_ALERT = "act_on_alert"
    RECORD_CORRECTIVE_ACTION = "record_corrective_action"
    CHOOSE_MODERATOR = "choose_moderator"
    SEND_SAMPLE = "send_sample"
    MODERATE = "moderate"
    ANSWER_MODERATION = "answer_moderation"
    DECIDE_AS_HEAD_OF_SERVICE = "decide_as_head_of_service"
    DECIDE_QA_CHECK = "decide_qa_check"
    #: Verified / Not evidenced on the QA assurance sample: the QA team, never on an audit they did.
    VERIFY_ASSURANCE = "verify_assurance"
    #: Say an action is done, or ask for more time: its owner.
    ACT_ON_ACTION = "act_on_action"
    #: Record oversight, sign off an action or say not yet, decide more time: the case's team manager.
    MANAGE_AUDIT_ACTIONS = "manage_audit_actions"
    #: Record an Inadequate follow-up meeting or review: the group manager, team manager or Head of Service it is for.
    RECORD_FOLLOW_UP = "record_follow_up"
    #: Propose, move or cancel a reflection meeting, book a suggested time, escalate: the case's auditor and
    #: worker (``deciders``).
    ARRANGE_MEETING = "arrange_meeting"
    #: Choose a proposed time or say none works: the people the times were sent to.
    ANSWER_MEETING = "answer_meeting"
    #: Take on an escalated meeting request: the group manager it went to.
    RESOLVE_MEETING = "resolve_meeting"
    #: Answer the reflection sheet after the meeting: the case's allocated worker and the allocation's auditors.
    REFLECT = "reflect"
    #: The month at a glance, next month's allocation preview and the month's report: the QA team.
    VIEW_PROGRAMME = "view_programme"


class RefusalCode(StrEnum):
    """Why a request was refused (each has wording in messages/refusal.json.j2)."""

    UNKNOWN_PERSON = "unknown_person"
    INACTIVE_PERSON = "inactive_person"
    NOT_YOUR_AUDIT = "not_your_audit"
    NOT_AN_AUDITOR = "not_an_auditor"
    QA_ONLY = "qa_only"
    AUDIT_CLOSED = "audit_closed"
    NOT_YOUR_REQUEST = "not_your_request"
    NOT_THE_APPROVER = "not_the_approver"
    NOT_AN_APPROVER = "not_an_approver"
    REQUEST_PENDING = "request_pending"
    NO_APPROVER = "no_approver"
    UNKNOWN_CASE = "unknown_case"
    NO_SUCH_AUDIT = "no_such_audit"
    NOT_IN_CIRCLE = "not_in_circle"
    NOT_THE_LEAD = "not_the_lead"
    EXTENSION_DATE_PASSED = "extension_date_passed"
    NOT_YOUR_BREAK = "not_your_break"
    NO_SUCH_BREAK = "no_such_break"
    NOT_YOUR_CHALLENGE = "not_your_challenge"
    #: Recording an audit and answering challenges to it are the auditor's alone.
    NOT_THE_AUDITOR = "not_the_auditor"
    NOT_SENT_FINDINGS = "not_sent_findings"
    CALIBRATION_PRIVATE = "calibration_private"
    NOT_THE_MODERATOR = "not_the_moderator"
    NOT_THE_CHALLENGER = "not_the_challenger"
    NOT_THE_HEAD_OF_SERVICE = "not_the_head_of_service"
    NO_SUCH_MODERATION = "no_such_moderation"
    QA_CHECKS_ONLY = "qa_checks_only"
    OWN_AUDIT = "own_audit"
    NOT_RETURNED = "not_returned"
    ONLY_THE_AUDITOR = "only_the_auditor"
    NOT_YOUR_ACTION = "not_your_action"
    NOT_THE_TEAM_MANAGER = "not_the_team_manager"
    NOT_IN_FOLLOW_UP = "not_in_follow_up"
    NOT_IN_MEETING = "not_in_meeting"
    NOT_INVITED = "not_invited"
    NOT_ASKED_TO_RESOLVE = "not_asked_to_resolve"
    NOT_YOUR_REFLECTION = "not_your_reflection"
    #: The reflection sheet opens once the allocation's reflection meeting has been held.
    NO_MEETING_HELD = "no_meeting_held"


@dataclass(frozen=True)
class Decision:
    """The outcome of a permission check."""

    allowed: bool
    code: RefusalCode | None = None


def _allowed(condition: bool, code: RefusalCode) -> Decision:
    return Decision(True) if condition else Decision(False, code)


def identity_refusal(person: Person | None) -> RefusalCode | None:
    """Why ``person`` may do nothing at all (not in the store, or inactive), else None."""
    if person is None:
        return RefusalCode.UNKNOWN_PERSON
    if not person.active:
        return RefusalCode.INACTIVE_PERSON
    return None


def decide(
    person: Person | None,
    permission: Permission,
    *,
    allocation: Allocation | None = None,
    request: ExemptionRequest | None = None,
    delegate_id: int | None = None,
    circle: set[int] | None = None,
    lead_id: int | None = None,
    approver_roles: frozenset[Role] | None = None,
    break_owner_id: int | None = None,
    deciders: set[int] | None = None,
) -> Decision:
    """Decide whether ``person`` may do ``permission`` (pure: reads only the objects given).

    ``delegate_id`` is the request approver's active delegate today; ``circle`` the ids of the
    case's circle; ``lead_id`` who acts as team manager for an alert; ``approver_roles`` the
    roles that decide exemptions (from the settings); ``break_owner_id`` whose audit break it
    is; ``deciders`` whose decision a moderation step is (its moderator, the challenger, the
    Head of Service) — looked up by the caller.
    """
    nobody = identity_refusal(person)
    if nobody is not None:
        return Decision(False, nobody)
    assert person is not None
    qa = person.has_role(Role.QA_COORDINATOR)
    match permission:
        case Permission.VIEW_OWN_AUDITS | Permission.VIEW_OWN_BREAKS:
            return Decision(True)
        case Permission.COMPLETE_AUDIT:
            assert allocation is not None
            mine = person.id in (allocation.auditor_id, allocation.second_auditor_id)
            return _allowed(mine or qa, RefusalCode.NOT_YOUR_AUDIT)
        case Permission.RECORD_AUDIT | Permission.ANSWER_CHALLENGE:  # the grades are the auditor's judgement alone
            assert allocation is not None
            return _allowed(person.id in (allocation.auditor_id, allocation.second_auditor_id), RefusalCode.NOT_THE_AUDITOR)
        case Permission.VIEW_CALIBRATION:
            return _allowed(qa or person.has_role(Role.AUDITOR), RefusalCode.CALIBRATION_PRIVATE)
        case Permission.REPLY:
            assert circle is not None
            return _allowed(person.id in circle, RefusalCode.NOT_SENT_FINDINGS)
        case Permission.DECIDE_CHALLENGE:
            return _allowed(person.id == lead_id, RefusalCode.NOT_YOUR_CHALLENGE)
        case Permission.REQUEST_BREAK:
            return _allowed(person.has_role(Role.AUDITOR), RefusalCode.NOT_AN_AUDITOR)
        case (Permission.VIEW_BREAKS | Permission.CHOOSE_AUDITOR | Permission.CHOOSE_MODERATOR | Permission.SEND_SAMPLE
              | Permission.VIEW_PROGRAMME):
            return _allowed(qa, RefusalCode.QA_ONLY)
        case Permission.CANCEL_BREAK:  # only the auditor whose break it is (nobody else manages breaks)
            return _allowed(person.id == break_owner_id, RefusalCode.NOT_YOUR_BREAK)
        case Permission.REQUEST_EXEMPTION:
            assert allocation is not None
            return _allowed(person.id in (allocation.auditor_id, allocation.second_auditor_id), RefusalCode.NOT_YOUR_REQUEST)
        case Permission.DECIDE_EXEMPTION:
            assert request is not None
            # The approver, whoever it was sent to (a delegate keeps the requests routed to them
            # after their window ends), the approver's delegate today, or whoever it was
            # escalated to -- never the person who asked.
            approvers = {request.approver_id, request.routed_to_id, request.escalated_to_id, delegate_id} - {request.auditor_id}
            return _allowed(person.id in approvers, RefusalCode.NOT_THE_APPROVER)
        case Permission.RAISE_ALERT | Permission.ACT_ON_ALERT:
            assert circle is not None
            return _allowed(person.id in circle or qa, RefusalCode.NOT_IN_CIRCLE)
        case Permission.RECORD_CORRECTIVE_ACTION:
            return _allowed(person.id == lead_id or person.id in (circle or set()), RefusalCode.NOT_THE_LEAD)
        case Permission.MODERATE | Permission.ANSWER_MODERATION | Permission.DECIDE_AS_HEAD_OF_SERVICE:
            code = {Permission.MODERATE: RefusalCode.NOT_THE_MODERATOR,
                    Permission.ANSWER_MODERATION: RefusalCode.NOT_THE_CHALLENGER}
            return _allowed(person.id in (deciders or set()), code.get(permission, RefusalCode.NOT_THE_HEAD_OF_SERVICE))
        case Permission.RECORD_FOLLOW_UP:
            return _allowed(person.id in (deciders or set()), RefusalCode.NOT_IN_FOLLOW_UP)
        case Permission.ARRANGE_MEETING | Permission.ANSWER_MEETING | Permission.RESOLVE_MEETING:
            code = {Permission.ARRANGE_MEETING: RefusalCode.NOT_IN_MEETING, Permission.ANSWER_MEETING: RefusalCode.NOT_INVITED}
            return _allowed(person.id in (deciders or set()), code.get(permission, RefusalCode.NOT_ASKED_TO_RESOLVE))
        case Permission.REFLECT:  # ``deciders``: the case's allocated worker and the allocation's auditors
            return _allowed(person.id in (deciders or set()), RefusalCode.NOT_YOUR_REFLECTION)
        case Permission.DECIDE_QA_CHECK | Permission.VERIFY_ASSURANCE:  # the QA team, never on an audit they did themself
            if not qa:
                return Decision(False, RefusalCode.QA_CHECKS_ONLY)
            mine = allocation is not None and person.id in (allocation.auditor_id, allocation.second_auditor_id)
            return _allowed(not mine, RefusalCode.OWN_AUDIT)
        case Permission.ACT_ON_ACTION:  # ``deciders``: the action's owner
            return _allowed(person.id in (deciders or set()), RefusalCode.NOT_YOUR_ACTION)
        case Permission.MANAGE_AUDIT_ACTIONS:  # ``deciders``: the case's team manager
            return _allowed(person.id in (deciders or set()), RefusalCode.NOT_THE_TEAM_MANAGER)
        case Permission.DELEGATE:
            assert approver_roles is not None
            return _allowed(any(person.has_role(r) for r in approver_roles), RefusalCode.NOT_AN_APPROVER)


def refuse(
    session: Session,
    person: Person | None,
    permission: Permission,
    code: RefusalCode,
    *,
    now: dt.datetime,
    actor_ref: str,
    subject_type: str = "",
    subject_id: int | None = None,
    told: RefusalCode | None = None,
    action: str | None = None,
    detail: dict[str, object] | None = None,
) -> Decision:
    """Refuse ``person`` and audit-log why, in the caller's transaction (which must then commit).

    The single place a refusal is recorded. ``code`` is the true reason and is what is logged;
    ``told`` is what the person is told instead when the true reason must not be revealed (a
    stranger must not tell "no such case" from "not your case"). An unknown or inactive person
    is refused, logged and told as such, whatever ``code`` says. ``action`` names the logged
    action when it is more specific than the permission; ``detail`` adds to the log entry.
    """
    nobody = identity_refusal(person)
    logged = nobody or code
    shown = nobody or told or code
    entry: dict[str, object] = {"reason": logged.value}
    if shown != logged:
        entry["told"] = shown.value
    record(
        session,
        now=now,
        action=action or str(permission),
        outcome="refused",
        actor=person,
        actor_ref=actor_ref,
        subject_type=subject_type,
        subject_id=subject_id,
        detail={**entry, **(detail or {})},
    )
    return Decision(False, shown)


def check(
    session: Session,
    person: Person | None,
    permission: Permission,
    *,
    now: dt.datetime,
    actor_ref: str,
    subject_type: str = "",
    subject_id: int | None = None,
    allocation: Allocation | None = None,
    request: ExemptionRequest | None = None,
    delegate_id: int | None = None,
    circle: set[int] | None = None,
    lead_id: int | None = None,
    approver_roles: frozenset[Role] | None = None,
    break_owner_id: int | None = None,
    deciders: set[int] | None = None,
    told: RefusalCode | None = None,
) -> Decision:
    """Decide, and ``refuse`` (audit-logged) if not allowed; ``told`` as for ``refuse``."""
    decision = decide(
        person, permission, allocation=allocation, request=request, delegate_id=delegate_id, circle=circle,
        lead_id=lead_id, approver_roles=approver_roles, break_owner_id=break_owner_id, deciders=deciders,
    )
    if decision.allowed:
        return decision
    assert decision.code is not None
    return refuse(
        session, person, permission, decision.code, now=now, actor_ref=actor_ref, subject_type=subject_type,
        subject_id=subject_id, told=told,
    )
