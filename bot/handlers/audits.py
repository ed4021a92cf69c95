"""Recording the audit: "Record the audit" on the allocation, reminder and overdue messages and
``/audit record CASE-REF`` open the form, whose three steps are pushed one on another; closing it
keeps a draft. Also "Mark audit complete" (on messages sent before audits were recorded in chat)
and ``/audit complete CASE-REF``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.delivery.mentions import known_slack_ids
from bot.handlers.answers import refusal_or_late
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, SlashCommand, ViewSubmission
from bot.ids import ActionId, CallbackId, Template
from bot.render import render
from bot.services.audits.completion import complete_allocation, complete_by_reference
from bot.services.audits.form import Step, step_fields
from bot.services.audits.record import FormOutcome, advance, close_form, open_record_form
from bot.services.audits.schemes import current_scheme


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
        slack_ids = known_slack_ids(session, outcome.context) if outcome.context else {}  # the people just loaded
    if outcome.decision.code is not None:
        payload = render(Template.REFUSAL, {"code": outcome.decision.code.value})
        respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
        return
    assert outcome.context is not None
    payload = render(Template.AUDIT_COMPLETED, outcome.context, slack_ids=slack_ids)
    respond(text=payload["text"], blocks=payload["blocks"], replace_original=True)


def complete_command(ack: Ack, request: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit complete CASE-REF``: the auditor (or a QA coordinator) records the audit as done."""
    reference = request.args[0] if request.args else ""
    with acting_as(deps, client, request.user_id) as (session, person):
        outcome = complete_by_reference(session, reference, person, now=deps.clock(), tz=deps.settings.tz,
                                        actor_ref=request.user_id)
        slack_ids = known_slack_ids(session, outcome.context) if outcome.context else {}
    if outcome.decision.code is not None:
        payload = render(Template.REFUSAL, {"code": outcome.decision.code.value})
    else:
        assert outcome.context is not None
        payload = render(Template.AUDIT_COMPLETED, outcome.context, slack_ids=slack_ids)
    ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")


def _answer(deps: Deps, outcome: FormOutcome, *, submitted: bool = False) -> dict[str, Any] | None:
    """A refusal, or who recorded the audit already; None when the form may open."""
    return refusal_or_late(deps, outcome.decision, {**outcome.late, "submitted": submitted} if outcome.late else None)


def _open_form(deps: Deps, client: WebClient, user_id: str, trigger_id: str, *, allocation_id: int | None,
               reference: str) -> dict[str, Any] | None:
    """Open the record form's first step; or return what to tell the person instead."""
    with acting_as(deps, client, user_id) as (session, person):
        outcome = open_record_form(session, person, deps.settings, allocation_id=allocation_id, reference=reference,
                                   now=deps.clock(), actor_ref=user_id)
    answer = _answer(deps, outcome)
    if answer is None:
        assert outcome.view is not None
        client.views_open(trigger_id=trigger_id, view=render(Template.VIEW_RECORD, outcome.view))
    return answer


def handle_record_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """"Record the audit" on an allocation, reminder or overdue message."""
    ack()
    click = ButtonClick.parse(body)
    answer = _open_form(deps_of(context), client, click.user_id, click.trigger_id, allocation_id=click.int_value(), reference="")
    if answer is not None:
        respond(text=answer["text"], blocks=answer["blocks"], response_type="ephemeral", replace_original=False)


def record_command(ack: Ack, request: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit record CASE-REF``."""
    answer = _open_form(deps, client, request.user_id, request.trigger_id, allocation_id=None,
                        reference=request.args[0] if request.args else "")
    if answer is not None:
        ack(text=answer["text"], blocks=answer["blocks"], response_type="ephemeral")
    else:
        ack()


def handle_record_step(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A step was submitted: its field errors, the next step pushed, or (last step) the audit
    recorded and the form closed; the summary and findings follow as messages."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    step = view.meta_choice("step", Step)
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = advance(session, view.int_meta("allocation_id"), person, step, view.values, deps.settings,
                          WorkingCalendar.from_settings(deps.settings), now=deps.clock(), actor_ref=view.user_id)
    ack_step(ack, deps, outcome, _answer(deps, outcome, submitted=True),
             step_fields(step, current_scheme(deps.settings.grading_scheme))[0])


def ack_step(ack: Ack, deps: Deps, outcome: FormOutcome, answer: dict[str, Any] | None, first: str) -> None:
    """Answer a submitted step of the record form: ``answer`` (a refusal, or done already) on the
    step's ``first`` field, the form staying open until they close it; field errors; the next
    step pushed; or the form closed and its messages sent."""
    if answer is not None:
        ack(response_action="errors", errors={first: answer["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors=outcome.errors)
    elif outcome.view is not None:
        ack(response_action="push", view=render(Template.VIEW_RECORD, outcome.view))
    else:
        ack(response_action="clear")
        deps.wake_outbox()


def handle_record_closed(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The form was closed unsent: what was typed in the step on top is kept as a draft."""
    ack()
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        close_form(session, view.int_meta("allocation_id"), person, view.meta_choice("step", Step), view.values,
                   deps.settings, now=deps.clock(), actor_ref=view.user_id)


def register(app: App) -> None:
    """Register the audit buttons and the record form."""
    app.action(ActionId.MARK_COMPLETE.value)(handle_mark_complete)
    app.action(ActionId.RECORD_AUDIT.value)(handle_record_button)
    app.view(CallbackId.RECORD.value)(handle_record_step)
    app.view_closed(CallbackId.RECORD.value)(handle_record_closed)
