"""The report's charts (issue 17): PNG images of the same figures as the text and CSV, each with
alt text that gives every number it shows (it goes in the Slack message as the file's comment).

- the programme: completion by month, final grades by month (stacked) and final grades by service
  (stacked);
- one service: completion by team and final grades by team, for that service's teams.

Drawn with ``matplotlib.figure.Figure`` and the Agg canvas directly: no pyplot, so no display and no
global state (styles are passed per call; rcParams are never touched), and safe in any thread.
matplotlib is imported when a chart is drawn, not when this module is. Colours are the Okabe–Ito
colour-blind-safe palette, and each grade has its own hatch so the grades can be told apart in
greyscale. The same report gives the same bytes (fixed size and dpi, no PNG metadata). Counts only:
never a case reference, a child's or a member of staff's name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.services.reports.model import Figures, GradeCount, Report
from bot.services.reports.output import _period_key, period_label

#: Okabe & Ito (2008), in the order the grades take them (best first); black left out (hatches are black).
PALETTE = ("#009E73", "#56B4E9", "#E69F00", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#999999")
#: A hatch for each grade, in the same order, so that grades differ in greyscale too.
HATCHES = ("", "///", "...", "xxx", "\\\\\\", "+++", "ooo", "---")
#: The completion bars' colour (Okabe–Ito blue).
BAR_COLOUR = "#0072B2"

SIZE_INCHES = (8.0, 4.5)
DPI = 100
#: The longest alt text Slack is given (the file comment).
ALT_TEXT_LIMIT = 2000
#: Beyond this many bars the value labels would overlap: the alt text still has every number.
_MOST_LABELLED = 24
_FONT = 9


@dataclass(frozen=True)
class Chart:
    """One chart: its name, title, alt text (every number it shows), file name and PNG bytes."""

    name: str
    title: str
    alt_text: str
    filename: str
    png: bytes


def charts(report: Report, *, service: str | None = None) -> list[Chart]:
    """The programme's three charts (``service`` None): completion by month, final grades by month
    and final grades by service. With ``service`` (a service's name in ``report.services``): that
    service's completion by team and final grades by team; [] if the report has no such service."""
    period = period_label(report)
    key = _period_key(report)
    if service is None:
        months = [(f"{m.month:%b %Y}", f"{m.month:%B %Y}", m) for m in report.months if m.month is not None]
        services = [(_short(s.service or ""), s.service or "", s) for s in report.services]
        return [
            _completion(f"Audits completed, by month: {period}", "Month", months, _filename(key, "completion_by_month"),
                        "completion_by_month"),
            _grades(f"Final grades, by month: {period}", "Month", months, _filename(key, "grades_by_month"), "grades_by_month"),
            _grades(f"Final grades, by service: {period}", "Service", services, _filename(key, "grades_by_service"),
                    "grades_by_service"),
        ]
    if not any(s.service == service for s in report.services):
        return []
    teams = [(_short(t.team or ""), t.team or "", t) for t in report.teams if t.service == service]
    slug = _slug(service)
    return [
        _completion(f"Audits completed, by team: {service}, {period}", "Team", teams,
                    _filename(key, "completion_by_team", slug), "completion_by_team"),
        _grades(f"Final grades, by team: {service}, {period}", "Team", teams, _filename(key, "grades_by_team", slug),
                "grades_by_team"),
    ]


# --- names ---------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "service"


def _filename(key: str, name: str, service: str | None = None) -> str:
    """``audit-report-2026-12-completion-by-month.png`` (with the service's slug before the chart's name)."""
    parts = ["audit-report", key, *([service] if service else []), name.replace("_", "-")]
    return "-".join(parts) + ".png"


def _short(name: str, most: int = 22) -> str:
    """A tick label: long names cut with an ellipsis (the alt text has them in full)."""
    return name if len(name) <= most else name[: most - 1].rstrip() + "…"


# --- alt text ------------------------------------------------------------------------------------


def _alt(opening: str, items: Sequence[str], compact: Sequence[str]) -> str:
    """The opening sentence and one sentence an item; the compact items if that is too long; cut to the limit."""
    for chosen in (items, compact):
        text = " ".join([opening, *chosen])
        if len(text) <= ALT_TEXT_LIMIT:
            return text
    tail = " … (shortened to fit)"
    return text[: ALT_TEXT_LIMIT - len(tail)].rsplit(" ", 1)[0] + tail


def _scale(rows: Sequence[tuple[str, str, Figures]]) -> list[GradeCount]:
    """Every grade any row has, in the order the figures give them (the scheme's, then any other): a
    grade no longer on the scheme that only a later row has is still drawn."""
    seen: dict[str, GradeCount] = {}
    for _, _, fig in rows:
        for grade in fig.final_grades:
            seen.setdefault(grade.value, grade)
    return list(seen.values())


def _completion_words(fig: Figures) -> str:
    c = fig.counts
    if fig.paused:
        return "paused"
    if fig.completion_rate is None:
        return "n/a (none owed)"
    return f"{fig.completion_rate}% ({c.completed} of {c.owed} owed)"


def _grade_words(grades: Sequence[GradeCount], *, zeros: bool) -> str:
    total = sum(g.count for g in grades)
    shown = [f"{g.label} {g.count}" for g in grades if zeros or g.count]
    return f"{', '.join(shown)} ({total} audit{'' if total == 1 else 's'})"


# --- drawing -------------------------------------------------------------------------------------


def _new_figure() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _axes_style(ax: Any, title: str, xlabel: str, ylabel: str, ticks: list[str]) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel, fontsize=_FONT + 1)
    ax.set_ylabel(ylabel, fontsize=_FONT + 1)
    ax.set_xticks(range(len(ticks)), ticks, fontsize=_FONT, rotation=45 if len(ticks) > 6 else 0,
                  ha="right" if len(ticks) > 6 else "center", rotation_mode="anchor")
    ax.tick_params(axis="y", labelsize=_FONT)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_axisbelow(True)
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return out.getvalue()


def _completion(title: str, xlabel: str, rows: list[tuple[str, str, Figures]], filename: str, name: str) -> Chart:
    """Bars of the completion rate (0–100%); a paused slice has no bar and says paused, nothing owed says n/a."""
    figure, ax = _new_figure()
    labelled = len(rows) <= _MOST_LABELLED
    for x, (_, _, fig) in enumerate(rows):
        rate = fig.completion_rate
        if rate is None:  # paused or nothing owed: no bar, never 0%
            ax.text(x, 2, "paused" if fig.paused else "n/a", ha="center", va="bottom", rotation=90, fontsize=_FONT,
                    color="#333333", fontstyle="italic")
            continue
        ax.bar(x, rate, width=0.7, color=BAR_COLOUR, edgecolor="black", linewidth=0.5)
        if labelled:
            ax.text(x, rate + 1.5, f"{rate}%", ha="center", va="bottom", fontsize=_FONT - (1 if len(rows) > 12 else 0))
    ax.set_ylim(0, 110)
    ax.set_yticks(range(0, 101, 20), [f"{v}%" for v in range(0, 101, 20)])
    _axes_style(ax, title, xlabel, "Per cent completed", [short for short, _, _ in rows])
    if not rows:
        ax.text(0.5, 0.5, "nothing to show", transform=ax.transAxes, ha="center", fontsize=_FONT + 1)
    opening = f"Bar chart: {title}, as the per cent of the audits owed that were completed."
    items = [f"{full}: {_completion_words(fig)}." for _, full, fig in rows]
    alt = _alt(opening, items or ["Nothing to show."], items)
    return Chart(name=name, title=title, alt_text=alt, filename=filename, png=_png(figure))


def _grades(title: str, xlabel: str, rows: list[tuple[str, str, Figures]], filename: str, name: str) -> Chart:
    """Stacked bars of the final grades' counts, one colour and hatch a grade, the scheme's labels in the legend."""
    figure, ax = _new_figure()
    scale = _scale(rows)
    totals = [sum(g.count for g in fig.final_grades) for _, _, fig in rows]
    top = max(totals, default=0) or 1
    labelled = len(rows) <= _MOST_LABELLED
    bottoms = [0] * len(rows)
    for k, grade in enumerate(scale):
        counts = [next((g.count for g in fig.final_grades if g.value == grade.value), 0) for _, _, fig in rows]
        ax.bar(range(len(rows)), counts, width=0.7, bottom=bottoms, label=grade.label, color=PALETTE[k % len(PALETTE)],
               hatch=HATCHES[k % len(HATCHES)], edgecolor="black", linewidth=0.5)
        for x, n in enumerate(counts):
            if labelled and n and n / top >= 0.07:
                ax.text(x, bottoms[x] + n / 2, str(n), ha="center", va="center", fontsize=_FONT - 1,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"})
        bottoms = [b + n for b, n in zip(bottoms, counts, strict=True)]
    for x, ((_, _, fig), total) in enumerate(zip(rows, totals, strict=True)):
        if total and labelled:
            ax.text(x, total + top * 0.02, str(total), ha="center", va="bottom", fontsize=_FONT, fontweight="bold")
        elif not total:
            ax.text(x, top * 0.02, "paused" if fig.paused else "none", ha="center", va="bottom", rotation=90,
                    fontsize=_FONT, color="#333333", fontstyle="italic")
    ax.set_ylim(0, top * 1.15)
    ax.yaxis.get_major_locator().set_params(integer=True)
    _axes_style(ax, title, xlabel, "Audits", [short for short, _, _ in rows])
    if scale:
        ax.legend(title="Final grade", fontsize=_FONT, title_fontsize=_FONT, loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False, reverse=True)  # the legend's order is the stack's, top down
    if not rows:
        ax.text(0.5, 0.5, "nothing to show", transform=ax.transAxes, ha="center", fontsize=_FONT + 1)
    grades = ", ".join(g.label for g in scale)
    opening = f"Stacked bar chart: {title}, as counts of audits by final grade ({grades})."

    def words(fig: Figures, total: int, zeros: bool) -> str:
        if not total:
            return "paused" if fig.paused else "none"
        return _grade_words(fig.final_grades, zeros=zeros)

    items = [f"{full}: {words(fig, t, True)}." for (_, full, fig), t in zip(rows, totals, strict=True)]
    compact = [f"{full}: {words(fig, t, False)}." for (_, full, fig), t in zip(rows, totals, strict=True)]
    alt = _alt(opening, items or ["Nothing to show."], compact)
    return Chart(name=name, title=title, alt_text=alt, filename=filename, png=_png(figure))
