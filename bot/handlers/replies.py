"""The right to reply in chat: Agree, Comment… and Challenge… on the findings; the auditor's
Change… / Keep… on a challenge; the challenger's Accept / Ask for moderation."""

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
from bot.services.replies import ReplyKind
from bot.services.replies.challenges import (
    ACCEPT,
    CHANGE,
    KEEP,
    MODERATION,
    answer_challenge,
    challenge_context,
    decide_answer,
    open_challenge,
    raise_challenge,
)
from bot.services.replies.replies import ReplyOutcome, may_reply, reply


def _calendar(deps: Deps) -> WorkingCalendar:
    return WorkingCalendar.from_settings(deps.settings)


def _answer(deps: Deps, outcome: ReplyOutcome, *, submitted: bool = False) -> dict[str, Any] | None:
    """A refusal, or what a late click is told; None when the work was done (or may go on)."""
    return refusal_or_late(deps, outcome.decision, {**outcome.late, "submitted": submitted} if outcome.late else None)


def handle_agree(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Agree with the findings: recorded once; the message is edited to say so."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = reply(session, click.int_value(), person, ReplyKind.AGREE, "", deps.settings, _calendar(deps),
                        now=deps.clock(), actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
    deps.wake_outbox()


def handle_comment_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Comment…: the comment modal, if they may still reply."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = may_reply(session, click.int_value(), person, deps.settings, _calendar(deps), now=deps.clock(),
                            actor_ref=click.user_id)
        reference = outcome.record.allocation.case.reference if outcome.record else ""
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
        return
    client.views_open(trigger_id=click.trigger_id, view=render(Template.VIEW_REPLY_COMMENT,
                                                               {"record_id": click.int_value(), "reference": reference}))


def handle_comment_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The comment goes to the auditor (or a field error)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = reply(session, view.int_meta("record_id"), person, ReplyKind.COMMENT, view.text(FormBlock.COMMENT),
                        deps.settings, _calendar(deps), now=deps.clock(), actor_ref=view.user_id)
    _ack_submission(ack, deps, outcome, FormBlock.COMMENT)


def _ack_submission(ack: Ack, deps: Deps, outcome: ReplyOutcome, first: str) -> None:
    answer = _answer(deps, outcome, submitted=True)
    if answer is not None:
        ack(response_action="errors", errors={first: answer["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    else:
        ack()
        deps.wake_outbox()


def handle_challenge_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Challenge…: the challenge modal, if they may still reply."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome, form = open_challenge(session, click.int_value(), person, deps.settings, _calendar(deps), now=deps.clock(),
                                       actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
        return
    assert form is not None, "a challenge form is offered whenever nothing was refused or late"
    client.views_open(trigger_id=click.trigger_id, view=render(Template.VIEW_CHALLENGE, form))


def handle_challenge_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The challenge goes to the auditor (or field errors)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = raise_challenge(session, view.int_meta("record_id"), person, view.text(FormBlock.TARGET),
                                  view.text(FormBlock.PROPOSED), view.text(FormBlock.REASON), deps.settings, _calendar(deps),
                                  now=deps.clock(), actor_ref=view.user_id)
    _ack_submission(ack, deps, outcome, FormBlock.TARGET)


def _answer_button(decision: str) -> Any:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        """Change… / Keep…: the auditor's answer modal, if the challenge still waits for them."""
        ack()
        deps = deps_of(context)
        click = ButtonClick.parse(body)
        with acting_as(deps, client, click.user_id) as (session, person):
            outcome = answer_challenge(session, click.int_value(), person, decision, "", "", deps.settings, _calendar(deps),
                                       now=deps.clock(), actor_ref=click.user_id, check_only=True)
            view = None
            if outcome.decision.allowed and outcome.late is None and outcome.record is not None:
                challenge = next(c for c in outcome.record.challenges if c.id == click.int_value())
                view = {**challenge_context(challenge, deps.settings, _calendar(deps)), "decision": decision}
        answer = _answer(deps, outcome)
        if answer is not None:
            say_ephemeral(respond, answer)
            return
        assert view is not None, "the answer form opens whenever nothing was refused or late"
        client.views_open(trigger_id=click.trigger_id, view=render(Template.VIEW_CHALLENGE_ANSWER, view))

    return handle


def handle_answer_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The auditor's answer goes to the challenger (or field errors)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    decision = CHANGE if view.metadata.get("decision") == CHANGE else KEEP
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = answer_challenge(session, view.int_meta("challenge_id"), person, decision, view.text(FormBlock.GRADE),
                                   view.text(FormBlock.REASON), deps.settings, _calendar(deps), now=deps.clock(),
                                   actor_ref=view.user_id)
    _ack_submission(ack, deps, outcome, FormBlock.REASON)


def _decide_button(choice: str) -> Any:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        """Accept / Ask for moderation: the challenger's decision on the auditor's answer."""
        ack()
        deps = deps_of(context)
        click = ButtonClick.parse(body)
        with acting_as(deps, client, click.user_id) as (session, person):
            outcome = decide_answer(session, click.int_value(), person, choice, deps.settings, _calendar(deps),
                                    now=deps.clock(), actor_ref=click.user_id)
        answer = _answer(deps, outcome)
        if answer is not None:
            say_ephemeral(respond, answer)
        deps.wake_outbox()

    return handle


def register(app: App) -> None:
    """Register the right-to-reply buttons and modals."""
    app.action(ActionId.REPLY_AGREE.value)(handle_agree)
    app.action(ActionId.REPLY_COMMENT.value)(handle_comment_button)
    app.action(ActionId.REPLY_CHALLENGE.value)(handle_challenge_button)
    app.action(ActionId.CHALLENGE_CHANGE.value)(_answer_button(CHANGE))
    app.action(ActionId.CHALLENGE_KEEP.value)(_answer_button(KEEP))
    app.action(ActionId.CHALLENGE_ACCEPT.value)(_decide_button(ACCEPT))
    app.action(ActionId.CHALLENGE_MODERATE.value)(_decide_button(MODERATION))
    app.view(CallbackId.REPLY_COMMENT.value)(handle_comment_submission)
    app.view(CallbackId.CHALLENGE.value)(handle_challenge_submission)
    app.view(CallbackId.CHALLENGE_ANSWER.value)(handle_answer_submission)
