"""Which bot processes serve this database: each ``run`` or ``worker`` process beats at every tick."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.db import changed
from store.models import ProcessHeartbeat

#: A process not seen for this long is taken to have stopped (a tick is every minute by default).
STALE_AFTER = dt.timedelta(minutes=5)


def process_id() -> str:
    """An id for this process, unique across hosts and restarts."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def beat(session: Session, pid: str, *, kind: str, now: dt.datetime) -> None:
    """Record that process ``pid`` is alive at ``now`` (first beat inserts it)."""
    result = session.execute(update(ProcessHeartbeat).where(ProcessHeartbeat.id == pid).values(seen_at=now))
    if not changed(result):
        session.add(ProcessHeartbeat(id=pid, kind=kind, started_at=now, seen_at=now))
    session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.seen_at < now - dt.timedelta(days=1)))


def forget(session: Session, pid: str) -> None:
    """Process ``pid`` stops serving (a clean shutdown)."""
    session.execute(delete(ProcessHeartbeat).where(ProcessHeartbeat.id == pid))


def serving(session: Session, *, now: dt.datetime, tick_interval: dt.timedelta = dt.timedelta(0)) -> list[ProcessHeartbeat]:
    """The processes seen lately (within ``STALE_AFTER``, or three tick intervals if longer),
    most recent first."""
    stmt = select(ProcessHeartbeat).where(ProcessHeartbeat.seen_at >= now - max(STALE_AFTER, 3 * tick_interval))
    return list(session.scalars(stmt.order_by(ProcessHeartbeat.seen_at.desc())))
