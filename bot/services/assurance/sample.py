"""The month's QA assurance sample (Hull App. E; shared/domain.md step 10).

When: on the month's first working day, in working hours, once per month. The month's row is
locked first and the month looked at again, so two ticks at once propose one sample. A month is
proposed on its first working day only: a day the bot was down is not caught up later in the
month (a late sample would be drawn from a different pool). While nothing is eligible that day,
each tick of the day looks again; once a sample exists, nothing more is added that month.

Eligible: a recorded audit with at least one action still standing (not withdrawn), every such
action signed off by the team manager, and never in an assurance sample before. An audit with no
actions (or only withdrawn ones) is not eligible: there is nothing whose doing QA could verify.

What: min(``assurance_sample_size``, eligible) audits, at random with a seed recorded on each
``AssuranceCheck`` (``choose_sample`` gives the same choice from the same ids and seed). Each QA
coordinator gets one direct message listing them, each with **Verified** and **Not evidenced…**
(no buttons on an audit they did themself).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.settings import Settings
from store.audit import record as audit_log
from store.followup import AssuranceCheck, AssuranceState
from store.models import Notification, Person
from store.months import month_row
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import ActionStatus, AuditAction, AuditRecord

#: Actions still standing: not withdrawn on a challenge.
STANDING = (ActionStatus.OPEN, ActionStatus.DONE, ActionStatus.SIGNED_OFF)


def choose_sample(record_ids: Sequence[int], size: int, seed: int) -> list[int]:
    """min(``size``, len(ids)) of ``record_ids`` at random with ``seed``: the same ids and seed give the same choice."""
    ordered = sorted(record_ids)
    return sorted(random.Random(seed).sample(ordered, min(size, len(ordered))))


def eligible_ids(session: Session) -> list[int]:
    """Audits whose standing actions are all signed off (at least one), never sampled before."""
    standing = exists().where(AuditAction.record_id == AuditRecord.id, AuditAction.status.in_(STANDING))
    unsigned = exists().where(AuditAction.record_id == AuditRecord.id,
                              AuditAction.status.in_((ActionStatus.OPEN, ActionStatus.DONE)))
    sampled = exists().where(AssuranceCheck.record_id == AuditRecord.id)
    return list(session.scalars(select(AuditRecord.id).where(standing, ~unsigned, ~sampled).order_by(AuditRecord.id)))


def _sampled(session: Session, month: dt.date) -> bool:
    return bool(session.scalar(select(exists().where(AssuranceCheck.month == month))))


def plan_assurance(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """On the month's first working day, propose its sample once and send it to the QA team; the messages written."""
    today = calendar.local_date(now)
    month = today.replace(day=1)
    if today != calendar.first_working_day(month) or _sampled(session, month):
        return 0
    month_row(session, month, lock=True)  # one proposer per month
    if _sampled(session, month):
        return 0
    return propose(session, month, settings, now=now, seed=secrets.randbelow(2**31))


def propose(session: Session, month: dt.date, settings: Settings, *, now: dt.datetime, seed: int) -> int:
    """Sample ``month`` with ``seed`` and DM each QA coordinator the list; the messages written."""
    pool = eligible_ids(session)
    chosen = choose_sample(pool, settings.assurance_sample_size, seed)
    if not chosen:
        return 0
    session.add_all(AssuranceCheck(month=month, record_id=record_id, seed=seed, state=AssuranceState.PENDING, created_at=now)
                    for record_id in chosen)
    session.flush()
    audit_log(session, now=now, action="assurance.sample_proposed", actor_ref="scheduler", subject_type="audit_month",
              subject_id=month_row(session, month, lock=False).id,
              detail={"eligible": len(pool), "sampled": len(chosen), "seed": seed})
    return sum(
        enqueue(session, key=f"{key_prefix(month)}{qa.id}", template=Template.ASSURANCE_SAMPLE,
                context=sample_context(session, month, qa, eligible=len(pool)), now=now, recipient_id=qa.id)
        for qa in qa_coordinators(session)
    )


def key_prefix(month: dt.date) -> str:
    """The idempotency key of the month's message to a QA coordinator, but their id."""
    return f"assurance:{month:%Y-%m}:qa:"


def checks_of(session: Session, month: dt.date) -> list[AssuranceCheck]:
    """The month's sample, in the order it is listed."""
    return list(session.scalars(select(AssuranceCheck).where(AssuranceCheck.month == month).order_by(AssuranceCheck.id)))


def _person(session: Session, person_id: int | None) -> Person | None:
    return session.get(Person, person_id) if person_id is not None else None


def item_context(session: Session, check: AssuranceCheck, viewer_id: int | None) -> dict[str, Any]:
    """One sampled audit: its case, auditor, signed-off actions and (once taken) the decision."""
    record = session.get_one(AuditRecord, check.record_id)
    allocation = record.allocation
    actions = [a for a in sorted(record.actions, key=lambda a: a.id) if a.status != ActionStatus.WITHDRAWN]
    return {
        "check_id": check.id,
        "reference": allocation.case.reference,
        "team": allocation.case.team.name,
        "auditor": person_ref(allocation.auditor),
        "finalised_at": record.finalised_at.isoformat() if record.finalised_at else None,
        "actions": [{"text": a.text, "owner": person_ref(a.owner), "due": a.due_date.isoformat(),
                     "signed_off_by": person_ref(_person(session, a.signed_off_by_id)),
                     "signed_off_at": a.signed_off_at.isoformat() if a.signed_off_at else None} for a in actions],
        "state": check.state.value,
        "by": person_ref(_person(session, check.by_id)),
        "at": check.decided_at.isoformat() if check.decided_at else None,
        "note": check.note,
        "own": viewer_id is not None and viewer_id in (allocation.auditor_id, allocation.second_auditor_id),
    }


def sample_context(session: Session, month: dt.date, viewer: Person, *, eligible: int | None = None) -> dict[str, Any]:
    """The month's sample as one QA coordinator sees it (their own audits without buttons)."""
    rows = checks_of(session, month)
    return {
        "month": month.isoformat(),
        "seed": rows[0].seed if rows else None,
        "eligible": eligible,
        "items": [item_context(session, c, viewer.id) for c in rows],
    }


def edit_copies(session: Session, month: dt.date, *, suffix: str, now: dt.datetime) -> int:
    """Edit every QA coordinator's copy of the month's message in place, each as they see it."""
    sent = session.scalars(
        select(Notification).where(Notification.idempotency_key.startswith(key_prefix(month), autoescape=True),
                                   Notification.template == Template.ASSURANCE_SAMPLE.value,
                                   Notification.replaces_key.is_(None))
    ).all()
    written = 0
    for row in sent:
        viewer = _person(session, row.recipient_id)
        if viewer is None:
            continue
        context = sample_context(session, month, viewer, eligible=row.context.get("eligible"))
        written += enqueue(session, key=f"{row.idempotency_key}:{suffix}", template=Template.ASSURANCE_SAMPLE, context=context,
                           now=now, recipient_id=viewer.id, replaces_key=row.idempotency_key)
    return written
