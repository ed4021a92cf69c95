"""The Inadequate follow-up in chat: **Meeting held**, **Review held** and **Head of Service meeting
held** on the follow-up messages. Each is recorded once; a refusal or a late click is answered
only to the person who clicked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.inadequate.decisions import Step, record_step


def _handler(step: Step) -> Callable[..., None]:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        ack()
        deps = deps_of(context)
        click = ButtonClick.parse(body)
        with acting_as(deps, client, click.user_id) as (session, person):
            outcome = record_step(session, click.int_value(), person, step, calendar=WorkingCalendar.from_settings(deps.settings),
                                  now=deps.clock(), actor_ref=click.user_id)
        if outcome.decision.code is not None:
            answer = render(Template.REFUSAL, {"code": outcome.decision.code.value})
        elif outcome.late is not None:
            with deps.sessions() as session:
                answer = render(Template.ALREADY_DONE, outcome.late, slack_ids=known_slack_ids(session, outcome.late))
        else:
            deps.wake_outbox()
            return
        respond(text=answer["text"], blocks=answer["blocks"], response_type="ephemeral", replace_original=False)

    handle.__name__ = f"handle_{step.value}_held"
    return handle


def register(app: App) -> None:
    """Register the follow-up's buttons."""
    app.action(ActionId.MEETING_HELD.value)(_handler(Step.MEETING))
    app.action(ActionId.REVIEW_HELD.value)(_handler(Step.REVIEW))
    app.action(ActionId.HEAD_OF_SERVICE_MEETING_HELD.value)(_handler(Step.HEAD_OF_SERVICE))
