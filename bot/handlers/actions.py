"""After the audit in chat: the team manager's **Oversight recorded** / **Discussed in supervision**;
on an action, the owner's **Done…** / **Ask for more time…** and the team manager's **Sign off** /
**Not yet…** / **Agree** / **Decline**. Each answers the clicker alone (refused, done, or done
already by whom and when); the three with a note or reason open a modal first."""

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
from bot.services.actions.common import action_context
from bot.services.actions.decisions import MAX_TEXT, WITH_FORM, Op, act, may_act
from bot.services.actions.oversight import OVERSIGHT, SUPERVISION, confirm
from bot.services.authz import Decision

#: Which button does what.
OPS = {ActionId.ACTION_DONE: Op.DONE, ActionId.ACTION_MORE_TIME: Op.MORE_TIME, ActionId.ACTION_SIGN_OFF: Op.SIGN_OFF,
       ActionId.ACTION_NOT_YET: Op.NOT_YET, ActionId.AGREE_MORE_TIME: Op.AGREE,
       ActionId.DECLINE_MORE_TIME: Op.DECLINE}


def _answer(deps: Deps, decision: Decision, said: dict[str, Any] | None) -> dict[str, Any] | None:
    """A refusal, or what was done (now or before); None when there is nothing to say."""
    return refusal_or_late(deps, decision, said, template=Template.ACTION_ANSWER)


def _confirm(what: str) -> Any:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        """Oversight recorded / Discussed in supervision: once; the message is edited through the outbox."""
        ack()
        deps = deps_of(context)
        click = ButtonClick.parse(body)
        with acting_as(deps, client, click.user_id) as (session, person):
            outcome = confirm(session, click.int_value(), person, what, WorkingCalendar.from_settings(deps.settings),
                              now=deps.clock(), actor_ref=click.user_id)
        say_ephemeral(respond, _answer(deps, outcome.decision, outcome.late or outcome.done))
        deps.wake_outbox()

    return handle


def handle_action_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """An action's button: a modal for a note or reason, or the decision at once."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    op = OPS[ActionId(click.action_id)]
    view = None
    with acting_as(deps, client, click.user_id) as (session, person):
        if op in WITH_FORM:
            outcome = may_act(session, click.int_value(), person, op, now=deps.clock(), actor_ref=click.user_id)
            if outcome.decision.allowed and outcome.late is None and outcome.action is not None:
                view = render(Template.VIEW_ACTION, {"op": op.value, "action": action_context(outcome.action), "max": MAX_TEXT})
        else:
            outcome = act(session, click.int_value(), person, op, deps.settings, WorkingCalendar.from_settings(deps.settings),
                          now=deps.clock(), actor_ref=click.user_id)
    if view is not None:
        client.views_open(trigger_id=click.trigger_id, view=view)
        return
    say_ephemeral(respond, _answer(deps, outcome.decision, outcome.late or outcome.done))
    deps.wake_outbox()


def handle_action_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Done…, Not yet… or Ask for more time… submitted: field errors, or done (or moved on meanwhile: said under the text)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    op = view.meta_choice("op", Op)
    block = FormBlock.NOTE if op == Op.DONE else FormBlock.REASON
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = act(session, view.int_meta("action_id"), person, op, deps.settings,
                      WorkingCalendar.from_settings(deps.settings), now=deps.clock(), actor_ref=view.user_id,
                      text=view.text(block), new_date=view.date(FormBlock.NEW_DATE))
    said = _answer(deps, outcome.decision, outcome.late)
    if said is not None:
        ack(response_action="errors", errors={block: said["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    else:
        ack()
        deps.wake_outbox()


def register(app: App) -> None:
    """Register oversight's and the actions' buttons and modal."""
    app.action(ActionId.OVERSIGHT_RECORDED.value)(_confirm(OVERSIGHT))
    app.action(ActionId.SUPERVISION_DISCUSSED.value)(_confirm(SUPERVISION))
    for action_id in OPS:
        app.action(action_id.value)(handle_action_button)
    app.view(CallbackId.ACTION.value)(handle_action_submission)
