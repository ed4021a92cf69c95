"""What waits for someone on an audit after it is submitted: the right to reply, the QA check and
its amendment, the assurance sample, the discussion in supervision and the Inadequate follow-up.

Each kind is one query filtered on the person, and lists exactly what the direct message's
handler would still accept (not answered or decided yet, the record still in that state).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.services.home.items import WaitingItem, aware, required
from bot.services.inadequate.cycles import OPEN
from store.followup import AssuranceCheck, AssuranceState, InadequateCycle
from store.models import Allocation, Case, Person
from store.records import AuditQaCheck, AuditRecord, AuditReply, QaCheckState, RecordState

#: The review's notice goes five working days before it is due (``inadequate.followups``): about a week.
REVIEW_NOTICE = dt.timedelta(days=7)


def _not_their_audit(person_id: int) -> ColumnElement[bool]:
    """QA decides only on audits they did not do (``authz`` DECIDE_QA_CHECK / VERIFY_ASSURANCE)."""
    return and_(Allocation.auditor_id != person_id,
                or_(Allocation.second_auditor_id.is_(None), Allocation.second_auditor_id != person_id))


def _qa_decisions(session: Session, person_id: int, model: type[AuditQaCheck | AssuranceCheck], pending: object,
                  kind: str) -> list[WaitingItem]:
    """The QA team's pending decisions of one kind (a check or a sampled audit), never on an audit they did."""
    auditor = aliased(Person)
    rows = session.execute(
        select(model.id, model.created_at, Case.reference, auditor.display_name)
        .join(AuditRecord, AuditRecord.id == model.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(auditor, auditor.id == Allocation.auditor_id)
        .where(model.state == pending, _not_their_audit(person_id))
    ).all()
    return [WaitingItem(kind, cid, at, ref, f"audited by {name}") for cid, at, ref, name in rows]


def qa_checks(session: Session, person_id: int) -> list[WaitingItem]:
    """Pending QA checks (for a QA coordinator): Accept or Return for amendment."""
    return _qa_decisions(session, person_id, AuditQaCheck, QaCheckState.PENDING, "qa_check")


def qa_amendments(session: Session, person_id: int) -> list[WaitingItem]:
    """Audits QA returned to the person (an auditor of it) and not amended yet."""
    rows = session.execute(
        select(AuditQaCheck.id, AuditQaCheck.decided_at, AuditQaCheck.created_at, AuditQaCheck.amend_due, Case.reference)
        .join(AuditRecord, AuditRecord.id == AuditQaCheck.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(AuditQaCheck.state == QaCheckState.RETURNED, AuditRecord.state == RecordState.RETURNED,
               or_(Allocation.auditor_id == person_id, Allocation.second_auditor_id == person_id))
    ).all()
    return [WaitingItem("qa_amend", cid, decided or created, ref, due.isoformat() if due else "")
            for cid, decided, created, due, ref in rows]


def assurance(session: Session, person_id: int) -> list[WaitingItem]:
    """Audits of the assurance sample still to verify (for a QA coordinator)."""
    return _qa_decisions(session, person_id, AssuranceCheck, AssuranceState.PENDING, "assurance")


def replies(session: Session, person_id: int, today: dt.date, *, day_over: bool = False) -> list[WaitingItem]:
    """Findings the person (the case's worker, team manager or IRO, not its auditor) may still
    agree with, comment on or challenge: the window open, nothing answered by them yet. A window
    closes at the end of working hours on its last day (``day_over``: today's have closed)."""
    still_open = AuditRecord.reply_closes_on > today if day_over else AuditRecord.reply_closes_on >= today
    answered = exists().where(AuditReply.record_id == AuditRecord.id, AuditReply.person_id == person_id)
    rows = session.execute(
        select(AuditRecord.id, AuditRecord.submitted_at, AuditRecord.reply_closes_on, Case.reference)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(AuditRecord.state == RecordState.REPLY_WINDOW, still_open,
               or_(Case.allocated_worker_id == person_id, Case.team_manager_id == person_id, Case.iro_id == person_id),
               _not_their_audit(person_id), ~answered)
    ).all()
    return [WaitingItem("reply", rid, at, ref, required(closes).isoformat()) for rid, at, closes, ref in rows]


def supervision(session: Session, person_id: int) -> list[WaitingItem]:
    """The team manager's team's finalised audits whose discussion in supervision is not recorded."""
    rows = session.execute(
        select(AuditRecord.id, AuditRecord.finalised_at, Case.reference)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(Case.team_manager_id == person_id, AuditRecord.oversight_due.is_not(None),
               AuditRecord.supervision_at.is_(None), AuditRecord.closed_at.is_(None))
    ).all()
    return [WaitingItem("supervision", rid, aware(fin), ref) for rid, fin, ref in rows]


def inadequate(session: Session, person_id: int, today: dt.date) -> list[WaitingItem]:
    """An open Inadequate follow-up's steps the person records (``inadequate.decisions``): the
    meeting (the group manager, else the team manager), the Head of Service's meeting, and the
    review (either manager) from its notice on."""
    gm = InadequateCycle.group_manager_id
    meeting = and_(InadequateCycle.meeting_held_at.is_(None), func.coalesce(gm, Case.team_manager_id) == person_id)
    hos = and_(InadequateCycle.head_of_service_id == person_id, InadequateCycle.head_of_service_meeting_at.is_(None))
    review = and_(InadequateCycle.review_held_at.is_(None), InadequateCycle.review_due.is_not(None),
                  InadequateCycle.review_due <= today + REVIEW_NOTICE,
                  or_(gm == person_id, Case.team_manager_id == person_id))
    rows = session.execute(
        select(InadequateCycle.id, InadequateCycle.opened_at, InadequateCycle.review_due, Case.reference,
               meeting.label("meeting"), hos.label("hos"), review.label("review"))
        .join(AuditRecord, AuditRecord.id == InadequateCycle.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(InadequateCycle.state.in_(OPEN), or_(meeting, hos, review))
    ).all()
    items = []
    for cid, opened, due, ref, to_meet, to_meet_hos, to_review in rows:
        if to_meet:
            items.append(WaitingItem("inadequate_meeting", cid, opened, ref))
        if to_meet_hos:
            items.append(WaitingItem("inadequate_hos", cid, opened, ref))
        if to_review and due is not None:
            items.append(WaitingItem("inadequate_review", cid, opened, ref, due.isoformat()))
    return items
