"""The audits planner a tick runs: forgetting drafts of the record form that can no longer be
submitted (the audit was exempted or cancelled, or went to another auditor). It plans no
notification; a draft of an audit still owed is kept however old it is."""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from bot.services.audits.record import RECORDABLE
from bot.services.planning import Planner, TickContext, When
from store.db import changed
from store.models import Allocation
from store.records import AuditDraft


def drop_stale_drafts(session: Session) -> int:
    """Delete, in one statement, every draft whose author may no longer record that audit."""
    still_theirs = exists(
        select(Allocation.id).where(
            Allocation.id == AuditDraft.allocation_id,
            Allocation.state.in_(RECORDABLE),
            (Allocation.auditor_id == AuditDraft.person_id) | (Allocation.second_auditor_id == AuditDraft.person_id),
        )
    )
    result = session.execute(delete(AuditDraft).where(~still_theirs).execution_options(synchronize_session=False))
    return changed(result)


def _drafts(session: Session, ctx: TickContext) -> int:
    drop_stale_drafts(session)
    return 0  # no notification planned


PLANNERS = (Planner("drafts", _drafts, None, When.WORKING_HOURS),)
