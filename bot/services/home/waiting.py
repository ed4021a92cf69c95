"""The work waiting for one person, their audits and their own open actions.

Each kind of work is one query (columns, joined, filtered on the person), so a person with a
thousand items costs the same dozen queries as one with none. Nothing here knows about Slack:
the items carry ids and the kind of work; the template puts on each the same button (action id
and value) as the direct message that asked for it. The kinds after an audit is submitted are in
``waiting_audits`` and the meeting ones beyond answering times in ``waiting_meetings``; ``waiting_for``
gathers them all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from bot.services.actions.common import LIVE
from bot.services.home import waiting_audits as audits
from bot.services.home import waiting_meetings as meetings
from bot.services.home.items import WaitingItem, aware, required
from store.meetings import MeetingAnswer, MeetingInvitee, MeetingProposal, MeetingState, ReflectionMeeting
from store.models import (
    AlertRecipient,
    Allocation,
    AllocationState,
    Case,
    Delegation,
    ExemptionRequest,
    Person,
    RequestState,
    Role,
    SafeguardingAlert,
)
from store.records import ActionStatus, AuditAction, AuditChallenge, AuditModeration, AuditRecord, ChallengeState, ModerationState

#: At most one screen per section; older items are counted ("and N more"). Waiting items take two
#: blocks each (a meeting one more per proposed time), within ``WAITING_BLOCKS`` of the view's 100.
WAITING_LIMIT = 20
WAITING_BLOCKS = 44
AUDITS_LIMIT = 10
ACTIONS_LIMIT = 10
#: Closed audits stay in "your audits" this long after their deadline.
RECENT_AUDITS = dt.timedelta(days=60)


@dataclass
class HomeSummary:
    """Everything the Home tab shows, newest first, each list whole (the caller caps it)."""

    waiting: list[WaitingItem] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


def _exemptions(session: Session, person_id: int, today: dt.date) -> list[WaitingItem]:
    """Pending requests they may decide (``authz`` DECIDE_EXEMPTION): the approver, whoever it was
    routed or escalated to, or the approver's delegate today -- never their own request."""
    principals = select(Delegation.principal_id).where(
        Delegation.delegate_id == person_id, Delegation.revoked.is_(False),
        Delegation.starts_on <= today, Delegation.ends_on >= today
    )
    rows = session.execute(
        select(ExemptionRequest.id, ExemptionRequest.created_at, ExemptionRequest.kind, Case.reference, Person.display_name)
        .join(Allocation, Allocation.id == ExemptionRequest.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(Person, Person.id == ExemptionRequest.auditor_id)
        .where(
            ExemptionRequest.state == RequestState.PENDING,
            ExemptionRequest.auditor_id != person_id,
            or_(
                ExemptionRequest.routed_to_id == person_id,
                ExemptionRequest.escalated_to_id == person_id,
                ExemptionRequest.approver_id == person_id,
                ExemptionRequest.approver_id.in_(principals),
            ),
        )
    ).all()
    return [WaitingItem(f"exemption_{kind.value}", rid, at, ref, name) for rid, at, kind, ref, name in rows]


def _challenges(session: Session, person_id: int) -> list[WaitingItem]:
    """Challenges to answer (the auditor) and answers to accept or take to moderation (the challenger)."""
    challenger = aliased(Person)
    rows = session.execute(
        select(AuditChallenge.id, AuditChallenge.state, AuditChallenge.raised_at, AuditChallenge.auditor_at,
               AuditChallenge.target, Case.reference, challenger.display_name)
        .join(AuditRecord, AuditRecord.id == AuditChallenge.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(challenger, challenger.id == AuditChallenge.challenger_id)
        .where(or_(
            and_(AuditChallenge.state == ChallengeState.WITH_AUDITOR,
                 or_(Allocation.auditor_id == person_id, Allocation.second_auditor_id == person_id)),
            and_(AuditChallenge.state == ChallengeState.ANSWERED, AuditChallenge.challenger_id == person_id),
            and_(AuditChallenge.state == ChallengeState.HEAD_OF_SERVICE, AuditChallenge.head_of_service_id == person_id,
                 AuditChallenge.head_of_service_at.is_(None)),
        ))
    ).all()
    items = []
    for cid, state, raised_at, auditor_at, target, ref, name in rows:
        if state == ChallengeState.WITH_AUDITOR:
            items.append(WaitingItem("challenge_answer", cid, raised_at, ref, f"{name} challenged the {target}"))
        elif state == ChallengeState.ANSWERED:
            items.append(WaitingItem("challenge_decide", cid, aware(auditor_at), ref, f"your challenge of the {target}"))
        else:
            items.append(WaitingItem("head_of_service", cid, aware(auditor_at or raised_at), ref,
                                     f"{name}'s challenge of the {target}"))
    return items


def _moderations(session: Session, person_id: int) -> list[WaitingItem]:
    rows = session.execute(
        select(AuditModeration.id, AuditModeration.chosen_at, AuditModeration.created_at, Case.reference)
        .join(AuditRecord, AuditRecord.id == AuditModeration.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(AuditModeration.state == ModerationState.WITH_MODERATOR, AuditModeration.moderator_id == person_id)
    ).all()
    return [WaitingItem("moderation", mid, chosen or created, ref) for mid, chosen, created, ref in rows]


def _alerts(session: Session, person_id: int) -> list[WaitingItem]:
    """Concerns the person has not acknowledged, and those they lead with no corrective action recorded."""
    unacknowledged = session.execute(
        select(SafeguardingAlert.id, AlertRecipient.added_at, Case.reference)
        .join(AlertRecipient, AlertRecipient.alert_id == SafeguardingAlert.id)
        .join(Case, Case.id == SafeguardingAlert.case_id)
        .where(AlertRecipient.person_id == person_id, AlertRecipient.acknowledged_at.is_(None),
               SafeguardingAlert.corrective_action_at.is_(None))
    ).all()
    waiting_ack = {aid for aid, _, _ in unacknowledged}
    corrective = session.execute(
        select(SafeguardingAlert.id, SafeguardingAlert.lead_acknowledged_at, SafeguardingAlert.raised_at, Case.reference)
        .join(Case, Case.id == SafeguardingAlert.case_id)
        .where(SafeguardingAlert.lead_id == person_id, SafeguardingAlert.corrective_action_at.is_(None))
    ).all()
    items = [WaitingItem("alert_acknowledge", aid, at, ref) for aid, at, ref in unacknowledged]
    items += [WaitingItem("alert_corrective", aid, acked or raised, ref) for aid, acked, raised, ref in corrective
              if aid not in waiting_ack]
    return items


def _team_actions(session: Session, person_id: int) -> list[WaitingItem]:
    """Done actions to sign off and more-time requests to decide, on live audits of the person's team's cases."""
    owner = aliased(Person)
    rows = session.execute(
        select(AuditAction.id, AuditAction.status, AuditAction.done_at, AuditAction.created_at, AuditAction.extension_state,
               AuditAction.requested_due, AuditAction.text, Case.reference, owner.display_name)
        .join(AuditRecord, AuditRecord.id == AuditAction.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(owner, owner.id == AuditAction.owner_id)
        .where(Case.team_manager_id == person_id, AuditRecord.state.in_(LIVE), AuditRecord.finalised_at.is_not(None),
               AuditRecord.closed_at.is_(None),
               or_(and_(AuditAction.status == ActionStatus.DONE, AuditAction.done_at.is_not(None)),
                   and_(AuditAction.status == ActionStatus.OPEN, AuditAction.extension_state == "pending",
                        AuditAction.requested_due.is_not(None))))
    ).all()
    items = []
    for aid, status, done_at, created_at, _, requested, text, ref, name in rows:
        if status == ActionStatus.DONE:
            items.append(WaitingItem("sign_off", aid, aware(done_at), ref, f"{name}: {text}"))
        else:
            items.append(WaitingItem("more_time", aid, created_at, ref,
                                     f"{name} asks until {required(requested).isoformat()}: {text}"))
    return items


def _meetings(session: Session, person_id: int) -> list[WaitingItem]:
    """Proposed reflection meetings whose current round's times were sent to the person, not yet answered."""
    answered = exists().where(MeetingAnswer.meeting_id == ReflectionMeeting.id, MeetingAnswer.round == ReflectionMeeting.round,
                              MeetingAnswer.person_id == person_id)
    rows = session.execute(
        select(ReflectionMeeting.id, ReflectionMeeting.round, ReflectionMeeting.round_sent_at, Case.reference,
               Person.display_name)
        .join(MeetingInvitee, MeetingInvitee.meeting_id == ReflectionMeeting.id)
        .join(Allocation, Allocation.id == ReflectionMeeting.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .join(Person, Person.id == ReflectionMeeting.proposed_by_id)
        .where(ReflectionMeeting.state == MeetingState.PROPOSED, MeetingInvitee.person_id == person_id,
               MeetingInvitee.left_out_reason.is_(None), ReflectionMeeting.proposed_by_id != person_id, ~answered)
    ).all()
    if not rows:
        return []
    rounds = {mid: rnd for mid, rnd, *_ in rows}
    times: dict[int, list[tuple[int, dt.datetime]]] = {mid: [] for mid in rounds}
    for pid, mid, rnd, starts in session.execute(
        select(MeetingProposal.id, MeetingProposal.meeting_id, MeetingProposal.round, MeetingProposal.starts_at)
        .where(MeetingProposal.meeting_id.in_(list(rounds)))
        .order_by(MeetingProposal.starts_at, MeetingProposal.id)
    ).all():
        if rounds[mid] == rnd:
            times[mid].append((pid, starts))
    return [WaitingItem("meeting", mid, sent, ref, name, tuple(times[mid])) for mid, _, sent, ref, name in rows if times[mid]]


def _oversight(session: Session, person_id: int) -> list[WaitingItem]:
    """Management oversight due on the person's team's finalised audits, not yet recorded."""
    rows = session.execute(
        select(AuditRecord.id, AuditRecord.finalised_at, AuditRecord.oversight_due, Case.reference)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(Case.team_manager_id == person_id, AuditRecord.oversight_due.is_not(None),
               AuditRecord.oversight_recorded_at.is_(None), AuditRecord.closed_at.is_(None))
    ).all()
    return [WaitingItem("oversight", rid, aware(fin), ref, required(due).isoformat()) for rid, fin, due, ref in rows]


def waiting_for(
    session: Session, person: Person, *, now: dt.datetime, today: dt.date, day_over: bool = False
) -> list[WaitingItem]:
    """Everything waiting for ``person`` to decide or do, newest first (``day_over``: today's
    working hours have ended, so reply windows closing today are closed)."""
    pid = person.id
    items = [*_exemptions(session, pid, today), *_challenges(session, pid), *_moderations(session, pid), *_alerts(session, pid),
             *_team_actions(session, pid), *_meetings(session, pid), *_oversight(session, pid),
             *audits.replies(session, pid, today, day_over=day_over), *audits.qa_amendments(session, pid),
             *audits.supervision(session, pid),
             *audits.inadequate(session, pid, today), *meetings.escalations(session, pid),
             *meetings.suggestions(session, pid, now), *meetings.reflection_sheets(session, pid)]
    if person.has_role(Role.QA_COORDINATOR):  # the QA team's own work (``authz`` DECIDE_QA_CHECK / VERIFY_ASSURANCE)
        items += [*audits.qa_checks(session, pid), *audits.assurance(session, pid)]
    return sorted(items, key=lambda i: (i.at, i.kind, i.id), reverse=True)


def _my_audits(session: Session, person_id: int, today: dt.date) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Allocation.id, Allocation.state, Allocation.due_date, Allocation.audit_type, Allocation.created_at, Case.reference)
        .join(Case, Case.id == Allocation.case_id)
        .where(or_(Allocation.auditor_id == person_id, Allocation.second_auditor_id == person_id),
               or_(Allocation.state == AllocationState.ALLOCATED, Allocation.due_date >= today - RECENT_AUDITS))
        .order_by(Allocation.created_at.desc(), Allocation.id.desc())
    ).all()
    return [{"id": aid, "state": state.value, "due_date": due.isoformat(), "audit_type": kind.value, "reference": ref,
             "late": state == AllocationState.ALLOCATED and due < today}
            for aid, state, due, kind, _, ref in rows]


def _my_actions(session: Session, person_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditAction.id, AuditAction.text, AuditAction.due_date, AuditAction.extension_state, Case.reference)
        .join(AuditRecord, AuditRecord.id == AuditAction.record_id)
        .join(Allocation, Allocation.id == AuditRecord.allocation_id)
        .join(Case, Case.id == Allocation.case_id)
        .where(AuditAction.owner_id == person_id, AuditAction.status == ActionStatus.OPEN, AuditRecord.state.in_(LIVE),
               AuditRecord.finalised_at.is_not(None), AuditRecord.closed_at.is_(None))
        .order_by(AuditAction.created_at.desc(), AuditAction.id.desc())
    ).all()
    return [{"id": aid, "text": text, "due_date": due.isoformat(), "extension_state": ext, "reference": ref}
            for aid, text, due, ext, ref in rows]


def home_summary(session: Session, person: Person, *, now: dt.datetime, today: dt.date, day_over: bool = False) -> HomeSummary:
    """What ``person``'s Home shows: waiting for them, their audits, their open actions (each newest first)."""
    return HomeSummary(waiting_for(session, person, now=now, today=today, day_over=day_over),
                       _my_audits(session, person.id, today), _my_actions(session, person.id))


def first_screen(items: list[WaitingItem]) -> list[WaitingItem]:
    """The newest items that fit one screen: at most ``WAITING_LIMIT``, within ``WAITING_BLOCKS`` blocks."""
    shown: list[WaitingItem] = []
    used = 0
    for item in items[:WAITING_LIMIT]:
        cost = 2 + len(item.times)
        if used + cost > WAITING_BLOCKS:
            break
        shown.append(item)
        used += cost
    return shown


def home_context(summary: HomeSummary | None, *, notice: str | None = None, unknown: bool = False) -> dict[str, Any]:
    """The ``view_home`` template's context: each section capped at one screen, the rest counted."""
    summary = summary or HomeSummary()
    waiting = first_screen(summary.waiting)
    return {
        "unknown": unknown,
        "notice": notice,
        "waiting": [i.context() for i in waiting],
        "waiting_more": len(summary.waiting) - len(waiting),
        "audits": summary.audits[:AUDITS_LIMIT],
        "audits_more": max(0, len(summary.audits) - AUDITS_LIMIT),
        "actions": summary.actions[:ACTIONS_LIMIT],
        "actions_more": max(0, len(summary.actions) - ACTIONS_LIMIT),
    }
