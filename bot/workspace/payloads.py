"""Slack-style answers and the checks on what the bot sends (messages, views).

Shared by the Web API methods (``api``) and the actor (slash-command acks, modal responses).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.blockkit import MAX_MESSAGE_TEXT, validate_message, validate_view
from bot.workspace.state import Message


@dataclass
class ApiResult:
    """An HTTP answer: status, JSON body, extra headers, and whether to hold it (timeout fault)."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hold: bool = False


class InvalidPayloadError(ValueError):
    """A request the local workspace rejects; ``result`` is the Slack-style error answer."""

    def __init__(self, result: ApiResult) -> None:
        super().__init__(result.body.get("error", "invalid"))
        self.result = result


def ok(**fields: Any) -> ApiResult:
    """A successful answer."""
    return ApiResult({"ok": True, **fields})


def error(code: str, *, status: int = 200, messages: list[str] | None = None) -> ApiResult:
    """A Slack-style failure (``{"ok": false, "error": code}``), with optional problem messages."""
    body: dict[str, Any] = {"ok": False, "error": code}
    if messages:
        body["response_metadata"] = {"messages": list(messages)}
    return ApiResult(body, status=status)


def truthy(value: Any) -> bool:
    """Slack's reading of a boolean parameter (``true``, ``1``, True)."""
    return value is True or (isinstance(value, str) and value.strip().lower() in {"1", "true"}) or value == 1


def json_param(params: Mapping[str, Any], key: str, bad: str) -> Any:
    """A parameter that may arrive as JSON text (form posts) or already parsed (JSON posts)."""
    value = params.get(key)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise InvalidPayloadError(error(bad, messages=[f"{key}: not valid JSON"])) from None
    return value


def message_content(params: Mapping[str, Any], *, current: Message | None = None) -> tuple[str, Any, Any]:
    """(text, blocks, metadata) of a message post, checked; raises ``InvalidPayloadError``.

    With ``current`` (chat.update) omitted fields keep the message's current values.
    """
    blocks = json_param(params, "blocks", "invalid_blocks_format")
    metadata = json_param(params, "metadata", "invalid_metadata_format")
    text = params.get("text")
    if current is not None:
        blocks = current.blocks if "blocks" not in params else blocks
        metadata = current.metadata if "metadata" not in params else metadata
        text = current.text if text is None else text
    if blocks is not None and not isinstance(blocks, list):
        raise InvalidPayloadError(error("invalid_blocks_format", messages=["blocks: must be a list"]))
    if metadata is not None and not (
        isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        problem = "metadata: needs event_type and event_payload"
        raise InvalidPayloadError(error("invalid_metadata_format", messages=[problem]))
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        problem = f"text: {len(text)} characters, Slack allows {MAX_MESSAGE_TEXT}"
        raise InvalidPayloadError(error("msg_too_long", messages=[problem]))
    if not text and not blocks:
        raise InvalidPayloadError(error("no_text"))
    problems = validate_message({"text": text, "blocks": blocks})
    if problems:
        raise InvalidPayloadError(error("invalid_blocks", messages=problems))
    return str(text), copy.deepcopy(blocks), copy.deepcopy(metadata)


def checked_view(value: Any, *, kind: str) -> dict[str, Any]:
    """A view parameter parsed and checked (``kind`` is modal or home); raises ``InvalidPayloadError``."""
    view = json_param({"view": value}, "view", "invalid_arguments")
    if not isinstance(view, dict):
        raise InvalidPayloadError(error("invalid_arguments", messages=["view: required"]))
    problems = validate_view(view)
    if view.get("type") != kind:
        problems.insert(0, f"type: must be {kind} here, got {view.get('type')!r}")
    if problems:
        raise InvalidPayloadError(error("invalid_arguments", messages=problems))
    return copy.deepcopy(view)
