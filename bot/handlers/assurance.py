"""The QA assurance sample in chat (Hull App. E): **Verified** and **Not evidenced…** (a modal with a
short note) on each audit of the month's message to the QA team."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.handlers.answers import refusal_or_late, say_ephemeral
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, ViewSubmission
from bot.ids import ActionId, CallbackId, FormBlock, Template
from bot.render import render
from bot.services.assurance.decisions import AssuranceOutcome, decide, may_decide, note_view


def _decide(deps: Deps, client: WebClient, user_id: str, check_id: int, *, verified: bool, note: str) -> AssuranceOutcome:
    with acting_as(deps, client, user_id) as (session, person):
        return decide(session, check_id, person, verified=verified, note=note, settings=deps.settings,
                      calendar=WorkingCalendar.from_settings(deps.settings), now=deps.clock(), actor_ref=user_id)


def handle_verified(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Verified: decided once; every QA coordinator's copy is then edited through the outbox."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    outcome = _decide(deps, client, click.user_id, click.int_value(), verified=True, note="")
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        say_ephemeral(respond, answer)
    else:
        deps.wake_outbox()


def handle_not_evidenced_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond
) -> None:
    """Not evidenced… needs a note: open the modal (or say why not)."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    view = None
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = may_decide(session, click.int_value(), person, now=deps.clock(), actor_ref=click.user_id)
        if outcome.decision.allowed and outcome.late is None and outcome.check is not None:
            view = render(Template.VIEW_ASSURANCE_NOTE, note_view(session, outcome.check))
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        say_ephemeral(respond, answer)
    elif view is not None:
        client.views_open(trigger_id=click.trigger_id, view=view)


def handle_note_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The note was given: field errors, or not evidenced (or decided meanwhile: said under the note)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    outcome = _decide(deps, client, view.user_id, view.int_meta("check_id"), verified=False, note=view.text(FormBlock.NOTE))
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        ack(response_action="errors", errors={FormBlock.NOTE: answer["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    else:
        ack()
        deps.wake_outbox()


def register(app: App) -> None:
    """Register the assurance sample's buttons and modal."""
    app.action(ActionId.ASSURANCE_VERIFIED.value)(handle_verified)
    app.action(ActionId.ASSURANCE_NOT_EVIDENCED.value)(handle_not_evidenced_button)
    app.view(CallbackId.ASSURANCE_NOTE.value)(handle_note_submission)
