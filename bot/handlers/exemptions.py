"""Exemptions and extensions in chat: the request modal, Approve / Decline, the QA choice,
and ``/audit exempt`` / ``/audit delegate``."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.delivery.mentions import known_slack_ids
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as, slack_email
from bot.handlers.payloads import ButtonClick, DelegateArgs, SlashCommand, ViewSubmission
from bot.ids import ActionId, CallbackId, FormBlock, Template
from bot.render import render
from bot.services.authz import Decision
from bot.services.exemptions import RequestKind, RequestState
from bot.services.exemptions.approvers import delegate
from bot.services.exemptions.decisions import decide_request, may_decide
from bot.services.exemptions.followups import already_chosen, choose_replacement
from bot.services.exemptions.requests import RequestForm, open_request_form, request_context, submit_request
from bot.services.notices import person_ref
from bot.services.staff.people import find_named


def _calendar(deps: Deps) -> WorkingCalendar:
    return WorkingCalendar.from_settings(deps.settings)


def _refusal(decision: Decision) -> dict[str, Any]:
    assert decision.code is not None
    return render(Template.REFUSAL, {"code": decision.code.value})


def _say(respond: Respond, payload: dict[str, Any]) -> None:
    respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)


def _open_form(
    deps: Deps, client: WebClient, user_id: str, trigger_id: str, *, allocation_id: int | None, reference: str
) -> dict[str, Any] | None:
    """Open the request modal; return a refusal payload instead when the person may not ask."""
    with acting_as(deps, client, user_id) as (session, person):
        decision, context = open_request_form(
            session, person, deps.settings, _calendar(deps), allocation_id=allocation_id, reference=reference,
            now=deps.clock(), actor_ref=user_id,
        )
    if not decision.allowed:
        return _refusal(decision)
    client.views_open(trigger_id=trigger_id, view=render(Template.VIEW_EXEMPTION_REQUEST, context))
    return None


def handle_request_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """"Ask for an exemption or extension" on an allocation, reminder or overdue message."""
    ack()
    click = ButtonClick.parse(body)
    refusal = _open_form(deps_of(context), client, click.user_id, click.trigger_id, allocation_id=click.int_value(), reference="")
    if refusal is not None:
        _say(respond, refusal)


def exempt_command(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit exempt CASE-REF``."""
    reference = command.args[0] if command.args else ""
    refusal = _open_form(deps, client, command.user_id, command.trigger_id, allocation_id=None, reference=reference)
    if refusal is not None:
        ack(text=refusal["text"], blocks=refusal["blocks"], response_type="ephemeral")
    else:
        ack()


def handle_request_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The request modal was submitted: field errors in the modal, or the request is sent."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    kind = view.text(FormBlock.KIND)
    form = RequestForm(
        kind=RequestKind(kind) if kind in {k.value for k in RequestKind} else None,
        new_due_date=view.date(FormBlock.NEW_DATE),
        reason=view.text(FormBlock.REASON),
    )
    with acting_as(deps, client, view.user_id) as (session, person):
        outcome = submit_request(
            session, view.int_meta("allocation_id"), person, form, deps.settings, _calendar(deps),
            now=deps.clock(), actor_ref=view.user_id,
        )
    if not outcome.decision.allowed:
        ack(response_action="errors", errors={FormBlock.KIND: _refusal(outcome.decision)["text"]})
    elif outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
    else:
        ack()
        deps.wake_outbox()


def _decide(
    deps: Deps, client: WebClient, user_id: str, request_id: int, *, approve: bool, comment: str | None, from_modal: bool = False
) -> tuple[dict[str, Any] | None, dict[str, str], bool]:
    """Decide; return (an ephemeral answer for the person, or None), any field errors, and
    whether the request was decided (or withdrawn) already."""
    now = deps.clock()
    with acting_as(deps, client, user_id) as (session, person):
        outcome = decide_request(
            session, request_id, person, approve=approve, comment=comment, settings=deps.settings,
            calendar=_calendar(deps), now=now, actor_ref=user_id, from_modal=from_modal,
        )
        answer = None
        if not outcome.decision.allowed:
            answer = _refusal(outcome.decision)
        elif outcome.already and outcome.request is not None:
            # Decided before, or withdrawn because the audit closed: say so (the template words both).
            ctx = request_context(session, outcome.request, stage="decided", now=now)
            answer = render(Template.EXEMPTION_DECIDED, ctx, slack_ids=known_slack_ids(session, ctx))
    if not outcome.errors and (answer is None or outcome.already):
        deps.wake_outbox()  # a decision's messages, or the edits saying a request was withdrawn
    return answer, {str(k): v for k, v in outcome.errors.items()}, outcome.decision.allowed and outcome.already


def handle_approve(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Approve: decided once; the approver's message is then edited through the outbox."""
    ack()
    click = ButtonClick.parse(body)
    answer, _, _ = _decide(deps_of(context), client, click.user_id, click.int_value(), approve=True, comment=None)
    if answer is not None:
        _say(respond, answer)


def handle_decline_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """Decline needs a comment: open a modal (or say why not)."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    now = deps.clock()
    with acting_as(deps, client, click.user_id) as (session, person):
        decision, request = may_decide(session, click.int_value(), person, _calendar(deps), now=now, actor_ref=click.user_id)
        view = None
        if not decision.allowed or request is None:
            answer: dict[str, Any] | None = _refusal(decision)
        elif request.state != RequestState.PENDING:  # decided, or withdrawn because the audit closed
            ctx = request_context(session, request, stage="decided", now=now)
            answer = render(Template.EXEMPTION_DECIDED, ctx, slack_ids=known_slack_ids(session, ctx))
        else:
            answer = None
            view = render(
                Template.VIEW_DECLINE,
                {"request_id": request.id, "requester": request.auditor.display_name, "kind": request.kind.value,
                 "reference": request.allocation.case.reference},
            )
    if answer is not None:
        _say(respond, answer)
        deps.wake_outbox()  # a withdrawn request's message is edited to say so
    elif view is not None:
        client.views_open(trigger_id=click.trigger_id, view=view)


def handle_decline_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The decline modal was submitted with its comment. Decided meanwhile (an approval from the
    message, another approver): the modal closes and a DM says who decided it and when."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    answer, errors, already = _decide(
        deps, client, view.user_id, view.int_meta("request_id"), approve=False, comment=view.text(FormBlock.COMMENT),
        from_modal=True,
    )
    if errors:
        ack(response_action="errors", errors=errors)
    elif already:
        ack(response_action="clear")
    elif answer is not None:
        ack(response_action="errors", errors={FormBlock.COMMENT: answer["text"]})
    else:
        ack()


def handle_choose_auditor(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """A QA coordinator picked the new auditor from the menu."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    request_id, _, auditor_id = click.value.partition(":")
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = choose_replacement(
            session, int(request_id), person, int(auditor_id), deps.settings, now=deps.clock(), actor_ref=click.user_id
        )
        late = None
        if outcome.decision.allowed and outcome.already and outcome.request is not None:
            done = already_chosen(session, outcome.request)
            late = render(Template.ALREADY_DONE, done, slack_ids=known_slack_ids(session, done))
    if not outcome.decision.allowed:
        _say(respond, _refusal(outcome.decision))
    elif late is not None:
        _say(respond, late)  # chosen from another copy, or by another QA coordinator
    elif outcome.errors:
        _say(respond, render(Template.ERROR, {"message": next(iter(outcome.errors.values())), "reference": None}))
    else:
        deps.wake_outbox()


def delegate_command(ack: Ack, command: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit delegate WHO FROM TO``: WHO an @mention, a name or an email; dates YYYY-MM-DD, inclusive."""
    args = DelegateArgs.parse(command.args)
    who, starts_on, ends_on = args.who, args.starts_on, args.ends_on
    now = deps.clock()
    email = slack_email(client, who.user_id) if who.user_id else who.email
    with acting_as(deps, client, command.user_id) as (session, principal):
        named = find_named(session, slack_user_id=who.user_id, email=email, name=who.name)
        outcome = delegate(
            session, principal, named, starts_on, ends_on, deps.settings, today=_calendar(deps).local_date(now),
            now=now, actor_ref=command.user_id,
        )
        context = {
            "problem": outcome.problem.value if outcome.problem else None,
            "already": outcome.already,
            "delegate": person_ref(named.person),
            "candidates": [{"person": person_ref(p), "email": p.email} for p in outcome.candidates],
            "starts_on": (starts_on or now.date()).isoformat(),
            "ends_on": (ends_on or now.date()).isoformat(),
        }
        slack_ids = known_slack_ids(session, context)
    if not outcome.decision.allowed:
        payload = _refusal(outcome.decision)
    else:
        payload = render(Template.DELEGATION_RESULT, context, slack_ids=slack_ids)
        deps.wake_outbox()
    ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")


def register(app: App) -> None:
    """Register the exemption buttons, menus and modals (slash subcommands go via ``commands``)."""
    app.action(ActionId.REQUEST_EXEMPTION.value)(handle_request_button)
    app.action(ActionId.APPROVE_EXEMPTION.value)(handle_approve)
    app.action(ActionId.DECLINE_EXEMPTION.value)(handle_decline_button)
    app.action(ActionId.CHOOSE_AUDITOR.value)(handle_choose_auditor)
    app.view(CallbackId.EXEMPTION_REQUEST.value)(handle_request_submission)
    app.view(CallbackId.DECLINE.value)(handle_decline_submission)
