"""The QA team's programme views from the Home tab: next month's allocation preview and this month's
report, each in a modal. Both are read-only: the check (refusals audit-logged) commits; the view is
built in a session that is rolled back, so nothing a preview plans is ever kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.calendar import WorkingCalendar
from bot.handlers.deps import Deps, deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import ButtonClick
from bot.ids import ActionId, Template
from bot.render import render
from bot.services.allocation.schedule import preview_modal_context
from bot.services.authz import Permission, check
from bot.services.reports.modal import report_context

Build = Callable[[Session, Deps], tuple[Template, dict[str, Any]]]


def _preview(session: Session, deps: Deps) -> tuple[Template, dict[str, Any]]:
    calendar = WorkingCalendar.from_settings(deps.settings)
    return Template.VIEW_ALLOCATION_PREVIEW, preview_modal_context(session, deps.settings, calendar, now=deps.clock())


def _report(session: Session, deps: Deps) -> tuple[Template, dict[str, Any]]:
    return Template.VIEW_REPORT, report_context(session, deps.settings, today=deps.clock().astimezone(deps.settings.tz).date())


def _open(build: Build) -> Callable[..., None]:
    def handle(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext, respond: Respond) -> None:
        """Ack; the QA team only (a refusal is answered and audit-logged); the modal, built read-only."""
        ack()
        deps = deps_of(context)
        click = ButtonClick.parse(body)
        with acting_as(deps, client, click.user_id) as (session, person):
            decision = check(session, person, Permission.VIEW_PROGRAMME, now=deps.clock(), actor_ref=click.user_id)
        if not decision.allowed:
            assert decision.code is not None
            payload = render(Template.REFUSAL, {"code": decision.code.value})
            respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
            return
        with deps.sessions() as session:
            try:
                template, view = build(session, deps)
            finally:
                session.rollback()  # read-only: a preview's planning (and the month's row it may create) is never kept
        client.views_open(trigger_id=click.trigger_id, view=render(template, view))

    return handle


def register(app: App) -> None:
    """The Home tab's "Preview next month's allocation" and "This month's report"."""
    app.action(ActionId.PREVIEW_ALLOCATION.value)(_open(_preview))
    app.action(ActionId.MONTH_REPORT.value)(_open(_report))
