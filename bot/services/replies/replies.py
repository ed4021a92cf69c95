"""Agree and Comment on the findings (Hull 18, 21): the worker, team manager and IRO answer once
each within the window; the first answer counts. What each sees of their own findings message
(its buttons, what they answered) is built here too, and edited in place through the outbox."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.audits.findings import findings_recipients, record_context
from bot.services.audits.schemes import scheme_of
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.services.replies.lifecycle import OPEN_CHALLENGES, lock_record, maybe_finalise
from bot.services.replies.window import closes_at
from bot.settings import Settings
from store.audit import record as audit_log
from store.models import Person, Priority
from store.outbox import enqueue, person_ref
from store.records import AuditRecord, AuditReply, RecordState, ReplyKind

MAX_COMMENT = 1000


@dataclass
class ReplyOutcome:
    """Refused; answered already or too late (``late``: what to tell them); field errors; or done."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    late: dict[str, Any] | None = None
    record: AuditRecord | None = None


def role_of(record: AuditRecord, person: Person | None) -> str | None:
    """``worker``, ``team_manager`` or ``iro`` when the findings went to ``person``."""
    if person is None:
        return None
    return next((role for role, p in findings_recipients(record) if p.id == person.id), None)


def open_for(
    session: Session, record_id: int, person: Person | None, permission: Permission, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> ReplyOutcome:
    """The locked record when ``person`` may still reply to it; else refused or why it is too late."""
    record = lock_record(session, record_id)
    if record is None:  # a forged or stale button: told, as for a case not theirs, that it is not for them
        return ReplyOutcome(refuse(session, person, permission, RefusalCode.NO_SUCH_AUDIT, now=now, actor_ref=actor_ref,
                                   subject_type="audit_record", subject_id=record_id, told=RefusalCode.NOT_SENT_FINDINGS))
    circle = {p.id for _, p in findings_recipients(record)}
    decision = check(session, person, permission, now=now, actor_ref=actor_ref, subject_type="audit_record",
                     subject_id=record_id, circle=circle)
    if not decision.allowed:
        return ReplyOutcome(decision)
    if record.state != RecordState.REPLY_WINDOW or now >= closes_at(calendar, record, settings.reply_window_working_days):
        return ReplyOutcome(decision, late=late_context(record, "window_closed", calendar=calendar, settings=settings))
    return ReplyOutcome(decision, record=record)


def late_context(record: AuditRecord, why: str, *, reply: AuditReply | None = None, calendar: WorkingCalendar,
                 settings: Settings) -> dict[str, Any]:
    """What a late click or submission is told (``already_done``): the window closed, or their answer."""
    return {"what": "reply", "why": why, "reference": record.allocation.case.reference, "submitted": False,
            "kind": reply.kind.value if reply else None, "at": reply.at.isoformat() if reply else None,
            "closed_at": closes_at(calendar, record, settings.reply_window_working_days).isoformat()}


def may_reply(
    session: Session, record_id: int, person: Person | None, settings: Settings, calendar: WorkingCalendar, *,
    now: dt.datetime, actor_ref: str,
) -> ReplyOutcome:
    """May ``person`` agree or comment now (open window, not answered yet)? The record when so."""
    outcome = open_for(session, record_id, person, Permission.REPLY, settings, calendar, now=now, actor_ref=actor_ref)
    mine = next((r for r in outcome.record.replies if r.person_id == person.id), None) if outcome.record and person else None
    if mine is not None and outcome.record is not None:
        outcome.late = late_context(outcome.record, "answered", reply=mine, calendar=calendar, settings=settings)
        outcome.record = None
    return outcome


def reply(
    session: Session, record_id: int, person: Person | None, kind: ReplyKind, text: str, settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> ReplyOutcome:
    """Agree, or comment (with ``text``): once per person, while the window is open."""
    outcome = open_for(session, record_id, person, Permission.REPLY, settings, calendar, now=now, actor_ref=actor_ref)
    record = outcome.record
    if record is None or person is None:
        return outcome
    mine = next((r for r in record.replies if r.person_id == person.id), None)
    if mine is not None:
        outcome.late = late_context(record, "answered", reply=mine, calendar=calendar, settings=settings)
        return outcome
    if kind == ReplyKind.COMMENT:
        text = text.strip()
        problem = ("Say what your comment is." if not text
                   else f"Keep this to {MAX_COMMENT} characters." if len(text) > MAX_COMMENT
                   else check_text(session, text, today=calendar.local_date(now), level=settings.privacy_guardrail))
        if problem:
            outcome.errors = {"comment": problem}
            return outcome
    role = role_of(record, person) or ""
    record.replies.append(AuditReply(person_id=person.id, role=role, kind=kind,
                                     text=text if kind == ReplyKind.COMMENT else "", at=now))
    session.flush()
    audit_log(session, now=now, action=f"audit.reply.{kind.value}", actor=person, actor_ref=actor_ref,
              subject_type="audit_record", subject_id=record.id, detail={"role": role})
    show_findings(session, record, person, settings, calendar, now=now)
    if kind == ReplyKind.COMMENT:
        _tell_auditors(session, record, person, role, text, now=now, calendar=calendar)
    maybe_finalise(session, record, settings, calendar, now=now)
    return outcome


def _tell_auditors(session: Session, record: AuditRecord, person: Person, role: str, text: str, *, now: dt.datetime,
                   calendar: WorkingCalendar) -> None:
    allocation = record.allocation
    context = {"reference": allocation.case.reference, "by": person_ref(person), "role": role, "comment": text,
               "record_id": record.id}
    for auditor in (allocation.auditor, allocation.second_auditor):
        if auditor is not None and auditor.active:
            enqueue(session, key=f"record:{record.id}:comment:{person.id}:{auditor.id}", template=Template.REPLY_COMMENTED,
                    context=context, now=now, recipient_id=auditor.id, priority=Priority.NORMAL,
                    not_before=calendar.next_working_moment(now))


def findings_context(record: AuditRecord, person: Person, role: str, settings: Settings, calendar: WorkingCalendar, *,
                     now: dt.datetime) -> dict[str, Any]:
    """The findings message as ``person`` sees it now: grades as they stand, what they answered,
    their challenges, and whether the window is still open to them."""
    mine = next((r for r in record.replies if r.person_id == person.id), None)
    open_ = record.state == RecordState.REPLY_WINDOW and now < closes_at(calendar, record, settings.reply_window_working_days)
    challenges = [c for c in record.challenges if c.challenger_id == person.id]
    return {
        **record_context(record, scheme_of(record, settings), calendar.tz),
        "role": role,
        "reply_open": open_ and (mine is None or mine.kind == ReplyKind.CHALLENGE),
        "may_agree": open_ and mine is None,
        "reply": {"kind": mine.kind.value, "at": mine.at.isoformat()} if mine else None,
        "closes_at": closes_at(calendar, record, settings.reply_window_working_days).isoformat(),
        "my_challenges": [{"open": c.state in OPEN_CHALLENGES, "target": c.target} for c in challenges],
    }


def show_findings(session: Session, record: AuditRecord, person: Person, settings: Settings, calendar: WorkingCalendar, *,
                  now: dt.datetime, key: str | None = None) -> None:
    """Edit ``person``'s findings message in place to show where their reply stands (``key``
    names an edit that must happen once, e.g. the window's close)."""
    role = role_of(record, person)
    if role is None:
        return
    edits = sum(1 for r in record.replies if r.person_id == person.id) + len(record.challenges)
    enqueue(session, key=f"record:{record.id}:findings:{person.id}:" + (key or f"edit:{edits}:{now.isoformat()}"),
            template=Template.AUDIT_FINDINGS, context=findings_context(record, person, role, settings, calendar, now=now),
            now=now, recipient_id=person.id, priority=Priority.NORMAL, replaces_key=f"record:{record.id}:findings:{person.id}")
