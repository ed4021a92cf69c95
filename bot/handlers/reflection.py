"""The reflection sheet in chat: **Answer the reflection questions** on the sheet's message opens
the modal (one field per question); submitting stores the answers once. A refusal, or a sheet
answered already, is told only to the person who clicked or submitted."""

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
from bot.ids import ActionId, CallbackId, Template
from bot.render import render
from bot.services.meetings.reflection import SheetOutcome, answer_sheet, open_sheet, questions, reflection_field


def _answer(deps: Deps, outcome: SheetOutcome) -> dict[str, Any] | None:
    """A refusal, or who answered the sheet already; None when the work may go on (or was done)."""
    return refusal_or_late(deps, outcome.decision, outcome.late)


def handle_answer_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Answer the reflection questions: the sheet's modal, if they may answer it now."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = open_sheet(session, click.int_value(), person, now=deps.clock(), actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
        return
    assert outcome.view is not None, "the sheet opens whenever nothing was refused or answered already"
    client.views_open(trigger_id=click.trigger_id, view=render(Template.VIEW_REFLECTION, outcome.view))


def handle_sheet_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The answers are stored and go to the auditors (or field errors; or who answered already)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = answer_sheet(session, view.int_meta("allocation_id"), person, view.values, deps.settings,
                               WorkingCalendar.from_settings(deps.settings), now=deps.clock(), actor_ref=view.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        ack(response_action="errors", errors={reflection_field(questions()[0].key): answer["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors=outcome.errors)
    else:
        ack()
        deps.wake_outbox()


def register(app: App) -> None:
    """Register the reflection sheet's button and modal."""
    app.action(ActionId.ANSWER_REFLECTION.value)(handle_answer_button)
    app.view(CallbackId.REFLECTION.value)(handle_sheet_submission)
