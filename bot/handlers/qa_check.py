"""The QA check in chat: **Accept** and **Return for amendment…** (a modal with the reason) on the
message each QA coordinator gets, and **Amend the audit**, which opens the record form in amend
mode (its steps pushed one on another; closing it keeps what was typed)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.handlers.answers import refusal_or_late, say_ephemeral
from bot.handlers.audits import ack_step
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, ViewSubmission
from bot.ids import ActionId, CallbackId, FormBlock, Template
from bot.render import render
from bot.services.audits.form import Field, Step, step_fields
from bot.services.audits.record import FormOutcome
from bot.services.audits.schemes import current_scheme
from bot.services.qa_check.amend import amend_step, close_amend_form, open_amend_form
from bot.services.qa_check.checks import CheckOutcome, decide_check, may_decide


def _decide(deps: Deps, client: WebClient, user_id: str, check_id: int, *, accept: bool, reason: str) -> CheckOutcome:
    with acting_as(deps, client, user_id) as (session, person):
        return decide_check(session, check_id, person, accept=accept, reason=reason, settings=deps.settings,
                            calendar=WorkingCalendar.from_settings(deps.settings), now=deps.clock(), actor_ref=user_id)


def handle_accept(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Accept: decided once; every QA coordinator's copy is then edited through the outbox."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    outcome = _decide(deps, client, click.user_id, click.int_value(), accept=True, reason="")
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        say_ephemeral(respond, answer)
    else:
        deps.wake_outbox()


def handle_return_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Return for amendment… needs a reason: open the modal (or say why not)."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = may_decide(session, click.int_value(), person, now=deps.clock(), actor_ref=click.user_id)
        view = None
        if outcome.decision.allowed and outcome.late is None and outcome.check is not None:
            record = outcome.check.record
            view = render(Template.VIEW_QA_RETURN, {
                "check_id": outcome.check.id, "reference": record.allocation.case.reference,
                "auditor": record.allocation.auditor.display_name, "days": deps.settings.qa_amend_working_days,
            })
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        say_ephemeral(respond, answer)
    elif view is not None:
        client.views_open(trigger_id=click.trigger_id, view=view)


def handle_return_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The reason was given: field errors, or returned (or decided meanwhile: said under the reason)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    outcome = _decide(deps, client, view.user_id, view.int_meta("check_id"), accept=False, reason=view.text(FormBlock.REASON))
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        ack(response_action="errors", errors={FormBlock.REASON: answer["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    else:
        ack()
        deps.wake_outbox()


def _form_answer(deps: Deps, outcome: FormOutcome) -> dict[str, Any] | None:
    late = {**outcome.late, "submitted": True} if outcome.late is not None else None
    return refusal_or_late(deps, outcome.decision, late)


def handle_amend_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Amend the audit: the record form's first step, filled in with the audit as it stands."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = open_amend_form(session, click.int_value(), person, deps.settings, now=deps.clock(), actor_ref=click.user_id)
    answer = refusal_or_late(deps, outcome.decision, outcome.late)
    if answer is not None:
        say_ephemeral(respond, answer)
    elif outcome.view is not None:
        client.views_open(trigger_id=click.trigger_id, view=render(Template.VIEW_RECORD, outcome.view))


def handle_amend_step(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A step of the amend form: field errors, the next step pushed, or the audit amended and the form closed."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    step = view.meta_choice("step", Step)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = amend_step(session, view.int_meta("check_id"), person, step, view.values, deps.settings,
                             WorkingCalendar.from_settings(deps.settings), now=deps.clock(), actor_ref=view.user_id)
    first = Field.OVERALL.value if step == Step.GRADES else step_fields(step, current_scheme(deps.settings.grading_scheme))[0]
    ack_step(ack, deps, outcome, _form_answer(deps, outcome), first)


def handle_amend_closed(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The amend form was closed unsent: what was typed in the step on top is kept."""
    ack()
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        close_amend_form(session, view.int_meta("check_id"), person, view.meta_choice("step", Step), view.values,
                         deps.settings, now=deps.clock(), actor_ref=view.user_id)


def register(app: App) -> None:
    """Register the QA check's buttons and modals."""
    app.action(ActionId.ACCEPT_AUDIT.value)(handle_accept)
    app.action(ActionId.RETURN_AUDIT.value)(handle_return_button)
    app.action(ActionId.AMEND_AUDIT.value)(handle_amend_button)
    app.view(CallbackId.QA_RETURN.value)(handle_return_submission)
    app.view(CallbackId.AMEND.value)(handle_amend_step)
    app.view_closed(CallbackId.AMEND.value)(handle_amend_closed)
