"""The ``/audit`` slash command: parse, identify, authorise, call one service, reply."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.handlers.deps import deps_of
from bot.ids import Command, Template
from bot.render import render
from bot.services.authz import Permission, check
from bot.services.people import find_person, my_audits

log = logging.getLogger(__name__)

SUBCOMMANDS = ("help", "mine")


@dataclass(frozen=True)
class SlashCommand:
    """A parsed ``/audit`` invocation."""

    user_id: str
    channel_id: str
    sub: str
    args: tuple[str, ...]

    @classmethod
    def parse(cls, body: dict[str, Any]) -> SlashCommand:
        """Parse Slack's slash-command body; unknown or empty text means ``help``."""
        words = str(body.get("text") or "").split()
        sub = words[0].lower() if words else "help"
        return cls(str(body["user_id"]), str(body.get("channel_id", "")), sub, tuple(words[1:]))


def slack_email(client: WebClient, user_id: str) -> str | None:
    """The email on a Slack profile (``users:read.email``), or None if Slack won't say."""
    try:
        profile = client.users_info(user=user_id)["user"].get("profile", {})
    except SlackApiError as exc:
        log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
        return None
    email = profile.get("email")
    return str(email) if email else None


def _reply(ack: Ack, template: Template, context: dict[str, Any]) -> None:
    payload = render(template, context)
    ack(text=payload["text"], blocks=payload.get("blocks"), response_type="ephemeral")


def handle_audit(ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Route ``/audit <sub>`` to its service."""
    deps = deps_of(context)
    request = SlashCommand.parse(command)
    if request.sub not in SUBCOMMANDS or request.sub == "help":
        unknown = request.sub if request.sub not in SUBCOMMANDS else None
        _reply(ack, Template.HELP, {"unknown": unknown})
        return
    now = deps.clock()
    email = None
    with deps.sessions() as session, session.begin():
        person = find_person(session, slack_user_id=request.user_id, email=None)
    if person is None:
        email = slack_email(client, request.user_id)
    with deps.sessions() as session, session.begin():
        person = find_person(session, slack_user_id=request.user_id, email=email)
        decision = check(session, person, Permission.VIEW_OWN_AUDITS, now=now, actor_ref=request.user_id)
        if decision.allowed and person is not None:
            lines = my_audits(session, person, today=now.astimezone(deps.settings.tz).date())
            name = person.display_name
    if decision.code is not None:
        _reply(ack, Template.REFUSAL, {"code": decision.code.value})
        return
    _reply(
        ack,
        Template.MY_AUDITS,
        {
            "name": name,
            "lines": [
                {
                    "reference": line.reference,
                    "team": line.team,
                    "audit_type": line.audit_type,
                    "due_date": line.due_date.isoformat(),
                    "state": line.state,
                    "my_part": line.my_part,
                    "auditor": line.auditor,
                }
                for line in lines[:40]
            ],
            "more": max(0, len(lines) - 40),
        },
    )


def register(app: App) -> None:
    """Register the ``/audit`` command."""
    app.command(Command.AUDIT.value)(handle_audit)
