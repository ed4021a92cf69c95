"""The right-to-reply planners a tick runs: the reminder a working day before the window closes;
closing it (silence recorded as no comment, then the audit finalised if nothing is open); and
chasing a challenge nobody has answered (reminded the day after it was due, then the QA team told)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.ids import Template
from bot.services.audits.findings import findings_recipients
from bot.services.planning import Planner, TickContext, When
from bot.services.replies.challenges import auditors, challenge_context
from bot.services.replies.lifecycle import maybe_finalise
from bot.services.replies.replies import show_findings
from bot.services.replies.window import closes_at
from store.audit import record as audit_log
from store.models import Priority
from store.outbox import enqueue
from store.queries import qa_coordinators
from store.records import AuditChallenge, AuditRecord, AuditReply, ChallengeState, RecordState, ReplyKind


def _reminders(session: Session, ctx: TickContext) -> int:
    """A working day before the window closes: remind whoever has not answered (once each)."""
    closing = ctx.calendar.add_working_days(ctx.today, 1)
    written = 0
    for record in session.scalars(select(AuditRecord).where(AuditRecord.state == RecordState.REPLY_WINDOW,
                                                            AuditRecord.reply_closes_on == closing)):
        answered = {r.person_id for r in record.replies}
        for _, person in findings_recipients(record):
            if person.id in answered:
                continue
            context = {"reference": record.allocation.case.reference, "record_id": record.id,
                       "closes_at": closes_at(ctx.calendar, record, ctx.settings.reply_window_working_days).isoformat()}
            written += enqueue(session, key=f"record:{record.id}:reply_reminder:{person.id}", template=Template.REPLY_REMINDER,
                               context=context, now=ctx.now, recipient_id=person.id, priority=Priority.NORMAL)
    return written


def _close(session: Session, ctx: TickContext) -> int:
    """Windows that have closed: silence is recorded as no comment, each findings message loses
    its buttons, and the audit is finalised unless a challenge is still open."""
    due = session.scalars(select(AuditRecord).where(AuditRecord.state == RecordState.REPLY_WINDOW,
                                                   AuditRecord.reply_closes_on <= ctx.today)).all()
    for record in due:
        if ctx.now < closes_at(ctx.calendar, record, ctx.settings.reply_window_working_days):
            continue
        kinds = {r.person_id: r.kind for r in record.replies}
        for role, person in findings_recipients(record):
            if person.id not in kinds:
                record.replies.append(AuditReply(person_id=person.id, role=role, kind=ReplyKind.NO_COMMENT, text="", at=ctx.now))
                audit_log(session, now=ctx.now, action="audit.reply.no_comment", subject_type="audit_record",
                          subject_id=record.id, detail={"role": role})
                session.flush()
            if kinds.get(person.id) in (None, ReplyKind.CHALLENGE):  # their buttons go (once: the key is the close's)
                show_findings(session, record, person, ctx.settings, ctx.calendar, now=ctx.now, key="closed")
        maybe_finalise(session, record, ctx.settings, ctx.calendar, now=ctx.now)
    return 0


def _chase_challenges(session: Session, ctx: TickContext) -> int:
    """A challenge waiting for the auditor or the challenger past its day: reminded the next
    working day, then the QA team told the working day after."""
    written = 0
    waiting = session.scalars(select(AuditChallenge).where(
        AuditChallenge.state.in_((ChallengeState.WITH_AUDITOR, ChallengeState.ANSWERED)), AuditChallenge.due_on < ctx.today))
    for challenge in waiting:
        stage = challenge.state.value
        context = {**challenge_context(challenge, ctx.settings, ctx.calendar), "waiting_for": stage}
        people = auditors(challenge.record) if challenge.state == ChallengeState.WITH_AUDITOR else [challenge.challenger]
        for person in people:
            written += enqueue(session, key=f"challenge:{challenge.id}:{stage}:{challenge.due_on}:remind:{person.id}",
                               template=Template.CHALLENGE_CHASER, context={**context, "to": "waiting"}, now=ctx.now,
                               recipient_id=person.id, priority=Priority.NORMAL)
        if ctx.today > ctx.calendar.next_working_day(challenge.due_on):
            for qa in qa_coordinators(session):
                written += enqueue(session, key=f"challenge:{challenge.id}:{stage}:{challenge.due_on}:qa:{qa.id}",
                                   template=Template.CHALLENGE_CHASER, context={**context, "to": "qa"}, now=ctx.now,
                                   recipient_id=qa.id, priority=Priority.NORMAL)
    return written


PLANNERS = (
    Planner("reply reminders", _reminders, None, When.WORKING_HOURS),
    Planner("reply windows", _close, None, When.ALWAYS),
    Planner("challenges", _chase_challenges, None, When.WORKING_HOURS),
)
