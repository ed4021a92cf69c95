"""The QA team's month at a glance (issue 17): the current month's allocations from the report's own
figures (``bot.services.reports.figures``), plus the safeguarding concerns still open, which the
report (counting concerns *raised* in its months) does not hold. Slack-free; who sees it is
``authz``'s ``VIEW_PROGRAMME``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.services.authz import Permission, decide
from bot.services.reports.figures import figures
from bot.services.reports.model import Figures
from bot.settings import Settings
from store.models import Person, SafeguardingAlert

#: Blocks the glance adds to the Home view (header, fields, buttons, divider): budgeted in ``HOME_BLOCKS``.
GLANCE_BLOCKS = 4


@dataclass(frozen=True)
class MonthGlance:
    """The current month's figures as the QA team reads them at a glance."""

    month: dt.date
    paused: bool
    allocated: int
    owed: int
    #: Audits submitted (allocations completed); of them, after their due date.
    submitted: int
    completion: str
    late: int
    overdue: int
    exemptions_asked: int
    exemptions_agreed: int
    #: Safeguarding concerns (any month's) with no corrective action recorded; of them, not yet acknowledged by their lead.
    concerns_open: int
    concerns_unacknowledged: int
    #: The month's sample moderations decided, against its target.
    moderated: int
    moderation_target: int

    def context(self) -> dict[str, Any]:
        """Plain data for the templates."""
        return {**asdict(self), "month": self.month.isoformat()}


def sees_programme(person: Person | None) -> bool:
    """Whether ``person`` is shown the month at a glance (asking nothing, so nothing is logged)."""
    return decide(person, Permission.VIEW_PROGRAMME).allowed


def open_concerns(session: Session) -> tuple[int, int]:
    """Concerns with no corrective action recorded, and of them those their lead has not acknowledged (one query)."""
    unacknowledged = func.count().filter(SafeguardingAlert.lead_acknowledged_at.is_(None))
    query = select(func.count(), unacknowledged).select_from(SafeguardingAlert)
    row = session.execute(query.where(SafeguardingAlert.corrective_action_at.is_(None))).one()
    return int(row[0]), int(row[1] or 0)


def month_figures(session: Session, settings: Settings, *, today: dt.date) -> Figures:
    """The report's figures for the month of ``today``, as of ``today``."""
    month = today.replace(day=1)
    return figures(session, month, month, settings, as_of=today).months[0]


def month_glance(session: Session, settings: Settings, *, today: dt.date) -> MonthGlance:
    """The month of ``today`` at a glance, as of ``today``."""
    fig = month_figures(session, settings, today=today)
    c = fig.counts
    assert fig.month is not None and fig.programme is not None
    concerns, unacknowledged = open_concerns(session)
    return MonthGlance(
        month=fig.month, paused=fig.paused, allocated=c.allocated, owed=c.owed, submitted=c.completed,
        completion=fig.completion_text, late=c.late, overdue=c.overdue, exemptions_asked=c.exemptions_asked,
        exemptions_agreed=c.exemptions_agreed, concerns_open=concerns, concerns_unacknowledged=unacknowledged,
        moderated=c.moderated_sample, moderation_target=fig.programme.moderation_target,
    )


def glance_for(session: Session, person: Person | None, settings: Settings, *, today: dt.date) -> dict[str, Any] | None:
    """The glance's template context for a QA coordinator, else None."""
    return month_glance(session, settings, today=today).context() if sees_programme(person) else None
