"""One effect per Slack request: a replayed or doubled modal submission, click or slash command,
or Slack's own retry (``X-Slack-Retry-Num``), is acknowledged and otherwise ignored.

A global middleware records a receipt for the request before any listener runs; a request whose
receipt exists already is answered with an empty 200. If the listener then fails, or answers a
modal with field errors (nothing was created), the receipt is forgotten, so the person can
correct and try again. A click's receipt is written by the edge before it is answered (``bot/web.py``,
``bot/delivery/clicks.py``): its listener runs later inside ``store.receipts.acting_on``, and passes here.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.context import BoltContext
from slack_bolt.response import BoltResponse
from sqlalchemy.exc import DBAPIError

from bot.handlers.deps import deps_of
from store.receipts import first_receipt, forget_receipt, taken_here

log = logging.getLogger(__name__)


def request_key(body: dict[str, Any]) -> str | None:
    """What makes this request the same as another: None for requests that create nothing."""
    kind = body.get("type")
    try:
        if kind == "view_submission":
            view = body["view"]
            identity = f"{view['id']}:{view['hash']}"
        elif kind == "block_actions":
            action = body["actions"][0]
            container = body.get("container") or {}
            identity = f"{action['action_ts']}:{container.get('message_ts') or container.get('view_id') or ''}"
        elif body.get("command") and not kind:
            identity = str(body["trigger_id"])
        else:
            return None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None  # the listener's own parsing says what is wrong with it
    digest = hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()
    return f"{kind or 'command'}:{digest}"


def forget(context: BoltContext, body: dict[str, Any]) -> None:
    """Drop the receipt of a request that failed, so that trying again works."""
    key = request_key(body)
    if key is None or context.get("deps") is None:
        return
    try:
        with deps_of(context).sessions() as session, session.begin():
            forget_receipt(session, key)
    except DBAPIError:
        log.warning("could not forget receipt %s: the database did not answer", key)


class _ForgetOnFieldErrors(Ack):
    """``ack`` that forgets the request's receipt when it answers a modal with field errors."""

    def __init__(self, context: BoltContext, body: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # slack_bolt leaves Ack.__init__ unannotated
        self._context, self._body = context, body

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("response_action") == "errors":
            forget(self._context, self._body)
        return super().__call__(*args, **kwargs)


def register(app: App) -> None:
    """Install the middleware (after ``deps.install``, before any listener)."""

    @app.middleware
    def once(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> Any:  # Bolt's name
        key = request_key(body)
        if key is None:
            return next()
        if taken_here(key):  # a click the edge acknowledged once its receipt was written (bot/delivery/clicks.py)
            return next()
        deps = deps_of(context)
        with deps.sessions() as session:
            first = first_receipt(session, key, now=deps.clock())
        if not first:
            log.info("request %s was already received; not acted on again", key)
            return BoltResponse(status=200, body="")
        if body.get("type") == "view_submission":
            context["ack"] = _ForgetOnFieldErrors(context, body)
        return next()
