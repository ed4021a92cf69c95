"""Syncing Slack ids in bulk: ``users.list``, paginated, so the outbox never looks people up one by one.

``sync_directory`` pages through ``users.list`` (``limit=200``, as Slack recommends; cursor
pagination) and applies each page in its own transaction (``bot.services.staff.directory``), so
what a run saw is kept even if a later page fails. A 429 waits its ``Retry-After`` (through the
injected ``sleep``) and asks for the same page again. Any other failure stops the run with one log
line (the error code and page number, never a name or an email); the store keeps what the pages
seen gave, and nothing else changes. Only a run that reached the last page clears the ids Slack
no longer lists and marks the people nobody matched (``forget_unseen``).

Runs at start (before the outbox sends), daily, and in local mode whenever staff get new local
accounts (``bot.runtime``); ``user_change`` and ``team_join`` events apply one member between runs
(``bot.handlers.directory``).
"""

from __future__ import annotations

import logging
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.services.staff.directory import DirectoryResult, apply_directory, forget_unseen, parse_member

log = logging.getLogger(__name__)

#: Slack's recommended page size for ``users.list``.
PAGE_SIZE = 200
#: 429s in a row on one page before the run gives up (each waits its Retry-After).
MAX_WAITS = 10


@dataclass
class SyncCounts(DirectoryResult):
    """What one ``sync_directory`` run did: the store's counts (``DirectoryResult``) over every page, and these."""

    pages: int = 0
    #: 429s waited out.
    waits: int = 0
    #: True when the last page was reached.
    complete: bool = False
    #: The error that stopped the run, if any (a Slack error code or an exception's class name).
    error: str | None = None


def sync_directory(
    client: WebClient,
    sessions: sessionmaker[Session],
    clock: Clock,
    sleep: Callable[[float], object] = time.sleep,
    *,
    page_size: int = PAGE_SIZE,
) -> SyncCounts:
    """Read every ``users.list`` page and record each person's Slack id; returns the counts."""
    counts = SyncCounts()
    seen: set[str] = set()
    with_email = 0
    cursor = ""
    waits_here = 0
    while True:
        try:
            response = client.users_list(limit=page_size, cursor=cursor) if cursor else client.users_list(limit=page_size)
        except SlackApiError as exc:
            if exc.response.status_code == 429 and waits_here < MAX_WAITS:
                waits_here += 1
                counts.waits += 1
                sleep(_retry_after(exc))
                continue
            return _stopped(counts, str(exc.response.get("error") or f"HTTP {exc.response.status_code}"))
        except (SlackRequestError, urllib.error.URLError, TimeoutError, OSError) as exc:
            return _stopped(counts, type(exc).__name__)
        waits_here = 0
        counts.pages += 1
        members = [m for m in (parse_member(raw) for raw in response.get("members") or []) if m is not None]
        seen.update(m.user_id for m in members)
        with_email += sum(1 for m in members if m.live)
        try:
            with sessions() as session, session.begin():
                counts.add(apply_directory(session, members, clock()))
        except SQLAlchemyError as exc:
            return _stopped(counts, type(getattr(exc, "orig", None) or exc).__name__)
        cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
        if not cursor:
            break
    counts.complete = True
    if seen and not with_email:
        # Nobody had an email: without users:read.email nothing can be matched, so nobody is "missing" either.
        log.warning("directory sync: %d member(s), none with an email: is the users:read.email scope granted?", len(seen))
    else:
        try:
            with sessions() as session, session.begin():
                counts.add(forget_unseen(session, seen, clock()))
        except SQLAlchemyError as exc:
            return _stopped(counts, type(getattr(exc, "orig", None) or exc).__name__)
    log.info("directory sync: %d page(s), %d matched, %d changed, %d cleared, %d missing, %d wait(s)",
             counts.pages, counts.matched, counts.changed, counts.cleared, counts.missing, counts.waits)
    return counts


def _stopped(counts: SyncCounts, error: str) -> SyncCounts:
    counts.complete, counts.error = False, error
    log.warning("directory sync stopped after %d page(s): %s; %d changed so far", counts.pages, error, counts.changed)
    return counts


def _retry_after(exc: SlackApiError) -> float:
    headers = exc.response.headers or {}
    value = headers.get("Retry-After", headers.get("retry-after", 1))
    try:
        return max(float(value), 1.0)
    except (TypeError, ValueError):
        return 1.0

