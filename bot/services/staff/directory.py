"""The Slack directory in the store: who each person is in Slack, from ``users.list`` pages or user events. Slack-free.

People are matched to Slack members by lower-cased email (active and inactive people alike: an
inactive person is still named in old messages). Rules, for the members given:

- A live member (not deleted, not a bot, with an email) sets ``slack_user_id`` on the person with
  that email and clears ``slack_missing_since``. Guests (restricted accounts) count: a council
  member of staff on a guest account is still reached there, as ``users.lookupByEmail`` would find.
- A Slack id is unique in the store: when it now belongs to another person's email, it is taken
  from the person who had it first. A person whose Slack account changed email to one nobody in
  the store has keeps their id (the id, not the email, is who they are in Slack).
- ``slack_dm_channel`` stays only while the person's Slack id is unchanged (a DM channel belongs
  to one user id); a new or cleared id clears it, so the DM is opened again, once, if it is needed.
- A deleted (deactivated) member's id is cleared, DM channel too: nothing can be delivered to it,
  and the sender's fallback lookup then records the gap and tells the QA coordinators, as for
  anyone without an account. ``slack_missing_since`` is set. If the account is reactivated, the
  next sync or ``user_change`` event sets the id again.
- Bots and members without an email (the bot lacks ``users:read.email``, Slackbot) match nobody.

``forget_unseen`` finishes a complete sync only: ids Slack no longer lists are cleared, and
people no live member matched are marked ``slack_missing_since``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import DateTime, Integer, String, Table, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from store.db import changed
from store.models import Person


@dataclass(frozen=True)
class Member:
    """One Slack member as ``users.list`` (or a ``user_change``/``team_join`` event) shows them."""

    user_id: str
    #: Lower-cased; None when Slack gives none (bots, Slackbot, or no ``users:read.email`` scope).
    email: str | None
    deleted: bool = False
    is_bot: bool = False

    @property
    def live(self) -> bool:
        """A member who can be matched to a person: active, human, with an email."""
        return not self.deleted and not self.is_bot and bool(self.email)


def parse_member(raw: Mapping[str, Any]) -> Member | None:
    """A ``Member`` from Slack's user object, or None if it has no id."""
    user_id = str(raw.get("id") or "")
    if not user_id:
        return None
    email = str((raw.get("profile") or {}).get("email") or "").strip().lower() or None
    is_bot = bool(raw.get("is_bot")) or user_id == "USLACKBOT"
    return Member(user_id=user_id, email=email, deleted=bool(raw.get("deleted")), is_bot=is_bot)


@dataclass
class DirectoryResult:
    """What applying members (or finishing a sync) did: counts only."""

    #: Members given.
    seen: int = 0
    #: People whose email a live member has.
    matched: int = 0
    #: People whose Slack identity columns were updated.
    changed: int = 0
    #: People whose Slack id was cleared (deleted member, id taken by another, no longer listed).
    cleared: int = 0
    #: People newly marked as having no Slack account.
    missing: int = 0
    #: Live members sharing an email with another member in the same batch: matched to nobody.
    ambiguous: int = 0

    def add(self, other: DirectoryResult) -> None:
        """Add ``other``'s counts to these."""
        for name in ("seen", "matched", "changed", "cleared", "missing", "ambiguous"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


#: More members than this (a whole directory at once) read every person rather than look them up by email and id.
WHOLE_TABLE_ABOVE = 1_000

_COLUMNS = (Person.id, Person.email, Person.slack_user_id, Person.slack_dm_channel, Person.slack_missing_since)


@dataclass(frozen=True)
class _Row:
    id: int
    email: str
    user_id: str | None
    dm: str | None
    missing_since: dt.datetime | None


def apply_directory(session: Session, members: Iterable[Member], now: dt.datetime) -> DirectoryResult:
    """Record ``members`` (one ``users.list`` page, or one event's user) on the people they are.

    Never clears anyone the members do not concern; see ``forget_unseen`` for a complete sync.
    One select and at most two bulk UPDATEs by primary key.
    """
    members = list({m.user_id: m for m in members}.values())  # a member listed twice: the later listing
    result = DirectoryResult(seen=len(members))
    by_email: dict[str, str] = {}
    shared: set[str] = set()
    for member in members:
        if member.live:
            assert member.email is not None
            if member.email in by_email and by_email[member.email] != member.user_id:
                shared.add(member.email)
            by_email[member.email] = member.user_id
    for email in shared:
        del by_email[email]
    result.ambiguous = len(shared)
    deleted = {m.user_id for m in members if m.deleted}
    ids = {m.user_id for m in members}
    if not by_email and not deleted:
        return result
    query = select(*_COLUMNS)
    if len(ids) <= WHOLE_TABLE_ABOVE:
        query = query.where(or_(func.lower(Person.email).in_(list(by_email)), Person.slack_user_id.in_(list(ids))))
    rows = [_Row(*row) for row in session.execute(query)]
    claimed = {by_email[row.email.lower()] for row in rows if row.email.lower() in by_email}
    wanted: dict[int, str | None] = {}
    for row in rows:
        user_id = by_email.get(row.email.lower())
        if user_id is not None:
            result.matched += 1
        elif row.user_id is not None and (row.user_id in deleted or row.user_id in claimed):
            user_id = None  # deactivated, or now another person's email
        else:
            user_id = row.user_id
        wanted[row.id] = user_id
    _write(session, rows, wanted, now, result)
    return result


def forget_unseen(session: Session, seen: Collection[str], now: dt.datetime) -> DirectoryResult:
    """After a complete ``users.list``: clear ids it no longer lists (``seen``: every member id it
    listed) and mark people with no Slack id as missing since ``now`` (if not already)."""
    result = DirectoryResult()
    seen = set(seen)
    rows = [_Row(*row) for row in session.execute(select(*_COLUMNS).where(Person.slack_user_id.is_not(None)))
            if row.slack_user_id not in seen]
    _write(session, rows, {row.id: None for row in rows}, now, result)
    marked = session.execute(
        update(Person)
        .where(Person.slack_user_id.is_(None), Person.slack_missing_since.is_(None))
        .values(slack_missing_since=now)
        .execution_options(synchronize_session=False)
    )
    result.missing += changed(marked)
    return result


def _write(
    session: Session, rows: list[_Row], wanted: Mapping[int, str | None], now: dt.datetime, result: DirectoryResult
) -> None:
    """Give each row its wanted Slack id, in two bulk UPDATEs by primary key: first every id that
    goes away is cleared (so no id is ever on two people, even when two swap), then new ids are set."""
    first: list[dict[str, Any]] = []
    second: list[dict[str, Any]] = []
    for row in rows:
        user_id = wanted[row.id]
        dm = row.dm if user_id == row.user_id else None
        missing = None if user_id is not None else (row.missing_since or now)
        if (user_id, dm, missing) == (row.user_id, row.dm, row.missing_since):
            continue
        result.changed += 1
        if user_id is None and row.user_id is not None:
            result.cleared += 1
        if user_id is None and row.missing_since is None:
            result.missing += 1
        values = {"id": row.id, "slack_user_id": user_id, "slack_dm_channel": dm, "slack_missing_since": missing}
        if user_id is None or user_id == row.user_id:
            first.append(values)
        elif row.user_id is None:  # nothing to clear first: set once, in the second statement
            second.append(values)
        else:  # a new id in place of another: the old one goes in the first statement
            first.append({**values, "slack_user_id": None})
            second.append(values)
    for batch in (first, second):
        if batch:
            _update(session, batch)


def _update(session: Session, batch: list[dict[str, Any]]) -> None:
    """Set each row's three Slack columns by primary key: on PostgreSQL in one statement over arrays
    (``UPDATE ... FROM unnest(...)``), elsewhere as a bulk UPDATE by primary key (executemany)."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(update(Person), batch)
        return
    people = cast(Table, Person.__table__)  # a mapped class's __table__ is typed as any FromClause
    given = func.unnest(
        bindparam("ids", type_=ARRAY(Integer)),
        bindparam("user_ids", type_=ARRAY(String)),
        bindparam("dms", type_=ARRAY(String)),
        bindparam("missing", type_=ARRAY(DateTime(timezone=True))),
    ).table_valued("id", "user_id", "dm", "missing").render_derived()
    statement = (
        update(people)
        .where(people.c.id == given.c.id)
        .values(slack_user_id=given.c.user_id, slack_dm_channel=given.c.dm, slack_missing_since=given.c.missing)
    )
    session.execute(statement, {
        "ids": [row["id"] for row in batch],
        "user_ids": [row["slack_user_id"] for row in batch],
        "dms": [row["slack_dm_channel"] for row in batch],
        "missing": [row["slack_missing_since"] for row in batch],
    })
