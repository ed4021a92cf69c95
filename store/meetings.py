"""Reflection meetings (shared/domain.md step 2; Hull A.8-A.13; Bradford §2; Surrey §10).

An auditor (or the worker) proposes two or three times to the others; each invitee answers a
time or "none of these work"; the worker's choice books it (the auditor's, when the worker
proposed). A booked meeting keeps one calendar UID for its life, and a SEQUENCE that goes up
each time it moves, so calendars update the event instead of adding another. After the meeting
the worker answers the reflection sheet's four questions. Free text (the place, a note, the
answers) passes the privacy guardrail and is shown only to the case's circle.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models import Allocation, Base, Person, UTCDateTime, _enum


class MeetingState(StrEnum):
    """Where a reflection meeting is (shared/lifecycle.md, the meeting row)."""

    #: Times proposed; waiting for the one whose answer books it.
    PROPOSED = "proposed"
    BOOKED = "booked"
    #: Its end has passed: the worker has been sent the reflection sheet.
    HELD = "held"
    CANCELLED = "cancelled"


class InviteeRole(StrEnum):
    """Why someone is asked to the meeting."""

    AUDITOR = "auditor"
    WORKER = "worker"
    #: Bradford §2: the case changed worker within the last month; the previous one is still here.
    PREVIOUS_WORKER = "previous_worker"
    TEAM_MANAGER = "team_manager"
    IRO = "iro"


class AnswerKind(StrEnum):
    """An invitee's answer to one round of proposed times."""

    ACCEPTED = "accepted"
    NONE_WORK = "none_work"
    #: Not answered within the answer window: one attempt for that person (Hull A.12).
    NO_ANSWER = "no_answer"


class ReflectionMeeting(Base):
    """One arrangement of the reflection meeting for an allocation (a cancelled one may be followed by another)."""

    __tablename__ = "reflection_meetings"
    __table_args__ = (Index("ix_reflection_meetings_state_starts", "state", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), index=True)
    #: The calendar event's UID, the same through every move (RFC 5545 3.8.4.7).
    uid: Mapped[str] = mapped_column(String(120), unique=True)
    #: Bumped on every move and on cancelling (RFC 5545 3.8.7.4).
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[MeetingState] = mapped_column(_enum(MeetingState, "meeting_state"), default=MeetingState.PROPOSED)
    #: Who proposed the times: the auditor, or the worker (Hull A.11).
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    #: The auditor: the calendar event's organiser.
    organiser_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    #: A room or a call link, as typed (guardrail-checked).
    place: Mapped[str] = mapped_column(String(300))
    minutes: Mapped[int] = mapped_column(Integer, default=60)
    #: The current round of proposals (1 first; another round when none of the times works).
    round: Mapped[int] = mapped_column(Integer, default=1)
    round_sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: When it was booked or last moved, and by whom.
    booked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    held_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    allocation: Mapped[Allocation] = relationship()
    proposed_by: Mapped[Person] = relationship(foreign_keys=[proposed_by_id])
    organiser: Mapped[Person] = relationship(foreign_keys=[organiser_id])
    invitees: Mapped[list[MeetingInvitee]] = relationship(
        back_populates="meeting", order_by="MeetingInvitee.id", cascade="all, delete-orphan"
    )
    proposals: Mapped[list[MeetingProposal]] = relationship(
        back_populates="meeting", order_by="MeetingProposal.id", cascade="all, delete-orphan"
    )
    answers: Mapped[list[MeetingAnswer]] = relationship(
        back_populates="meeting", order_by="MeetingAnswer.id", cascade="all, delete-orphan"
    )

    @property
    def ends_at(self) -> dt.datetime | None:
        """When the booked meeting ends."""
        return self.starts_at + dt.timedelta(minutes=self.minutes) if self.starts_at is not None else None

    def current_proposals(self) -> list[MeetingProposal]:
        """The times of the current round."""
        return [p for p in self.proposals if p.round == self.round]


class MeetingInvitee(Base):
    """Someone asked to the meeting, or left out with a reason (the proposer is one too)."""

    __tablename__ = "meeting_invitees"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id", name="uq_meeting_invitees_meeting_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("reflection_meetings.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[InviteeRole] = mapped_column(_enum(InviteeRole, "invitee_role"))
    #: Set when the proposer left them out (e.g. "absent until January"): not asked, not invited.
    left_out_reason: Mapped[str | None] = mapped_column(Text)
    #: Two unanswered proposals: escalated to the group manager (Hull A.12), once.
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    resolving_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    meeting: Mapped[ReflectionMeeting] = relationship(back_populates="invitees")
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    escalated_to: Mapped[Person | None] = relationship(foreign_keys=[escalated_to_id])

    @property
    def asked(self) -> bool:
        """True unless left out."""
        return self.left_out_reason is None


class MeetingProposal(Base):
    """One proposed time of one round."""

    __tablename__ = "meeting_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("reflection_meetings.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    meeting: Mapped[ReflectionMeeting] = relationship(back_populates="proposals")


class MeetingAnswer(Base):
    """An invitee's answer to a round: a time, none of them (perhaps another time), or no answer in time."""

    __tablename__ = "meeting_answers"
    __table_args__ = (UniqueConstraint("meeting_id", "round", "person_id", name="uq_meeting_answers_meeting_round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("reflection_meetings.id", ondelete="CASCADE"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[AnswerKind] = mapped_column(_enum(AnswerKind, "meeting_answer_kind"))
    proposal_id: Mapped[int | None] = mapped_column(Integer)
    #: "None of these work": the time they suggest instead, and a note (guardrail-checked).
    suggested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    meeting: Mapped[ReflectionMeeting] = relationship(back_populates="answers")
    person: Mapped[Person] = relationship()


class ReflectionSheet(Base):
    """The worker's answers to the reflection sheet's four questions (Surrey §10), one per allocation."""

    __tablename__ = "reflection_sheets"

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), unique=True)
    meeting_id: Mapped[int | None] = mapped_column(Integer)
    #: Question key (``bot/schemes/reflection.toml``) to answer, each at most 500 characters.
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    answered_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    answered_by: Mapped[Person] = relationship()
