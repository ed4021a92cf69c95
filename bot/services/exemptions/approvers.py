"""Who decides an auditor's exemption or extension, and their delegates (Hull A.4)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.services.authz import Decision, Permission, check
from bot.services.staff.people import Named, up_the_line
from bot.settings import Settings
from store.audit import record
from store.models import Delegation, Person, Role
from store.outbox import enqueue, person_ref


def approver_role(auditor: Person, settings: Settings) -> Role:
    """QA-team auditors go to the Strategic Lead; everyone else to their Assistant Director."""
    qa_teams = {name.casefold() for name in settings.qa_team_names}
    if auditor.team is not None and auditor.team.name.casefold() in qa_teams:
        return settings.qa_exemption_approver_role
    return settings.exemption_approver_role


def approver_roles(settings: Settings) -> frozenset[Role]:
    """The roles that decide exemptions and extensions (and so may name a delegate)."""
    return frozenset({settings.exemption_approver_role, settings.qa_exemption_approver_role})


def _holders(session: Session, role: Role, auditor: Person) -> list[Person]:
    """Active holders of ``role`` other than the auditor, oldest record first."""
    return [
        p
        for p in session.scalars(
            select(Person).where(Person.active.is_(True), Person.role_rows.any(role=role)).order_by(Person.id)
        )
        if p.id != auditor.id
    ]


def find_approver(session: Session, auditor: Person, settings: Settings) -> Person | None:
    """The approver the rules name: first up the auditor's line-management chain, else the one
    holding the role in the auditor's service, else the only holder of the role. An auditor who
    holds an approver role themselves and is still without one falls back to their own line
    manager (if active). Anyone still without one goes to the Strategic Lead (the QA approver
    role), else the QA team decides (its first coordinator). Never the auditor themselves; None
    only when there is nobody at all."""
    roles = [approver_role(auditor, settings), settings.exemption_approver_role]
    for role in dict.fromkeys(roles):
        found = up_the_line(auditor, role)
        if found is not None:
            return found
        holders = _holders(session, role, auditor)
        same_service = [p for p in holders if auditor.service_id is not None and p.service_id == auditor.service_id]
        if same_service:
            return same_service[0]
        if len(holders) == 1:
            return holders[0]
    if any(auditor.has_role(role) for role in approver_roles(settings)):
        # An approver auditing (e.g. one of several Assistant Directors, none above them): whoever
        # manages them, else the Strategic Lead (the QA approver role).
        manager = auditor.line_manager
        if manager is not None and manager.active and manager.id != auditor.id:
            return manager
    for role in (settings.qa_exemption_approver_role, Role.QA_COORDINATOR):
        fallback = _holders(session, role, auditor)
        if fallback:
            return fallback[0]
    return None


def active_delegate(session: Session, principal_id: int, day: dt.date) -> Person | None:
    """The principal's delegate on ``day`` (the newest delegation covering it), if active."""
    delegation = session.scalars(
        select(Delegation)
        .where(
            Delegation.principal_id == principal_id,
            Delegation.revoked.is_(False),
            Delegation.starts_on <= day,
            Delegation.ends_on >= day,
        )
        .order_by(Delegation.created_at.desc(), Delegation.id.desc())
    ).first()
    if delegation is None or not delegation.delegate.active:
        return None
    return delegation.delegate


class DelegationProblem(StrEnum):
    """Why a delegation was not recorded (wording in messages/delegation_result.json.j2)."""

    BAD_INPUT = "bad_input"
    UNKNOWN_DELEGATE = "unknown_delegate"
    AMBIGUOUS_DELEGATE = "ambiguous_delegate"
    SELF = "self"
    DATES = "dates"
    PAST = "past"
    NOT_AN_APPROVER = "not_an_approver"


@dataclass(frozen=True)
class DelegationOutcome:
    """The answer to ``/audit delegate``."""

    decision: Decision
    problem: DelegationProblem | None = None
    delegation: Delegation | None = None
    #: Everyone the name could mean, when it named more than one person.
    candidates: tuple[Person, ...] = ()
    #: The same delegation was already recorded (the command typed twice): nothing new, nobody told again.
    already: bool = False


def delegate(
    session: Session,
    principal: Person | None,
    named: Named,
    starts_on: dt.date | None,
    ends_on: dt.date | None,
    settings: Settings,
    *,
    today: dt.date,
    now: dt.datetime,
    actor_ref: str,
) -> DelegationOutcome:
    """Record that the person ``named`` decides for ``principal`` from ``starts_on`` to ``ends_on``."""
    decision = check(
        session, principal, Permission.DELEGATE, now=now, actor_ref=actor_ref, subject_type="delegation",
        approver_roles=approver_roles(settings),
    )
    if not decision.allowed:
        return DelegationOutcome(decision)
    assert principal is not None
    delegate_person = named.person
    problem: DelegationProblem | None = None
    if starts_on is None or ends_on is None:
        problem = DelegationProblem.BAD_INPUT
    elif named.candidates:
        problem = DelegationProblem.AMBIGUOUS_DELEGATE
    elif delegate_person is None or not delegate_person.active:
        problem = DelegationProblem.UNKNOWN_DELEGATE
    elif delegate_person.id == principal.id:
        problem = DelegationProblem.SELF
    elif settings.delegates_must_hold_approver_role and not any(
        delegate_person.has_role(role) for role in approver_roles(settings)
    ):
        problem = DelegationProblem.NOT_AN_APPROVER
    elif ends_on < starts_on:
        problem = DelegationProblem.DATES
    elif ends_on < today:
        problem = DelegationProblem.PAST
    if problem is not None:
        return DelegationOutcome(decision, problem, candidates=named.candidates)
    assert delegate_person is not None and starts_on is not None and ends_on is not None
    same = session.scalar(
        select(Delegation).where(
            Delegation.principal_id == principal.id, Delegation.delegate_id == delegate_person.id,
            Delegation.starts_on == starts_on, Delegation.ends_on == ends_on,
        )
    )
    if same is not None:
        return DelegationOutcome(decision, delegation=same, already=True)
    row = Delegation(
        principal_id=principal.id, delegate_id=delegate_person.id, starts_on=starts_on, ends_on=ends_on, created_at=now
    )
    session.add(row)
    session.flush()
    record(
        session, now=now, action="delegation.create", actor=principal, actor_ref=actor_ref, subject_type="delegation",
        subject_id=row.id,
        detail={"delegate": delegate_person.email, "from": starts_on.isoformat(), "to": ends_on.isoformat()},
    )
    enqueue(
        session, key=f"delegation:{row.id}:{delegate_person.id}", template=Template.DELEGATION_NOTICE,
        context={"principal": person_ref(principal), "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat()},
        now=now, recipient_id=delegate_person.id,
    )
    return DelegationOutcome(decision, delegation=row)
