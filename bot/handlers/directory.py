"""Slack's ``user_change`` and ``team_join`` events: one member's Slack id recorded between directory syncs.

The event carries the full user object (with the email, given ``users:read.email``); it is applied
with the same rules as a ``users.list`` page (``bot.services.staff.directory``). No Slack call.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_bolt.context import BoltContext
from sqlalchemy.exc import IntegrityError

from bot.handlers.deps import deps_of
from bot.services.staff.directory import apply_directory, parse_member

log = logging.getLogger(__name__)


def handle_user_event(event: dict[str, Any], context: BoltContext) -> None:
    """Record the changed (or new) member on the person with their email."""
    member = parse_member(event.get("user") or {})
    if member is None:
        return
    deps = deps_of(context)
    try:
        with deps.sessions() as session, session.begin():
            result = apply_directory(session, [member], deps.clock())
    except IntegrityError:  # a directory sync moved the same id at the same moment: the next sync settles it
        log.warning("%s for %s not applied: the Slack id changed hands meanwhile", event.get("type"), member.user_id)
        return
    if result.changed:
        log.info("%s for %s: %d person(s) updated", event.get("type"), member.user_id, result.changed)


def register(app: App) -> None:
    """Subscribe to the member events."""
    app.event("user_change")(handle_user_event)
    app.event("team_join")(handle_user_event)
