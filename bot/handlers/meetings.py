"""Reflection meetings in chat: **Arrange the reflection meeting** / **Suggest a meeting time** /
**Propose other times** open the propose form; invitees choose a time or **None of these work…**;
the proposer may **Book** a suggested time; **Move…** and **Cancel the meeting** on the booking;
**Escalate to the group manager** and **I'll resolve this**. Refusals and late clicks are
answered only to the person who clicked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.handlers.answers import refusal_or_late, say_ephemeral
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, PayloadError, ViewSubmission
from bot.ids import ActionId, CallbackId, Template
from bot.render import render
from bot.services.meetings import answers, arrange, changes
from bot.services.meetings.arrange import MeetingOutcome


def _calendar(deps: Deps) -> WorkingCalendar:
    return WorkingCalendar.from_settings(deps.settings)


def _answer(deps: Deps, outcome: MeetingOutcome, *, submitted: bool = False) -> dict[str, Any] | None:
    return refusal_or_late(deps, outcome.decision, {**outcome.late, "submitted": submitted} if outcome.late else None)


def _decide(action: Callable[..., MeetingOutcome], body: dict[str, Any], client: WebClient, context: BoltContext, *,
            with_settings: bool) -> tuple[Deps, ButtonClick, MeetingOutcome]:
    """Run the service ``action`` for a click in one unit of work."""
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    extra = (deps.settings,) if with_settings else ()
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = action(session, click.int_value(), person, *extra, _calendar(deps), now=deps.clock(), actor_ref=click.user_id)
    return deps, click, outcome


def _form_button(opener: Callable[..., MeetingOutcome], template: Template, *, with_settings: bool) -> Any:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        """Open the form for this click, unless refused or already moved on."""
        ack()
        deps, click, outcome = _decide(opener, body, client, context, with_settings=with_settings)
        answer = _answer(deps, outcome)
        if answer is not None:
            say_ephemeral(respond, answer)
            return
        assert outcome.form is not None, "a form is offered whenever nothing was refused or late"
        client.views_open(trigger_id=click.trigger_id, view=render(template, outcome.form))

    handle.__name__ = f"open_{template.value}_{opener.__name__}"
    return handle


def _click(action: Callable[..., MeetingOutcome], *, with_settings: bool = False) -> Any:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        """One decision on a meeting; a refusal or a late click is answered to the clicker."""
        ack()
        deps, _, outcome = _decide(action, body, client, context, with_settings=with_settings)
        say_ephemeral(respond, _answer(deps, outcome))
        deps.wake_outbox()

    handle.__name__ = f"handle_{action.__name__}"
    return handle


def _ack_submission(ack: Ack, deps: Deps, outcome: MeetingOutcome, first: str) -> None:
    answer = _answer(deps, outcome, submitted=True)
    if answer is not None:
        ack(response_action="errors", errors={first: answer["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors=dict(outcome.errors))
    else:
        ack()
        deps.wake_outbox()


def handle_propose_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The proposed times go to the invitees, or the meeting moves (or field errors)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    mode = view.metadata.get("mode")
    if mode not in ("propose", "move"):
        raise PayloadError("view metadata mode is not propose or move")
    with acting_as(deps, client, view.user_id) as (session, person):
        if mode == "move":
            outcome = changes.move(session, view.int_meta("meeting_id"), person, view.values, deps.settings, _calendar(deps),
                                   now=deps.clock(), actor_ref=view.user_id)
        else:
            expected = view.metadata.get("round")
            outcome = arrange.propose(session, view.int_meta("allocation_id"), person, view.values, deps.settings,
                                      _calendar(deps), now=deps.clock(), actor_ref=view.user_id,
                                      expected_round=expected if isinstance(expected, int) else None)
    _ack_submission(ack, deps, outcome, "day_1")


def handle_decline_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """None of these work: the proposer is told (or field errors)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = answers.decline(session, view.int_meta("proposal_id"), person, view.values, deps.settings, _calendar(deps),
                                  now=deps.clock(), actor_ref=view.user_id)
    _ack_submission(ack, deps, outcome, "note")


def register(app: App) -> None:
    """Register the reflection meeting's buttons and modals."""
    app.action(ActionId.ARRANGE_MEETING.value)(_form_button(arrange.open_form, Template.VIEW_MEETING, with_settings=True))
    app.action(ActionId.MOVE_MEETING.value)(_form_button(changes.open_move_form, Template.VIEW_MEETING, with_settings=True))
    decline = _form_button(answers.open_decline, Template.VIEW_MEETING_DECLINE, with_settings=False)
    app.action(ActionId.MEETING_NONE.value)(decline)
    app.action(ActionId.MEETING_TIME.value)(_click(answers.choose_time))
    app.action(ActionId.BOOK_SUGGESTION.value)(_click(answers.book_suggestion))
    app.action(ActionId.CANCEL_MEETING.value)(_click(changes.cancel))
    app.action(ActionId.ESCALATE_MEETING.value)(_click(answers.escalate, with_settings=True))
    app.action(ActionId.RESOLVE_MEETING.value)(_click(answers.resolve))
    app.view(CallbackId.MEETING.value)(handle_propose_submission)
    app.view(CallbackId.MEETING_DECLINE.value)(handle_decline_submission)
