"""Sample moderation (Hull 4.32): a tenth of each month's finalised audits, plus one audit for
each Head of Service, never from their own service.

When: once the month's deadline has passed (its last day) and none of its recorded audits is
still in its reply window or under challenge, the sample is proposed on the next working-hours
tick. Audits not yet submitted (overdue) are not waited for: they are chased as overdue and are
not in that month's sample. A month is proposed once (its moderations carry the month), and only
within three months of its end, so a database with older history is left alone.

What: ceil(percent × finalised) audits — challenged audits first, then those whose overall grade
stands above the rule of thumb (a reason was given for it), then at random with a seed recorded
on each moderation — each with a suggested moderator from outside the case's service and circle.
The QA team is sent the proposal first; **Send to the moderators** gives each to its moderator
(an audit nobody could be suggested for goes to the QA team's menu instead).
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.allocation.rules import add_months
from bot.services.authz import Permission, RefusalCode, check, refuse
from bot.services.moderation.eligibility import case_service_id, circle_ids, eligible_moderators
from bot.services.moderation.requests import Outcome, ask_qa_to_choose, assign, sample_sent_by
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import HEADS_OF_SERVICE, Allocation, Person, PersonRole
from store.months import month_row
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators
from store.records import AuditModeration, AuditRecord, ModerationKind, ModerationState, RecordState

#: A record in one of these states is finalised (the QA check may have followed).
FINAL_STATES = (RecordState.FINALISED, RecordState.ACCEPTED, RecordState.RETURNED)
SAMPLE_KINDS = (ModerationKind.SAMPLE, ModerationKind.HEAD_OF_SERVICE)
#: How many months back a month's sample is still proposed.
LOOK_BACK_MONTHS = 3


@dataclass(frozen=True)
class Candidate:
    """A finalised audit as the sampling sees it."""

    record_id: int
    challenged: bool
    over_the_cap: bool


def sample_size(finalised: int, percent: int) -> int:
    """ceil(percent% of ``finalised``): 60 at 10% ⇒ 6, 69 ⇒ 7."""
    return (finalised * percent + 99) // 100


def sample_target(finalised: int, percent: int, heads: int) -> int:
    """How many moderations a month's sample asks for: ``sample_size`` plus one per Head of Service
    (none for a month with no finalised audit)."""
    return sample_size(finalised, percent) + heads if finalised else 0


def choose_sample(candidates: Sequence[Candidate], percent: int, seed: int) -> list[tuple[int, str]]:
    """The record ids sampled and why (``challenged``, ``over_the_cap`` or ``random``): challenged
    audits first, then over-the-cap ones, then at random from the rest with ``seed``."""
    wanted = sample_size(len(candidates), percent)
    ordered = sorted(candidates, key=lambda c: c.record_id)
    first = [(c.record_id, "challenged") for c in ordered if c.challenged]
    first += [(c.record_id, "over_the_cap") for c in ordered if c.over_the_cap and not c.challenged]
    rest = [c.record_id for c in ordered if not (c.challenged or c.over_the_cap)]
    random.Random(seed).shuffle(rest)
    return (first + [(r, "random") for r in rest])[:wanted]


def _finalised(session: Session, month: dt.date) -> list[AuditRecord]:
    return list(session.scalars(
        select(AuditRecord).join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .where(Allocation.month_start == month, AuditRecord.state.in_(FINAL_STATES)).order_by(AuditRecord.id)
    ))


def ready_months(session: Session, today: dt.date) -> list[dt.date]:
    """Months whose deadline has passed, with finalised audits, none still open, no sample yet."""
    this_month = today.replace(day=1)
    proposed = exists(select(AuditModeration.id).where(AuditModeration.month == Allocation.month_start,
                                                       AuditModeration.kind.in_(SAMPLE_KINDS)))
    months = session.scalars(
        select(Allocation.month_start).join(AuditRecord, AuditRecord.allocation_id == Allocation.id)
        .where(Allocation.month_start < this_month, Allocation.month_start >= add_months(this_month, -LOOK_BACK_MONTHS),
               AuditRecord.state.in_(FINAL_STATES), ~proposed)
        .distinct().order_by(Allocation.month_start)
    ).all()
    still_open = set(session.scalars(
        select(Allocation.month_start).join(AuditRecord, AuditRecord.allocation_id == Allocation.id)
        .where(Allocation.month_start.in_(months), AuditRecord.state == RecordState.REPLY_WINDOW).distinct()
    ))
    return [m for m in months if m not in still_open]


def plan_samples(session: Session, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """Propose each ready month's sample and send the QA team the preview; the messages written."""
    written = 0
    for month in ready_months(session, calendar.local_date(now)):
        row = month_row(session, month, lock=True)  # one proposer per month
        if session.scalar(select(exists().where(AuditModeration.month == month, AuditModeration.kind.in_(SAMPLE_KINDS)))):
            continue
        written += propose(session, row.month, settings, calendar, now=now, seed=secrets.randbelow(2**31))
    return written


def propose(
    session: Session, month: dt.date, settings: Settings, calendar: WorkingCalendar, *, now: dt.datetime, seed: int
) -> int:
    """Choose the month's sample and the Heads of Service's audits; DM the QA team the preview."""
    records = _finalised(session, month)
    candidates = [Candidate(r.id, bool(r.challenges), bool((r.rule_reason or "").strip())) for r in records]
    by_id = {r.id: r for r in records}
    picked = choose_sample(candidates, settings.sample_moderation_percent, seed)
    for record_id, _why in picked:
        _add(session, by_id[record_id], ModerationKind.SAMPLE, month, seed, settings, calendar, now=now)
    rng = random.Random(seed + 1)
    taken = {r for r, _ in picked}
    for head in heads_of_service(session):
        fits = [r for r in records if head.id not in circle_ids(r) and _service_of(head) != case_service_id(r)]
        if not fits:
            continue
        fresh = [r for r in fits if r.id not in taken] or fits
        chosen = rng.choice(fresh)
        taken.add(chosen.id)
        _add(session, chosen, ModerationKind.HEAD_OF_SERVICE, month, seed, settings, calendar, now=now, moderator=head)
    audit_log(session, now=now, action="moderation.sample_proposed", actor_ref="scheduler", subject_type="audit_month",
              subject_id=month_row(session, month, lock=False).id,
              detail={"finalised": len(records), "sampled": len(picked), "seed": seed})
    context = sample_context(session, month, stage="proposed")
    return sum(
        enqueue(session, key=f"sample:{month:%Y-%m}:qa:{qa.id}", template=Template.MODERATION_SAMPLE, context=context,
                now=now, recipient_id=qa.id)
        for qa in qa_coordinators(session)
    )


def _service_of(person: Person) -> int | None:
    if person.service_id is not None:
        return person.service_id
    return person.team.service_id if person.team is not None else None


def heads_of_service(session: Session) -> list[Person]:
    """The active Heads of Service (and of Service QA): each moderates one audit of a month's sample."""
    return list(session.scalars(
        select(Person).where(Person.active.is_(True), Person.role_rows.any(PersonRole.role.in_(sorted(HEADS_OF_SERVICE))))
        .order_by(Person.display_name, Person.id)
    ))


def _add(
    session: Session, record: AuditRecord, kind: ModerationKind, month: dt.date, seed: int, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, moderator: Person | None = None,
) -> None:
    if moderator is None:
        choices = eligible_moderators(session, record, settings, calendar, now=now)
        moderator = choices[0] if choices else None
    session.add(AuditModeration(record_id=record.id, kind=kind, state=ModerationState.PROPOSED, month=month, seed=seed,
                                suggested_id=moderator.id if moderator else None, created_at=now))
    session.flush()  # the next suggestion counts this one


def sample_context(session: Session, month: dt.date, *, stage: str) -> dict[str, Any]:
    """The month's sample as the QA team sees it: each audit, why, and its (suggested) moderator."""
    rows = session.scalars(
        select(AuditModeration).where(AuditModeration.month == month, AuditModeration.kind.in_(SAMPLE_KINDS))
        .order_by(AuditModeration.kind.desc(), AuditModeration.id)
    ).all()
    finalised = len(_finalised(session, month))
    return {
        "month": month.isoformat(),
        "stage": stage,
        "finalised": finalised,
        "seed": rows[0].seed if rows else None,
        "items": [{"reference": m.record.allocation.case.reference, "team": m.record.allocation.case.team.name,
                   "auditor": person_ref(m.record.allocation.auditor), "kind": m.kind.value, "why": _why(m),
                   "moderator": person_ref(m.moderator or m.suggested), "record_id": m.record_id} for m in rows],
        "sent_by": None,
        "sent_at": None,
    }


def _why(moderation: AuditModeration) -> str:
    if moderation.kind == ModerationKind.HEAD_OF_SERVICE:
        return "head_of_service"
    record = moderation.record
    return "challenged" if record.challenges else "over_the_cap" if (record.rule_reason or "").strip() else "random"


def send_sample(
    session: Session, month: dt.date, person: Person | None, settings: Settings, calendar: WorkingCalendar,
    *, now: dt.datetime, actor_ref: str,
) -> Outcome:
    """**Send to the moderators**: each proposed moderation goes to its suggested moderator (still
    eligible), or to the QA team's menu. Sent once; a late click is told who sent it."""
    decision = check(session, person, Permission.SEND_SAMPLE, now=now, actor_ref=actor_ref, subject_type="audit_month")
    if not decision.allowed:
        return Outcome(decision)
    query = select(AuditModeration).where(AuditModeration.month == month, AuditModeration.kind.in_(SAMPLE_KINDS))
    if session.scalar(select(exists(query.subquery()))) is not True:  # no sample that month: nothing is written
        return Outcome(refuse(session, person, Permission.SEND_SAMPLE, RefusalCode.NO_SUCH_MODERATION, now=now,
                              actor_ref=actor_ref, subject_type="audit_month"))
    row = month_row(session, month, lock=True)  # one sender at a time
    rows = session.scalars(query.order_by(AuditModeration.id).execution_options(populate_existing=True)).all()
    proposed = [m for m in rows if m.state == ModerationState.PROPOSED]
    if not proposed:
        by, at = sample_sent_by(session, row.id)
        return Outcome(decision, late={"what": "sample_sent", "reference": f"{month:%B %Y}", "to": None,
                                       "by": person_ref(by), "at": at.isoformat() if at else None, "submitted": False})
    for moderation in proposed:
        suggested = moderation.suggested
        if moderation.kind == ModerationKind.HEAD_OF_SERVICE and suggested is not None and suggested.active:
            assign(session, moderation, suggested, person, settings, calendar, now=now)
            continue
        choices = eligible_moderators(session, moderation.record, settings, calendar, now=now)
        if suggested is not None and any(p.id == suggested.id for p in choices):
            assign(session, moderation, suggested, person, settings, calendar, now=now)
        else:
            moderation.state = ModerationState.CHOOSING
            session.flush()
            ask_qa_to_choose(session, moderation, choices, settings, calendar, now=now)
    audit_log(session, now=now, action="moderation.sample_sent", actor=person, actor_ref=actor_ref, subject_type="audit_month",
              subject_id=row.id, detail={"sent": len(proposed)})
    context = {**sample_context(session, month, stage="sent"), "sent_by": person_ref(person), "sent_at": now.isoformat()}
    for qa in qa_coordinators(session):
        key = f"sample:{month:%Y-%m}:qa:{qa.id}"
        enqueue(session, key=f"{key}:sent", template=Template.MODERATION_SAMPLE, context=context, now=now, recipient_id=qa.id,
                replaces_key=key)
    return Outcome(decision)

