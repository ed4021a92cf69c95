"""What handlers need from the running bot, injected into every request's context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.context import BoltContext
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, system_clock
from bot.delivery.followups import DeferringClient, DeferringRespond
from bot.settings import Settings


@dataclass
class Deps:
    """The store, the settings, the clock, a way to wake the outbox sender and to refresh a Home tab."""

    sessions: sessionmaker[Session]
    settings: Settings
    clock: Clock = system_clock
    wake_outbox: Callable[[], None] = field(default=lambda: None)
    #: Ask for a person's App Home to be republished (Slack user id, a notice for its top); never blocks.
    refresh_home: Callable[[str, str | None], None] = field(default=lambda user_id, notice: None)


def install(app: App, deps: Deps) -> None:
    """Make ``deps`` available to listeners as ``context["deps"]``, and their outbound calls wait for the ack.

    ``respond`` and the ``client``'s ``views.*``/``chat.postEphemeral`` are queued while ``bot/web.py`` holds a
    follow-up scope open for the request, and made once Slack has its answer (``bot.delivery.followups``).
    """

    @app.middleware
    def _inject(context: BoltContext, next: Callable[[], Any]) -> Any:  # Bolt's name
        context["deps"] = deps
        context["client"] = DeferringClient(context.client)
        if context.respond is not None:
            context["respond"] = DeferringRespond(context.respond)
        return next()


def deps_of(context: BoltContext) -> Deps:
    """The injected dependencies."""
    deps = context.get("deps")
    assert isinstance(deps, Deps), "bot.handlers.deps.install() was not called"
    return deps
