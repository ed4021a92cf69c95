"""Shared loading queries: the one store module handlers may call (besides ``store.receipts``, the edge's)."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, joinedload, lazyload, load_only

from store.models import Allocation, AllocationState, Case, Person, Role


def load_allocation(session: Session, allocation_id: int, *, lock: bool = False) -> Allocation | None:
    """An allocation with its case, the case's people and its auditors (optionally row-locked)."""
    query = (
        select(Allocation)
        .options(
            joinedload(Allocation.case).joinedload(Case.team),
            joinedload(Allocation.case).joinedload(Case.allocated_worker),
            joinedload(Allocation.case).joinedload(Case.previous_worker),
            joinedload(Allocation.case).joinedload(Case.team_manager),
            joinedload(Allocation.case).joinedload(Case.iro),
            joinedload(Allocation.auditor),
            joinedload(Allocation.second_auditor),
        )
        .where(Allocation.id == allocation_id)
    )
    if lock:
        query = query.with_for_update(of=Allocation)
    return session.scalars(query).first()


#: What a completion shows of each person it names (and whether a previous worker is still employed).
_NAMED = (Person.id, Person.display_name, Person.active, Person.slack_user_id)


def _to_complete() -> Select[Allocation]:
    case = joinedload(Allocation.case)
    people = (
        case.joinedload(Case.allocated_worker), case.joinedload(Case.previous_worker), case.joinedload(Case.team_manager),
        case.joinedload(Case.iro), joinedload(Allocation.auditor), joinedload(Allocation.second_auditor),
    )
    return (
        select(Allocation)
        .options(case.joinedload(Case.team), *(p.options(load_only(*_NAMED), lazyload(Person.role_rows)) for p in people))
        .where(Allocation.id == bindparam("allocation_id"))
        .with_for_update(of=Allocation)
    )


#: Built once: composing the loader options is most of a click's Python time if done per call.
_TO_COMPLETE = _to_complete()


def load_allocation_to_complete(session: Session, allocation_id: int) -> Allocation | None:
    """The allocation, row-locked, with what a completion shows: one statement.

    Like ``load_allocation(lock=True)``, but the people it names carry only their name, whether they are active
    and their Slack id, and not their roles (the clicker, loaded with roles already, is the same object)."""
    return session.scalars(_TO_COMPLETE, {"allocation_id": allocation_id}).first()


def latest_allocation_id(session: Session, reference: str) -> int | None:
    """The newest open or completed allocation of the case with ``reference`` (any case of letters)."""
    return session.scalar(
        select(Allocation.id)
        .join(Case, Case.id == Allocation.case_id)
        .where(
            func.upper(Case.reference) == reference.strip().upper(),
            Allocation.state.in_((AllocationState.ALLOCATED, AllocationState.COMPLETED)),
        )
        .order_by(Allocation.month_start.desc(), Allocation.id.desc())
    )


def qa_coordinators(session: Session) -> list[Person]:
    """The active QA coordinators, oldest record first (who is told when the programme needs a person)."""
    return list(
        session.scalars(
            select(Person).where(Person.active.is_(True), Person.role_rows.any(role=Role.QA_COORDINATOR)).order_by(Person.id)
        )
    )


#: The person behind a Slack user id, with their roles (one statement; built once).
_BY_SLACK_ID = select(Person).options(joinedload(Person.role_rows)).where(Person.slack_user_id == bindparam("user_id"))


def person_by_slack_id(session: Session, user_id: str) -> Person | None:
    """The person whose Slack id is ``user_id``, roles loaded, or None."""
    return session.scalars(_BY_SLACK_ID, {"user_id": user_id}).unique().first()
