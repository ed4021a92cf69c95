"""Inadequate follow-up cycles (Hull 25-26; shared/domain.md step 11; lifecycle "Inadequate loop").

When an audit whose overall grade (as it stands) is Inadequate is final, a cycle opens: the
group manager, team manager and worker are told to meet as soon as possible (the group manager
records **Meeting held**); a review is due four weeks after the final date (**Review held**);
the case is re-audited within two months. The re-audit's final grade ends the cycle: no longer
Inadequate closes it; Inadequate again continues it into the next cycle, with the Head of
Service of the case's service brought in (**Head of Service meeting held**), and so on.

Dates: the review is due ``inadequate_review_weeks`` calendar weeks after the final date, or the
next working day when that is not one (Tue 10 Mar 2026 ⇒ Tue 7 Apr 2026); the re-audit's latest
day is ``reaudit_within_months`` months after it, the same day of the month (the month's last
day when it has no such day: 31 Dec ⇒ 28 Feb).

A scheme without an ``inadequate`` overall grade never opens a cycle.
"""

from __future__ import annotations

import calendar as cal
import datetime as dt
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.staff.people import group_manager_of, holder_in_service, up_the_line
from bot.settings import Settings
from store.audit import record as audit_log
from store.followup import CycleState, InadequateCycle
from store.models import Allocation, Case, Person, Priority, Role
from store.outbox import enqueue, person_ref
from store.records import AuditRecord, RecordState

#: The overall grade that opens a cycle (the value in both shipped schemes).
INADEQUATE = "inadequate"
#: Records whose grade is final (the QA check may still accept or return them).
FINAL = (RecordState.FINALISED, RecordState.RETURNED, RecordState.ACCEPTED)
#: Cycles still waiting for something.
OPEN = (CycleState.MEETING_DUE, CycleState.REVIEW_DUE, CycleState.REAUDIT_DUE)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` later, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, cal.monthrange(year, month + 1)[1]))


def review_due(final_on: dt.date, settings: Settings, calendar: WorkingCalendar) -> dt.date:
    """Four weeks (calendar days) after the final date, or the next working day."""
    return calendar.next_working_day(final_on + dt.timedelta(weeks=settings.inadequate_review_weeks))


def head_of_service_of(session: Session, case: Case, group_manager: Person | None) -> Person | None:
    """The Head of Service of the case's service, else the nearest one above the group manager."""
    head = holder_in_service(session, Role.HEAD_OF_SERVICE, case.team.service_id)
    if head is None and group_manager is not None:
        head = up_the_line(group_manager, Role.HEAD_OF_SERVICE)
    return head


def _held(at: dt.datetime | None, by_id: int | None, session: Session) -> dict[str, Any] | None:
    return {"at": at.isoformat(), "by": person_ref(session.get(Person, by_id)) if by_id else None} if at else None


def cycle_context(session: Session, cycle: InadequateCycle, calendar: WorkingCalendar) -> dict[str, Any]:
    """What every follow-up message shows: the case, the dates, who is involved, what is recorded."""
    record = session.get_one(AuditRecord, cycle.record_id)
    case = record.allocation.case
    reaudit = session.get(Allocation, cycle.reaudit_allocation_id) if cycle.reaudit_allocation_id else None
    return {
        "cycle_id": cycle.id,
        "number": cycle.number,
        "state": cycle.state.value,
        "case": {"reference": case.reference, "type": case.case_type.value, "team": case.team.name},
        "final_on": calendar.local_date(record.finalised_at).isoformat() if record.finalised_at else None,
        "review_due": cycle.review_due.isoformat() if cycle.review_due else None,
        "reaudit_latest": cycle.reaudit_latest.isoformat() if cycle.reaudit_latest else None,
        "group_manager": person_ref(session.get(Person, cycle.group_manager_id)) if cycle.group_manager_id else None,
        "team_manager": person_ref(case.team_manager),
        "worker": person_ref(case.allocated_worker),
        "head_of_service": person_ref(session.get(Person, cycle.head_of_service_id)) if cycle.head_of_service_id else None,
        "meeting_held": _held(cycle.meeting_held_at, cycle.meeting_held_by_id, session),
        "review_held": _held(cycle.review_held_at, cycle.review_held_by_id, session),
        "hos_meeting_held": _held(cycle.head_of_service_meeting_at, None, session),
        "reaudit": {"due_date": reaudit.due_date.isoformat(), "auditor": person_ref(reaudit.auditor)} if reaudit else None,
    }


def tell(session: Session, cycle: InadequateCycle, people: list[tuple[str, Person | None]], *, stage: str,
          template: Template, now: dt.datetime, calendar: WorkingCalendar, key: str) -> int:
    """One message per person (their first role in ``people``), keyed ``inadequate:<cycle>:<key>:<person>``."""
    context = cycle_context(session, cycle, calendar)
    told: set[int] = set()
    written = 0
    for role, person in people:
        if person is None or not person.active or person.id in told:
            continue
        told.add(person.id)
        written += enqueue(session, key=f"inadequate:{cycle.id}:{key}:{person.id}", template=template,
                           context={**context, "stage": stage, "role": role, "recipient": person_ref(person)}, now=now,
                           recipient_id=person.id, priority=Priority.NORMAL, not_before=calendar.next_working_moment(now))
    return written


def resolve_reaudits(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """End every open cycle whose re-audit is final: closed, or continued when Inadequate again."""
    final_reaudit = exists().where(
        AuditRecord.allocation_id == InadequateCycle.reaudit_allocation_id, AuditRecord.state.in_(FINAL)
    )
    waiting = select(InadequateCycle).where(InadequateCycle.state.in_(OPEN), final_reaudit).order_by(InadequateCycle.id)
    written = 0
    for cycle in session.scalars(waiting.with_for_update(of=InadequateCycle).execution_options(populate_existing=True)).all():
        reaudit = session.scalars(select(AuditRecord).where(AuditRecord.allocation_id == cycle.reaudit_allocation_id)).one()
        again = reaudit.overall_now() == INADEQUATE
        cycle.state = CycleState.CONTINUED if again else CycleState.CLOSED
        cycle.closed_at = now
        audit_log(session, now=now, action=f"inadequate.{cycle.state.value}", actor_ref="scheduler",
                  subject_type="inadequate_cycle", subject_id=cycle.id, detail={"reaudit": reaudit.id})
        if again:  # the next cycle's opening message says so
            continue
        case = reaudit.allocation.case
        people = [("group_manager", session.get(Person, cycle.group_manager_id) if cycle.group_manager_id else None),
                  ("head_of_service", session.get(Person, cycle.head_of_service_id) if cycle.head_of_service_id else None),
                  ("team_manager", case.team_manager), ("worker", case.allocated_worker),
                  ("auditor", reaudit.allocation.auditor)]
        written += tell(session, cycle, people, stage="closed", template=Template.INADEQUATE_CLOSED, now=now,
                         calendar=calendar, key="closed")
    return written


def open_cycles(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Open a cycle for every final Inadequate audit without one (set-based, idempotent).

    Not for an audit whose re-audit would already be past its latest day (finalised before the
    feature, say), nor while another cycle of the case is open, nor for an audit older than the
    case's newest cycle."""
    today = calendar.local_date(now)
    oldest = calendar.utc(add_months(today, -settings.reaudit_within_months), dt.time(0, 0))
    has_cycle = exists().where(InadequateCycle.record_id == AuditRecord.id)
    waiting = select(AuditRecord).where(AuditRecord.state.in_(FINAL), AuditRecord.finalised_at >= oldest, ~has_cycle)
    candidates = session.scalars(waiting.order_by(AuditRecord.id).with_for_update(of=AuditRecord)).all()
    written = 0
    for record in candidates:
        if record.overall_now() != INADEQUATE or session.scalar(select(has_cycle.where(InadequateCycle.record_id == record.id))):
            continue
        case = record.allocation.case
        cycles = session.scalars(select(InadequateCycle).where(InadequateCycle.case_id == case.id)).all()
        assert record.finalised_at is not None
        if any(c.state in OPEN or c.opened_at >= record.finalised_at for c in cycles):
            continue
        written += _open(session, record, case, len(cycles) + 1, settings, calendar, now=now)
    return written


def _open(session: Session, record: AuditRecord, case: Case, number: int, settings: Settings, calendar: WorkingCalendar,
          *, now: dt.datetime) -> int:
    assert record.finalised_at is not None
    final_on = calendar.local_date(record.finalised_at)
    manager = group_manager_of(session, case)
    head = head_of_service_of(session, case, manager) if number > 1 else None
    review_on, reaudit_by = review_due(final_on, settings, calendar), add_months(final_on, settings.reaudit_within_months)
    cycle = InadequateCycle(
        case_id=case.id, record_id=record.id, number=number, state=CycleState.MEETING_DUE, opened_at=now,
        group_manager_id=manager.id if manager else None, head_of_service_id=head.id if head else None,
        review_due=review_on, reaudit_latest=reaudit_by,
    )
    session.add(cycle)
    session.flush()
    audit_log(session, now=now, action="inadequate.opened", actor_ref="scheduler", subject_type="inadequate_cycle",
              subject_id=cycle.id, detail={"record": record.id, "number": number, "review_due": review_on.isoformat(),
                                           "reaudit_latest": reaudit_by.isoformat()})
    people = [("head_of_service", head), ("group_manager", manager), ("team_manager", case.team_manager),
              ("worker", case.allocated_worker)]
    return tell(session, cycle, people, stage="opened", template=Template.INADEQUATE_FOLLOW_UP, now=now, calendar=calendar,
                 key="open")

