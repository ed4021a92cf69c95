"""Typed views of the Slack payloads the handlers receive, parsed in one place."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


class PayloadError(ValueError):
    """A payload that is not what this button or command sends."""


@dataclass(frozen=True)
class SlashCommand:
    """A parsed ``/audit`` invocation."""

    user_id: str
    channel_id: str
    sub: str
    args: tuple[str, ...]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> SlashCommand:
        """Parse Slack's slash-command body; empty text means ``help``."""
        words = str(body.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        return cls(str(body["user_id"]), str(body.get("channel_id", "")), sub, tuple(words[1:]))


@dataclass(frozen=True)
class ButtonClick:
    """A click on one of the bot's buttons."""

    user_id: str
    action_id: str
    value: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ButtonClick:
        """Parse a ``block_actions`` body with exactly one action."""
        try:
            action = body["actions"][0]
            return cls(str(body["user"]["id"]), str(action["action_id"]), str(action.get("value", "")))
        except (KeyError, IndexError, TypeError) as exc:
            raise PayloadError(f"not a button click: {exc}") from None

    def int_value(self) -> int:
        """The button's value as an id."""
        try:
            return int(self.value)
        except ValueError:
            raise PayloadError(f"button {self.action_id} carries {self.value!r}, not an id") from None


def parse_month_arg(text: str) -> dt.date | None:
    """``YYYY-MM`` (or an ISO date) as the first day of that month; None if it isn't one."""
    try:
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        return dt.date.fromisoformat(text).replace(day=1)
    except ValueError:
        return None
