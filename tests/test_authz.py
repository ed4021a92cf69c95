"""Who may do what: every permission is tested both ways, each refusal with its code, and a
refusal (never an allowance) is written to the audit log."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.services.authz import Decision, Permission, RefusalCode, check, decide, refuse
from store.models import Allocation, AuditLog, ExemptionRequest, Person, PersonRole, Role

AUDITOR, SECOND, STRANGER, APPROVER, ROUTED, ESCALATED, DELEGATE, LEAD, MEMBER, QA = range(1, 11)
APPROVER_ROLES = frozenset({Role.ASSISTANT_DIRECTOR})


def person(pid: int, *roles: Role, active: bool = True) -> Person:
    return Person(id=pid, email=f"p{pid}@council.example", display_name=f"P{pid}", active=active,
                  role_rows=[PersonRole(role=r) for r in roles])


def allocation(second: int | None = SECOND) -> Allocation:
    return Allocation(id=50, auditor_id=AUDITOR, second_auditor_id=second)


def request(auditor: int = AUDITOR, escalated: int | None = ESCALATED) -> ExemptionRequest:
    return ExemptionRequest(id=70, auditor_id=auditor, approver_id=APPROVER, routed_to_id=ROUTED, escalated_to_id=escalated)


CIRCLE = {AUDITOR, MEMBER, LEAD}

#: (permission, who asks, the objects the caller looked up, expected decision)
CASES: list[tuple[Permission, Person | None, dict, Decision]] = [
    (Permission.VIEW_OWN_AUDITS, person(STRANGER), {}, Decision(True)),
    (Permission.COMPLETE_AUDIT, person(AUDITOR), {"allocation": allocation()}, Decision(True)),
    (Permission.COMPLETE_AUDIT, person(SECOND), {"allocation": allocation()}, Decision(True)),
    (Permission.COMPLETE_AUDIT, person(QA, Role.QA_COORDINATOR), {"allocation": allocation()}, Decision(True)),
    (Permission.COMPLETE_AUDIT, person(STRANGER, Role.AUDITOR), {"allocation": allocation()},
     Decision(False, RefusalCode.NOT_YOUR_AUDIT)),
    (Permission.COMPLETE_AUDIT, person(STRANGER), {"allocation": allocation(second=None)},
     Decision(False, RefusalCode.NOT_YOUR_AUDIT)),
    (Permission.RECORD_AUDIT, person(AUDITOR), {"allocation": allocation()}, Decision(True)),
    (Permission.RECORD_AUDIT, person(SECOND), {"allocation": allocation()}, Decision(True)),
    # the grades are the auditor's judgement: not even the QA team records them for them (they import outcomes)
    (Permission.RECORD_AUDIT, person(QA, Role.QA_COORDINATOR), {"allocation": allocation()},
     Decision(False, RefusalCode.NOT_THE_AUDITOR)),
    (Permission.RECORD_AUDIT, person(STRANGER, Role.AUDITOR), {"allocation": allocation()},
     Decision(False, RefusalCode.NOT_THE_AUDITOR)),
    (Permission.ANSWER_CHALLENGE, person(SECOND), {"allocation": allocation()}, Decision(True)),
    (Permission.ANSWER_CHALLENGE, person(QA, Role.QA_COORDINATOR), {"allocation": allocation()},
     Decision(False, RefusalCode.NOT_THE_AUDITOR)),
    (Permission.REPLY, person(STRANGER), {"circle": CIRCLE}, Decision(False, RefusalCode.NOT_SENT_FINDINGS)),
    (Permission.VIEW_CALIBRATION, person(STRANGER), {}, Decision(False, RefusalCode.CALIBRATION_PRIVATE)),
    (Permission.VIEW_CALIBRATION, person(STRANGER, Role.AUDITOR), {}, Decision(True)),
    (Permission.VIEW_CALIBRATION, person(QA, Role.QA_COORDINATOR), {}, Decision(True)),
    (Permission.DECIDE_CHALLENGE, person(STRANGER), {"lead_id": QA}, Decision(False, RefusalCode.NOT_YOUR_CHALLENGE)),
    (Permission.DECIDE_CHALLENGE, person(QA), {"lead_id": QA}, Decision(True)),
    (Permission.RECORD_FOLLOW_UP, person(QA), {"deciders": {QA}}, Decision(True)),
    (Permission.ARRANGE_MEETING, person(QA), {"deciders": {QA}}, Decision(True)),
    (Permission.ARRANGE_MEETING, person(STRANGER, Role.AUDITOR), {"deciders": {QA}}, Decision(False, RefusalCode.NOT_IN_MEETING)),
    (Permission.ANSWER_MEETING, person(STRANGER, Role.TEAM_MANAGER), {"deciders": {QA}},
     Decision(False, RefusalCode.NOT_INVITED)),
    (Permission.RESOLVE_MEETING, person(STRANGER, Role.GROUP_MANAGER), {"deciders": {QA}},
     Decision(False, RefusalCode.NOT_ASKED_TO_RESOLVE)),
    (Permission.RECORD_FOLLOW_UP, person(STRANGER, Role.GROUP_MANAGER), {"deciders": {QA}},
     Decision(False, RefusalCode.NOT_IN_FOLLOW_UP)),
    (Permission.REQUEST_BREAK, person(AUDITOR, Role.AUDITOR), {}, Decision(True)),
    (Permission.REQUEST_BREAK, person(STRANGER, Role.SOCIAL_WORKER), {}, Decision(False, RefusalCode.NOT_AN_AUDITOR)),
    (Permission.VIEW_BREAKS, person(QA, Role.QA_COORDINATOR), {}, Decision(True)),
    (Permission.VIEW_OWN_BREAKS, person(STRANGER), {}, Decision(True)),
    (Permission.CANCEL_BREAK, person(AUDITOR, Role.AUDITOR), {"break_owner_id": AUDITOR}, Decision(True)),
    (Permission.CANCEL_BREAK, person(STRANGER, Role.AUDITOR), {"break_owner_id": AUDITOR},
     Decision(False, RefusalCode.NOT_YOUR_BREAK)),
    # nobody else manages breaks: not the QA team, not the auditor's Head of Service
    (Permission.CANCEL_BREAK, person(QA, Role.QA_COORDINATOR), {"break_owner_id": AUDITOR},
     Decision(False, RefusalCode.NOT_YOUR_BREAK)),
    (Permission.CANCEL_BREAK, person(APPROVER, Role.HEAD_OF_SERVICE), {"break_owner_id": AUDITOR},
     Decision(False, RefusalCode.NOT_YOUR_BREAK)),
    (Permission.VIEW_BREAKS, person(AUDITOR, Role.AUDITOR), {}, Decision(False, RefusalCode.QA_ONLY)),
    (Permission.CHOOSE_AUDITOR, person(QA, Role.QA_COORDINATOR), {}, Decision(True)),
    (Permission.CHOOSE_AUDITOR, person(APPROVER, Role.ASSISTANT_DIRECTOR), {}, Decision(False, RefusalCode.QA_ONLY)),
    (Permission.REQUEST_EXEMPTION, person(AUDITOR), {"allocation": allocation()}, Decision(True)),
    (Permission.REQUEST_EXEMPTION, person(SECOND), {"allocation": allocation()}, Decision(True)),
    (Permission.REQUEST_EXEMPTION, person(QA, Role.QA_COORDINATOR), {"allocation": allocation()},
     Decision(False, RefusalCode.NOT_YOUR_REQUEST)),
    (Permission.DECIDE_EXEMPTION, person(APPROVER), {"request": request()}, Decision(True)),
    (Permission.DECIDE_EXEMPTION, person(ROUTED), {"request": request()}, Decision(True)),
    (Permission.DECIDE_EXEMPTION, person(ESCALATED), {"request": request()}, Decision(True)),
    (Permission.DECIDE_EXEMPTION, person(DELEGATE), {"request": request(), "delegate_id": DELEGATE}, Decision(True)),
    (Permission.DECIDE_EXEMPTION, person(DELEGATE), {"request": request(), "delegate_id": None},
     Decision(False, RefusalCode.NOT_THE_APPROVER)),
    (Permission.DECIDE_EXEMPTION, person(STRANGER, Role.ASSISTANT_DIRECTOR), {"request": request()},
     Decision(False, RefusalCode.NOT_THE_APPROVER)),
    (Permission.DECIDE_EXEMPTION, person(QA, Role.QA_COORDINATOR), {"request": request()},
     Decision(False, RefusalCode.NOT_THE_APPROVER)),
    # nobody decides their own request, even when it was routed or escalated to them
    (Permission.DECIDE_EXEMPTION, person(ESCALATED), {"request": request(auditor=ESCALATED)},
     Decision(False, RefusalCode.NOT_THE_APPROVER)),
    (Permission.DECIDE_EXEMPTION, person(DELEGATE), {"request": request(auditor=DELEGATE), "delegate_id": DELEGATE},
     Decision(False, RefusalCode.NOT_THE_APPROVER)),
    (Permission.RAISE_ALERT, person(MEMBER), {"circle": CIRCLE}, Decision(True)),
    (Permission.RAISE_ALERT, person(QA, Role.QA_COORDINATOR), {"circle": CIRCLE}, Decision(True)),
    (Permission.RAISE_ALERT, person(STRANGER, Role.TEAM_MANAGER), {"circle": CIRCLE}, Decision(False, RefusalCode.NOT_IN_CIRCLE)),
    (Permission.ACT_ON_ALERT, person(LEAD), {"circle": CIRCLE}, Decision(True)),
    (Permission.ACT_ON_ALERT, person(STRANGER), {"circle": CIRCLE}, Decision(False, RefusalCode.NOT_IN_CIRCLE)),
    (Permission.RECORD_CORRECTIVE_ACTION, person(LEAD), {"lead_id": LEAD, "circle": None}, Decision(True)),
    (Permission.RECORD_CORRECTIVE_ACTION, person(MEMBER), {"lead_id": LEAD, "circle": CIRCLE}, Decision(True)),
    (Permission.RECORD_CORRECTIVE_ACTION, person(STRANGER), {"lead_id": LEAD, "circle": CIRCLE},
     Decision(False, RefusalCode.NOT_THE_LEAD)),
    (Permission.RECORD_CORRECTIVE_ACTION, person(STRANGER), {"lead_id": LEAD, "circle": None},
     Decision(False, RefusalCode.NOT_THE_LEAD)),
    (Permission.RECORD_CORRECTIVE_ACTION, person(QA, Role.QA_COORDINATOR), {"lead_id": LEAD, "circle": CIRCLE},
     Decision(False, RefusalCode.NOT_THE_LEAD)),
    (Permission.DELEGATE, person(APPROVER, Role.ASSISTANT_DIRECTOR), {"approver_roles": APPROVER_ROLES}, Decision(True)),
    (Permission.DELEGATE, person(STRANGER, Role.HEAD_OF_SERVICE), {"approver_roles": APPROVER_ROLES},
     Decision(False, RefusalCode.NOT_AN_APPROVER)),
    (Permission.DELEGATE, person(STRANGER, Role.HEAD_OF_SERVICE), {"approver_roles": APPROVER_ROLES | {Role.HEAD_OF_SERVICE}},
     Decision(True)),
    (Permission.CHOOSE_MODERATOR, person(QA, Role.QA_COORDINATOR), {}, Decision(True)),
    (Permission.CHOOSE_MODERATOR, person(APPROVER, Role.HEAD_OF_SERVICE), {}, Decision(False, RefusalCode.QA_ONLY)),
    (Permission.SEND_SAMPLE, person(QA, Role.QA_COORDINATOR), {}, Decision(True)),
    (Permission.SEND_SAMPLE, person(AUDITOR, Role.AUDITOR), {}, Decision(False, RefusalCode.QA_ONLY)),
    # each moderation step is one person's: the moderator, the challenger, the Head of Service it was taken to
    (Permission.MODERATE, person(LEAD, Role.HEAD_OF_SERVICE), {"deciders": {LEAD}}, Decision(True)),
    (Permission.MODERATE, person(QA, Role.QA_COORDINATOR), {"deciders": {LEAD}}, Decision(False, RefusalCode.NOT_THE_MODERATOR)),
    (Permission.MODERATE, person(LEAD, Role.HEAD_OF_SERVICE), {}, Decision(False, RefusalCode.NOT_THE_MODERATOR)),
    (Permission.ANSWER_MODERATION, person(MEMBER), {"deciders": {MEMBER}}, Decision(True)),
    (Permission.ANSWER_MODERATION, person(AUDITOR), {"deciders": {MEMBER}}, Decision(False, RefusalCode.NOT_THE_CHALLENGER)),
    (Permission.DECIDE_AS_HEAD_OF_SERVICE, person(APPROVER, Role.HEAD_OF_SERVICE_QA), {"deciders": {APPROVER}}, Decision(True)),
    (Permission.DECIDE_AS_HEAD_OF_SERVICE, person(STRANGER, Role.HEAD_OF_SERVICE_QA), {"deciders": {APPROVER}},
     Decision(False, RefusalCode.NOT_THE_HEAD_OF_SERVICE)),
    (Permission.DECIDE_QA_CHECK, person(QA, Role.QA_COORDINATOR), {"allocation": allocation()}, Decision(True)),
    (Permission.DECIDE_QA_CHECK, person(AUDITOR, Role.AUDITOR), {"allocation": allocation()},
     Decision(False, RefusalCode.QA_CHECKS_ONLY)),
    (Permission.DECIDE_QA_CHECK, person(STRANGER, Role.HEAD_OF_SERVICE), {}, Decision(False, RefusalCode.QA_CHECKS_ONLY)),
    # nobody in the QA team checks an audit they did themself
    (Permission.DECIDE_QA_CHECK, person(SECOND, Role.QA_COORDINATOR), {"allocation": allocation()},
     Decision(False, RefusalCode.OWN_AUDIT)),
    # the QA assurance sample: the QA team, never on an audit they did themself
    (Permission.VERIFY_ASSURANCE, person(QA, Role.QA_COORDINATOR), {"allocation": allocation()}, Decision(True)),
    (Permission.VERIFY_ASSURANCE, person(LEAD, Role.GROUP_MANAGER), {"allocation": allocation()},
     Decision(False, RefusalCode.QA_CHECKS_ONLY)),
    (Permission.VERIFY_ASSURANCE, person(AUDITOR, Role.QA_COORDINATOR), {"allocation": allocation()},
     Decision(False, RefusalCode.OWN_AUDIT)),
    (Permission.ACT_ON_ACTION, person(AUDITOR), {"deciders": {AUDITOR}}, Decision(True)),
    (Permission.ACT_ON_ACTION, person(QA, Role.QA_COORDINATOR), {"deciders": {AUDITOR}},
     Decision(False, RefusalCode.NOT_YOUR_ACTION)),
    (Permission.MANAGE_AUDIT_ACTIONS, person(AUDITOR, Role.TEAM_MANAGER), {"deciders": {AUDITOR}}, Decision(True)),
    (Permission.MANAGE_AUDIT_ACTIONS, person(STRANGER, Role.TEAM_MANAGER), {"deciders": {AUDITOR}},
     Decision(False, RefusalCode.NOT_THE_TEAM_MANAGER)),
    # the reflection sheet: the case's worker and the auditors (``deciders``), nobody else -- not even the QA team
    (Permission.REFLECT, person(MEMBER, Role.SOCIAL_WORKER), {"deciders": {MEMBER, AUDITOR, SECOND}}, Decision(True)),
    (Permission.REFLECT, person(SECOND, Role.AUDITOR), {"deciders": {MEMBER, AUDITOR, SECOND}}, Decision(True)),
    (Permission.REFLECT, person(QA, Role.QA_COORDINATOR), {"deciders": {MEMBER, AUDITOR, SECOND}},
     Decision(False, RefusalCode.NOT_YOUR_REFLECTION)),
    (Permission.REFLECT, person(LEAD, Role.TEAM_MANAGER), {"deciders": {MEMBER, AUDITOR}},
     Decision(False, RefusalCode.NOT_YOUR_REFLECTION)),
    (Permission.VIEW_PROGRAMME, person(QA, Role.QA_COORDINATOR), {}, Decision(True)),
    (Permission.VIEW_PROGRAMME, person(LEAD, Role.TEAM_MANAGER, Role.HEAD_OF_SERVICE_QA), {},
     Decision(False, RefusalCode.QA_ONLY)),
]


@pytest.mark.parametrize(("permission", "who", "looked_up", "expected"), CASES, ids=lambda v: getattr(v, "value", None))
def test_each_permission_allows_and_refuses(permission: Permission, who: Person, looked_up: dict, expected: Decision) -> None:
    assert decide(who, permission, **looked_up) == expected


def test_every_permission_has_a_refusal_tested() -> None:
    refused = {permission for permission, _, _, decision in CASES if not decision.allowed}
    assert set(Permission) - refused == {Permission.VIEW_OWN_AUDITS, Permission.VIEW_OWN_BREAKS}, (
        "only viewing one's own audits and breaks is open to all"
    )


@pytest.mark.parametrize("permission", list(Permission))
def test_unknown_and_inactive_people_are_refused_everything(permission: Permission) -> None:
    everything = {"allocation": allocation(), "request": request(), "circle": CIRCLE | {QA}, "lead_id": QA,
                  "delegate_id": QA, "approver_roles": APPROVER_ROLES, "break_owner_id": QA}
    assert decide(None, permission, **everything) == Decision(False, RefusalCode.UNKNOWN_PERSON)
    gone = person(QA, Role.QA_COORDINATOR, Role.AUDITOR, Role.ASSISTANT_DIRECTOR, active=False)
    assert decide(gone, permission, **everything) == Decision(False, RefusalCode.INACTIVE_PERSON)


def test_a_refusal_is_audit_logged_and_an_allowance_is_not(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as session, session.begin():
        stranger = Person(email="s@council.example", display_name="S", active=True,
                          role_rows=[PersonRole(role=Role.SOCIAL_WORKER)])
        qa = Person(email="q@council.example", display_name="Q", active=True, role_rows=[PersonRole(role=Role.QA_COORDINATOR)])
        session.add_all([stranger, qa])
        session.flush()
        refused = check(session, stranger, Permission.VIEW_BREAKS, now=now, actor_ref="U1", subject_type="month", subject_id=12)
        allowed = check(session, qa, Permission.VIEW_BREAKS, now=now, actor_ref="U2", subject_type="month", subject_id=12)
        nobody = check(session, None, Permission.VIEW_BREAKS, now=now, actor_ref="U3")
        stranger_id = stranger.id
    assert (refused, allowed, nobody) == (
        Decision(False, RefusalCode.QA_ONLY), Decision(True), Decision(False, RefusalCode.UNKNOWN_PERSON),
    )
    with session_factory() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        logged = [(r.action, r.outcome, r.actor_id, r.actor_ref, r.subject_type, r.subject_id, r.detail) for r in rows]
    assert logged == [
        ("view_breaks", "refused", stranger_id, "U1", "month", 12, {"reason": "qa_only"}),
        ("view_breaks", "refused", None, "U3", "", None, {"reason": "unknown_person"}),
    ]


def test_refuse_logs_the_true_reason_and_tells_what_it_may(session_factory: sessionmaker[Session], now: dt.datetime) -> None:
    with session_factory() as session, session.begin():
        stranger = Person(email="s@council.example", display_name="S", active=True, role_rows=[])
        gone = Person(email="g@council.example", display_name="G", active=False, role_rows=[])
        session.add_all([stranger, gone])
        session.flush()
        told = refuse(session, stranger, Permission.RAISE_ALERT, RefusalCode.UNKNOWN_CASE, now=now, actor_ref="U1",
                      told=RefusalCode.NOT_IN_CIRCLE, action="alert.raise", detail={"case": "CMS-9"})
        plain = refuse(session, stranger, Permission.COMPLETE_AUDIT, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref="U1")
        inactive = refuse(session, gone, Permission.COMPLETE_AUDIT, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref="U2",
                          told=RefusalCode.NOT_YOUR_AUDIT)
        nobody = refuse(session, None, Permission.RAISE_ALERT, RefusalCode.UNKNOWN_CASE, now=now, actor_ref="U3")
    assert (told, plain, inactive, nobody) == (
        Decision(False, RefusalCode.NOT_IN_CIRCLE), Decision(False, RefusalCode.NO_SUCH_AUDIT),
        Decision(False, RefusalCode.INACTIVE_PERSON), Decision(False, RefusalCode.UNKNOWN_PERSON),
    )
    with session_factory() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        logged = [(r.action, r.outcome, r.actor_ref, r.detail) for r in rows]
    assert logged == [
        ("alert.raise", "refused", "U1", {"reason": "unknown_case", "told": "not_in_circle", "case": "CMS-9"}),
        ("complete_audit", "refused", "U1", {"reason": "no_such_audit"}),
        ("complete_audit", "refused", "U2", {"reason": "inactive_person"}),
        ("raise_alert", "refused", "U3", {"reason": "unknown_person"}),
    ]
