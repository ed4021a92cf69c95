"""The App Home tab: published when the person opens it, republished when their work changes.

- ``app_home_opened`` marks the person as having opened it (``people.home_opened_at``), builds
  their view in the request's unit of work and publishes it once the transaction is over.
- A click on a Home button runs the very handler the same button on a direct message runs (the
  view carries the same action ids and values). Slack gives no ``response_url`` from a view, so a
  middleware gives such clicks a ``respond`` of their own, in this one place: an answer that would
  have replaced the message is dropped (the republished Home shows the new state), and an answer
  only for the clicker (a refusal, "already done by …") becomes a notice at the top of their Home.
- After every click, submission or command (Bolt's listener completion) the person's Home is
  *asked* to be republished, and the outbox asks for each recipient when it delivers them
  something (``bot.delivery.homes``). Asking is an in-memory note: no query, no Slack call, so no
  click waits for it and nothing calls Slack inside a transaction. The publisher's thread (or
  ``flush`` when nothing runs in the background) republishes only people who opened their Home.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.context import BoltContext
from slack_bolt.listener.listener_completion_handler import ListenerCompletionHandler
from slack_bolt.request.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.delivery.homes import home_view
from bot.handlers.deps import deps_of
from bot.handlers.identity import acting_as
from bot.handlers.payloads import user_id_of
from bot.services.home import opened_home

log = logging.getLogger(__name__)

#: Where a Home click's answer for the clicker is kept until the Home is republished.
NOTICE = "home_notice"


def from_home(body: dict[str, Any]) -> bool:
    """True for a ``block_actions`` request from a button on an App Home view."""
    container = body.get("container") or {}
    view = body.get("view") or {}
    return body.get("type") == "block_actions" and container.get("type") == "view" and view.get("type") == "home"


class HomeRespond:
    """``respond`` for a click on the Home tab (Slack gives no response_url there)."""

    def __init__(self, context: BoltContext) -> None:
        self._context = context

    def __call__(self, text: str = "", blocks: Any = None, response_type: str | None = None,
                 replace_original: bool | None = None, **_: Any) -> None:
        if replace_original:
            return  # the message it would have edited is the Home itself: republished with the new state
        self._context[NOTICE] = text


def handle_app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Note that they use the Home tab, and publish it as their work stands now."""
    if event.get("tab", "home") != "home":
        return
    deps = deps_of(context)
    user_id = user_id_of(event.get("user"))
    now = deps.clock()
    with acting_as(deps, client, user_id) as (session, person):
        opened_home(person, now=now)
        view = home_view(session, person, now=now, settings=deps.settings)
    try:  # after the transaction: never call Slack inside one
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        log.warning("views.publish for %s failed: %s", user_id, exc.response.get("error"))


def _actor(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    raw = user.get("id") if isinstance(user, dict) else body.get("user_id")
    try:
        return user_id_of(raw) if raw else None
    except ValueError:
        return None


class RefreshHomeAfterListener(ListenerCompletionHandler):
    """After a click, submission or command: ask for the person's Home to be republished."""

    def __init__(self, inner: ListenerCompletionHandler) -> None:
        self.inner = inner

    def handle(self, request: BoltRequest, response: BoltResponse | None) -> None:
        self.inner.handle(request=request, response=response)
        body = request.body
        if body.get("type") not in ("block_actions", "view_submission") and not body.get("command"):
            return
        user_id = _actor(body)
        deps = request.context.get("deps")
        if user_id is not None and deps is not None:
            deps.refresh_home(user_id, request.context.get(NOTICE))


def register(app: App) -> None:
    """The ``app_home_opened`` event, the Home clicks' ``respond``, and the refresh after each request."""

    @app.middleware
    def home_clicks(body: dict[str, Any], context: BoltContext, next: Callable[[], Any]) -> Any:  # Bolt's name
        if from_home(body):
            context["respond"] = HomeRespond(context)
        return next()

    app.event("app_home_opened")(handle_app_home_opened)
    runner = app.listener_runner
    runner.listener_completion_handler = RefreshHomeAfterListener(runner.listener_completion_handler)
