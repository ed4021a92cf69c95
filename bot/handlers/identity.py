"""Who is asking: the Slack user behind a request, as a person in the store."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.handlers.deps import Deps
from store.models import Person

log = logging.getLogger(__name__)


def slack_email(client: WebClient, user_id: str) -> str | None:
    """The email on a Slack profile (``users:read.email``), or None if Slack won't say."""
    try:
        profile = client.users_info(user=user_id)["user"].get("profile", {})
    except SlackApiError as exc:
        log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
        return None
    email = profile.get("email")
    return str(email) if email else None


def email_if_unknown(client: WebClient, deps: Deps, user_id: str) -> str | None:
    """The user's email when the store does not know their Slack id yet (one API call, once)."""
    with deps.sessions() as session:
        known = session.scalar(select(Person.id).where(Person.slack_user_id == user_id))
    return None if known is not None else slack_email(client, user_id)
