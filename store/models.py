"""Typed SQLAlchemy models for the audit programme.

The store deliberately has no column for a child's name, date of birth or case narrative:
cases are known only by the case management system's reference (shared/domain.md, Data
protection). Times are stored in UTC; calendar dates (months, deadlines) as dates.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC time")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a shared naming convention (SQLite and PostgreSQL migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=32)


class Role(StrEnum):
    """What a person does in the programme (shared/domain.md, People and roles)."""

    AUDITOR = "auditor"
    SOCIAL_WORKER = "social_worker"
    TEAM_MANAGER = "team_manager"
    SERVICE_MANAGER = "service_manager"
    #: Hull's name for the rung Bradford calls Service Manager: the team manager's own manager.
    GROUP_MANAGER = "group_manager"
    HEAD_OF_SERVICE = "head_of_service"
    #: Head of Service, Quality Assurance: reviews grade disagreements after moderation (Bradford §3).
    HEAD_OF_SERVICE_QA = "head_of_service_qa"
    ASSISTANT_DIRECTOR = "assistant_director"
    STRATEGIC_LEAD = "strategic_lead"
    QA_COORDINATOR = "qa_coordinator"
    IRO = "iro"


#: The rung above team managers, whichever name the council gives it.
SERVICE_MANAGER_RUNG = frozenset({Role.SERVICE_MANAGER, Role.GROUP_MANAGER})
#: Heads of Service, of an area or of Quality Assurance.
HEADS_OF_SERVICE = frozenset({Role.HEAD_OF_SERVICE, Role.HEAD_OF_SERVICE_QA})


class CaseType(StrEnum):
    """The kind of case, as the case management system calls it."""

    CIN = "CIN"
    CP = "CP"
    CLA = "CLA"
    CARE_LEAVER = "care_leaver"
    EARLY_HELP = "early_help"
    FOSTERING = "fostering"
    ADOPTION = "adoption"


class AuditType(StrEnum):
    """The audit types of Hull App. D."""

    CONTROL = "control"
    THEMATIC = "thematic"
    DIP = "dip"
    RE_AUDIT = "re_audit"


class AllocationState(StrEnum):
    """Where an allocation is in its life."""

    ALLOCATED = "allocated"
    COMPLETED = "completed"
    EXEMPTED = "exempted"
    CANCELLED = "cancelled"


class BreakState(StrEnum):
    """An auditor's month off (Hull A.2-3)."""

    APPROVED = "approved"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class RequestKind(StrEnum):
    """What an auditor asks for (shared/domain.md step 5)."""

    EXEMPTION = "exemption"
    EXTENSION = "extension"


class RequestState(StrEnum):
    """An exemption or extension request's life: decided once."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    #: The audit was completed or closed before anyone decided.
    WITHDRAWN = "withdrawn"


class AlertUrgency(StrEnum):
    """How soon a safeguarding concern must be acted on."""

    IMMEDIATE = "immediate"
    SAME_DAY = "same_day"


class NotificationState(StrEnum):
    """Outbox row states: pending -> sending -> sent | failed | cancelled (pending again on retry).

    Cancelled: no longer true when its turn came (a reminder for an audit completed meanwhile).
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Priority:
    """Outbox priorities: lower sends first. Urgent alerts have a sender of their own.

    Everything about the normal course of an audit is NORMAL, so one person's messages keep
    the order they were decided in (allocation before reminder before overdue notice).
    """

    URGENT = 0
    NORMAL = 10
    BULK = 20  # for sends nobody is waiting on (none yet)


class Service(Base):
    """A service area (e.g. Children in Care) containing teams."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    teams: Mapped[list[Team]] = relationship(back_populates="service")


class Team(Base):
    """A team that holds cases."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), index=True)

    service: Mapped[Service | None] = relationship(back_populates="teams")


class Person(Base):
    """A member of staff. Slack identity comes from the Slack directory in bulk (``bot.services.staff.directory``),
    matched by email; a person the sync did not match may still be looked up by email when first messaged."""

    __tablename__ = "people"
    #: ``Jane.Doe@`` from the case system and ``jane.doe@`` in Slack are one person: emails are
    #: stored lower-cased, and the database refuses two that differ only in case.
    __table_args__ = (Index("uq_people_email_lower", func.lower(Column("email")), unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    job_title: Mapped[str] = mapped_column(String(200), default="")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"), index=True)
    line_manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    slack_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    slack_dm_channel: Mapped[str | None] = mapped_column(String(32))
    #: Set when users.lookupByEmail, or a complete directory sync, found nobody (or their account was
    #: deactivated); cleared when a later lookup or sync finds them.
    slack_missing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: When they last opened the bot's App Home tab: only their Home is republished when their work changes.
    home_opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])
    service: Mapped[Service | None] = relationship(foreign_keys=[service_id])
    line_manager: Mapped[Person | None] = relationship(remote_side=[id], foreign_keys=[line_manager_id])
    role_rows: Mapped[list[PersonRole]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[Role]:
        """The person's roles."""
        return frozenset(r.role for r in self.role_rows)

    def has_role(self, role: Role) -> bool:
        """True if the person holds ``role``."""
        return any(r.role == role for r in self.role_rows)

    @validates("email")
    def _lower_email(self, key: str, value: str) -> str:
        return value.strip().lower()


class PersonRole(Base):
    """One role held by one person."""

    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), primary_key=True, index=True)

    person: Mapped[Person] = relationship(back_populates="role_rows")


class Case(Base):
    """A child's case, known only by its reference in the case management system."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    case_type: Mapped[CaseType] = mapped_column(_enum(CaseType, "case_type"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    allocated_worker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    previous_worker_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    worker_changed_on: Mapped[dt.date | None] = mapped_column(Date)
    team_manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    iro_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    team: Mapped[Team] = relationship()
    allocated_worker: Mapped[Person | None] = relationship(foreign_keys=[allocated_worker_id])
    previous_worker: Mapped[Person | None] = relationship(foreign_keys=[previous_worker_id])
    team_manager: Mapped[Person | None] = relationship(foreign_keys=[team_manager_id])
    iro: Mapped[Person | None] = relationship(foreign_keys=[iro_id])


class AuditMonth(Base):
    """A month of the programme: its theme and whether the programme is paused."""

    __tablename__ = "audit_months"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: First day of the month.
    month: Mapped[dt.date] = mapped_column(Date, unique=True)
    theme: Mapped[str | None] = mapped_column(String(200))
    #: Standing thematic filter for the month's theme (``type=CP,CIN;team=...``).
    thematic_filter: Mapped[str | None] = mapped_column(String(500))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the current pause began (its working days are added to open deadlines on resuming).
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: An allocation request prepared in advance (``auditbot allocate --prepare``), as JSON.
    prepared_request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prepared_by: Mapped[str | None] = mapped_column(String(320))
    prepared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: When the scheduler committed the month's allocation (once per month).
    auto_allocated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Allocation(Base):
    """One case allocated to an auditor (or a pair) for one month."""

    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("month_id", "case_id", name="uq_allocations_month_case"),
        Index("ix_allocations_state_due", "state", "due_date"),
        Index("ix_allocations_auditor_month", "auditor_id", "month_start"),
        Index("ix_allocations_second_auditor_month", "second_auditor_id", "month_start"),
        Index("ix_allocations_case_month", "case_id", "month_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month_id: Mapped[int] = mapped_column(ForeignKey("audit_months.id"))
    #: Denormalised first day of the month, for rolling-year queries without a join.
    month_start: Mapped[dt.date] = mapped_column(Date)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    auditor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    second_auditor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    audit_type: Mapped[AuditType] = mapped_column(_enum(AuditType, "audit_type"))
    theme: Mapped[str | None] = mapped_column(String(200))
    due_date: Mapped[dt.date] = mapped_column(Date)
    state: Mapped[AllocationState] = mapped_column(
        _enum(AllocationState, "allocation_state"), default=AllocationState.ALLOCATED
    )
    #: Why this auditor: the rules satisfied and the load at the time (shown to the auditor).
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    #: A re-audit's Inadequate follow-up cycle (Hull 25-26): whose actions the re-audit judges.
    cycle_id: Mapped[int | None] = mapped_column(Integer, index=True)

    month: Mapped[AuditMonth] = relationship()
    case: Mapped[Case] = relationship()
    auditor: Mapped[Person] = relationship(foreign_keys=[auditor_id])
    second_auditor: Mapped[Person | None] = relationship(foreign_keys=[second_auditor_id])


class AuditBreak(Base):
    """An auditor's month without audits."""

    __tablename__ = "audit_breaks"
    __table_args__ = (UniqueConstraint("person_id", "month", name="uq_audit_breaks_person_month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    month: Mapped[dt.date] = mapped_column(Date, index=True)
    state: Mapped[BreakState] = mapped_column(_enum(BreakState, "break_state"))
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship()


class Notification(Base):
    """The outbox: one row per message to send, written in the same transaction as its cause."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "state", "priority", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: A person to DM (resolved to a Slack user at send time) ...
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    #: ... or a channel id to post to.
    channel: Mapped[str | None] = mapped_column(String(32))
    #: Set for an edit: the sender updates the message sent for this key (chat.update) in place.
    replaces_key: Mapped[str | None] = mapped_column(String(200))
    template: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer, default=Priority.NORMAL)
    state: Mapped[NotificationState] = mapped_column(
        _enum(NotificationState, "notification_state"), default=NotificationState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)

    recipient: Mapped[Person | None] = relationship()


class ExemptionRequest(Base):
    """An auditor's request to be exempted from an audit or to have more time (Hull A.4-5)."""

    __tablename__ = "exemption_requests"
    __table_args__ = (Index("ix_exemption_requests_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    allocation_id: Mapped[int] = mapped_column(ForeignKey("allocations.id"), index=True)
    auditor_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[RequestKind] = mapped_column(_enum(RequestKind, "request_kind"))
    #: Free text typed by the auditor: shown only to the case's circle and the deciders.
    reason: Mapped[str] = mapped_column(Text)
    due_date: Mapped[dt.date] = mapped_column(Date)
    new_due_date: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[RequestState] = mapped_column(_enum(RequestState, "request_state"), default=RequestState.PENDING)
    #: Who the rules name as the decider, and who the request went to (their delegate, if any).
    approver_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    routed_to_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    reallocated_to_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    allocation: Mapped[Allocation] = relationship()
    auditor: Mapped[Person] = relationship(foreign_keys=[auditor_id])
    approver: Mapped[Person] = relationship(foreign_keys=[approver_id])
    routed_to: Mapped[Person] = relationship(foreign_keys=[routed_to_id])
    escalated_to: Mapped[Person | None] = relationship(foreign_keys=[escalated_to_id])
    decided_by: Mapped[Person | None] = relationship(foreign_keys=[decided_by_id])


class Delegation(Base):
    """An approver's delegate for a date range (inclusive, local dates)."""

    __tablename__ = "delegations"
    __table_args__ = (Index("ix_delegations_principal_dates", "principal_id", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    delegate_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    principal: Mapped[Person] = relationship(foreign_keys=[principal_id])
    delegate: Mapped[Person] = relationship(foreign_keys=[delegate_id])


class SafeguardingAlert(Base):
    """An immediate safeguarding concern about a case (Bradford §3, Hull 14)."""

    __tablename__ = "safeguarding_alerts"
    __table_args__ = (Index("ix_safeguarding_alerts_open", "lead_acknowledged_at", "raised_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    urgency: Mapped[AlertUrgency] = mapped_column(_enum(AlertUrgency, "alert_urgency"))
    #: Free text: shown only to the case's circle, the raiser and the QA team; never to channels.
    note: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: Who acts as the team manager for this alert (the case's, or the next in the chain).
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    lead_acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    #: After the lead acknowledged: 1 once reminded to record the corrective action, 2 once the
    #: rung above was told (Hull 14: it is recorded at once).
    corrective_chase_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    corrective_action_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    corrective_action_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    corrective_note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship()
    raised_by: Mapped[Person] = relationship(foreign_keys=[raised_by_id])
    lead: Mapped[Person | None] = relationship(foreign_keys=[lead_id])
    corrective_action_by: Mapped[Person | None] = relationship(foreign_keys=[corrective_action_by_id])
    recipients: Mapped[list[AlertRecipient]] = relationship(
        back_populates="alert", order_by="AlertRecipient.id", cascade="all, delete-orphan"
    )


class AlertRecipient(Base):
    """One person told about an alert, why, and when they acknowledged it."""

    __tablename__ = "alert_recipients"
    __table_args__ = (UniqueConstraint("alert_id", "person_id", name="uq_alert_recipients_alert_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("safeguarding_alerts.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    #: worker, team_manager, service_manager, head_of_service
    role: Mapped[str] = mapped_column(String(32))
    #: recipient, substitute, escalation
    why: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    alert: Mapped[SafeguardingAlert] = relationship(back_populates="recipients")
    person: Mapped[Person] = relationship()


class AuditLog(Base):
    """Append-only record of every decision and refusal. Never updated or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True, server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    #: Who acted when they are not (yet) a person in the store: a Slack user id, "cli", "scheduler".
    actor_ref: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(32), default="")
    subject_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RequestReceipt(Base):
    """A Slack request already acted on (a modal submission, a click, a slash command), so that a
    replay, a double submission or Slack's own retry has one effect. Pruned after a day."""

    __tablename__ = "request_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``<kind>:<sha256>`` of what identifies the request: a view's id and hash, a click's
    #: ``action_ts`` and message, a slash command's ``trigger_id`` (``bot/handlers/receipts.py``)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    #: A click acknowledged before its listener ran (``bot/delivery/clicks.py``) whose unit of work has not
    #: committed yet: the unit clears it in its own transaction; one left set tells its person nothing changed.
    pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Who clicked (a Slack user id), for a pending click: whom to tell if it is never acted on.
    slack_user_id: Mapped[str | None] = mapped_column(String(32))


class ProcessHeartbeat(Base):
    """A bot process (``auditbot run`` or ``worker``) serving this database, seen at each tick.

    ``auditbot tick --at`` reads these so that a tick at another time never writes into a
    database a bot is serving (it would plan real work at a time that is not now)."""

    __tablename__ = "process_heartbeats"

    #: ``<host>:<pid>:<random>``, fixed for the life of the process
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)

