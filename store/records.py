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
    """Why a grade was given: as submitted; later steps (reply, moderation) add their own."""

    SUBMITTED = "submitted"


class ActionStatus(StrEnum):
    """A SMART action's life: open until done, then signed off by the manager."""

    OPEN = "open"
    DONE = "done"
    SIGNED_OFF = "signed_off"


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
    source: Mapped[RecordSource] = mapped_column(_enum(RecordSource, "record_source"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

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
