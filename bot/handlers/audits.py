"""Buttons on an auditor's reminder and overdue messages: mark the audit complete."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.completion import complete_allocation


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


def register(app: App) -> None:
    """Register the audit buttons."""
    app.action(ActionId.MARK_COMPLETE.value)(handle_mark_complete)
