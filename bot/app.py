"""The application factory. Nothing is created at import time."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot.handlers import (
    actions,
    alerts,
    assurance,
    audits,
    breaks,
    commands,
    deps,
    directory,
    errors,
    exemptions,
    home,
    inadequate,
    meetings,
    moderation,
    qa_check,
    receipts,
    reflection,
    replies,
    reports,
)
from bot.handlers.deps import Deps

log = logging.getLogger(__name__)

HANDLER_MODULES = (
    commands, audits, meetings, reflection, replies, moderation, qa_check, assurance, actions, inadequate, breaks, exemptions,
    alerts, reports, home, directory, errors,
)


def create_app(deps_: Deps, *, client: WebClient) -> App:
    """Build the Bolt app: verified requests, injected dependencies, every handler registered.

    ``client`` carries the bot token and, for the local workspace, its ``base_url``.
    Listeners run in the thread that dispatches to them (``process_before_response``), never in one Bolt
    leaves behind: a request's, or for a click answered once its receipt is written, the click lane's
    (``bot/delivery/clicks.py``).
    """
    settings = deps_.settings
    secret = settings.slack_signing_secret
    app = App(
        client=client,
        signing_secret=secret.get_secret_value() if secret is not None else None,
        process_before_response=True,
        request_verification_enabled=True,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("bot.bolt"),
    )
    deps.install(app, deps_)
    receipts.register(app)  # one effect per request, before any listener
    for module in HANDLER_MODULES:
        module.register(app)
    return app
