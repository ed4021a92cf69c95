"""Percentages as the councils publish them: whole numbers, rounded half up (Surrey 1298/1632 = 80%)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def percent(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` as a whole percentage rounded half up (1/8 ⇒ 13); None when ``whole`` is 0."""
    if whole <= 0:
        return None
    return int((Decimal(100 * part) / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def percent_text(part: int, whole: int) -> str:
    """``percent`` as shown: "13%", or "n/a" with nothing to divide by."""
    value = percent(part, whole)
    return "n/a" if value is None else f"{value}%"
