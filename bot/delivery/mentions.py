"""Finding the people a message names, so they can be shown as Slack mentions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

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
    """The Slack user ids already known for the people ``context`` names (no API calls).

    People the session holds already, with their Slack id loaded, are answered from memory; the rest in one query."""
    found: dict[int, str] = {}
    missing: set[int] = set()
    for pid in set(person_ids(dict(context))):
        person = session.identity_map.get(identity_key(Person, pid))
        if person is None or "slack_user_id" in inspect(person).unloaded:
            missing.add(pid)
        elif person.slack_user_id is not None:
            found[pid] = person.slack_user_id
    if missing:
        rows = session.execute(
            select(Person.id, Person.slack_user_id).where(Person.id.in_(missing), Person.slack_user_id.is_not(None))
        )
        found.update((pid, uid) for pid, uid in rows if uid is not None)
    return found
