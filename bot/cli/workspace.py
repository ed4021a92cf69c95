"""``auditbot workspace ...``: read what people received in the running local workspace."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from bot.cli import Context
from bot.services.staff.people import emails_with_role
from bot.web import HEALTH_PATH, SERVER_IDENT
from bot.workspace.forms import choices, input_fields
from store.models import Role


def _get(url: str) -> Any:
    """GET a read endpoint of the local workspace; its refusal as one line."""
    status, answer = _request(url, None, timeout=10)
    if status >= 400:
        error = answer.get("error", f"HTTP {status}") if isinstance(answer, dict) else f"HTTP {status}"
        refusals = {"users_not_found": "nobody with that email is in the local workspace",
                    "file_not_found": "no file with that id is in the local workspace"}
        raise click.ClickException(refusals.get(error, error))
    return answer


def _post(url: str, body: dict[str, Any]) -> Any:
    """POST to an ``/_local/act/`` endpoint; its JSON answer, refusals included."""
    return _request(url, body, timeout=15)[1]


def _request(url: str, body: dict[str, Any] | None, *, timeout: float) -> tuple[int, Any]:
    """(status, JSON answer) from the local workspace; one line when something else answers."""
    base = url.split("/_local")[0]
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"},
                                     method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, exc.headers, exc.read()
    except urllib.error.URLError as exc:
        raise click.ClickException(f"no local workspace answers at {base} ({exc.reason}); is `auditbot run` running?") from None
    is_bot = str(headers.get("Server", "")).startswith(SERVER_IDENT)
    if not is_bot:
        try:
            return status, json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    raise _not_the_workspace(base, status, bot=is_bot)


def _not_the_workspace(base: str, status: int, *, bot: bool) -> click.ClickException:
    """Why ``base`` gave no workspace answer: it is the bot (its header, or its health check), or something else."""
    if not bot:
        try:
            with urllib.request.urlopen(base + HEALTH_PATH, timeout=5) as response:
                health = json.loads(response.read())
                bot = str(response.headers.get("Server", "")).startswith(SERVER_IDENT) or (
                    isinstance(health, dict) and "ok" in health)
        except (OSError, ValueError, TypeError):
            bot = False
    if bot:
        port = ctx_settings(click.get_current_context()).local_workspace_port
        return click.ClickException(f"{base} is the bot, not the local workspace; the workspace listens on port {port} "
                                    "(AUDITBOT_LOCAL_WORKSPACE_PORT)")
    return click.ClickException(f"{base} does not answer like the local workspace (HTTP {status}); check --url")


#: Slack's angle-bracket markup: ``<@U…>``, ``<#C…|name>``, ``<!here>``, ``<https://…|words>``.
_MARKUP = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


def readable(text: str, names: dict[str, str]) -> str:
    """Mentions as ``@Name``, links as their words and Slack's escapes undone, as the Slack client shows them."""

    def shown(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return "@" + names.get(target, label or target)
        if sigil == "#":
            return "#" + (label or target)
        if sigil == "!":
            return label or "@" + target.split("^")[0]
        return label or target

    return _MARKUP.sub(shown, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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


def _typed(fields: tuple[str, ...]) -> dict[str, str]:
    """``field=value`` arguments as a dict (a value may contain ``=``)."""
    typed: dict[str, str] = {}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not field=value", param_hint="FIELDS")
        typed[name.strip()] = value
    return typed


def register(group: click.Group) -> None:
    """Add the ``workspace`` commands."""

    @group.group("workspace")
    @click.option("--url", default=None, help="The local workspace's address, not the bot's "
                  "(default: http://127.0.0.1:$AUDITBOT_LOCAL_WORKSPACE_PORT, normally 3001).")
    @click.pass_context
    def workspace(click_ctx: click.Context, url: str | None) -> None:
        """Look inside the local Slack workspace that `auditbot run` starts without credentials."""
        ctx: Context = click_ctx.obj
        click_ctx.meta["ws_url"] = (url or f"http://127.0.0.1:{ctx.settings.local_workspace_port}").rstrip("/")

    @workspace.command("messages")
    @click.option("--user", "email", required=True, help="Whose messages to show (their email).")
    @click.option("--last", type=click.IntRange(min=1), default=None, metavar="N",
                  help="Show only their newest N messages (each keeps its # for `click --message`).")
    @click.option("--json", "as_json", is_flag=True, help="Print the raw messages.")
    @click.pass_context
    def messages(click_ctx: click.Context, email: str, last: int | None, as_json: bool) -> None:
        """Show the messages a person has received, oldest first."""
        base = click_ctx.meta["ws_url"]
        received = _get(f"{base}/_local/messages?{urllib.parse.urlencode({'user': email})}")
        found = [{"number": n, **m} for n, m in enumerate(received, 1)]
        shown = found[-last:] if last else found
        if as_json:
            click.echo(json.dumps(shown, indent=2))
            return
        if not found:
            click.echo(f"{email} has no messages")
        elif len(shown) < len(found):
            click.echo(click.style(f"(the last {len(shown)} of {len(found)} messages)", dim=True))
        names = _names(click_ctx)
        for message in shown:
            _show_message(click_ctx, message, names)

    @workspace.command("command", short_help="Type a slash command as a person.")
    @click.option("--user", "email", required=True, help="Who types the command (their email).")
    @click.argument("command")
    @click.argument("text", nargs=-1)
    @click.pass_context
    def command(click_ctx: click.Context, email: str, command: str, text: tuple[str, ...]) -> None:
        """Type a slash command as a person, e.g. `command --user EMAIL /audit mine`."""
        answer = _post(f"{click_ctx.meta['ws_url']}/_local/act/command",
                       {"user": email, "command": command, "text": " ".join(text)})
        if not answer.get("ok"):
            raise click.ClickException(f"the workspace refused: {answer.get('error')} {answer.get('detail', '')}".strip())
        body, names = answer.get("body"), _names(click_ctx)
        if isinstance(body, dict):
            for line in block_lines(body.get("blocks") or []) or [str(body.get("text", ""))]:
                click.echo(readable(line, names))
        elif body:
            click.echo(readable(str(body), names))
        _show_modal_on_top(click_ctx, email, answer)
        click.echo(click.style(f"(the bot answered HTTP {answer['status']}; only {email} sees this)", dim=True))

    @workspace.command("home", short_help="Open a person's App Home tab and show it.")
    @click.option("--user", "email", required=True, help="Whose Home tab to open (their email).")
    @click.pass_context
    def home(click_ctx: click.Context, email: str) -> None:
        """Open a person's App Home tab as Slack does (the bot is sent `app_home_opened`) and show the
        Home the bot publishes; click its buttons with `click --user EMAIL "Button words" --home`.

        Exits 1 when they have no Home: the bot published none, now or before.
        """
        answer = _post(f"{click_ctx.meta['ws_url']}/_local/act/home", {"user": email})
        if not answer.get("ok"):
            raise click.ClickException(_refused(answer))
        if answer.get("home") is None:
            raise click.ClickException(f"the bot published no Home tab for {email} when they opened it "
                                       f"(it answered HTTP {answer['status']})")
        note = "" if answer.get("published") else " (the bot did not republish it; this is the one it published before)"
        _show_home(click_ctx, email, answer["home"], note)
        click.echo(click.style(f"(click a button with `auditbot workspace click --user {email} \"Button words\" --home`)",
                               dim=True))

    @workspace.command("click", short_help="Click a button in a message (or on the Home tab), by its words.")
    @click.option("--user", "email", required=True, help="Who clicks (their email).")
    @click.option("--message", "number", type=int, default=None,
                  help="Which message (its # in `workspace messages`); default: their newest with that button.")
    @click.option("--home", "on_home", is_flag=True,
                  help="Click it on their App Home tab (as `workspace home` shows it; the first from the top) instead.")
    @click.option("--option", default=None, help="For a menu: the option to choose (its words or value).")
    @click.argument("button")
    @click.pass_context
    def click_button(click_ctx: click.Context, email: str, number: int | None, on_home: bool, option: str | None,
                     button: str) -> None:
        """Click a button in a message, by its words, e.g. `click --user EMAIL "Mark audit complete"`;
        with --home, on their Home tab: then the modal it opens is shown, or the Home as the bot republished it."""
        if on_home and number is not None:
            raise click.UsageError("--message and --home: a button is either in a message or on the Home tab")
        base = click_ctx.meta["ws_url"]
        body = {"user": email, "button": button, "message": number, "option": option, "home": on_home}
        answer = _post(f"{base}/_local/act/click", body)
        if not answer.get("ok"):
            raise click.ClickException(_refused(answer))
        where = "on their Home tab" if on_home else f"in message #{answer['message']}"
        click.echo(click.style(f"{email} clicked [{answer['clicked']}] {where}", dim=True))
        if answer.get("confirmed"):
            click.echo(click.style(f"(Slack asked first: \"{answer['confirmed']}\" and they confirmed)", dim=True))
        if on_home and not (answer.get("modal") and answer.get("modal_changed")) and answer.get("home") is not None:
            note = " (republished)" if answer.get("published") else " (not republished yet)"
            _show_home(click_ctx, email, answer["home"], note)
        _show_outcome(click_ctx, email, answer)

    @workspace.command("modal", short_help="Show a person's open modal and its fields.")
    @click.option("--user", "email", required=True, help="Whose open modal to show (their email).")
    @click.pass_context
    def modal(click_ctx: click.Context, email: str) -> None:
        """Show the modal a person has open, with the fields `workspace submit` can fill."""
        view = _get(f"{click_ctx.meta['ws_url']}/_local/modal?{urllib.parse.urlencode({'user': email})}")
        if view is None:
            click.echo(f"{email} has no modal open")
            return
        _show_modal(click_ctx, view, email)

    @workspace.command("submit", short_help="Fill in and submit a person's open modal.")
    @click.option("--user", "email", required=True, help="Who submits (their email).")
    @click.argument("fields", nargs=-1)
    @click.pass_context
    def submit(click_ctx: click.Context, email: str, fields: tuple[str, ...]) -> None:
        """Fill in and submit a person's open modal: `submit --user EMAIL field=value ...`.

        Exits 1 when a field is refused (the modal stays open), here or by the bot.
        """
        answer = _post(f"{click_ctx.meta['ws_url']}/_local/act/submit", {"user": email, "fields": _typed(fields)})
        if not answer.get("ok"):
            raise click.ClickException(_refused(answer))
        body = answer.get("body")
        if isinstance(body, dict) and body.get("response_action") == "errors":
            names = _names(click_ctx)
            click.echo("The modal stays open with these problems:")
            for block_id, problem in (body.get("errors") or {}).items():
                click.echo(f"  {block_id}: {readable(str(problem), names)}")
            click_ctx.exit(1)
        _show_outcome(click_ctx, email, answer, submitted=True)

    @workspace.command("close", short_help="Close a person's open modal without submitting it.")
    @click.option("--user", "email", required=True, help="Whose open modal to close (their email).")
    @click.argument("fields", nargs=-1)
    @click.pass_context
    def close(click_ctx: click.Context, email: str, fields: tuple[str, ...]) -> None:
        """Close a person's open modal without submitting it, as its X does in Slack; `field=value`
        arguments are what they typed first (a form that keeps drafts keeps it)."""
        answer = _post(f"{click_ctx.meta['ws_url']}/_local/act/close", {"user": email, "fields": _typed(fields)})
        if answer.get("error") == "no_open_modal":
            click.echo(f"{email} has no modal open")
            return
        if not answer.get("ok"):
            raise click.ClickException(_refused(answer))
        click.echo(f"Closed {email}'s modal \"{readable(answer.get('closed', ''), _names(click_ctx))}\" without submitting it.")
        if answer.get("notified"):
            click.echo(click.style(f"(the bot was told, as Slack tells it; it answered HTTP {answer['status']})", dim=True))
        elif answer.get("not_told"):
            click.echo(click.style(f"(the bot could not be told: {answer['not_told']})", dim=True))

    @workspace.command("file", short_help="Print a file shared in a message, or save it.")
    @click.argument("file_id")
    @click.option("--save", "path", type=click.Path(dir_okay=False, writable=True), default=None,
                  help="Write the file to PATH instead of printing it.")
    @click.pass_context
    def file(click_ctx: click.Context, file_id: str, path: str | None) -> None:
        """Print a shared file's content (its id is in `workspace messages`), or `--save PATH` it."""
        answer = _get(f"{click_ctx.meta['ws_url']}/_local/files/{urllib.parse.quote(file_id)}")
        content = base64.b64decode(answer["content_base64"])
        if path is None:
            click.echo(content.decode("utf-8", errors="replace"), nl=False)
            return
        with open(path, "wb") as out:
            out.write(content)
        click.echo(f"Saved {answer['file']['name']} ({len(content):,} bytes) to {path}")

    @workspace.command("users", short_help="List the people in the workspace (--role: by role).")
    @click.option("--role", default=None, callback=_role, metavar="ROLE",
                  help=f"Only people who hold ROLE in the staff list: {', '.join(Role)}.")
    @click.pass_context
    def users(click_ctx: click.Context, role: Role | None) -> None:
        """List the people in the local workspace."""
        found = _get(f"{click_ctx.meta['ws_url']}/_local/users")
        if role is not None:
            ctx: Context = click_ctx.find_root().obj
            with ctx.sessions() as session:
                holders = emails_with_role(session, role)
            found = [u for u in found if str(u["email"]).lower() in holders and not u.get("deleted")]
            if not found:
                click.echo(f"nobody in the local workspace holds the role {role.value} in the staff list")
        for user in found:
            click.echo(f"{user['id']}  {user['email']}  {user['name']}")


def _role(click_ctx: click.Context, param: click.Parameter, value: str | None) -> Role | None:
    """``--role``: a role by its name (any case; ``-`` or a space for ``_``), else the roles there are."""
    if value is None:
        return None
    wanted = "_".join(value.strip().lower().replace("-", " ").split())
    try:
        return Role(wanted)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a role; the roles are {', '.join(Role)}") from None


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
    for file in message.get("files") or []:
        click.echo(f"  📎 {file['name']} — {file['title']}, {file['size']:,} bytes — "
                   f"save it with: workspace file {file['id']} --save PATH")


def _show_home(click_ctx: click.Context, email: str, view: dict[str, Any], note: str = "") -> None:
    """A Home view as `messages` shows a message: a bold title line, then its blocks read out."""
    names = _names(click_ctx)
    click.echo(click.style(f"Home tab of {email}{note}", bold=True))
    for line in block_lines(view.get("blocks") or []):
        click.echo(f"  {readable(line, names)}")


def _show_modal_on_top(click_ctx: click.Context, email: str, answer: dict[str, Any]) -> None:
    """The modal on top in full when this action opened or changed it, else one line that it is still open."""
    view = answer.get("modal")
    if not view:
        return
    if answer.get("modal_changed", True):
        _show_modal(click_ctx, view, email)
        return
    title = readable((view.get("title") or {}).get("text", ""), _names(click_ctx))
    click.echo(click.style(f"(the modal \"{title}\" is still open for {email}: `auditbot workspace modal` shows it, "
                           "`submit` sends it, `close` closes it)", dim=True))


def _show_modal(click_ctx: click.Context, view: dict[str, Any], email: str) -> None:
    names = _names(click_ctx)
    title = readable((view.get("title") or {}).get("text", ""), names)
    click.echo(click.style(f"Modal open for {email}: {title}", bold=True))
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            for line in block_lines([block]):
                click.echo(f"  {readable(line, names)}")
    fields = input_fields(view)
    if fields:
        click.echo("Fields (fill with `auditbot workspace submit --user EMAIL field=value ...`):")
    for field in fields:
        options = readable(choices(field.options, " | "), names) if field.options else ""
        kind = {"datepicker": "a date, YYYY-MM-DD", "timepicker": "a time, HH:MM", "users_select": "an email",
                "plain_text_input": "text",
                "checkboxes": "comma-separated"}.get(field.kind, field.kind)
        prefilled = f"; already filled in: {field.initial}" if field.initial else ""
        label = readable(field.label, names)
        click.echo(f"  {field.block_id}  — {label}{' (optional)' if field.optional and 'optional' not in label else ''}"
                   f"; {('one of: ' + options) if options else kind}{prefilled}")
        if field.hint:
            click.echo(f"      {readable(field.hint, names)}")


def _show_outcome(click_ctx: click.Context, email: str, answer: dict[str, Any], submitted: bool = False) -> None:
    """What the person now sees: changed and new messages, and any modal on top."""
    names = _names(click_ctx)
    for message in answer.get("changed_messages") or []:
        _show_message(click_ctx, message, names, note=" (updated)")
    for message in answer.get("new_messages") or []:
        _show_message(click_ctx, message, names, note=" (new)")
    if answer.get("modal"):
        _show_modal_on_top(click_ctx, email, answer)
    elif submitted:
        click.echo("The modal closed.")
    click.echo(click.style(f"(the bot answered HTTP {answer['status']}; direct messages it queued arrive within seconds in "
                           "working hours — routine ones queued after hours, at the start of the next working day: "
                           "`auditbot workspace messages --user EMAIL`, `auditbot outbox`)", dim=True))
