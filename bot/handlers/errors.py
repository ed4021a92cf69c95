"""The single error handler: every unexpected failure becomes words for the person, plus a log
line with the same reference so support can find it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import App
from slack_bolt.context.respond import Respond
from slack_bolt.response import BoltResponse

from bot.ids import Template
from bot.render import render

log = logging.getLogger(__name__)


def handle_error(error: Exception, body: dict[str, Any], respond: Respond | None) -> BoltResponse | None:
    """Log ``error`` with a short reference and tell the person something went wrong."""
    reference = uuid.uuid4().hex[:8]
    log.exception("unhandled error %s while handling %s", reference, body.get("type") or body.get("command"), exc_info=error)
    words = {
        "message": "Sorry, something went wrong and nothing was changed. Please try again; if it keeps happening, tell the QA team.",
        "reference": reference,
    }
    if body.get("type") == "view_submission":
        # The modal stays open and says so, rather than Slack's "trouble connecting".
        return BoltResponse(status=200, body={"response_action": "update", "view": render(Template.VIEW_ERROR, words)})
    payload = render(Template.ERROR, words)
    if body.get("command") and not body.get("type"):
        # A slash command not yet acknowledged: answer in the acknowledgement itself.
        return BoltResponse(status=200, body={"response_type": "ephemeral", **payload})
    if respond is not None and body.get("response_url"):
        respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
    return None


def register(app: App) -> None:
    """Install the error handler."""
    app.error(handle_error)
