"""What a report is: counts that add up across months, teams and services, the programme's
month-wide figures, one slice (``Figures``) and the whole (``Report``). No queries here:
``figures`` fills them; ``output`` and ``charts`` read them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields

from bot.services.allocation.rules import add_months
from bot.services.reports.rates import percent

#: The service shown for a team in no service.
NO_SERVICE = "(no service)"


@dataclass(frozen=True)
class Counts:
    """Counts that add up across months, teams and services."""

    #: Allocations not cancelled (agreed exemptions included: ``owed`` takes them out).
    allocated: int = 0
    cancelled: int = 0
    #: An agreed exemption left the audit with no auditor: no longer owed.
    exempted: int = 0
    completed: int = 0
    #: Completed after the due date (a local date).
    late: int = 0
    #: Still owed and past the due date on ``as_of`` (never while the month is paused).
    overdue: int = 0
    reaudits_allocated: int = 0
    reaudits_exempted: int = 0
    reaudits_completed: int = 0
    #: Recorded audits (the grade counts' denominator); of them, still in the reply window.
    graded: int = 0
    in_reply_window: int = 0
    changed_after_reply: int = 0
    changed_after_moderation: int = 0
    family_views_sought: int = 0
    open_inadequate_cycles: int = 0
    actions_open: int = 0
    actions_overdue: int = 0
    #: Done by the owner, waiting for the team manager's sign-off.
    actions_done: int = 0
    actions_signed_off: int = 0
    oversight_overdue: int = 0
    #: Finalised and not yet closed: the team manager has still to record oversight or confirm every action done (Hull 23, 27).
    awaiting_confirmation: int = 0
    #: Moderations decided (any kind); of them, the month's sample and Heads of Service's; agreed with the auditor.
    moderated: int = 0
    moderated_sample: int = 0
    moderation_agreed: int = 0
    exemptions_asked: int = 0
    exemptions_agreed: int = 0
    exemptions_declined: int = 0
    extensions_asked: int = 0
    extensions_agreed: int = 0
    extensions_declined: int = 0
    #: Safeguarding concerns raised in the months (by the case's team), and acknowledged by their lead.
    concerns_raised: int = 0
    concerns_acknowledged: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def as_context(self) -> dict[str, int]:
        """Every count and every count derived from them, as a template reads them."""
        derived = ("owed", "on_time", "non_completions", "not_yet_due", "reaudits_owed")
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, **{name: getattr(self, name) for name in derived}}

    @property
    def owed(self) -> int:
        """Allocated − agreed exemptions − cancelled."""
        return self.allocated - self.exempted

    @property
    def on_time(self) -> int:
        """Completed by the due date."""
        return self.completed - self.late

    @property
    def non_completions(self) -> int:
        """Not done by the deadline: overdue, or completed late (Hull 30: it stays one)."""
        return self.overdue + self.late

    @property
    def not_yet_due(self) -> int:
        """Owed, not done, not yet overdue."""
        return self.owed - self.completed - self.overdue

    @property
    def reaudits_owed(self) -> int:
        """Re-audits allocated − agreed exemptions − cancelled."""
        return self.reaudits_allocated - self.reaudits_exempted


@dataclass(frozen=True)
class GradeCount:
    """One overall grade of the scheme: how many audits had it and their percentage (rounded on its own)."""

    value: str
    label: str
    count: int
    percent: int | None


@dataclass(frozen=True)
class Programme:
    """What belongs to the programme's months rather than to a team: the moderation target, audit
    breaks and the reflection sheets."""

    finalised: int = 0
    #: ceil(sample percent of the finalised audits) + one per Head of Service, for each month with any.
    moderation_target: int = 0
    breaks_asked: int = 0
    breaks_agreed: int = 0
    breaks_declined: int = 0
    reflection_meetings_held: int = 0
    reflection_sheets: int = 0
    #: (question key, its words, how many sheets answered it), in the sheet's order.
    reflection_answers: tuple[tuple[str, str, int], ...] = ()

    def __add__(self, other: Programme) -> Programme:
        answers: dict[str, tuple[str, int]] = {k: (t, n) for k, t, n in self.reflection_answers}
        for key, text, n in other.reflection_answers:
            answers[key] = (text, answers.get(key, (text, 0))[1] + n)
        return Programme(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "reflection_answers"},
            reflection_answers=tuple((k, t, n) for k, (t, n) in answers.items()),
        )


@dataclass(frozen=True)
class Figures:
    """One slice of the report: the whole period (``month`` None), one month, one service or one team."""

    month: dt.date | None
    service: str | None
    team: str | None
    #: Every month of the slice paused (a month paused, for a month's slice).
    paused: bool
    counts: Counts
    final_grades: tuple[GradeCount, ...]
    original_grades: tuple[GradeCount, ...]
    #: Median minutes from a concern being raised to its lead's acknowledgement (None: none acknowledged).
    minutes_to_acknowledge: float | None
    #: Month-wide figures: for the whole period and each month; None for a service or team.
    programme: Programme | None = None

    @property
    def completion_rate(self) -> int | None:
        """Completed ÷ owed, rounded half up; None when paused or nothing is owed."""
        return None if self.paused else percent(self.counts.completed, self.counts.owed)

    @property
    def completion_text(self) -> str:
        """"80%", "paused" (never 0%) or "n/a"."""
        if self.paused:
            return "paused"
        rate = self.completion_rate
        return "n/a" if rate is None else f"{rate}%"

    @property
    def reaudit_rate(self) -> int | None:
        """Re-audits completed ÷ owed, rounded half up."""
        return percent(self.counts.reaudits_completed, self.counts.reaudits_owed)

    @property
    def moderation_agreement(self) -> int | None:
        """How often the moderator agreed with the auditor, rounded half up."""
        return percent(self.counts.moderation_agreed, self.counts.moderated)


@dataclass(frozen=True)
class Report:
    """The figures for the allocations of the months ``start`` to ``end`` (first days), as of ``as_of``."""

    start: dt.date
    end: dt.date
    as_of: dt.date
    #: The grading scheme's id (grades labelled from its file).
    scheme: str
    overall: Figures
    months: tuple[Figures, ...]
    services: tuple[Figures, ...]
    teams: tuple[Figures, ...]
    #: Each team in each month it had audits (month and team set): the breakdown over several months.
    month_teams: tuple[Figures, ...] = ()


def month_range(start: dt.date, end: dt.date) -> list[dt.date]:
    """The first day of each month from ``start`` to ``end``, inclusive."""
    months, month = [], start.replace(day=1)
    while month <= end:
        months.append(month)
        month = add_months(month, 1)
    return months
