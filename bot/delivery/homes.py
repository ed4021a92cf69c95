"""Republishing people's App Home tabs when their work changes, never on a timer.

Two things say a person's work may have changed: the outbox delivered them a notification (the
senders' ``on_sent`` hook) and they clicked, submitted or typed a command (Bolt's listener
completion). Both only *ask* here (``request``): a person's Slack user id goes into a pending set
and a worker thread is woken. Asking costs no query and no Slack call, so it is safe inside the
outbox's transaction and never slows a click's acknowledgement.

``flush`` does the work: for each pending person, one short read (are they known, have they ever
opened the Home tab — ``people.home_opened_at``, set by ``opened_home`` on ``app_home_opened`` — and
what is waiting for them) in a session that is closed before ``views.publish`` is called, so no
Slack call is ever made inside a database transaction. People who never opened the tab cost one
query and no call. A failed publish is logged and dropped: the person's next open rebuilds it.

With ``background=False`` (tests, the CLI) nothing runs by itself: call ``flush`` as the outbox
is drained.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.ids import Template
from bot.render import render
from bot.services.home import home_context, home_summary
from bot.services.home.month import glance_for
from bot.settings import Settings
from store.models import Notification, Person

log = logging.getLogger(__name__)


def home_view(session: Session, person: Person | None, *, now: dt.datetime, settings: Settings,
              notice: str | None = None) -> dict[str, Any]:
    """``person``'s Home view as it stands (a stranger's: no work, a word on why); the QA team's
    starts with the month at a glance."""
    if person is None or not person.active:
        return render(Template.VIEW_HOME, {**home_context(None, notice=notice, unknown=True), "glance": None})
    local = now.astimezone(settings.tz)
    today = local.date()
    summary = home_summary(session, person, now=now, today=today, day_over=local.time() >= settings.working_hours_end)
    glance = glance_for(session, person, settings, today=today)
    return render(Template.VIEW_HOME, {**home_context(summary, notice=notice), "glance": glance})


class HomePublisher:
    """Pending Home republishes, and the thread (when started) that does them."""

    def __init__(self, sessions: sessionmaker[Session], client: WebClient, settings: Settings, clock: Clock) -> None:
        self.sessions, self.client, self.settings, self.clock = sessions, client, settings, clock
        self._lock = threading.Lock()
        self._pending: dict[str, str | None] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- asking (cheap, anywhere) ---------------------------------------------------------------

    def request(self, slack_user_id: str, notice: str | None = None) -> None:
        """Republish this person's Home soon (with ``notice`` at the top, when given)."""
        with self._lock:
            self._pending[slack_user_id] = notice or self._pending.get(slack_user_id)
        self._wake.set()

    def on_sent(self, session: Session, notification: Notification, now: dt.datetime) -> None:
        """Outbox hook: the recipient's work changed. Reads only what is loaded; no Slack call."""
        recipient = notification.recipient
        if recipient is not None and recipient.slack_user_id and recipient.home_opened_at is not None:
            self.request(recipient.slack_user_id)

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._pending)

    # --- doing ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Publish every pending Home; returns how many were published."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return sum(1 for user_id, notice in pending.items() if self.publish(user_id, notice=notice, only_if_opened=True))

    def publish(self, slack_user_id: str, *, notice: str | None = None, only_if_opened: bool = False) -> bool:
        """Build the view in a closed read, then ``views.publish`` it; False when not published."""
        now = self.clock()
        with self.sessions() as session:
            person = session.scalars(select(Person).where(Person.slack_user_id == slack_user_id)).first()
            if only_if_opened and (person is None or person.home_opened_at is None):
                return False
            view = home_view(session, person, now=now, settings=self.settings, notice=notice)
        try:
            self.client.views_publish(user_id=slack_user_id, view=view)
        except SlackApiError as exc:
            log.warning("views.publish for %s failed: %s", slack_user_id, exc.response.get("error"))
            return False
        except OSError as exc:
            log.warning("views.publish for %s failed: %s", slack_user_id, type(exc).__name__)
            return False
        return True

    # --- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="home-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception:  # one bad publish must not stop the others for good
                log.exception("republishing App Home views failed")
