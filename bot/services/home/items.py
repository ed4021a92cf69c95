"""One thing waiting for someone (``bot.services.home``): shared by the queries of each area."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class WaitingItem:
    """One thing the person must do: ``kind`` picks the words and buttons, ``id`` is the buttons' value."""

    kind: str
    id: int
    at: dt.datetime
    reference: str
    detail: str = ""
    #: Meeting proposals: the round's times as (proposal id, start), earliest first.
    times: tuple[tuple[int, dt.datetime], ...] = ()
    #: A suggested time to book: when it is.
    suggested: dt.datetime | None = None

    def context(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "at": self.at.isoformat(), "reference": self.reference,
                "detail": self.detail, "times": [{"id": pid, "at": at.isoformat()} for pid, at in self.times],
                "suggested": self.suggested.isoformat() if self.suggested else None}


def required(value: T | None) -> T:
    """``value``, from a column its query required to be set (``is_not(None)``): a None here is a bug."""
    if value is None:
        raise ValueError("a column the query required to be set is empty")
    return value


def aware(value: dt.datetime | None) -> dt.datetime:
    """``value``, or the earliest moment when there is none (sorted last)."""
    return value if value is not None else dt.datetime.min.replace(tzinfo=dt.UTC)
