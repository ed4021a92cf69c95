"""Safeguarding concerns in chat: raise (button or ``/audit concern``), acknowledge, confirm
the corrective action."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, SlashCommand, ViewSubmission
from bot.ids import ActionId, CallbackId, FormBlock, Template
from bot.render import render
from bot.services.alerts import AlertUrgency
from bot.services.alerts.concerns import acknowledge, concerns_already_open, may_see, raise_alert, record_corrective_action
from bot.services.alerts.messages import done_context, recipient_view
from bot.services.authz import Decision


def _refusal(decision: Decision) -> dict[str, Any]:
    assert decision.code is not None
    return render(Template.REFUSAL, {"code": decision.code.value})


def _say(respond: Respond, payload: dict[str, Any]) -> None:
    respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)


def _raise_modal(deps: Deps, client: WebClient, user_id: str, reference: str) -> dict[str, Any]:
    """The raise modal, prefilled, saying who raised any concern about the case still open
    (shown only to people who may raise one about it)."""
    with acting_as(deps, client, user_id) as (session, person):
        view = {"reference": reference, "open_concerns": concerns_already_open(session, person, reference),
                "viewer_id": person.id if person is not None else None}
        return render(Template.VIEW_ALERT, view, slack_ids=known_slack_ids(session, view))


def handle_raise_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """"Raise a safeguarding concern" on an allocation or reminder: the modal, prefilled."""
    ack()
    click = ButtonClick.parse(body)
    client.views_open(trigger_id=click.trigger_id, view=_raise_modal(deps_of(context), client, click.user_id, click.value))


def concern_command(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit concern CASE-REF``: the modal (an unknown reference is a field error there)."""
    ack()
    reference = command.args[0] if command.args else ""
    client.views_open(trigger_id=command.trigger_id, view=_raise_modal(deps, client, command.user_id, reference))


def handle_raise_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Tell the worker, team manager and service manager now (or show what to fix)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    urgency_text = view.text(FormBlock.URGENCY)
    urgency = AlertUrgency(urgency_text) if urgency_text in {u.value for u in AlertUrgency} else None
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = raise_alert(
            session, person, view.text(FormBlock.CASE), urgency, view.text(FormBlock.NOTE), deps.settings,
            now=deps.clock(), actor_ref=view.user_id,
        )
    if not outcome.decision.allowed:  # first: a refusal reads the same whatever else was typed
        ack(response_action="errors", errors={FormBlock.CASE: _refusal(outcome.decision)["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    else:
        ack()
        deps.wake_outbox()


def handle_acknowledge(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Acknowledge: the raiser's status updates; the button gives way to a note of when."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = acknowledge(session, click.int_value(), person, now=deps.clock(), actor_ref=click.user_id)
        if outcome.late is not None:
            late = render(Template.ALREADY_DONE, outcome.late, slack_ids=known_slack_ids(session, outcome.late))
        elif outcome.decision.allowed and outcome.alert is not None and person is not None:
            view = recipient_view(session, outcome.alert, person)
            payload = render(Template.ALERT_RECIPIENT, view, slack_ids=known_slack_ids(session, view))
    if not outcome.decision.allowed:
        _say(respond, _refusal(outcome.decision))
    elif outcome.late is not None:
        _say(respond, late)  # a click on an old copy: when they acknowledged
    else:
        respond(text=payload["text"], blocks=payload["blocks"], replace_original=True)
        deps.wake_outbox()  # the raiser's status, and their other copies lose the button


def handle_corrective_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Open the corrective-action confirmation (only people who may see the alert); recorded
    already, say by whom and when instead."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        decision, alert = may_see(session, click.int_value(), person, now=deps.clock(), actor_ref=click.user_id)
        reference = alert.case.reference if alert is not None else ""
        late = None
        if decision.allowed and alert is not None and alert.corrective_action_at is not None:
            done = done_context(alert, "corrective", at=alert.corrective_action_at, by=alert.corrective_action_by)
            late = render(Template.ALREADY_DONE, done, slack_ids=known_slack_ids(session, done))
    if not decision.allowed:
        _say(respond, _refusal(decision))
        return
    if late is not None:
        _say(respond, late)
        return
    client.views_open(trigger_id=click.trigger_id,
                      view=render(Template.VIEW_CORRECTIVE, {"alert_id": click.int_value(), "reference": reference}))


def handle_corrective_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The team manager confirms the management-oversight entry was made."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = record_corrective_action(
            session, view.int_meta("alert_id"), person, view.text(FormBlock.NOTE), now=deps.clock(), actor_ref=view.user_id,
            guardrail=deps.settings.privacy_guardrail,
        )
    if outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    elif not outcome.decision.allowed:
        ack(response_action="errors", errors={FormBlock.NOTE: _refusal(outcome.decision)["text"]})
    elif outcome.already:
        ack(response_action="clear")  # recorded already: a DM says by whom and when
        deps.wake_outbox()
    else:
        ack()
        deps.wake_outbox()


def register(app: App) -> None:
    """Register the safeguarding buttons and modals (``/audit concern`` goes via ``commands``)."""
    app.action(ActionId.RAISE_CONCERN.value)(handle_raise_button)
    app.action(ActionId.ACKNOWLEDGE_ALERT.value)(handle_acknowledge)
    app.action(ActionId.CORRECTIVE_ACTION.value)(handle_corrective_button)
    app.view(CallbackId.ALERT.value)(handle_raise_submission)
    app.view(CallbackId.CORRECTIVE.value)(handle_corrective_submission)
