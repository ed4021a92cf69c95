"""The single error handler: every failure becomes words for the person, plus a log line with the
same reference so support can find it. Every request is answered 200 (Slack shows its own
"something went wrong" for anything else), whatever kind of request failed.

Only verified requests get here (``bot/web.py`` refuses the rest before Bolt sees them), so the
``response_url`` it answers through is Slack's.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from slack_bolt import App
from slack_bolt.context import BoltContext
from slack_bolt.context.respond import Respond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackClientError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError

from bot.handlers import receipts
from bot.handlers.home import from_home
from bot.handlers.payloads import PayloadError
from bot.ids import Template
from bot.render import render
from store.receipts import ReceiptLapsed

log = logging.getLogger(__name__)


def failure_kind(error: Exception) -> str:
    """Which words fit: ``unreadable`` input, the database ``unavailable``, or ``unexpected``."""
    if isinstance(error, PayloadError | DataError | UnicodeError):
        return "unreadable"
    if isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        return "unavailable"
    return "unexpected"


def _what(body: dict[str, Any]) -> str:
    return str(body.get("type") or body.get("command") or "request")[:40]


def handle_error(
    error: Exception, body: dict[str, Any], respond: Respond | None, context: BoltContext | None = None
) -> BoltResponse:
    """Log ``error`` with a short reference and tell the person, in the way this request allows."""
    if isinstance(error, ReceiptLapsed):  # its person was told nothing was changed, which the refused commit keeps true
        log.info("a click's listener came after its click was handed over as unfinished; its commit was refused")
        return BoltResponse(status=200, body="")
    reference = uuid.uuid4().hex[:8]
    kind = failure_kind(error)
    if kind == "unexpected":
        log.exception("unhandled error %s while handling %s", reference, _what(body), exc_info=error)
    else:  # the input or the database, not the code: no traceback, and no more than a short prefix of it
        first_line = (str(error).splitlines() or [""])[0]
        log.warning("%s %s while handling %s: %s: %.80s", kind, reference, _what(body), type(error).__name__, first_line)
    if context is not None:
        receipts.forget(context, body)
    words = {"kind": kind, "reference": reference}
    if body.get("type") == "view_submission":
        # The modal stays open and says so, rather than Slack's "trouble connecting".
        return BoltResponse(status=200, body={"response_action": "update", "view": render(Template.VIEW_FAILURE, words)})
    payload = render(Template.FAILURE, words)
    if body.get("command") and not body.get("type"):
        # A slash command not yet acknowledged: answer in the acknowledgement itself.
        return BoltResponse(status=200, body={"response_type": "ephemeral", **payload})
    if respond is not None and (body.get("response_url") or from_home(body)):  # from Home: a notice on it
        try:
            respond(text=payload["text"], blocks=payload["blocks"], response_type="ephemeral", replace_original=False)
        except (SlackClientError, OSError) as exc:
            log.warning("could not tell the person about %s: %s", reference, type(exc).__name__)
    return BoltResponse(status=200, body="")


def register(app: App) -> None:
    """Install the error handler."""
    app.error(handle_error)
