"""The audit record: what an auditor submits for an allocation (grades by the council's scheme,
findings, family views, SMART actions), and what later steps append to (the grade history).

Like the rest of the store it holds no child's name, date of birth or narrative: the narrative
stays in the case record (Hull 4.3.3); typed notes are short and pass the privacy guardrail.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models import Allocation, Base, Person, UTCDateTime, _enum


class RecordSource(StrEnum):
    """Where an audit record came from: recorded in chat, or imported from the case system."""

    CHAT = "chat"
    IMPORT = "import"


class GradeStage(StrEnum):
    """Why a grade was given (shared/lifecycle.md: the record keeps every grade it had)."""

    SUBMITTED = "submitted"
    #: The auditor changed it on a challenge in the right-to-reply window (Hull 21).
    AFTER_REPLY = "after_reply"
    AFTER_MODERATION = "after_moderation"
    #: Bradford §3: the Head of Service QA's (grades) or the case's Head of Service's (actions) answer.
    AFTER_HEAD_OF_SERVICE = "after_head_of_service"
    #: The auditor amended it after the QA check returned it (Hull 19-20).
    AFTER_AMENDMENT = "after_amendment"


class RecordState(StrEnum):
    """Where a submitted audit is (shared/lifecycle.md)."""

    #: Submitted: the worker, team manager and IRO may agree, comment or challenge.
    REPLY_WINDOW = "reply_window"
    #: The window closed and every challenge is settled: with the QA team for the check.
    FINALISED = "finalised"
    #: The QA team returned it for amendment; the auditor amends it through the record form.
    RETURNED = "returned"
    #: The QA team accepted it.
    ACCEPTED = "accepted"


class ReplyKind(StrEnum):
    """How someone in the case's circle answered the findings (silence is recorded as no comment)."""

    AGREE = "agree"
    COMMENT = "comment"
    CHALLENGE = "challenge"
    NO_COMMENT = "no_comment"


class ChallengeState(StrEnum):
    """A challenge's life: with the auditor first, then the challenger, then moderation (Hull 21-22)."""

    WITH_AUDITOR = "with_auditor"
    #: The auditor changed or kept the grade: the challenger accepts or asks for moderation.
    ANSWERED = "answered"
    MODERATION = "moderation"
    #: Bradford §3: after moderation, taken to a Head of Service.
    HEAD_OF_SERVICE = "head_of_service"
    #: Settled: accepted, or decided by whoever has the final word.
    SETTLED = "settled"


class ModerationKind(StrEnum):
    """Why an audit is moderated: a challenge, the month's 10% sample, or a Head of Service's one a month (Hull 4.32)."""

    CHALLENGE = "challenge"
    SAMPLE = "sample"
    HEAD_OF_SERVICE = "head_of_service"


class ModerationState(StrEnum):
    """Proposed (a sample QA has not sent yet), waiting for QA to choose a moderator, with the moderator, decided."""

    PROPOSED = "proposed"
    CHOOSING = "choosing"
    WITH_MODERATOR = "with_moderator"
    DECIDED = "decided"


class QaCheckState(StrEnum):
    """The QA check of a finalised audit (Hull 19-20)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    #: Returned, then amended by the auditor: checked again as a new QA check.
    AMENDED = "amended"


class ActionStatus(StrEnum):
    """A SMART action's life: open until done, then signed off by the manager."""

    OPEN = "open"
    DONE = "done"
    SIGNED_OFF = "signed_off"
    #: Taken out on a challenge (the auditor, a moderator or a Head of Service agreed it should go).
    WITHDRAWN = "withdrawn"


class AuditRecord(Base):
    """One submitted audit of one allocation, on the scheme (and version) it was graded on."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), unique=True)
    scheme: Mapped[str] = mapped_column(String(60))
    scheme_version: Mapped[int] = mapped_column(Integer)
    #: The overall grade as submitted (the grade history has every grade since).
    overall_grade: Mapped[str] = mapped_column(String(60))
    rationale: Mapped[str] = mapped_column(Text, default="")
    #: Areas of good practice (strengths).
    strengths: Mapped[str] = mapped_column(Text, default="")
    #: The good elements named for a grade that needs them (Hull: RI with elements of good practice).
    good_elements: Mapped[str] = mapped_column(Text, default="")
    #: Why the overall grade stands further above the lowest section than the rule of thumb allows.
    rule_reason: Mapped[str] = mapped_column(Text, default="")
    #: e.g. ``immediate_follow_up``, ``good_practice_example``, ``organisational_learning``
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Who the auditor saw or spoke to, by role only.
    seen_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ``sought`` (yes / no / not_appropriate), ``by_role``, ``view`` (positive / mixed / negative),
    #: ``child_feedback`` (true / false): never what anyone said.
    family_views: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Set when the auditor records that no action is needed, with why.
    no_actions_reason: Mapped[str | None] = mapped_column(Text)
    #: Why it was recorded without a reflection meeting held (e.g. the worker is absent, Hull A.8).
    no_meeting_reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[RecordSource] = mapped_column(_enum(RecordSource, "record_source"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    state: Mapped[RecordState] = mapped_column(
        _enum(RecordState, "record_state"), default=RecordState.REPLY_WINDOW, server_default=RecordState.REPLY_WINDOW.value,
        index=True,
    )
    #: The last working day of the right-to-reply window.
    reply_closes_on: Mapped[dt.date | None] = mapped_column(Date)
    finalised_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Management oversight (Hull App. D: within 10 working days of finalisation; Hull 24: supervision).
    oversight_due: Mapped[dt.date | None] = mapped_column(Date, index=True)
    oversight_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: (people ids without a database constraint: SQLite could add one only by copying the table)
    oversight_recorded_by_id: Mapped[int | None] = mapped_column(Integer)
    supervision_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    supervision_by_id: Mapped[int | None] = mapped_column(Integer)
    #: Closed when oversight is recorded and the team manager has signed off every action (Hull 23).
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    allocation: Mapped[Allocation] = relationship()
    submitted_by: Mapped[Person | None] = relationship()
    sections: Mapped[list[AuditSectionGrade]] = relationship(
        back_populates="record", cascade="all, delete-orphan", order_by="AuditSectionGrade.id"
    )
    grades: Mapped[list[AuditGradeEvent]] = relationship(
        back_populates="record", cascade="all, delete-orphan", order_by="AuditGradeEvent.id"
    )
    actions: Mapped[list[AuditAction]] = relationship(
        back_populates="record", cascade="all, delete-orphan", order_by="AuditAction.id"
    )
    replies: Mapped[list[AuditReply]] = relationship(cascade="all, delete-orphan", order_by="AuditReply.id")
    challenges: Mapped[list[AuditChallenge]] = relationship(
        back_populates="record", cascade="all, delete-orphan", order_by="AuditChallenge.id"
    )

    def overall_now(self) -> str:
        """The overall grade as it stands: the newest in its history (the submitted one at first)."""
        overall = [g for g in self.grades if g.section_key is None]
        return overall[-1].grade if overall else self.overall_grade


class AuditSectionGrade(Base):
    """One section's (or domain's) grade in a record."""

    __tablename__ = "audit_section_grades"
    __table_args__ = (UniqueConstraint("record_id", "section_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    section_key: Mapped[str] = mapped_column(String(60))
    grade: Mapped[str] = mapped_column(String(60))

    record: Mapped[AuditRecord] = relationship(back_populates="sections")


class AuditGradeEvent(Base):
    """A grade the audit had: at which stage, given by whom, when and why. Only ever appended."""

    __tablename__ = "audit_grade_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    stage: Mapped[GradeStage] = mapped_column(_enum(GradeStage, "grade_stage"))
    #: The section whose grade this is; None for the overall grade.
    section_key: Mapped[str | None] = mapped_column(String(60))
    grade: Mapped[str] = mapped_column(String(60))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")

    record: Mapped[AuditRecord] = relationship(back_populates="grades")
    by: Mapped[Person | None] = relationship()


class AuditAction(Base):
    """A SMART improvement action: what, who (a person from the staff list), by when."""

    __tablename__ = "audit_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(_enum(ActionStatus, "action_status"), default=ActionStatus.OPEN)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Set for an action a moderator added: the ``audit_moderations`` row (no database constraint:
    #: SQLite could add one only by copying the table).
    moderation_id: Mapped[int | None] = mapped_column(Integer)
    #: The owner says it is done (with a short note); the team manager signs it off or says not yet.
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    done_by_id: Mapped[int | None] = mapped_column(Integer)
    done_note: Mapped[str | None] = mapped_column(Text)
    signed_off_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    signed_off_by_id: Mapped[int | None] = mapped_column(Integer)
    not_yet_reason: Mapped[str | None] = mapped_column(Text)
    not_yet_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: The owner asks to move the due date; the team manager decides (``pending``/``approved``/``declined``).
    requested_due: Mapped[dt.date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_state: Mapped[str | None] = mapped_column(String(16))
    extension_decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    extension_decided_by_id: Mapped[int | None] = mapped_column(Integer)
    #: Did it work? Judged by the auditor of the case's next audit: ``fixed``, ``partly`` or ``not_fixed``.
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_record_id: Mapped[int | None] = mapped_column(Integer)
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    record: Mapped[AuditRecord] = relationship(back_populates="actions")
    owner: Mapped[Person] = relationship()


class AuditDraft(Base):
    """What an auditor typed into the record form before closing it, offered again next time."""

    __tablename__ = "audit_drafts"
    __table_args__ = (UniqueConstraint("allocation_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuditReply(Base):
    """One person's answer to the findings in the right-to-reply window: the first one counts."""

    __tablename__ = "audit_replies"
    __table_args__ = (UniqueConstraint("record_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    #: ``worker``, ``team_manager`` or ``iro``
    role: Mapped[str] = mapped_column(String(32))
    kind: Mapped[ReplyKind] = mapped_column(_enum(ReplyKind, "reply_kind"))
    #: A comment (guardrail-checked); a challenge's reason is on the challenge.
    text: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship()


class AuditChallenge(Base):
    """A challenge to a section grade, the overall grade or an action, with the auditor first (Hull 21)."""

    __tablename__ = "audit_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    challenger_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    #: ``overall``, ``section`` or ``action``; ``target_key`` is the section's key or the action's id.
    target: Mapped[str] = mapped_column(String(16))
    target_key: Mapped[str | None] = mapped_column(String(60))
    proposed_grade: Mapped[str | None] = mapped_column(String(60))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ChallengeState] = mapped_column(_enum(ChallengeState, "challenge_state"), index=True)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The last working day for whoever must act next (then reminded, then QA told).
    due_on: Mapped[dt.date] = mapped_column(Date)
    #: ``change`` or ``keep``, with the new grade (or wording) and why.
    auditor_decision: Mapped[str | None] = mapped_column(String(16))
    auditor_grade: Mapped[str | None] = mapped_column(String(60))
    auditor_reason: Mapped[str | None] = mapped_column(Text)
    auditor_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: ``accept``, ``moderation`` or ``head_of_service``
    challenger_decision: Mapped[str | None] = mapped_column(String(16))
    challenger_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Bradford §3: the Head of Service who answers after moderation, and their answer.
    head_of_service_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    head_of_service_agrees: Mapped[bool | None] = mapped_column()
    head_of_service_grade: Mapped[str | None] = mapped_column(String(60))
    head_of_service_comment: Mapped[str | None] = mapped_column(Text)
    head_of_service_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    record: Mapped[AuditRecord] = relationship(back_populates="challenges")
    challenger: Mapped[Person] = relationship(foreign_keys=[challenger_id])
    head_of_service: Mapped[Person | None] = relationship(foreign_keys=[head_of_service_id])


class AuditModeration(Base):
    """An audit moderated by a senior manager outside the case's service and circle (Hull 22, 4.32)."""

    __tablename__ = "audit_moderations"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    challenge_id: Mapped[int | None] = mapped_column(ForeignKey("audit_challenges.id"), index=True)
    kind: Mapped[ModerationKind] = mapped_column(_enum(ModerationKind, "moderation_kind"))
    state: Mapped[ModerationState] = mapped_column(_enum(ModerationState, "moderation_state"), index=True)
    #: The month a sample moderation belongs to, and the seed its random picks came from.
    month: Mapped[dt.date | None] = mapped_column(Date, index=True)
    seed: Mapped[int | None] = mapped_column(Integer)
    suggested_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    chosen_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    chosen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    agrees: Mapped[bool | None] = mapped_column()
    grade: Mapped[str | None] = mapped_column(String(60))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    record: Mapped[AuditRecord] = relationship()
    challenge: Mapped[AuditChallenge | None] = relationship()
    moderator: Mapped[Person | None] = relationship(foreign_keys=[moderator_id])
    suggested: Mapped[Person | None] = relationship(foreign_keys=[suggested_id])


class AuditQaCheck(Base):
    """The QA team's check of a finalised audit: accepted, or returned for amendment (Hull 19-20)."""

    __tablename__ = "audit_qa_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id", ondelete="CASCADE"), index=True)
    state: Mapped[QaCheckState] = mapped_column(_enum(QaCheckState, "qa_check_state"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Why it was returned (guardrail-checked), and the last working day to amend it.
    reason: Mapped[str | None] = mapped_column(Text)
    amend_due: Mapped[dt.date | None] = mapped_column(Date)
    amended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    record: Mapped[AuditRecord] = relationship()
    by: Mapped[Person | None] = relationship()
