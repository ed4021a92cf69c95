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


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local workspace only
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
        tz = ctx_settings(click_ctx).tz
        for message in found:
            tag = " (only visible to them)" if message.get("ephemeral") else ""
            when = dt.datetime.fromtimestamp(float(message["ts"]), tz).strftime("%a %d %b %Y %H:%M")
            click.echo(click.style(f"— {when} in {message['channel']}{tag}", bold=True))
            for line in block_lines(message.get("blocks") or []) or [message.get("text", "")]:
                click.echo(f"  {readable(line, names)}")

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
        click.echo(click.style(f"(the bot answered HTTP {answer['status']}; only {email} sees this)", dim=True))

    @workspace.command("users")
    @click.pass_context
    def users(click_ctx: click.Context) -> None:
        """List the people in the local workspace."""
        for user in _get(f"{click_ctx.meta['ws_url']}/_local/users"):
            click.echo(f"{user['id']}  {user['email']}  {user['name']}")



def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - local workspace only
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")
    except urllib.error.URLError as exc:
        raise click.ClickException(f"no local workspace answers ({exc.reason}); is `auditbot run` running?") from None
