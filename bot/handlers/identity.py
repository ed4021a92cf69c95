"""Who is asking: the Slack user behind a request, as a person in the store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.handlers.deps import Deps
from bot.services.staff.people import find_person
from store.queries import person_by_slack_id

if TYPE_CHECKING:  # annotations only: handlers pass the person on, services read it
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



@contextmanager
def acting_as(deps: Deps, client: WebClient, user_id: str) -> Iterator[tuple[Session, Person | None]]:
    """One unit of work on behalf of Slack user ``user_id``: the session and their person (or None).

    A person known by Slack id is found, with their roles, in the unit's own transaction (one statement);
    otherwise Slack is asked for their email (users.info, no transaction open meanwhile) and they are found by it."""
    with deps.sessions() as session:
        unit = session.begin()
        person = person_by_slack_id(session, user_id)
        if person is None:
            session.rollback()
            email = slack_email(client, user_id)
            unit = session.begin()
            person = find_person(session, slack_user_id=user_id, email=email)
        with unit:
            yield session, person
