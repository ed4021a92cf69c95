"""Acting from a terminal: find a button by what it says, fill a modal from ``field=value`` text.

``auditbot workspace click`` and ``auditbot workspace submit`` run in another process than the
workspace; they send words (a button's label, a field's label and the text typed into it) and
these functions turn them into what a Slack client would send: the element to click, and the
``view.state.values`` of a submission. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Element types a click can act on from a message, and whether it needs a chosen option.
CLICKABLE = {"button": False, "static_select": True, "overflow": True, "radio_buttons": True}


class FormInputError(ValueError):
    """What the person typed cannot be matched to the message or the modal (the text says why)."""


@dataclass(frozen=True)
class Clickable:
    """A clickable element found in a person's messages."""

    number: int  # 1-based position in the person's message list
    message: dict[str, Any]
    action_id: str
    label: str
    option: dict[str, Any] | None
    confirm: str = ""  # the question Slack asks before sending the click ('' when none)
    value: str | None = None  # a button's value (which of several same buttons, e.g. one per item on Home)


def _text(obj: Any) -> str:
    """The words of a text object (``{"type": "plain_text", "text": ...}``) or ''."""
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def _elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for block in message.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "actions":
            found += [e for e in block.get("elements") or [] if isinstance(e, dict)]
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            found.append(accessory)
    return [e for e in found if e.get("type") in CLICKABLE and "action_id" in e]


def _label(element: dict[str, Any]) -> str:
    return _text(element.get("text")) or _text(element.get("placeholder")) or str(element["action_id"])


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def element_options(element: dict[str, Any]) -> list[dict[str, Any]]:
    """A select's or radio group's options, option groups flattened."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += list(group.get("options") or [])
    return options


def _find_option(options: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    for option in options:
        if _same(str(option.get("value", "")), wanted) or _same(_text(option.get("text")), wanted):
            return option
    return None


def _choose(options: list[dict[str, Any]], wanted: str, what: str) -> dict[str, Any]:
    """A menu's option by its words or value (the menu's words are what a person reads)."""
    option = _find_option(options, wanted)
    if option is None:
        listed = ", ".join(repr(_text(o.get("text"))) for o in options) or "none"
        raise FormInputError(f"{what} has no option {wanted!r}; its options are {listed}")
    return option


def find_clickable(
    messages: list[dict[str, Any]], wanted: str, *, number: int | None = None, option: str | None = None
) -> Clickable:
    """The element labelled (or with action id) ``wanted`` in message ``number``, else the newest one with it."""
    if number is not None and not 1 <= number <= len(messages):
        raise FormInputError(f"there is no message #{number}; this person has {len(messages)} message(s)")
    candidates = [(number, messages[number - 1])] if number else list(reversed(list(enumerate(messages, 1))))
    for n, message in candidates:
        for element in _elements(message):
            if not (_same(_label(element), wanted) or _same(str(element["action_id"]), wanted)):
                continue
            chosen = None
            if CLICKABLE[str(element["type"])]:
                if option is None:
                    names = ", ".join(repr(_text(o.get("text"))) for o in element_options(element))
                    raise FormInputError(f"{_label(element)!r} is a menu: say which option with --option ({names})")
                chosen = _choose(element_options(element), option, repr(_label(element)))
            confirm = element.get("confirm") or {}
            question = " ".join(t for t in (_text(confirm.get("title")), _text(confirm.get("text"))) if t)
            value = str(element["value"]) if element.get("value") is not None else None
            return Clickable(n, message, str(element["action_id"]), _label(element), chosen, question, value)
    if number:
        labels = ", ".join(repr(_label(e)) for e in _elements(messages[number - 1])) or "no buttons"
        raise FormInputError(f"message #{number} has no button {wanted!r}; it has {labels}")
    raise FormInputError(f"no message of theirs has a button {wanted!r}")


def find_in_view(view: dict[str, Any], wanted: str, *, option: str | None = None, where: str = "their Home") -> Clickable:
    """The first element (top down) of a view labelled (or with action id) ``wanted``, as on a message."""
    try:
        return find_clickable([view], wanted, number=1, option=option)
    except FormInputError as exc:
        if not str(exc).startswith("message #1 has no button"):
            raise
        labels = ", ".join(repr(_label(e)) for e in _elements(view)) or "no buttons"
        raise FormInputError(f"{where} has no button {wanted!r}; it has {labels}") from None


@dataclass(frozen=True)
class InputField:
    """One input block of a modal, as a person sees it."""

    block_id: str
    action_id: str
    kind: str
    label: str
    optional: bool
    options: list[dict[str, Any]]
    hint: str = ""
    initial: str = ""


def input_fields(view: dict[str, Any]) -> list[InputField]:
    """The input blocks of a modal, in order."""
    fields: list[InputField] = []
    for block in view.get("blocks") or []:
        if not isinstance(block, dict) or block.get("type") != "input" or not isinstance(block.get("element"), dict):
            continue
        element = block["element"]
        fields.append(InputField(
            block_id=str(block.get("block_id", "")), action_id=str(element.get("action_id", "")),
            kind=str(element.get("type")), label=_text(block.get("label")), optional=bool(block.get("optional")),
            options=element_options(element), hint=_text(block.get("hint")), initial=_initial(element),
        ))
    return fields


def _initial(element: dict[str, Any]) -> str:
    """The value an input starts with, as words ('' when it starts empty)."""
    for key in ("initial_value", "initial_date", "initial_time", "initial_user"):
        if element.get(key):
            return str(element[key])
    option = element.get("initial_option")
    return str(option.get("value", "")) if isinstance(option, dict) else ""


def _field(fields: list[InputField], name: str) -> InputField:
    for field in fields:
        if _same(field.block_id, name) or _same(field.label, name) or _same(field.action_id, name):
            return field
    listed = ", ".join(f"{f.block_id} ({f.label})" for f in fields) or "none"
    raise FormInputError(f"the modal has no field {name!r}; its fields are {listed}")


def choices(options: list[dict[str, Any]], sep: str = ", ") -> str:
    """A field's options as ``value (words)``: what ``field=value`` takes."""
    return sep.join(f"{o.get('value')} ({_text(o.get('text'))})" for o in options) or "none"


def _pick(field: InputField, wanted: str) -> dict[str, Any]:
    """A modal field's option by value or words; the error lists the values it takes."""
    option = _find_option(field.options, wanted)
    if option is None:
        raise FormInputError(f"{field.block_id}: no option {wanted!r}; choose one of: {choices(field.options)}")
    return option


#: What a date picker and a time picker take, as Slack's clients send them.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}")


def _picked(field: InputField, text: str) -> str | None:
    """A date (``YYYY-MM-DD``) or time (``HH:MM``) as a picker sends it; None when left empty."""
    text = text.strip()
    if not text:
        return None
    try:
        if field.kind == "datepicker" and _DATE.fullmatch(text):
            return dt.date.fromisoformat(text).isoformat()
        if field.kind == "timepicker" and _TIME.fullmatch(text):
            return dt.time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        pass
    what = "a date (YYYY-MM-DD)" if field.kind == "datepicker" else "a time (HH:MM)"
    raise FormInputError(f"{field.block_id}: not {what}")


def _entry(field: InputField, text: str, user_id: Callable[[str], str | None]) -> dict[str, Any]:
    """The state entry Slack sends for ``text`` typed or chosen in ``field``."""
    if field.kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        return {"value": text}
    if field.kind in ("static_select", "radio_buttons"):
        return {"selected_option": _pick(field, text)}
    if field.kind in ("checkboxes", "multi_static_select"):
        parts = [p for p in (s.strip() for s in text.split(",")) if p]
        return {"selected_options": [_pick(field, p) for p in parts]}
    if field.kind == "datepicker":
        return {"selected_date": _picked(field, text)}
    if field.kind == "timepicker":
        return {"selected_time": _picked(field, text)}
    if field.kind in ("users_select", "multi_users_select"):
        ids = []
        for email in (p.strip() for p in text.split(",") if p.strip()):
            found = user_id(email)
            if found is None:
                raise FormInputError(f"{field.block_id}: nobody with email {email!r} is in the local workspace")
            ids.append(found)
        return {"selected_user": ids[0] if ids else None} if field.kind == "users_select" else {"selected_users": ids}
    raise FormInputError(f"{field.block_id}: a {field.kind}, which the terminal cannot fill in")


def input_values(
    view: dict[str, Any], typed: dict[str, str], user_id: Callable[[str], str | None]
) -> dict[str, dict[str, Any]]:
    """``{block_id: {action_id: entry}}`` for ``typed`` (field name → text); fields left out stay empty."""
    fields = input_fields(view)
    values: dict[str, dict[str, Any]] = {}
    for name, text in typed.items():
        field = _field(fields, name)
        values[field.block_id] = {field.action_id: _entry(field, text, user_id)}
    return values
