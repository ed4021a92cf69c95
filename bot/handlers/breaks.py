"""Audit breaks: ``/audit break YYYY-MM``, the button on a reminder, and ``/audit breaks YYYY-MM``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, SlashCommand, parse_month_arg
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.breaks import month_breaks, request_break

Reply = Callable[[Template, dict[str, Any]], None]


def _book(deps: Deps, client: WebClient, user_id: str, month_text: str, reply: Reply) -> None:
    month = parse_month_arg(month_text)
    if month is None:
        reply(Template.BREAK_DECISION, {"approved": False, "already": False, "reason": "bad_month", "month": "2000-01-01", "limit": 0, "share": 0})
        return
    now = deps.clock()
    today = WorkingCalendar.from_settings(deps.settings).local_date(now)
    with acting_as(deps, client, user_id) as (session, person):
        outcome = request_break(session, person, month, deps.settings, today=today, now=now, actor_ref=user_id)
    if outcome.decision.code is not None:
        reply(Template.REFUSAL, {"code": outcome.decision.code.value})
    else:
        reply(Template.BREAK_DECISION, outcome.context())


def break_command(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit break YYYY-MM``: book a month off, answered only to the asker."""

    def reply(template: Template, context: dict[str, Any]) -> None:
        payload = render(template, context)
        ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")

    _book(deps, client, command.user_id, command.args[0] if command.args else "", reply)


def breaks_command(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit breaks YYYY-MM``: who is on a break that month (QA coordinators)."""
    month = parse_month_arg(command.args[0]) if command.args else None
    if month is None:
        payload = render(Template.BREAK_DECISION, {"approved": False, "already": False, "reason": "bad_month", "month": "2000-01-01", "limit": 0, "share": 0})
        ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")
        return
    with acting_as(deps, client, command.user_id) as (session, person):
        decision, context = month_breaks(session, person, month, deps.settings, now=deps.clock(), actor_ref=command.user_id)
        slack_ids = known_slack_ids(session, context)
    if decision.code is not None:
        payload = render(Template.REFUSAL, {"code": decision.code.value})
    else:
        payload = render(Template.BREAKS_LIST, context, slack_ids=slack_ids)
    ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")


def handle_break_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """The "Ask for a break in <month>" button: same rules, answered only to the clicker."""
    ack()
    click = ButtonClick.parse(body)

    def reply(template: Template, ctx: dict[str, Any]) -> None:
        payload = render(template, ctx)
        respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)

    _book(deps_of(context), client, click.user_id, click.value, reply)


def register(app: App) -> None:
    """Register the break button (the slash subcommands are routed by ``commands``)."""
    app.action(ActionId.REQUEST_BREAK.value)(handle_break_button)
