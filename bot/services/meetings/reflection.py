"""The reflection sheet after the reflection meeting (shared/domain.md step 2; Surrey §10).

Once a booked meeting's end has passed the planner marks it held and calls ``send_sheet``: the
case's worker (unless left out of the meeting) and the auditors get the sheet's questions with
**Answer the reflection questions** (Surrey §10 expects the auditor to complete it with the
worker, so either may). The sheet is answered once per allocation, under the allocation's row
lock with the table's unique allocation as the backstop: the first submission stores it, edits
every sheet message in place to say who answered and when, and sends the answers to the
auditors; a second (another copy of the modal, a double click, a replay) changes nothing and is
told who answered it. Each answer passes the privacy guardrail; the answers are shown only to
the case's auditors (and in the record form), never in a channel, never in the audit log.

The questions are data (``bot/schemes/reflection.toml``), word for word.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.ids import Template
from bot.services.authz import Decision, Permission, RefusalCode, check, refuse
from bot.services.guardrail import check_text
from bot.settings import Settings
from store.audit import record as audit_log
from store.meetings import InviteeRole, MeetingState, ReflectionMeeting, ReflectionSheet
from store.models import Allocation, Notification, Person, Priority
from store.outbox import enqueue, person_ref
from store.queries import load_allocation

#: The questions, word for word (a council may change them; keys stay once answers are stored).
QUESTIONS_FILE = Path(__file__).resolve().parents[2] / "schemes" / "reflection.toml"
#: The longest answer to one question (the modal enforces the same ``max_length``).
MAX_ANSWER = 500
MAX_QUESTIONS = 20
MAX_QUESTION = 150
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")


class ReflectionError(ValueError):
    """The questions file is not usable (the message names the file and the problem, on one line)."""


@dataclass(frozen=True)
class Question:
    """One question of the reflection sheet: the key answers are stored by, and its words."""

    key: str
    text: str


def load_questions(path: Path) -> tuple[Question, ...]:
    """Read and check a questions file: 1-20 questions, keys unique identifiers, text 1-150 characters."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReflectionError(f"{path}: cannot read it ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ReflectionError(f"{path}: not valid TOML ({str(exc).splitlines()[0]})") from None
    rows = data.get("question")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_QUESTIONS:
        raise ReflectionError(f"{path}: give 1 to {MAX_QUESTIONS} [[question]] tables, each with a key and a text")
    found: list[Question] = []
    for n, row in enumerate(rows, start=1):
        key = row.get("key") if isinstance(row, dict) else None
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ReflectionError(f"{path}: question {n}: key must be a lowercase identifier of up to 40 characters")
        if key in {q.key for q in found}:
            raise ReflectionError(f"{path}: question {n}: key {key!r} is used twice")
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_QUESTION or "\n" in text.strip():
            raise ReflectionError(f"{path}: question {n} ({key}): text must be one line of 1 to {MAX_QUESTION} characters")
        found.append(Question(key, text.strip()))
    return tuple(found)


@functools.cache
def questions() -> tuple[Question, ...]:
    """The reflection sheet's questions, in order (read once)."""
    return load_questions(QUESTIONS_FILE)


def reflection_field(key: str) -> str:
    """The block id of a question's answer in the sheet's modal."""
    return f"reflection_{key}"


@dataclass
class SheetOutcome:
    """Refused; answered already (``late``: by whom, when); field errors; the modal's context; or stored."""

    decision: Decision
    errors: dict[str, str] = field(default_factory=dict)
    late: dict[str, Any] | None = None
    view: dict[str, Any] | None = None
    sheet: ReflectionSheet | None = None


# --- what the store says -------------------------------------------------------------------------


def held_meeting(session: Session, allocation_id: int) -> ReflectionMeeting | None:
    """The allocation's latest meeting marked held, if any."""
    query = select(ReflectionMeeting).where(ReflectionMeeting.allocation_id == allocation_id,
                                            ReflectionMeeting.state == MeetingState.HELD)
    return session.scalar(query.order_by(ReflectionMeeting.held_at.desc(), ReflectionMeeting.id.desc()))


def meeting_has_been_held(session: Session, allocation_id: int, *, now: dt.datetime) -> bool:
    """Held, or booked for a time already passed (the planner marks it held after its end)."""
    started = (ReflectionMeeting.state == MeetingState.HELD) | (
        (ReflectionMeeting.state == MeetingState.BOOKED) & (ReflectionMeeting.starts_at <= now)
    )
    query = select(ReflectionMeeting.id).where(ReflectionMeeting.allocation_id == allocation_id, started)
    return session.scalar(query.limit(1)) is not None


def sheet_of(session: Session, allocation_id: int) -> ReflectionSheet | None:
    """The allocation's answered reflection sheet, if any."""
    return session.scalar(select(ReflectionSheet).where(ReflectionSheet.allocation_id == allocation_id))


def sheet_answers(sheet: ReflectionSheet) -> list[dict[str, str]]:
    """Each question with its answer, in the sheet's order (answers to questions since removed come last, by key)."""
    answers = dict(sheet.answers or {})
    shown = [{"key": q.key, "question": q.text, "answer": str(answers.pop(q.key))} for q in questions() if q.key in answers]
    return shown + [{"key": k, "question": k, "answer": str(v)} for k, v in sorted(answers.items())]


def sheet_context(sheet: ReflectionSheet) -> dict[str, Any]:
    """The answered sheet, as the record form and the auditors' message show it."""
    return {"by": person_ref(sheet.answered_by), "at": sheet.answered_at.isoformat(), "answers": sheet_answers(sheet)}


# --- sending the sheet ---------------------------------------------------------------------------


def _auditors(allocation: Allocation) -> list[Person]:
    return [a for a in (allocation.auditor, allocation.second_auditor) if a is not None and a.active]


def send_sheet(session: Session, meeting: ReflectionMeeting, calendar: WorkingCalendar, *, now: dt.datetime) -> int:
    """The meeting was held: the sheet's questions to the case's worker (unless left out of the
    meeting) and to the auditors, in working hours. Rows written (0 when sent already, or the
    sheet is answered already)."""
    allocation = meeting.allocation
    if sheet_of(session, allocation.id) is not None:
        return 0
    worker = allocation.case.allocated_worker
    left_out = {i.person_id for i in meeting.invitees if i.role == InviteeRole.WORKER and not i.asked}
    recipients: list[tuple[str, Person]] = []
    if worker is not None and worker.active and worker.id not in left_out:
        recipients.append(("worker", worker))
    recipients += [("auditor", a) for a in _auditors(allocation) if a.id not in {p.id for _, p in recipients}]
    base = {"allocation_id": allocation.id, "meeting_id": meeting.id, "reference": allocation.case.reference,
            "held_at": (meeting.held_at or now).isoformat(), "worker": person_ref(worker),
            "questions": len(questions()), "answered": None}
    return sum(
        enqueue(session, key=f"meeting:{meeting.id}:sheet:{person.id}", template=Template.REFLECTION_SHEET,
                context={**base, "role": role}, now=now, recipient_id=person.id, priority=Priority.NORMAL,
                not_before=calendar.next_working_moment(now))
        for role, person in recipients
    )


# --- opening and answering it --------------------------------------------------------------------


def _late(session: Session, sheet: ReflectionSheet, reference: str, *, submitted: bool) -> dict[str, Any]:
    return {"what": "reflection", "reference": reference, "by": person_ref(session.get(Person, sheet.answered_by_id)),
            "at": sheet.answered_at.isoformat(), "submitted": submitted}


def _may_answer(
    session: Session, allocation_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str, lock: bool,
    submitted: bool = False,
) -> tuple[SheetOutcome, Allocation | None, ReflectionMeeting | None]:
    """The allocation (locked with ``lock``) and its held meeting when ``person`` may answer the sheet now."""
    allocation = load_allocation(session, allocation_id, lock=lock)
    if allocation is None:  # a forged or stale button: told, as a stranger to the case is, that it is not theirs
        return SheetOutcome(refuse(session, person, Permission.REFLECT, RefusalCode.NO_SUCH_AUDIT, now=now,
                                   actor_ref=actor_ref, subject_type="allocation", subject_id=allocation_id,
                                   told=RefusalCode.NOT_YOUR_REFLECTION)), None, None
    circle = (allocation.case.allocated_worker_id, allocation.auditor_id, allocation.second_auditor_id)
    decision = check(session, person, Permission.REFLECT, now=now, actor_ref=actor_ref, subject_type="allocation",
                     subject_id=allocation.id, deciders={i for i in circle if i is not None})
    if not decision.allowed:
        return SheetOutcome(decision), None, None
    sheet = sheet_of(session, allocation.id)
    if sheet is not None:
        return SheetOutcome(decision, late=_late(session, sheet, allocation.case.reference, submitted=submitted)), None, None
    meeting = held_meeting(session, allocation.id)
    if meeting is None:
        return SheetOutcome(refuse(session, person, Permission.REFLECT, RefusalCode.NO_MEETING_HELD, now=now,
                                   actor_ref=actor_ref, subject_type="allocation", subject_id=allocation.id)), None, None
    return SheetOutcome(decision), allocation, meeting


def view_context(allocation: Allocation) -> dict[str, Any]:
    """What the sheet's modal shows: the case, and one field per question."""
    return {"allocation_id": allocation.id, "reference": allocation.case.reference, "max": MAX_ANSWER,
            "questions": [{"key": q.key, "text": q.text, "block": reflection_field(q.key)} for q in questions()]}


def open_sheet(session: Session, allocation_id: int, person: Person | None, *, now: dt.datetime, actor_ref: str) -> SheetOutcome:
    """**Answer the reflection questions**: the modal's context, when ``person`` may answer it now."""
    outcome, allocation, _ = _may_answer(session, allocation_id, person, now=now, actor_ref=actor_ref, lock=False)
    if allocation is not None:
        outcome.view = view_context(allocation)
    return outcome


def check_answers(
    session: Session, values: Mapping[str, Any], settings: Settings, *, today: dt.date
) -> tuple[dict[str, str], dict[str, str]]:
    """Field errors by block id (naming the kind of problem, never the text), and the answers by question key."""
    errors: dict[str, str] = {}
    answers: dict[str, str] = {}
    for q in questions():
        block = reflection_field(q.key)
        raw = values.get(block)
        text = raw.strip() if isinstance(raw, str) else ""
        if not text:
            errors[block] = "Answer this question (a few lines)."
        elif len(text) > MAX_ANSWER:
            errors[block] = f"Keep this to {MAX_ANSWER} characters (it has {len(text)})."
        elif (problem := check_text(session, text, today=today, level=settings.privacy_guardrail)) is not None:
            errors[block] = problem
        else:
            answers[q.key] = text
    return errors, answers


def answer_sheet(
    session: Session, allocation_id: int, person: Person | None, values: Mapping[str, Any], settings: Settings,
    calendar: WorkingCalendar, *, now: dt.datetime, actor_ref: str,
) -> SheetOutcome:
    """The sheet was submitted: field errors, or stored once (the messages edited, the auditors told)."""
    outcome, allocation, meeting = _may_answer(session, allocation_id, person, now=now, actor_ref=actor_ref, lock=True,
                                               submitted=True)
    if allocation is None or meeting is None or person is None:
        return outcome
    errors, answers = check_answers(session, values, settings, today=calendar.local_date(now))
    if errors:
        outcome.errors = errors
        return outcome
    sheet = ReflectionSheet(allocation_id=allocation.id, meeting_id=meeting.id, answers=answers, answered_by_id=person.id,
                            answered_at=now)
    session.add(sheet)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # answered by another submission between our check and now: theirs stands
        session.expunge(sheet)
        existing = sheet_of(session, allocation.id)
        assert existing is not None
        outcome.late = _late(session, existing, allocation.case.reference, submitted=True)
        return outcome
    audit_log(session, now=now, action="reflection.answered", actor=person, actor_ref=actor_ref, subject_type="allocation",
              subject_id=allocation.id, detail={"meeting": meeting.id, "questions": sorted(answers)})
    session.refresh(sheet, ["answered_by"])
    edit_messages(session, allocation, sheet, now=now)
    _tell_auditors(session, allocation, sheet, calendar, now=now)
    outcome.sheet = sheet
    return outcome


def edit_messages(session: Session, allocation: Allocation, sheet: ReflectionSheet, *, now: dt.datetime) -> int:
    """Edit every sheet message sent for the allocation in place: answered, by whom and when, no button."""
    meetings = session.scalars(select(ReflectionMeeting.id).where(ReflectionMeeting.allocation_id == allocation.id)).all()
    answered = {"by": person_ref(sheet.answered_by), "at": sheet.answered_at.isoformat()}
    written = 0
    for meeting_id in meetings:
        sent = session.scalars(
            select(Notification).where(
                Notification.idempotency_key.startswith(f"meeting:{meeting_id}:sheet:", autoescape=True),
                Notification.template == Template.REFLECTION_SHEET.value,
                Notification.replaces_key.is_(None),
            )
        ).all()
        written += sum(
            enqueue(session, key=f"{row.idempotency_key}:answered", template=Template.REFLECTION_SHEET,
                    context={**row.context, "answered": answered}, now=now, recipient_id=row.recipient_id,
                    replaces_key=row.idempotency_key)
            for row in sent
        )
    return written


def _tell_auditors(
    session: Session, allocation: Allocation, sheet: ReflectionSheet, calendar: WorkingCalendar, *, now: dt.datetime
) -> int:
    """The answers, to the case's auditors (not to whoever typed them); never to a channel."""
    context = {"allocation_id": allocation.id, "reference": allocation.case.reference, **sheet_context(sheet)}
    return sum(
        enqueue(session, key=f"reflection:{sheet.id}:answered:{auditor.id}", template=Template.REFLECTION_ANSWERED,
                context=context, now=now, recipient_id=auditor.id, priority=Priority.NORMAL,
                not_before=calendar.next_working_moment(now))
        for auditor in _auditors(allocation)
        if auditor.id != sheet.answered_by_id
    )
