"""The report as the QA team reads it (text) and as a spreadsheet takes it (CSV: one row per
period, service, team and measure), from the same figures and the same measures."""

from __future__ import annotations

import csv
import io

from bot.services.reports.model import Figures, GradeCount, Report


def period_label(report: Report) -> str:
    """"December 2026", or "October 2026 to December 2026"."""
    if report.start == report.end:
        return f"{report.start:%B %Y}"
    return f"{report.start:%B %Y} to {report.end:%B %Y}"


def _period_key(report: Report) -> str:
    if report.start == report.end:
        return f"{report.start:%Y-%m}"
    return f"{report.start:%Y-%m}..{report.end:%Y-%m}"


def _pc(value: int | None) -> str:
    return "" if value is None else str(value)


def measures(fig: Figures) -> list[tuple[str, str]]:
    """Every figure of a slice as (measure, value): the CSV's rows, and what the text shows."""
    c = fig.counts
    rows: list[tuple[str, object]] = [
        ("paused", "yes" if fig.paused else "no"),
        ("allocated", c.allocated), ("cancelled", c.cancelled), ("agreed_exemptions", c.exempted), ("owed", c.owed),
        ("completed", c.completed),
        ("completion_rate_percent", "paused" if fig.paused else _pc(fig.completion_rate)),
        ("on_time", c.on_time), ("late", c.late), ("overdue", c.overdue), ("non_completions", c.non_completions),
        ("reaudits_owed", c.reaudits_owed), ("reaudits_completed", c.reaudits_completed),
        ("reaudit_rate_percent", _pc(fig.reaudit_rate)),
        ("recorded", c.graded), ("in_reply_window", c.in_reply_window),
    ]
    for stage, grades in (("final", fig.final_grades), ("original", fig.original_grades)):
        for g in grades:
            rows += [(f"{stage}_grade:{g.value}", g.count), (f"{stage}_grade_percent:{g.value}", _pc(g.percent))]
    rows += [
        ("changed_after_reply", c.changed_after_reply), ("changed_after_moderation", c.changed_after_moderation),
        ("open_inadequate_cycles", c.open_inadequate_cycles),
        ("actions_open", c.actions_open), ("actions_overdue", c.actions_overdue), ("actions_done_to_sign_off", c.actions_done),
        ("actions_signed_off", c.actions_signed_off), ("oversight_overdue", c.oversight_overdue),
        ("awaiting_team_manager_confirmation", c.awaiting_confirmation),
        ("moderated", c.moderated), ("moderated_sample", c.moderated_sample), ("moderation_agreed", c.moderation_agreed),
        ("moderation_agreement_percent", _pc(fig.moderation_agreement)),
        ("concerns_raised", c.concerns_raised), ("concerns_acknowledged", c.concerns_acknowledged),
        ("median_minutes_to_acknowledge", "" if fig.minutes_to_acknowledge is None else f"{fig.minutes_to_acknowledge:g}"),
        ("exemptions_asked", c.exemptions_asked), ("exemptions_agreed", c.exemptions_agreed),
        ("exemptions_declined", c.exemptions_declined), ("extensions_asked", c.extensions_asked),
        ("extensions_agreed", c.extensions_agreed), ("extensions_declined", c.extensions_declined),
        ("family_views_sought", c.family_views_sought),
    ]
    if fig.programme is not None:
        p = fig.programme
        rows += [
            ("finalised", p.finalised), ("moderation_target", p.moderation_target), ("breaks_asked", p.breaks_asked),
            ("breaks_agreed", p.breaks_agreed), ("breaks_declined", p.breaks_declined),
            ("reflection_meetings_held", p.reflection_meetings_held), ("reflection_sheets", p.reflection_sheets),
            *((f"reflection_answered:{key}", n) for key, _, n in p.reflection_answers),
        ]
    return [(name, str(value)) for name, value in rows]


def as_csv(report: Report) -> str:
    """One row per (period, service, team, measure, value); the period is YYYY-MM or YYYY-MM..YYYY-MM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "service", "team", "measure", "value"])
    whole = _period_key(report)
    for fig in (report.overall, *report.months, *report.services, *report.teams, *report.month_teams):
        period = f"{fig.month:%Y-%m}" if fig.month is not None else whole
        for name, value in measures(fig):
            writer.writerow([period, fig.service or "", fig.team or "", name, value])
    return out.getvalue()


def _grades(grades: tuple[GradeCount, ...]) -> str:
    shown = [f"{g.label} {g.count} ({g.percent}%)" for g in grades if g.count]
    return ", ".join(shown) or "none"


def _completion(fig: Figures) -> str:
    c = fig.counts
    if fig.paused:
        return f"paused ({c.allocated} allocated, {c.completed} completed)" if c.allocated else "paused"
    return (f"{c.completed} of {c.owed} completed ({fig.completion_text}): {c.on_time} on time, {c.late} late, "
            f"{c.overdue} overdue")


def _line(fig: Figures) -> str:
    if fig.paused and not fig.counts.allocated:
        return _completion(fig)
    return f"{_completion(fig)}; final grades: {_grades(fig.final_grades)}"


def as_text(report: Report) -> str:
    """A readable summary for the QA team: the period in full, then each month, service and team in a line."""
    fig, c = report.overall, report.overall.counts
    lines = [f"Case file audits: {period_label(report)} (as of {report.as_of:%d %b %Y}; grades on the {report.scheme} scheme)"]
    lines += [
        f"  completion: {_completion(fig)}; non-completions: {c.non_completions}",
        f"    allocated {c.allocated}, cancelled {c.cancelled}, agreed exemptions {c.exempted} (owed {c.owed})",
        f"  re-audits: {c.reaudits_completed} of {c.reaudits_owed} completed ({_pct(fig.reaudit_rate)}); "
        f"open Inadequate cycles: {c.open_inadequate_cycles}",
        f"  grades of {c.graded} recorded audit(s) ({c.in_reply_window} still open to reply):",
        f"    final: {_grades(fig.final_grades)}",
        f"    original: {_grades(fig.original_grades)}",
        f"    changed after reply: {c.changed_after_reply}; after moderation: {c.changed_after_moderation}",
        f"  actions: {c.actions_open} open ({c.actions_overdue} overdue), {c.actions_done} done to sign off, "
        f"{c.actions_signed_off} signed off; oversight overdue: {c.oversight_overdue}",
        f"  awaiting the team manager's final confirmation (oversight or every action done): {c.awaiting_confirmation}",
    ]
    p = fig.programme
    assert p is not None
    minutes = "—" if fig.minutes_to_acknowledge is None else f"{fig.minutes_to_acknowledge:g} minutes"
    lines += [
        f"  moderation: {c.moderated_sample} of a target of {p.moderation_target} ({p.finalised} finalised); "
        f"{c.moderated} moderated in all, the moderator agreed in {c.moderation_agreed} ({_pct(fig.moderation_agreement)})",
        f"  safeguarding concerns: {c.concerns_raised} raised, {c.concerns_acknowledged} acknowledged; "
        f"median time to acknowledge: {minutes}",
        f"  exemptions: {c.exemptions_asked} asked, {c.exemptions_agreed} agreed, {c.exemptions_declined} declined; "
        f"extensions: {c.extensions_asked} asked, {c.extensions_agreed} agreed, {c.extensions_declined} declined",
        f"  audit breaks: {p.breaks_asked} asked, {p.breaks_agreed} agreed, {p.breaks_declined} declined",
        f"  family views sought: {c.family_views_sought} of {c.graded}",
        f"  reflection: {p.reflection_meetings_held} meeting(s) held, {p.reflection_sheets} sheet(s) answered",
        *(f"    {n} answered: {text}" for _, text, n in p.reflection_answers),
    ]
    lines.append("By month:")
    lines += [f"  {m.month:%b %Y}: {_line(m)}" for m in report.months if m.month is not None]
    lines.append("By service:")
    lines += [f"  {s.service}: {_line(s)}" for s in report.services] or ["  none"]
    lines.append("By team:")
    lines += [f"  {t.team} ({t.service}): {_line(t)}" for t in report.teams] or ["  none"]
    if report.month_teams:
        lines.append("By month and team:")
        lines += [f"  {t.month:%b %Y}, {t.team} ({t.service}): {_line(t)}" for t in report.month_teams if t.month is not None]
    return "\n".join(lines) + "\n"


def _pct(value: int | None) -> str:
    return "n/a" if value is None else f"{value}%"
