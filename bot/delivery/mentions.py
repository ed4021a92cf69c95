"""Finding the people a message names, so they can be shown as Slack mentions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import Person


def person_ids(value: Any) -> Iterable[int]:
    """Ids of every ``{"id": ..., "name": ...}`` person reference inside a template context."""
    if isinstance(value, dict):
        if set(value) == {"id", "name"} and isinstance(value["id"], int):
            yield value["id"]
        for v in value.values():
            yield from person_ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from person_ids(v)


def known_slack_ids(session: Session, context: Mapping[str, Any]) -> dict[int, str]:
    """The Slack user ids already known for the people ``context`` names (no API calls)."""
    ids = set(person_ids(dict(context)))
    rows = session.execute(select(Person.id, Person.slack_user_id).where(Person.id.in_(ids), Person.slack_user_id.is_not(None)))
    return {pid: uid for pid, uid in rows}
