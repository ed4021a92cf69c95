"""The local workspace in a browser: pick a person and see what they see in Slack.

``GET /`` on the workspace's own port (127.0.0.1 only, local mode) serves ``page.html``: a person picker, their
direct messages newest first, their App Home, and the modal on top of their stack. The page asks
``/_local/browser/render?user=EMAIL`` every second for what the person sees, drawn here from the same Block Kit
payloads Slack's clients draw (sections and their fields, headers, context, dividers, actions with buttons in
their styles, menus, date and time pickers, inputs; mrkdwn bold, italic, strike, code, links and mentions shown as
names), and replaces what changed, so new messages appear without a reload. Every button, menu and form goes back
through ``/_local/act/...``, the terminal's own endpoints: the workspace's actor sends the bot the signed request
Slack would, by the same code path as ``auditbot workspace click``.

Everything drawn is escaped here; the page's script inserts only this module's HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.workspace.forms import FormInputError

if TYPE_CHECKING:
    from bot.workspace.server import LocalWorkspace

PAGE = Path(__file__).with_name("page.html")

#: Slack's link and mention syntax inside mrkdwn: <https://x|words>, <@U123>, <#C123|name>, <!here>.
_ANGLE = re.compile(r"<([^<>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")
_CODE = re.compile(r"`([^`\n]+)`")
_EMOJI = {":rotating_light:": "🚨", ":white_check_mark:": "✅", ":warning:": "⚠️", ":hourglass:": "⌛",
          ":hourglass_flowing_sand:": "⏳", ":calendar:": "📅", ":memo:": "📝", ":bar_chart:": "📊",
          ":clipboard:": "📋", ":bell:": "🔔", ":x:": "❌", ":information_source:": "ℹ️"}


def page() -> bytes:
    """The page itself (static: everything it shows comes from ``render``)."""
    return PAGE.read_bytes()


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _styled(escaped: str) -> str:
    for pattern, tag in ((_CODE, "code"), (_BOLD, "b"), (_ITALIC, "i"), (_STRIKE, "s")):
        escaped = pattern.sub(rf"<{tag}>\1</{tag}>", escaped)
    return escaped


def mrkdwn(text: str, name_of: Callable[[str], str | None]) -> str:
    """Slack mrkdwn as HTML: Slack's own escapes undone, then HTML-escaped, then styled; links, mentions and
    channels as Slack's clients show them."""
    out, last = [], 0
    for match in _ANGLE.finditer(text):
        out.append(_plain(text[last:match.start()]))
        out.append(_angle(match.group(1), name_of))
        last = match.end()
    out.append(_plain(text[last:]))
    return "".join(out).replace("\n", "<br>")


def _unslack(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(text: str) -> str:
    styled = _styled(_esc(_unslack(text)))
    for code, emoji in _EMOJI.items():  # in text only, never inside a link's address
        styled = styled.replace(code, emoji)
    return styled


def _safe_url(url: object) -> str | None:
    """A link's address if it is one a page may open (http, https, mailto), else None."""
    text = _unslack(str(url)).strip()
    return text if text.lower().startswith(("http://", "https://", "mailto:")) else None


def _angle(inner: str, name_of: Callable[[str], str | None]) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        name = name_of(target[1:])
        return f'<span class="mention">@{_esc(name or target[1:])}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{_esc(_unslack(label) or target[1:])}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{_esc(target[1:].split("^")[0])}</span>'
    address = _safe_url(target)
    if address is not None:
        return f'<a href="{_esc(address)}" target="_blank" rel="noopener">{_styled(_esc(_unslack(label or target)))}</a>'
    return _esc(_unslack(inner))


class Drawer:
    """Draws one person's Block Kit; ``where`` says which message or view a control acts in."""

    def __init__(self, name_of: Callable[[str], str | None]) -> None:
        self.name_of = name_of

    def text(self, obj: Any) -> str:
        if not isinstance(obj, dict):
            return ""
        if obj.get("type") == "mrkdwn":
            return mrkdwn(str(obj.get("text", "")), self.name_of)
        return _esc(obj.get("text", "")).replace("\n", "<br>")

    def blocks(self, blocks: Iterable[Any], where: dict[str, str]) -> str:
        return "".join(self.block(b, where) for b in blocks if isinstance(b, dict))

    def block(self, block: dict[str, Any], where: dict[str, str]) -> str:
        kind = block.get("type")
        if kind == "header":
            return f'<h3 class="header">{self.text(block.get("text"))}</h3>'
        if kind == "divider":
            return "<hr>"
        if kind == "context":
            parts = [self.text(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            return f'<div class="context">{" ".join(parts)}</div>'
        if kind == "section":
            body = f'<div class="text">{self.text(block.get("text"))}</div>' if block.get("text") else ""
            fields = "".join(f'<div class="field">{self.text(f)}</div>' for f in block.get("fields") or [])
            accessory = block.get("accessory")
            extra = self.element(accessory, block, where) if isinstance(accessory, dict) else ""
            return f'<div class="section">{body}{f"<div class=fields>{fields}</div>" if fields else ""}{extra}</div>'
        if kind == "actions":
            controls = "".join(self.element(e, block, where) for e in block.get("elements") or [] if isinstance(e, dict))
            return f'<div class="actions">{controls}</div>'
        if kind == "input":
            return self.input(block)
        if kind == "image":
            return f'<div class="context">[image: {_esc(block.get("alt_text", ""))}]</div>'
        return ""

    def element(self, element: dict[str, Any], block: dict[str, Any], where: dict[str, str]) -> str:
        """A control in a message, on the Home or in a modal's actions: acting on it is a click."""
        data = {**where, "action": str(element.get("action_id", "")), "block": str(block.get("block_id", ""))}
        kind = element.get("type")
        if kind == "button":
            style = {"primary": " primary", "danger": " danger"}.get(str(element.get("style")), "")
            address = _safe_url(element["url"]) if element.get("url") else None
            if address is not None:
                return (f'<a class="btn{style}" href="{_esc(address)}" target="_blank" rel="noopener">'
                        f'{self.text(element.get("text"))}</a>')
            attrs = _data({**data, "value": str(element.get("value", "")), "confirm": _confirm(element)})
            return f'<button class="btn{style}" {attrs}>{self.text(element.get("text"))}</button>'
        if kind in ("static_select", "overflow"):
            options = "".join(f'<option value="{_esc(o.get("value", ""))}">{self.text(o.get("text"))}</option>'
                              for o in _options(element))
            placeholder = self.text(element.get("placeholder")) or "Choose…"
            return f'<select class="menu" {_data(data)}><option value="">{placeholder}</option>{options}</select>'
        if kind in ("datepicker", "timepicker"):
            typed = "date" if kind == "datepicker" else "time"
            return f'<input class="picker" type="{typed}" {_data(data)}>'
        return ""

    def input(self, block: dict[str, Any]) -> str:
        """A modal's input block: a form field named by its block id (what the terminal's submit takes)."""
        element = block.get("element")
        if not isinstance(element, dict):
            element = {}
        name = _esc(block.get("block_id", ""))
        kind = element.get("type")
        if kind == "plain_text_input":
            initial = _esc(element.get("initial_value", ""))
            control = (f'<textarea name="{name}">{initial}</textarea>' if element.get("multiline")
                       else f'<input type="text" name="{name}" value="{initial}">')
        elif kind in ("radio_buttons", "checkboxes"):
            typed = "radio" if kind == "radio_buttons" else "checkbox"
            picked = {o.get("value") for o in element.get("initial_options") or []}
            if element.get("initial_option"):
                picked.add(element["initial_option"].get("value"))
            control = "".join(
                f'<label class="choice"><input type="{typed}" name="{name}" value="{_esc(o.get("value", ""))}"'
                f'{" checked" if o.get("value") in picked else ""}> {self.text(o.get("text"))}</label>'
                for o in _options(element)
            )
        elif kind == "static_select":
            chosen = (element.get("initial_option") or {}).get("value")
            options = "".join(f'<option value="{_esc(o.get("value", ""))}"{" selected" if o.get("value") == chosen else ""}>'
                              f'{self.text(o.get("text"))}</option>' for o in _options(element))
            control = f'<select name="{name}"><option value=""></option>{options}</select>'
        elif kind in ("datepicker", "timepicker"):
            typed, key = ("date", "initial_date") if kind == "datepicker" else ("time", "initial_time")
            control = f'<input type="{typed}" name="{name}" value="{_esc(element.get(key, ""))}">'
        elif kind == "users_select":
            control = f'<input type="email" name="{name}" placeholder="their email">'
        else:
            control = f'<div class="context">(a {_esc(kind)} field)</div>'
        optional = ' <span class="optional">(optional)</span>' if block.get("optional") else ""
        hint = f'<div class="hint">{self.text(block.get("hint"))}</div>' if block.get("hint") else ""
        return (f'<div class="input" data-kind="{_esc(kind)}" data-name="{name}"><label>{self.text(block.get("label"))}{optional}'
                f'</label>{control}{hint}</div>')


def _options(element: dict[str, Any]) -> list[dict[str, Any]]:
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    for group in element.get("option_groups") or []:
        options += [o for o in group.get("options") or [] if isinstance(o, dict)]
    return options


def _confirm(element: dict[str, Any]) -> str:
    confirm = element.get("confirm")
    if not isinstance(confirm, dict):
        return ""
    parts = [(confirm.get("title") or {}).get("text", ""), (confirm.get("text") or {}).get("text", "")]
    return "\n\n".join(p for p in parts if p)


def _data(values: dict[str, str]) -> str:
    return " ".join(f'data-{k}="{_esc(v)}"' for k, v in values.items())


def render(ws: LocalWorkspace, email: str) -> dict[str, Any]:
    """What ``email`` sees now: their DMs (newest first), their Home and their top modal, as HTML."""
    names = {u["id"]: u.get("real_name") or u.get("name") for u in ws.users()}
    draw = Drawer(names.get)
    messages = ws.messages(user_email=email)
    shown = []
    for number, message in reversed(list(enumerate(messages, 1))):
        where = {"channel": str(message.get("channel", "")), "ts": str(message.get("ts", ""))}
        fallback = f'<div class="text">{mrkdwn(str(message.get("text", "")), names.get)}</div>'
        body = draw.blocks(message.get("blocks") or [], where) or fallback
        files = "".join(f'<div class="file">📎 {_esc(f.get("title") or f.get("name", ""))}</div>'
                        for f in message.get("files") or [])
        flags = (" ephemeral" if message.get("ephemeral") else "") + (" edited" if message.get("edited") else "")
        note = '<span class="note">Only visible to you</span>' if message.get("ephemeral") else ""
        edited = '<span class="note">(edited)</span>' if message.get("edited") else ""
        shown.append(f'<article class="message{flags}" data-number="{number}"><div class="meta">#{number} {note}{edited}</div>'
                     f'{body}{files}</article>')
    home = ws.home(email)
    home_html = draw.blocks(home.get("blocks") or [], {"view": str(home["id"])}) if home else ""
    stack = ws.view_stack(email)
    modal = stack[-1] if stack else None
    modal_html = ""
    if modal is not None:
        title = draw.text(modal.get("title"))
        submit = draw.text(modal.get("submit")) if modal.get("submit") else ""
        close = draw.text(modal.get("close")) or "Cancel"
        submit_button = f'<button class="btn primary" data-submit="1">{submit}</button>' if submit else ""
        modal_html = (f'<div class="modal" data-view="{_esc(modal["id"])}"><h2>{title}</h2><form>'
                      f'{draw.blocks(modal.get("blocks") or [], {"view": str(modal["id"])})}</form>'
                      f'<div class="modal-buttons"><button class="btn" data-close="1">{close}</button>{submit_button}'
                      '</div></div>')
    return {"messages": "".join(shown) or '<p class="empty">No messages yet.</p>',
            "home": home_html or '<p class="empty">Open the Home tab to see what the bot shows here.</p>',
            "modal": modal_html, "count": len(messages)}


def press(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    """A click in the page: on a message (``channel`` and ``ts``) or in a view (``view``), on the element
    ``action`` (the button whose ``value`` it is, or the menu's chosen ``option``). A control that is no longer
    there (the message changed under the person's pointer) is answered in words."""
    try:
        return _press(ws, email, body)
    except (LookupError, PermissionError, NotImplementedError, ValueError) as exc:
        raise FormInputError(f"that is no longer there to click: {exc}") from exc


def _press(ws: LocalWorkspace, email: str, body: dict[str, Any]) -> dict[str, Any]:
    action, value = str(body["action"]), body.get("value") or None
    option = str(body["option"]) if body.get("option") else None
    if body.get("view"):
        view = next((v for v in [ws.home(email), *ws.view_stack(email)] if v and v["id"] == body["view"]), None)
        if view is None:
            raise KeyError("that view is no longer open")
        result = ws.click_view(email, view, action, value=None if option else value, selected_option=option)
    else:
        message = next((m for m in ws.messages(user_email=email)
                        if m["channel"] == body["channel"] and m["ts"] == body["ts"]), None)
        if message is None:
            raise KeyError("that message is gone")
        result = ws.click(email, message, action, value=None if option else value, selected_option=option)
    return {"status": result["status"], "body": result["body"]}

