"""Audit breaks: ``/audit break YYYY-MM``, the button on a reminder, ``/audit breaks`` (your own,
each with a Cancel button) and ``/audit breaks YYYY-MM`` (who is on a break, for the QA team)."""

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
from bot.handlers.payloads import ButtonClick, PayloadError, SlashCommand, id_of, parse_month_arg
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.breaks.booking import month_breaks, request_break
from bot.services.breaks.mine import BreakRef, cancel_break, my_breaks

Reply = Callable[[Template, dict[str, Any]], None]


def _book(deps: Deps, client: WebClient, user_id: str, month_text: str, reply: Reply) -> None:
    month = parse_month_arg(month_text)
    if month is None:
        reply(Template.BREAK_DECISION, {"approved": False, "already": False, "reason": "bad_month", "month": "2000-01-01",
                                        "limit": 0, "share": 0})
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


def _own_breaks(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit breaks``: the asker's own breaks, each still cancellable with a Cancel button."""
    now = deps.clock()
    today = WorkingCalendar.from_settings(deps.settings).local_date(now)
    with acting_as(deps, client, command.user_id) as (session, person):
        decision, context = my_breaks(session, person, deps.settings, today=today, now=now, actor_ref=command.user_id)
    if decision.code is not None:
        payload = render(Template.REFUSAL, {"code": decision.code.value})
    else:
        payload = render(Template.MY_BREAKS, context)
    ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")


def breaks_command(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit breaks``: your own breaks; ``/audit breaks YYYY-MM``: who is on a break that month (QA)."""
    if not command.args:
        _own_breaks(ack, command, client, deps)
        return
    month = parse_month_arg(command.args[0])
    if month is None:
        payload = render(Template.BREAK_DECISION, {"approved": False, "already": False, "reason": "bad_month",
                                                   "month": "2000-01-01", "limit": 0, "share": 0})
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


def break_ref(value: str) -> BreakRef:
    """A Cancel button's value (``<break id>:<booking stamp>``), or PayloadError."""
    break_id, _, booked = value.partition(":")
    if not (booked.isascii() and booked.isdigit() and len(booked) <= 19):
        raise PayloadError(f"a Cancel button carries {value[:20]!r}, not a booking")
    return BreakRef(id_of(break_id, "a Cancel button"), int(booked))


def handle_cancel_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Cancel on ``/audit breaks``: the list is edited in place to say what happened; a refusal is
    answered to the clicker only."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    ref = break_ref(click.value)
    now = deps.clock()
    today = WorkingCalendar.from_settings(deps.settings).local_date(now)
    with acting_as(deps, client, click.user_id) as (session, person):
        decision, listing = cancel_break(session, person, ref, deps.settings, today=today, now=now, actor_ref=click.user_id)
    if decision.code is not None:
        payload = render(Template.REFUSAL, {"code": decision.code.value})
        respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
        return
    payload = render(Template.MY_BREAKS, listing)
    respond(text=payload["text"], blocks=payload["blocks"], replace_original=True)


def register(app: App) -> None:
    """Register the break buttons (the slash subcommands are routed by ``commands``)."""
    app.action(ActionId.REQUEST_BREAK.value)(handle_break_button)
    app.action(ActionId.CANCEL_BREAK.value)(handle_cancel_button)
