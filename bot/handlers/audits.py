"""Marking an audit complete: the button on reminders and overdue notices, and ``/audit complete CASE-REF``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, SlashCommand
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.audits.completion import complete_allocation, complete_by_reference


def handle_mark_complete(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Record completion; replace the message with the outcome, or tell the clicker why not."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    now = deps.clock()
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = complete_allocation(
            session, click.int_value(), person, now=now, tz=deps.settings.tz, actor_ref=click.user_id
        )
    if outcome.decision.code is not None:
        payload = render(Template.REFUSAL, {"code": outcome.decision.code.value})
        respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
        return
    assert outcome.context is not None
    with deps.sessions() as session:
        slack_ids = known_slack_ids(session, outcome.context)
    payload = render(Template.AUDIT_COMPLETED, outcome.context, slack_ids=slack_ids)
    respond(text=payload["text"], blocks=payload["blocks"], replace_original=True)


def complete_command(ack: Ack, request: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit complete CASE-REF``: the auditor (or a QA coordinator) records the audit as done."""
    reference = request.args[0] if request.args else ""
    with acting_as(deps, client, request.user_id) as (session, person):
        outcome = complete_by_reference(session, reference, person, now=deps.clock(), tz=deps.settings.tz,
                                        actor_ref=request.user_id)  # fmt: skip
        slack_ids = known_slack_ids(session, outcome.context) if outcome.context else {}
    if outcome.decision.code is not None:
        payload = render(Template.REFUSAL, {"code": outcome.decision.code.value})
    else:
        assert outcome.context is not None
        payload = render(Template.AUDIT_COMPLETED, outcome.context, slack_ids=slack_ids)
    ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")


def register(app: App) -> None:
    """Register the audit buttons."""
    app.action(ActionId.MARK_COMPLETE.value)(handle_mark_complete)
