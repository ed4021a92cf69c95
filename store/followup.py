"""After an audit is final: Inadequate follow-up cycles (Hull 25-26) and the QA team's monthly
assurance sample of audits whose actions are signed off (Hull App. E)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, UTCDateTime, _enum


class CycleState(StrEnum):
    """An Inadequate follow-up cycle (Hull 25-26)."""

    #: The group manager, team manager and worker are to meet as soon as possible.
    MEETING_DUE = "meeting_due"
    #: Met; the review is due four weeks after the audit was final.
    REVIEW_DUE = "review_due"
    #: Reviewed; waiting for the re-audit (allocated within two months).
    REAUDIT_DUE = "reaudit_due"
    #: The re-audit was no longer Inadequate.
    CLOSED = "closed"
    #: The re-audit was Inadequate again: the next cycle (with the Head of Service) took over.
    CONTINUED = "continued"


class InadequateCycle(Base):
    """One round of Inadequate follow-up for a case: meet, review at 4 weeks, re-audit within 2 months."""

    __tablename__ = "inadequate_cycles"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: The final Inadequate audit that opened the cycle (one cycle per record).
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id"), unique=True)
    #: 1 for the first; 2 and on bring in the Head of Service of the case's service.
    number: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[CycleState] = mapped_column(_enum(CycleState, "inadequate_cycle_state"), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    group_manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    head_of_service_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    meeting_held_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    meeting_held_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    review_due: Mapped[dt.date | None] = mapped_column(Date)
    review_held_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    review_held_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    head_of_service_meeting_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: The re-audit: its allocation, and the latest day it may be due (final date + 2 months).
    reaudit_allocation_id: Mapped[int | None] = mapped_column(ForeignKey("allocations.id"))
    reaudit_latest: Mapped[dt.date | None] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class AssuranceState(StrEnum):
    """The QA assurance check that an audit's signed-off actions were really done (Hull App. E)."""

    PENDING = "pending"
    VERIFIED = "verified"
    NOT_EVIDENCED = "not_evidenced"


class AssuranceCheck(Base):
    """One audit in a month's QA assurance sample: min(10, eligible), random with a recorded seed."""

    __tablename__ = "assurance_checks"
    __table_args__ = (UniqueConstraint("month", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("audit_records.id"))
    seed: Mapped[int] = mapped_column(Integer)
    state: Mapped[AssuranceState] = mapped_column(_enum(AssuranceState, "assurance_state"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
