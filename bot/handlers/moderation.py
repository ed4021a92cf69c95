"""Moderation in chat: the QA team's moderator menu, **Record the moderation…** and its form, the
challenger's **Accept** / **Take it to the Head of Service**, the Head of Service's form, and
**Send to the moderators** on the month's sample."""

from __future__ import annotations

import datetime as dt
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.calendar import WorkingCalendar
from bot.handlers.answers import refusal_or_late, say_ephemeral
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick, PayloadError, SlashCommand, ViewSubmission, id_of, parse_month_arg
from bot.ids import ActionId, CallbackId, FormBlock, Template
from bot.render import render
from bot.services.allocation.rules import add_months
from bot.services.moderation.calibration import calibration_for
from bot.services.moderation.decisions import (
    answer_moderation,
    open_head_of_service_form,
    open_moderation_form,
    record_head_of_service,
    record_moderation,
)
from bot.services.moderation.requests import Outcome, choose_moderator
from bot.services.moderation.sample import send_sample


def _calendar(deps: Deps) -> WorkingCalendar:
    return WorkingCalendar.from_settings(deps.settings)


def _answer(deps: Deps, outcome: Outcome) -> dict[str, Any] | None:
    """A refusal, a late answer, or an error; None when it was done (or a form may open)."""
    answer = refusal_or_late(deps, outcome.decision, outcome.late, template=Template.MODERATION_LATE)
    if answer is None and outcome.errors:
        return render(Template.ERROR, {"message": next(iter(outcome.errors.values())), "reference": None})
    return answer


def handle_choose_moderator(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """A QA coordinator picked the moderator from the menu (value ``moderation_id:person_id``)."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    moderation, _, moderator = click.value.partition(":")
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = choose_moderator(session, id_of(moderation, "moderation"), person, id_of(moderator, "moderator"),
                                   deps.settings, _calendar(deps), now=deps.clock(), actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
    else:
        deps.wake_outbox()


def _open(deps: Deps, client: WebClient, click: ButtonClick, respond: Respond, *, head_of_service: bool) -> None:
    with acting_as(deps, client, click.user_id) as (session, person):
        opener = open_head_of_service_form if head_of_service else open_moderation_form
        outcome = opener(session, click.int_value(), person, deps.settings, _calendar(deps), now=deps.clock(),
                         actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
    elif outcome.view is not None:
        client.views_open(trigger_id=click.trigger_id, view=render(Template.VIEW_MODERATION, outcome.view))


def handle_record_button(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """**Record the moderation…** on the moderator's request."""
    ack()
    _open(deps_of(context), client, ButtonClick.parse(body), respond, head_of_service=False)


def handle_head_of_service_button(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond
) -> None:
    """**Record your decision…** on the Head of Service's request."""
    ack()
    _open(deps_of(context), client, ButtonClick.parse(body), respond, head_of_service=True)


def _submitted(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, *, head_of_service: bool) -> None:
    """The form was submitted: field errors, or decided (the modal closes; a late submission is
    told on the first field who decided it)."""
    deps = deps_of(context)
    view = ViewSubmission.parse(body)
    with acting_as(deps, client, view.user_id) as (session, person):
        if head_of_service:
            outcome = record_head_of_service(session, view.int_meta("challenge_id"), person, view.values, deps.settings,
                                             _calendar(deps), now=deps.clock(), actor_ref=view.user_id)
        else:
            outcome = record_moderation(session, view.int_meta("moderation_id"), person, view.values, deps.settings,
                                        _calendar(deps), now=deps.clock(), actor_ref=view.user_id)
    if outcome.errors:
        ack(response_action="errors", errors={str(k): v for k, v in outcome.errors.items()})
        return
    answer = _answer(deps, outcome)
    if answer is not None:
        ack(response_action="errors", errors={FormBlock.AGREES: answer["text"]})
        return
    ack(response_action="clear")
    deps.wake_outbox()


def handle_moderation_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The moderator's form."""
    _submitted(ack, body, client, context, head_of_service=False)


def handle_head_of_service_submission(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """The Head of Service's form."""
    _submitted(ack, body, client, context, head_of_service=True)


def _answer_click(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond, *, accept: bool
) -> None:
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = answer_moderation(session, click.int_value(), person, accept=accept, settings=deps.settings,
                                    calendar=_calendar(deps), now=deps.clock(), actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
    else:
        deps.wake_outbox()


def handle_accept(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """The challenger accepts the moderation (Bradford)."""
    _answer_click(ack, body, client, context, respond, accept=True)


def handle_take_further(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """The challenger takes it to the Head of Service (Bradford §3)."""
    _answer_click(ack, body, client, context, respond, accept=False)


def handle_send_sample(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
    """**Send to the moderators** on the month's sample (value ``YYYY-MM``)."""
    ack()
    deps = deps_of(context)
    click = ButtonClick.parse(body)
    month = parse_month_arg(click.value)
    if month is None:
        raise PayloadError("send sample: not a month")
    with acting_as(deps, client, click.user_id) as (session, person):
        outcome = send_sample(session, month, person, deps.settings, _calendar(deps), now=deps.clock(), actor_ref=click.user_id)
    answer = _answer(deps, outcome)
    if answer is not None:
        say_ephemeral(respond, answer)
    else:
        deps.wake_outbox()


def calibration_command(ack: Ack, request: SlashCommand, client: WebClient, deps: Deps) -> None:
    """``/audit calibration [YYYY-MM | YYYY]`` (default: this year): how grades moved in challenges
    and moderation. The QA team sees everyone; an auditor sees their own audits only."""
    now = deps.clock()
    today = now.astimezone(deps.settings.tz).date()
    text = request.args[0] if request.args else str(today.year)
    month = parse_month_arg(text) if len(text) != 4 else None
    if month is None and not (len(text) == 4 and text.isdigit()):
        payload = render(Template.ERROR, {"message": "Give a month (YYYY-MM) or a year (YYYY), e.g. /audit calibration 2026.",
                                          "reference": None})
        ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")
        return
    start = month or dt.date(int(text), 1, 1)
    end = add_months(start, 1) if month else dt.date(start.year + 1, 1, 1)
    with acting_as(deps, client, request.user_id) as (session, person):
        decision, auditors, moderators, everyone = calibration_for(session, person, start, end, deps.settings, now=now,
                                                                   actor_ref=request.user_id)
    if decision.code is not None:
        payload = render(Template.REFUSAL, {"code": decision.code.value})
    else:
        payload = render(Template.CALIBRATION, {
            "period": start.isoformat()[:7] if month else str(start.year), "month": bool(month), "everyone": everyone,
            "auditors": [{"name": a.name, "audits": a.audits, "challenged": a.challenged, "moderated": a.moderated,
                          "moved": [{"by": by, "n": n} for by, n in sorted(a.moved.items())]} for a in auditors[:40]],
            "moderators": [{"name": m.name, "decided": m.decided, "agreed": m.agreed} for m in moderators[:40]],
            "more": max(0, len(auditors) - 40) + max(0, len(moderators) - 40),
        })
    ack(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral")


def register(app: App) -> None:
    """Register the moderation menus, buttons and forms (``/audit calibration`` goes via ``commands``)."""
    app.action(ActionId.CHOOSE_MODERATOR.value)(handle_choose_moderator)
    app.action(ActionId.RECORD_MODERATION.value)(handle_record_button)
    app.action(ActionId.ACCEPT_MODERATION.value)(handle_accept)
    app.action(ActionId.TAKE_TO_HEAD_OF_SERVICE.value)(handle_take_further)
    app.action(ActionId.RECORD_HEAD_OF_SERVICE.value)(handle_head_of_service_button)
    app.action(ActionId.SEND_SAMPLE.value)(handle_send_sample)
    app.view(CallbackId.MODERATION.value)(handle_moderation_submission)
    app.view(CallbackId.HEAD_OF_SERVICE_DECISION.value)(handle_head_of_service_submission)
