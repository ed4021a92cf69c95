"""``auditbot workspace ...``: read what people received in the running local workspace."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from bot.cli import Context
from bot.workspace.forms import input_fields


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", f"HTTP {exc.code}")
        what = {"users_not_found": "nobody with that email is in the local workspace"}.get(error, error)
        raise click.ClickException(what) from None
    except urllib.error.URLError as exc:
        raise click.ClickException(
            f"no local workspace answers at {url.split('/_local')[0]} ({exc.reason}); is `auditbot run` running?"
        ) from None


def readable(text: str, names: dict[str, str]) -> str:
    """Mentions as ``@Name`` and Slack's escapes undone, as the Slack client shows them."""
    text = re.sub(r"<@(U[A-Z0-9]+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def block_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """A plain-text reading of Block Kit blocks, as a person would see them."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section") and block.get("text"):
            lines.extend(str(block["text"]["text"]).splitlines())
        for item in block.get("fields", []) or []:
            lines.append(" | ".join(str(item["text"]).splitlines()))
        if kind == "context":
            lines.extend(str(e.get("text", "")) for e in block.get("elements", []))
        if kind == "actions":
            lines.append("  ".join(f"[{e.get('text', {}).get('text', '')}]" for e in block.get("elements", [])))
    return lines


def ctx_settings(click_ctx: click.Context) -> Any:
    """The settings of the running command."""
    ctx: Context = click_ctx.find_root().obj
    return ctx.settings


def register(group: click.Group) -> None:
    """Add the ``workspace`` commands."""

    @group.group("workspace")
    @click.option("--url", default=None, help="Local workspace address (default: 127.0.0.1 and the configured port).")
    @click.pass_context
    def workspace(click_ctx: click.Context, url: str | None) -> None:
        """Look inside the local Slack workspace that `auditbot run` starts without credentials."""
        ctx: Context = click_ctx.obj
        click_ctx.meta["ws_url"] = (url or f"http://127.0.0.1:{ctx.settings.local_workspace_port}").rstrip("/")

    @workspace.command("messages")
    @click.option("--user", "email", required=True, help="Whose messages to show (their email).")
    @click.option("--json", "as_json", is_flag=True, help="Print the raw messages.")
    @click.pass_context
    def messages(click_ctx: click.Context, email: str, as_json: bool) -> None:
        """Show the messages a person has received."""
        base = click_ctx.meta["ws_url"]
        found = _get(f"{base}/_local/messages?{urllib.parse.urlencode({'user': email})}")
        if as_json:
            click.echo(json.dumps(found, indent=2))
            return
        if not found:
            click.echo(f"{email} has no messages")
        names = {u["id"]: u["name"] for u in _get(f"{base}/_local/users")}
        for number, message in enumerate(found, 1):
            _show_message(click_ctx, {"number": number, **message}, names)

    @workspace.command("command")
    @click.option("--user", "email", required=True, help="Who types the command (their email).")
    @click.argument("command")
    @click.argument("text", nargs=-1)
    @click.pass_context
    def command(click_ctx: click.Context, email: str, command: str, text: tuple[str, ...]) -> None:
        """Type a slash command as a person, e.g. `command --user EMAIL /audit mine`."""
        answer = _post(f"{click_ctx.meta['ws_url']}/_local/act/command", {"user": email, "command": command, "text": " ".join(text)})
        if not answer.get("ok"):
            raise click.ClickException(f"the workspace refused: {answer.get('error')} {answer.get('detail', '')}".strip())
        body = answer.get("body")
        if isinstance(body, dict):
            for line in block_lines(body.get("blocks") or []) or [str(body.get("text", ""))]:
                click.echo(line)
        elif body:
            click.echo(str(body))
        if answer.get("modal"):
            _show_modal(click_ctx, answer["modal"], email)
        click.echo(click.style(f"(the bot answered HTTP {answer['status']}; only {email} sees this)", dim=True))

    @workspace.command("click")
    @click.option("--user", "email", required=True, help="Who clicks (their email).")
    @click.option("--message", "number", type=int, default=None,
                  help="Which message (its # in `workspace messages`); default: their newest with that button.")
    @click.option("--option", default=None, help="For a menu: the option to choose (its words or value).")
    @click.argument("button")
    @click.pass_context
    def click_button(click_ctx: click.Context, email: str, number: int | None, option: str | None, button: str) -> None:
        """Click a button in a message, by its words, e.g. `click --user EMAIL "Mark audit complete"`."""
        base = click_ctx.meta["ws_url"]
        answer = _post(f"{base}/_local/act/click", {"user": email, "button": button, "message": number, "option": option})
        if not answer.get("ok"):
            raise click.ClickException(_refused(answer))
        click.echo(click.style(f"{email} clicked [{answer['clicked']}] in message #{answer['message']}", dim=True))
        if answer.get("confirmed"):
            click.echo(click.style(f"(Slack asked first: \"{answer['confirmed']}\" and they confirmed)", dim=True))
        _show_outcome(click_ctx, email, answer)

    @workspace.command("modal")
    @click.option("--user", "email", required=True, help="Whose open modal to show (their email).")
    @click.pass_context
    def modal(click_ctx: click.Context, email: str) -> None:
        """Show the modal a person has open, with the fields `workspace submit` can fill."""
        view = _get(f"{click_ctx.meta['ws_url']}/_local/modal?{urllib.parse.urlencode({'user': email})}")
        if view is None:
            click.echo(f"{email} has no modal open")
            return
        _show_modal(click_ctx, view, email)

    @workspace.command("submit")
    @click.option("--user", "email", required=True, help="Who submits (their email).")
    @click.argument("fields", nargs=-1)
    @click.pass_context
    def submit(click_ctx: click.Context, email: str, fields: tuple[str, ...]) -> None:
        """Fill in and submit a person's open modal: `submit --user EMAIL field=value ...`."""
        typed: dict[str, str] = {}
        for item in fields:
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise click.BadParameter(f"{item!r} is not field=value", param_hint="FIELDS")
            typed[name.strip()] = value
        answer = _post(f"{click_ctx.meta['ws_url']}/_local/act/submit", {"user": email, "fields": typed})
        if not answer.get("ok"):
            raise click.ClickException(_refused(answer))
        body = answer.get("body")
        if isinstance(body, dict) and body.get("response_action") == "errors":
            click.echo("The modal stays open with these problems:")
            for block_id, problem in (body.get("errors") or {}).items():
                click.echo(f"  {block_id}: {problem}")
            return
        _show_outcome(click_ctx, email, answer, submitted=True)

    @workspace.command("users")
    @click.pass_context
    def users(click_ctx: click.Context) -> None:
        """List the people in the local workspace."""
        for user in _get(f"{click_ctx.meta['ws_url']}/_local/users"):
            click.echo(f"{user['id']}  {user['email']}  {user['name']}")



def _refused(answer: dict[str, Any]) -> str:
    """One line for a refusal from the local workspace."""
    error = str(answer.get("error", "refused"))
    if error == "users_not_found":
        return "nobody with that email is in the local workspace"
    return str(answer.get("detail") or f"the workspace refused: {error}")


def _names(click_ctx: click.Context) -> dict[str, str]:
    return {u["id"]: u["name"] for u in _get(f"{click_ctx.meta['ws_url']}/_local/users")}


def _show_message(click_ctx: click.Context, message: dict[str, Any], names: dict[str, str], note: str = "") -> None:
    tag = " (only visible to them)" if message.get("ephemeral") else ""
    tz = ctx_settings(click_ctx).tz
    when = dt.datetime.fromtimestamp(float(message["ts"]), tz).strftime("%a %d %b %Y %H:%M")
    click.echo(click.style(f"#{message['number']} — {when} in {message['channel']}{tag}{note}", bold=True))
    for line in block_lines(message.get("blocks") or []) or [message.get("text", "")]:
        click.echo(f"  {readable(line, names)}")


def _show_modal(click_ctx: click.Context, view: dict[str, Any], email: str) -> None:
    names = _names(click_ctx)
    title = (view.get("title") or {}).get("text", "")
    click.echo(click.style(f"Modal open for {email}: {title}", bold=True))
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            for line in block_lines([block]):
                click.echo(f"  {readable(line, names)}")
    fields = input_fields(view)
    if fields:
        click.echo("Fields (fill with `auditbot workspace submit --user EMAIL field=value ...`):")
    for field in fields:
        choices = " | ".join(f"{o.get('value')} ({(o.get('text') or {}).get('text', '')})" for o in field.options)
        kind = {"datepicker": "a date, YYYY-MM-DD", "users_select": "an email", "plain_text_input": "text",
                "checkboxes": "comma-separated"}.get(field.kind, field.kind)
        prefilled = f"; already filled in: {field.initial}" if field.initial else ""
        click.echo(f"  {field.block_id}  — {field.label}{' (optional)' if field.optional and 'optional' not in field.label else ''}"
                   f"; {('one of: ' + choices) if choices else kind}{prefilled}")
        if field.hint:
            click.echo(f"      {field.hint}")


def _show_outcome(click_ctx: click.Context, email: str, answer: dict[str, Any], submitted: bool = False) -> None:
    """What the person now sees: changed and new messages, and any modal on top."""
    names = _names(click_ctx)
    for message in answer.get("changed_messages") or []:
        _show_message(click_ctx, message, names, note=" (updated)")
    for message in answer.get("new_messages") or []:
        _show_message(click_ctx, message, names, note=" (new)")
    if answer.get("modal"):
        _show_modal(click_ctx, answer["modal"], email)
    elif submitted:
        click.echo("The modal closed.")
    click.echo(click.style(f"(the bot answered HTTP {answer['status']}; direct messages it queued arrive within "
                           "seconds: `auditbot workspace messages --user EMAIL`)", dim=True))


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except urllib.error.URLError as exc:
        raise click.ClickException(f"no local workspace answers ({exc.reason}); is `auditbot run` running?") from None
