"""The month's report as the QA team reads it in Slack (``messages/view_report.json.j2``): the same
figures as ``auditbot report`` for one month, as of today, with the concerns still open."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from bot.services.home.month import month_figures, open_concerns
from bot.services.reports.model import GradeCount
from bot.settings import Settings


def _grades(grades: tuple[GradeCount, ...]) -> list[dict[str, Any]]:
    return [{"label": g.label, "count": g.count, "percent": g.percent} for g in grades if g.count]


def report_context(session: Session, settings: Settings, *, today: dt.date) -> dict[str, Any]:
    """The month of ``today`` so far: counts, completion (paused never 0%), grades final and original, moderation, concerns."""
    fig = month_figures(session, settings, today=today)
    assert fig.month is not None and fig.programme is not None
    concerns, unacknowledged = open_concerns(session)
    return {
        "month": fig.month.isoformat(), "as_of": today.isoformat(), "paused": fig.paused, "completion": fig.completion_text,
        "counts": fig.counts.as_context(),
        "final_grades": _grades(fig.final_grades), "original_grades": _grades(fig.original_grades),
        "moderation_target": fig.programme.moderation_target, "finalised": fig.programme.finalised,
        "concerns_open": concerns, "concerns_unacknowledged": unacknowledged,
    }
