"""Typed views of the Slack payloads the handlers receive, parsed in one place."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class PayloadError(ValueError):
    """A payload that is not what this button or command sends."""


#: Slack user ids: a letter and up to 31 more uppercase letters or digits (U…, W…).
_USER_ID = re.compile(r"[A-Z][A-Z0-9]{1,31}")
#: Ids the bot puts in buttons and metadata: positive, and within a database integer.
_MAX_ID = 2**31 - 1


def user_id_of(raw: object) -> str:
    """A Slack user id, or PayloadError (never echoing more than a short prefix of it)."""
    text = str(raw)
    if not _USER_ID.fullmatch(text):
        raise PayloadError(f"not a Slack user id: {text[:20]!r}")
    return text


def id_of(raw: object, what: str) -> int:
    """A positive database id written by the bot, or PayloadError."""
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10 or not 0 < int(text) <= _MAX_ID:
        raise PayloadError(f"{what} carries {text[:20]!r}, not an id")
    return int(text)


@dataclass(frozen=True)
class SlashCommand:
    """A parsed ``/audit`` invocation."""

    user_id: str
    channel_id: str
    sub: str
    args: tuple[str, ...]
    trigger_id: str = ""

    @classmethod
    def parse(cls, body: dict[str, Any]) -> SlashCommand:
        """Parse Slack's slash-command body; empty text means ``help``."""
        words = str(body.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        try:
            user = user_id_of(body["user_id"])
        except KeyError:
            raise PayloadError("a slash command without a user") from None
        return cls(user, str(body.get("channel_id", ""))[:32], sub, tuple(words[1:]), str(body.get("trigger_id", ""))[:200])


@dataclass(frozen=True)
class ButtonClick:
    """A click on one of the bot's buttons."""

    user_id: str
    action_id: str
    value: str
    trigger_id: str = ""

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ButtonClick:
        """Parse a ``block_actions`` body with one button click or menu choice."""
        try:
            action = body["actions"][0]
            value = action.get("value") or (action.get("selected_option") or {}).get("value", "")
            return cls(user_id_of(body["user"]["id"]), str(action["action_id"])[:255], str(value),
                       str(body.get("trigger_id", ""))[:200])
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PayloadError(f"not a button click: {type(exc).__name__}") from None

    def int_value(self) -> int:
        """The button's value as an id."""
        return id_of(self.value, f"button {self.action_id[:40]}")


def parse_month_arg(text: str) -> dt.date | None:
    """``YYYY-MM`` (or an ISO date) as the first day of that month; None if it isn't one."""
    try:
        if len(text) == 7:
            return dt.date.fromisoformat(text + "-01")
        return dt.date.fromisoformat(text).replace(day=1)
    except ValueError:
        return None


@dataclass(frozen=True)
class ViewSubmission:
    """A submitted modal: who, its typed ``private_metadata``, and the input values by block."""

    user_id: str
    callback_id: str
    metadata: dict[str, Any]
    values: dict[str, Any]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ViewSubmission:
        """Parse a ``view_submission`` body; the metadata must be the JSON object the bot wrote."""
        try:
            view = body["view"]
            metadata = json.loads(view.get("private_metadata") or "{}")
            if not isinstance(metadata, dict):
                raise PayloadError("private_metadata is not an object")
            values: dict[str, Any] = {}
            for block_id, actions in (view.get("state", {}).get("values") or {}).items():
                for element in actions.values():
                    if isinstance(element.get("selected_options"), list):  # checkboxes, multi-selects
                        values[block_id] = [str(o.get("value", "")) for o in element["selected_options"]]
                        continue
                    values[block_id] = (
                        element.get("value")
                        or element.get("selected_date")
                        or element.get("selected_time")
                        or (element.get("selected_option") or {}).get("value")
                    )
            return cls(user_id_of(body["user"]["id"]), str(view.get("callback_id", ""))[:255], metadata, values)
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise PayloadError(f"not a view submission: {type(exc).__name__}") from None

    def int_meta(self, key: str) -> int:
        """An id kept in the view's metadata."""
        if key not in self.metadata:
            raise PayloadError(f"view metadata has no {key}")
        return id_of(self.metadata[key], f"view metadata {key}")

    def text(self, block_id: str) -> str:
        """A text input's value ('' when empty)."""
        value = self.values.get(block_id)
        return value if isinstance(value, str) else ""

    def meta_choice(self, key: str, allowed: type[StrEnum]) -> Any:
        """A member of ``allowed`` kept in the view's metadata (e.g. a form's step)."""
        raw = self.metadata.get(key)
        if raw not in {m.value for m in allowed}:
            raise PayloadError(f"view metadata {key} is not one of {', '.join(m.value for m in allowed)}")
        return allowed(raw)

    def date(self, block_id: str) -> dt.date | None:
        """A datepicker's value."""
        raw = self.values.get(block_id)
        try:
            return dt.date.fromisoformat(str(raw)) if raw else None
        except ValueError:
            return None


def parse_mention(text: str) -> str | None:
    """The user id in an escaped mention ``<@U123|name>`` (or a bare ``U123``)."""
    match = re.fullmatch(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>|([UW][A-Z0-9]{5,})", text.strip())
    return (match.group(1) or match.group(2)) if match else None


def parse_day(text: str) -> dt.date | None:
    """``YYYY-MM-DD`` or ``DD/MM/YYYY``."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


#: An email as typed; Slack sends one in a slash command as ``<mailto:a@b.c|a@b.c>``.
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")
_MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class PersonRef:
    """Whom a command names: an ``<@U…>`` mention, an email, or a name as typed (a leading ``@`` dropped)."""

    user_id: str | None = None
    email: str | None = None
    name: str | None = None

    @classmethod
    def parse(cls, text: str) -> PersonRef:
        """Read a mention, an email or a name (several words allowed)."""
        text = " ".join(text.split())
        user_id = parse_mention(text)
        if user_id is not None:
            return cls(user_id=user_id)
        mailto = _MAILTO.fullmatch(text)
        email = mailto.group(1) if mailto else text
        if _EMAIL.fullmatch(email):
            return cls(email=email.lower())
        return cls(name=text.removeprefix("@").strip()[:200] or None)

    @property
    def empty(self) -> bool:
        """True when nobody is named."""
        return not (self.user_id or self.email or self.name)


@dataclass(frozen=True)
class DelegateArgs:
    """``/audit delegate WHO FROM TO``: the person (mention, email or name) and the first and last day."""

    who: PersonRef
    starts_on: dt.date | None
    ends_on: dt.date | None

    @classmethod
    def parse(cls, args: tuple[str, ...]) -> DelegateArgs:
        """The last two words are the days; everything before them names the person.

        Anything else (no person, a day missing or not a date) has no days, so it is answered
        with how to use the command.
        """
        if len(args) >= 3:
            starts_on, ends_on = parse_day(args[-2]), parse_day(args[-1])
            who = PersonRef.parse(" ".join(args[:-2]))
            if starts_on is not None and ends_on is not None and not who.empty:
                return cls(who, starts_on, ends_on)
        return cls(PersonRef(), None, None)

