"""Test helpers shared by the delivery and scenario tests."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.workspace import LocalWorkspace
from store.db import make_engine
from store.models import Person, PersonRole, Role, Service, Team

TOKEN = "xoxb-local-test"
SECRET = "local-signing-secret"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeTime:
    """A UTC wall clock the test moves by hand (for ``Deps.clock`` and ``tick``)."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def add_person(
    session: Session, email: str, name: str, *roles: Role, team: Team | None = None, manager: Person | None = None
) -> Person:
    """Add an active person with roles."""
    person = Person(
        email=email,
        display_name=name,
        team=team,
        service=team.service if team is not None else None,
        line_manager=manager,
        active=True,
        role_rows=[PersonRole(role=r) for r in roles],
    )
    session.add(person)
    session.flush()
    return person


def people_council(sessions: sessionmaker[Session], count: int = 3) -> list[int]:
    """A QA coordinator plus ``count`` staff; returns the staff ids (QA coordinator first)."""
    with sessions() as session, session.begin():
        service = Service(name="Assessment and Intervention")
        team = Team(name="Assessment Team North", service=service)
        session.add_all([service, team])
        qa = add_person(session, "quinn.qa@council.example", "Quinn QA", Role.QA_COORDINATOR)
        staff = [
            add_person(session, f"person{n}@council.example", f"Person {n}", Role.SOCIAL_WORKER, team=team)
            for n in range(count)
        ]
        return [qa.id, *(p.id for p in staff)]


@contextmanager
def running_workspace(**kwargs: object) -> Iterator[LocalWorkspace]:
    """A started local workspace (stopped afterwards).

    The bot gets 30 s, not Slack's 3 s, to answer a request: tests assert on what it does, not
    on how fast a loaded CI machine runs it (speed is measured in ``bench/``).
    """
    kwargs.setdefault("ack_timeout_seconds", 30.0)
    workspace = LocalWorkspace(bot_token=TOKEN, signing_secret=SECRET, **kwargs)  # type: ignore[arg-type]
    workspace.start()
    try:
        yield workspace
    finally:
        workspace.stop()


def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST ``body`` as JSON to ``url`` (a response_url, say): (status, decoded answer), errors included."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def another_engine(engine: Engine) -> Engine:
    """A second engine (another process, in effect) on the same test database."""
    return make_engine(engine.url.render_as_string(hide_password=False))
