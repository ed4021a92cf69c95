"""The ``/audit`` slash command: parse, route to the workflow area, reply only to the asker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_sdk import WebClient

from bot.handlers import alerts, audits, breaks, exemptions, moderation
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import SlashCommand
from bot.ids import Command, Template
from bot.render import render
from bot.services.authz import Permission, check
from bot.services.home import waiting_for
from bot.services.home.month import glance_for
from bot.services.staff.people import my_audits

#: ``/audit mine`` lists this many waiting items (one line each), newest first, then counts the rest.
MINE_WAITING_LIMIT = 10


def _reply(ack: Ack, template: Template, context: dict[str, Any]) -> None:
    payload = render(template, context)
    ack(text=payload["text"], blocks=payload.get("blocks"), response_type="ephemeral")


def mine_command(ack: Ack, request: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit mine``: the month at a glance for the QA team, what is waiting for the person (as on
    their Home tab), then the audits they do, and audits of cases they work on or manage."""
    now = deps.clock()
    with acting_as(deps, client, request.user_id) as (session, person):
        decision = check(session, person, Permission.VIEW_OWN_AUDITS, now=now, actor_ref=request.user_id)
        if decision.allowed and person is not None:
            local = now.astimezone(deps.settings.tz)
            today = local.date()
            lines = my_audits(session, person, today=today)
            waiting = waiting_for(session, person, now=now, today=today, day_over=local.time() >= deps.settings.working_hours_end)
            glance = glance_for(session, person, deps.settings, today=today)
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
            "waiting": [item.context() for item in waiting[:MINE_WAITING_LIMIT]],
            "waiting_more": max(0, len(waiting) - MINE_WAITING_LIMIT),
            "glance": glance,
        },
    )


def help_command(ack: Ack, request: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit help`` (and anything unknown)."""
    _reply(ack, Template.HELP, {"unknown": request.sub if request.sub not in ROUTES else None})


Route = Callable[[Ack, SlashCommand, WebClient, Deps], None]

ROUTES: dict[str, Route] = {
    "help": help_command,
    "mine": mine_command,
    "break": breaks.break_command,
    "breaks": breaks.breaks_command,
    "exempt": exemptions.exempt_command,
    "delegate": exemptions.delegate_command,
    "concern": alerts.concern_command,
    "complete": audits.complete_command,
    "record": audits.record_command,
    "calibration": moderation.calibration_command,
}


def handle_audit(ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Route ``/audit <sub>`` to the handler of its workflow area."""
    request = SlashCommand.parse(command)
    ROUTES.get(request.sub, help_command)(ack, request, client, deps_of(context))


def register(app: App) -> None:
    """Register the ``/audit`` command."""
    app.command(Command.AUDIT.value)(handle_audit)
