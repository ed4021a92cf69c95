"""Slack's documented Block Kit limits, checked before anything is sent.

The limits live in tables (``BLOCK_RULES``, ``ELEMENT_RULES``, ``VIEW_RULES`` ...): each entry
lists the rules for one object type, and each rule checks one property. Every problem names
its JSON path, e.g. ``blocks[3].text.text: 3012 characters, Slack allows 3000``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Problems = list[str]
#: A rule or item checker: inspects ``value`` found at ``path`` and appends problems to ``out``.
Checker = Callable[[Any, str, Problems], None]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
#: A message sharing a file: its text is the file's initial comment, and the file's own limits.
MAX_FILE_COMMENT = 4_000
MAX_FILE_NAME = 255
MAX_FILE_BYTES = 1_048_576
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})


class BlockKitError(ValueError):
    """A payload breaks Block Kit limits; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: list[str] = list(problems)
        super().__init__("Block Kit limits broken: " + "; ".join(self.problems))


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _length(value: str, max_len: int, where: str, out: Problems) -> None:
    if len(value) > max_len:
        out.append(f"{where}: {len(value)} characters, Slack allows {max_len}")


def _text_object(value: Any, where: str, out: Problems, max_len: int, plain: bool) -> None:
    if not isinstance(value, Mapping):
        out.append(f"{where}: must be a text object")
        return
    kind = value.get("type")
    if kind not in TEXT_TYPES:
        out.append(f"{where}.type: must be plain_text or mrkdwn, got {kind!r}")
    elif plain and kind != "plain_text":
        out.append(f"{where}.type: must be plain_text, got {kind}")
    text = value.get("text")
    if not isinstance(text, str) or not text:
        out.append(f"{where}.text: must be a non-empty string")
        return
    _length(text, max_len, f"{where}.text", out)


# --- property rules -------------------------------------------------------------------------


@dataclass(frozen=True)
class Str:
    """A string property with a length limit."""

    key: str
    max_len: int
    required: bool = False

    def __call__(self, obj: Mapping[str, Any], path: str, out: Problems) -> None:
        value, where = obj.get(self.key), _at(path, self.key)
        if value is None:
            if self.required:
                out.append(f"{where}: required")
        elif not isinstance(value, str):
            out.append(f"{where}: must be a string")
        else:
            _length(value, self.max_len, where, out)


@dataclass(frozen=True)
class Text:
    """A text object property (``plain`` restricts it to ``plain_text``)."""

    key: str
    max_len: int
    plain: bool = False
    required: bool = False

    def __call__(self, obj: Mapping[str, Any], path: str, out: Problems) -> None:
        value, where = obj.get(self.key), _at(path, self.key)
        if value is None:
            if self.required:
                out.append(f"{where}: required")
            return
        _text_object(value, where, out, self.max_len, self.plain)


@dataclass(frozen=True)
class Int:
    """An integer property within ``min_value..max_value``."""

    key: str
    max_value: int
    min_value: int = 0

    def __call__(self, obj: Mapping[str, Any], path: str, out: Problems) -> None:
        value, where = obj.get(self.key), _at(path, self.key)
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{where}: must be an integer")
        elif not self.min_value <= value <= self.max_value:
            out.append(f"{where}: {value}, Slack allows {self.min_value} to {self.max_value}")


@dataclass(frozen=True)
class Each:
    """A list property with an item limit; ``item`` checks every item."""

    key: str
    max_items: int
    item: Checker
    required: bool = False

    def __call__(self, obj: Mapping[str, Any], path: str, out: Problems) -> None:
        value, where = obj.get(self.key), _at(path, self.key)
        if value is None:
            if self.required:
                out.append(f"{where}: required")
            return
        if not isinstance(value, list):
            out.append(f"{where}: must be a list")
            return
        if self.required and not value:
            out.append(f"{where}: must not be empty")
        if len(value) > self.max_items:
            out.append(f"{where}: {len(value)} items, Slack allows {self.max_items}")
        for i, item in enumerate(value):
            self.item(item, _at(where, i), out)


@dataclass(frozen=True)
class One:
    """A nested object property checked by ``item``."""

    key: str
    item: Checker
    required: bool = False

    def __call__(self, obj: Mapping[str, Any], path: str, out: Problems) -> None:
        value, where = obj.get(self.key), _at(path, self.key)
        if value is None:
            if self.required:
                out.append(f"{where}: required")
            return
        self.item(value, where, out)


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``keys`` must be present."""

    keys: tuple[str, ...]

    def __call__(self, obj: Mapping[str, Any], path: str, out: Problems) -> None:
        if all(obj.get(k) is None for k in self.keys):
            out.append(f"{path}: needs {' or '.join(self.keys)}")


Rule = Callable[[Mapping[str, Any], str, Problems], None]


def _object(rules: tuple[Rule, ...], what: str) -> Checker:
    """An item checker for a JSON object whose properties follow ``rules``."""

    def check(value: Any, where: str, out: Problems) -> None:
        if not isinstance(value, Mapping):
            out.append(f"{where}: must be {what}")
            return
        for rule in rules:
            rule(value, where, out)

    return check


def _text_item(max_len: int, plain: bool = False) -> Checker:
    """An item checker for a text object inside a list (section fields)."""

    def check(value: Any, where: str, out: Problems) -> None:
        _text_object(value, where, out, max_len, plain)

    return check


def _typed(table: Mapping[str, tuple[Rule, ...]], what: str) -> Checker:
    """An item checker that dispatches on ``type`` through ``table`` (unknown types are problems)."""

    def check(value: Any, where: str, out: Problems) -> None:
        if not isinstance(value, Mapping):
            out.append(f"{where}: must be {what}")
            return
        kind = value.get("type")
        rules = table.get(kind) if isinstance(kind, str) else None
        if rules is None:
            out.append(f"{_at(where, 'type')}: unknown {what} type {kind!r}")
            return
        for rule in rules:
            rule(value, where, out)

    return check


# --- composition objects and elements ---------------------------------------------------------

CONFIRM_RULES: tuple[Rule, ...] = (
    Text("title", 100, plain=True, required=True),
    Text("text", 300, required=True),
    Text("confirm", 30, plain=True, required=True),
    Text("deny", 30, plain=True, required=True),
)
OPTION_RULES: tuple[Rule, ...] = (
    Text("text", 75, required=True),
    Str("value", 150, required=True),
    Text("description", 75, plain=True),
    Str("url", 3000),
)
_confirm = _object(CONFIRM_RULES, "a confirm dialog")
_option = _object(OPTION_RULES, "an option")
_option_group = _object(
    (Text("label", 75, plain=True, required=True), Each("options", 100, _option, required=True)), "an option group"
)

_ACTION_ID = Str("action_id", 255)
_PLACEHOLDER = Text("placeholder", 150, plain=True)
_CONFIRM = One("confirm", _confirm)
_SIMPLE_SELECT: tuple[Rule, ...] = (_ACTION_ID, _PLACEHOLDER, _CONFIRM)
_TEXT_INPUT: tuple[Rule, ...] = (_ACTION_ID, _PLACEHOLDER, Str("initial_value", 3000))

ELEMENT_RULES: dict[str, tuple[Rule, ...]] = {
    "button": (
        _ACTION_ID,
        Text("text", 75, plain=True, required=True),
        Str("value", 2000),
        Str("url", 3000),
        Str("accessibility_label", 75),
        _CONFIRM,
    ),
    "static_select": (
        *_SIMPLE_SELECT,
        Each("options", 100, _option),
        Each("option_groups", 100, _option_group),
        AnyOf(("options", "option_groups")),
        One("initial_option", _option),
    ),
    "multi_static_select": (
        *_SIMPLE_SELECT,
        Each("options", 100, _option),
        Each("option_groups", 100, _option_group),
        AnyOf(("options", "option_groups")),
        Each("initial_options", 100, _option),
        Int("max_selected_items", 100, 1),
    ),
    "external_select": (*_SIMPLE_SELECT, One("initial_option", _option)),
    "multi_external_select": (*_SIMPLE_SELECT, Each("initial_options", 100, _option)),
    "users_select": _SIMPLE_SELECT,
    "multi_users_select": _SIMPLE_SELECT,
    "conversations_select": _SIMPLE_SELECT,
    "multi_conversations_select": _SIMPLE_SELECT,
    "channels_select": _SIMPLE_SELECT,
    "multi_channels_select": _SIMPLE_SELECT,
    "overflow": (_ACTION_ID, Each("options", 5, _option, required=True), _CONFIRM),
    "checkboxes": (
        _ACTION_ID, Each("options", 10, _option, required=True), Each("initial_options", 10, _option), _CONFIRM,
    ),
    "radio_buttons": (
        _ACTION_ID, Each("options", 10, _option, required=True), One("initial_option", _option), _CONFIRM,
    ),
    "datepicker": (*_SIMPLE_SELECT, Str("initial_date", 10)),
    "timepicker": (*_SIMPLE_SELECT, Str("initial_time", 5)),
    "datetimepicker": (_ACTION_ID, _CONFIRM),
    "plain_text_input": (*_TEXT_INPUT, Int("min_length", 3000), Int("max_length", 3000, 1)),
    "email_text_input": _TEXT_INPUT,
    "url_text_input": _TEXT_INPUT,
    "number_input": _TEXT_INPUT,
    "rich_text_input": (_ACTION_ID, _PLACEHOLDER),
    "file_input": (_ACTION_ID, Int("max_files", 10, 1)),
    "workflow_button": (_ACTION_ID, Text("text", 75, plain=True, required=True)),
    "image": (Str("image_url", 3000), Str("alt_text", 2000, required=True)),
}
_element = _typed(ELEMENT_RULES, "element")


def _context_element(value: Any, where: str, out: Problems) -> None:
    if isinstance(value, Mapping) and value.get("type") in TEXT_TYPES:
        _text_object(value, where, out, 3000, plain=False)
    elif isinstance(value, Mapping) and value.get("type") == "image":
        _element(value, where, out)
    elif isinstance(value, Mapping):
        out.append(f"{_at(where, 'type')}: unknown context element type {value.get('type')!r}")
    else:
        out.append(f"{where}: must be a text object or image")


def _rich_text_element(value: Any, where: str, out: Problems) -> None:
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        out.append(f"{where}: must be a rich text element with a type")


# --- blocks ------------------------------------------------------------------------------------

_BLOCK_ID = Str("block_id", 255)

BLOCK_RULES: dict[str, tuple[Rule, ...]] = {
    "section": (
        _BLOCK_ID,
        Text("text", 3000),
        Each("fields", 10, _text_item(2000)),
        AnyOf(("text", "fields")),
        One("accessory", _element),
    ),
    "header": (_BLOCK_ID, Text("text", 150, plain=True, required=True)),
    "context": (_BLOCK_ID, Each("elements", 10, _context_element, required=True)),
    "actions": (_BLOCK_ID, Each("elements", 25, _element, required=True)),
    "divider": (_BLOCK_ID,),
    "input": (
        _BLOCK_ID,
        Text("label", 2000, plain=True, required=True),
        Text("hint", 2000, plain=True),
        One("element", _element, required=True),
    ),
    "image": (
        _BLOCK_ID,
        Str("image_url", 3000),
        Str("alt_text", 2000, required=True),
        Text("title", 2000, plain=True),
    ),
    "rich_text": (_BLOCK_ID, Each("elements", 100, _rich_text_element, required=True)),
    "markdown": (_BLOCK_ID, Str("text", 12_000, required=True)),
    "file": (_BLOCK_ID, Str("external_id", 255, required=True), Str("source", 20, required=True)),
    "video": (
        _BLOCK_ID,
        Text("title", 200, plain=True, required=True),
        Str("video_url", 3000, required=True),
        Str("thumbnail_url", 3000, required=True),
        Str("alt_text", 2000, required=True),
    ),
}
_block = _typed(BLOCK_RULES, "block")


def _action_ids(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path suffix, action_id) of every interactive element directly in ``block``."""
    found: list[tuple[str, str]] = []
    elements = block.get("elements") if block.get("type") == "actions" else None
    candidates: list[tuple[str, Any]] = [(f"elements[{i}]", e) for i, e in enumerate(elements or [])]
    candidates += [(key, block.get(key)) for key in ("accessory", "element")]
    for suffix, element in candidates:
        if isinstance(element, Mapping) and isinstance(element.get("action_id"), str):
            found.append((suffix, element["action_id"]))
    return found


def _blocks(blocks: Any, path: str, max_blocks: int, out: Problems) -> None:
    if not isinstance(blocks, list):
        out.append(f"{path}: must be a list")
        return
    if len(blocks) > max_blocks:
        out.append(f"{path}: {len(blocks)} blocks, Slack allows {max_blocks}")
    seen_blocks: set[str] = set()
    for i, block in enumerate(blocks):
        where = _at(path, i)
        _block(block, where, out)
        if not isinstance(block, Mapping):
            continue
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_blocks:
                out.append(f"{where}.block_id: duplicate block_id {block_id!r}")
            seen_blocks.add(block_id)
        seen_actions: set[str] = set()
        for suffix, action_id in _action_ids(block):
            if action_id in seen_actions:
                out.append(f"{where}.{suffix}.action_id: duplicate action_id {action_id!r} in this block")
            seen_actions.add(action_id)


# --- messages and views ------------------------------------------------------------------------


def _file_name(obj: Mapping[str, Any], path: str, out: Problems) -> None:
    name, where = obj.get("filename"), _at(path, "filename")
    if not isinstance(name, str) or not name.strip():
        out.append(f"{where}: must be a non-empty string")
        return
    _length(name, MAX_FILE_NAME, where, out)
    if "/" in name or "\\" in name:
        out.append(f"{where}: must not contain a path separator")


def _file_content(obj: Mapping[str, Any], path: str, out: Problems) -> None:
    """The bytes: ``content`` (text, as written) or ``content_base64`` (a PNG, say), exactly one."""
    if ("content" in obj) == ("content_base64" in obj):
        out.append(f"{_at(path, 'content')}: give exactly one of content (text) or content_base64 (bytes)")
        return
    name = "content" if "content" in obj else "content_base64"
    content, where = obj.get(name), _at(path, name)
    if not isinstance(content, str) or not content:
        out.append(f"{where}: must be a non-empty string")
        return
    try:
        size = len(base64.b64decode(content, validate=True)) if name == "content_base64" else len(content.encode("utf-8"))
    except binascii.Error:
        out.append(f"{where}: is not base64")
        return
    if size > MAX_FILE_BYTES:
        out.append(f"{where}: {size} bytes, at most {MAX_FILE_BYTES} here")


_file = _object((_file_name, Str("title", 255, required=True), _file_content), "a file object")


def _shared_file(payload: Mapping[str, Any], out: Problems) -> None:
    """A message that shares ``file`` (``files_upload_v2``): the file, a short comment, no blocks."""
    _file(payload["file"], "file", out)
    if payload.get("blocks") is not None:
        out.append("blocks: a message sharing a file has none (its text is the file's comment)")
    if isinstance(payload.get("text"), str):
        _length(payload["text"], MAX_FILE_COMMENT, "text", out)


def validate_message(payload: object) -> list[str]:
    """Every Block Kit problem in a message payload (``text``, ``blocks``, or ``file``); empty when valid."""
    if not isinstance(payload, Mapping):
        return ["message: must be a JSON object"]
    out: Problems = []
    text, blocks = payload.get("text"), payload.get("blocks")
    if text is not None and not isinstance(text, str):
        out.append("text: must be a string")
    elif isinstance(text, str):
        _length(text, MAX_MESSAGE_TEXT, "text", out)
    if not (isinstance(text, str) and text.strip()):
        out.append("text: a plain-text fallback is required" if blocks else "text: a message needs text or blocks")
    if blocks is not None:
        _blocks(blocks, "blocks", MAX_MESSAGE_BLOCKS, out)
    if payload.get("file") is not None:
        _shared_file(payload, out)
    return out


def _submit_when_inputs(view: Mapping[str, Any], path: str, out: Problems) -> None:
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(isinstance(b, Mapping) and b.get("type") == "input" for b in blocks)
    if has_input and view.get("submit") is None:
        out.append(f"{_at(path, 'submit')}: required when the modal has input blocks")


_VIEW_COMMON: tuple[Rule, ...] = (Str("callback_id", 255), Str("private_metadata", 3000), Str("external_id", 255))

VIEW_RULES: dict[str, tuple[Rule, ...]] = {
    "modal": (
        Text("title", 24, plain=True, required=True),
        Text("submit", 24, plain=True),
        Text("close", 24, plain=True),
        _submit_when_inputs,
        *_VIEW_COMMON,
    ),
    "home": _VIEW_COMMON,
}


def validate_view(view: object) -> list[str]:
    """Every Block Kit problem in a modal or App Home view; empty when valid."""
    if not isinstance(view, Mapping):
        return ["view: must be a JSON object"]
    out: Problems = []
    kind = view.get("type")
    rules = VIEW_RULES.get(kind) if isinstance(kind, str) else None
    if rules is None:
        out.append(f"type: must be modal or home, got {kind!r}")
    else:
        for rule in rules:
            rule(view, "", out)
    if view.get("blocks") is None:
        out.append("blocks: required")
    else:
        _blocks(view.get("blocks"), "blocks", MAX_VIEW_BLOCKS, out)
    return out


def check_message(payload: Mapping[str, Any]) -> None:
    """Raise ``BlockKitError`` listing every problem in a message payload."""
    problems = validate_message(payload)
    if problems:
        raise BlockKitError(problems)


def check_view(view: Mapping[str, Any]) -> None:
    """Raise ``BlockKitError`` listing every problem in a view."""
    problems = validate_view(view)
    if problems:
        raise BlockKitError(problems)
