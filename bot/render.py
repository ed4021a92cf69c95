"""The one function that turns a template and its context into a Block Kit payload."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from bot.blockkit import check_message, check_view
from bot.ids import Template
from messages import TEMPLATE_DIR

#: Times in messages are shown in the councils' local time (shared/domain.md).
DISPLAY_TZ = ZoneInfo("Europe/London")


def slack_escape(text: str) -> str:
    """Escape the three characters Slack treats as markup: ``&``, ``<`` and ``>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_unescape(text: str) -> str:
    """What was typed, for a modal's ``initial_value`` (the context reaches templates escaped)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape_tree(value: Any) -> Any:
    if isinstance(value, str):
        return slack_escape(value)
    if isinstance(value, Mapping):
        return {k: _escape_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_escape_tree(v) for v in value]
    return value


def _long_date(value: str | dt.date) -> str:
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day:%A} {day.day} {day:%B %Y}"


def _when(value: str | dt.datetime) -> str:
    """A stored UTC time as people read it: ``14:05 on Tuesday 1 December 2026`` (London time)."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    local = moment.astimezone(DISPLAY_TZ)
    return f"{local:%H:%M} on {_long_date(local.date())}"


def _month_label(value: str | dt.date) -> str:
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return f"{day:%B %Y}"


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["longdate"] = _long_date
    env.filters["monthlabel"] = _month_label
    env.filters["when"] = _when
    env.filters["typed"] = slack_unescape
    return env


def render(template: Template, context: Mapping[str, Any], *, slack_ids: Mapping[int, str] | None = None) -> dict[str, Any]:
    """Render ``template`` with ``context`` into a checked Block Kit payload.

    Every string in ``context`` is Slack-escaped before the template sees it; templates
    interpolate values with ``|tojson``. People in the context (``{"id", "name"}``) render
    as mentions through the ``who`` filter when their Slack user id is in ``slack_ids``.
    Raises ``BlockKitError`` if the result breaks Block Kit limits.
    """
    ids = dict(slack_ids or {})

    def who(person: Mapping[str, Any] | None, fallback: str = "not recorded") -> str:
        if not person:
            return fallback
        uid = ids.get(int(person["id"]))
        return f"<@{uid}>" if uid else str(person["name"])

    tpl = _environment().get_template(template.filename)
    text = tpl.render(**_escape_tree(dict(context)), who=who)
    try:
        payload: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"template {template.filename} rendered invalid JSON: {exc}") from exc
    if template.is_view:
        check_view(payload)
    else:
        check_message(payload)
    return payload
