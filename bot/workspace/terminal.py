"""The ``/_local/act/*`` endpoints: a member acts from a terminal (``auditbot workspace ...``).

Each takes a small JSON body, does what the member would do in Slack (type a command, click a
button by its words, fill in and submit the open modal, close it) and answers with the bot's
reply and what the member now sees: the modal on top (and whether this action changed it), and
the messages that changed or arrived.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.workspace.actor import BotTimeoutError, BotUnreachableError
from bot.workspace.browser import press
from bot.workspace.forms import FormInputError, find_clickable, find_in_view, input_values

if TYPE_CHECKING:
    from bot.workspace.server import LocalWorkspace

Answer = tuple[int, Any]

#: What each endpoint expects, for the 400 answer to a body it cannot read.
EXPECTED = {
    "command": "JSON with user (email), command and text",
    "click": "JSON with user (email), button, and optionally message (number) or home (true), and option",
    "home": "JSON with user (email)",
    "submit": "JSON with user (email) and fields",
    "close": "JSON with user (email), and optionally fields (what was typed before closing)",
    "press": "JSON with user (email), action, and channel and ts (a message) or view, and value or option",
}


class _NoModal(LookupError):
    pass


def act(ws: LocalWorkspace, route: str, raw: bytes) -> Answer | None:
    """Answer ``POST /_local/act/<route>`` (None: no such endpoint)."""
    action = ACTIONS.get(route)
    if action is None:
        return None
    try:
        body = json.loads(raw or b"null")
        if not isinstance(body, dict):
            raise TypeError("not a JSON object")
        email = str(body["user"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return 400, {"ok": False, "error": "invalid_payload", "expected": EXPECTED[route]}
    if ws.member_id(email) is None:
        return 404, {"ok": False, "error": "users_not_found"}
    try:
        before, modal_before = ws.messages(user_email=email), _top(ws, email)
        reply = action(ws, email, body)
    except _NoModal as exc:
        return 404, {"ok": False, "error": "no_open_modal", "detail": str(exc)}
    except FormInputError as exc:
        code = (404, "button_not_found") if route == "click" else (400, "invalid_input")
        return code[0], {"ok": False, "error": code[1], "detail": str(exc)}
    except (BotTimeoutError, BotUnreachableError) as exc:
        return 502, {"ok": False, "error": type(exc).__name__, "detail": str(exc)}
    except (KeyError, TypeError, ValueError):  # after FormInputError, a ValueError with its own words
        return 400, {"ok": False, "error": "invalid_payload", "expected": EXPECTED[route]}
    return 200, {"ok": True, **reply, **_after(ws, email, before, modal_before)}


def _command(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    result = ws.slash_command(email, str(body["command"]), str(body.get("text", "")))
    return {"status": result["status"], "body": result["body"]}


def _click(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("home"):
        return _click_home(ws, email, body)
    number = int(body["message"]) if body.get("message") is not None else None
    option = str(body["option"]) if body.get("option") is not None else None
    target = find_clickable(ws.messages(user_email=email), str(body["button"]), number=number, option=option)
    result = ws.click(email, target.message, target.action_id, selected_option=target.option)
    return {"clicked": target.label, "message": target.number, "confirmed": target.confirm,
            "status": result["status"], "body": result["body"]}


def _home(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    """The member opens the Home tab (``app_home_opened``, signed); the Home the bot publishes for it.

    ``home`` is the Home they now see (None when none was ever published); ``published`` says
    whether the bot published it for this opening (within ``publish_wait_seconds``).
    """
    before = ws.home(email)
    result = ws.open_home(email)
    published = ws.wait_for_home(email, before) if result["status"] == 200 else None
    return {"status": result["status"], "body": result["body"], "home": published or before, "published": published is not None}


def _click_home(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    """Click a button on the member's Home by its words (the first from the top), then wait for the
    bot to republish the Home (it does after every click, from its publisher thread), unless the
    click opened a modal: that is what the member sees next, so it is shown at once."""
    before = ws.home(email)
    if before is None:
        raise FormInputError(f"{email} has no Home tab yet; open it first with `auditbot workspace home --user {email}`")
    option = str(body["option"]) if body.get("option") is not None else None
    target = find_in_view(before, str(body["button"]), option=option)
    value = None if target.option is not None else target.value
    modals = len(ws.view_stack(email))
    result = ws.click_view(email, before, target.action_id, value=value, selected_option=target.option)
    opened = len(ws.view_stack(email)) > modals
    republished = ws.wait_for_home(email, before) if result["status"] == 200 and not opened else None
    return {"clicked": target.label, "message": None, "confirmed": target.confirm, "status": result["status"],
            "body": result["body"], "home": republished or ws.home(email), "published": republished is not None}


def _submit(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    typed = body.get("fields") or {}
    if not isinstance(typed, dict):
        raise TypeError("fields must be an object")
    stack = ws.view_stack(email)
    if not stack:
        raise _NoModal(f"{email} has no modal open")
    values = input_values(stack[-1], {str(k): str(v) for k, v in typed.items()}, ws.member_id)
    result = ws.submit_view(email, stack[-1], values)
    return {"status": result["status"], "body": result["body"]}


def _close(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    top = _top(ws, email)
    if top is None:
        raise _NoModal(f"{email} has no modal open")
    typed = body.get("fields") or {}
    if not isinstance(typed, dict):
        raise TypeError("fields must be an object")
    values = input_values(top, {str(k): str(v) for k, v in typed.items()}, ws.member_id)
    reply = {"closed": (top.get("title") or {}).get("text", ""), "status": None, "body": None, "notified": False}
    try:
        closed = ws.close_modal(email, values)
    except (BotTimeoutError, BotUnreachableError) as exc:  # closed all the same, as in Slack
        return {**reply, "not_told": str(exc)}
    return {**reply, **({k: closed[k] for k in ("status", "body", "notified")} if closed else {})}


ACTIONS: dict[str, Callable[[LocalWorkspace, str, dict[str, Any]], dict[str, Any]]] = {
    "command": _command,
    "click": _click,
    "submit": _submit,
    "close": _close,
    "home": _home,
    "press": press,  # the browser page's click, on an exact message or view (bot/workspace/browser.py)
}


def _top(ws: LocalWorkspace, email: str) -> dict[str, Any] | None:
    stack = ws.view_stack(email)
    return stack[-1] if stack else None


def _after(
    ws: LocalWorkspace, email: str, before: list[dict[str, Any]], modal_before: dict[str, Any] | None
) -> dict[str, Any]:
    """What the member sees once the bot answered: the modal on top, messages changed and new.

    ``modal_changed`` is false when the same modal (same id and hash) was on top before, so a
    terminal need not show it again.
    """
    modal = _top(ws, email)
    same = modal is not None and modal_before is not None and (modal["id"], modal["hash"]) == (
        modal_before["id"], modal_before["hash"])
    now = ws.messages(user_email=email)
    changed = [{"number": n, **m} for n, (m, was) in enumerate(zip(now, before, strict=False), 1) if m != was]
    fresh = [{"number": n, **m} for n, m in enumerate(now[len(before):], len(before) + 1)]
    return {"modal": modal, "modal_changed": modal is not None and not same, "changed_messages": changed,
            "new_messages": fresh}
