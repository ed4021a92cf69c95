"""The outbox sender: claims due notifications, calls Slack outside any transaction, settles them.

The only code in the product that posts messages. Guarantees, with the claim rules in
``claims.py``: a row is sent by one sender at a time; a row whose sender crashed is taken over
after a lease; a retry of a row that might already have reached Slack (a timeout, a crash
after posting) first looks for the message by its idempotency key in the channel's metadata,
so a notification is delivered once. A file (a calendar invite, a report chart: a payload with ``file``) is uploaded
with ``files_upload_v2`` instead, and its retry looks for a message sharing a file of its title.

Time: ``send_due(now)`` takes ``now`` for the start of a batch; the moment of each failure is
``now`` plus the monotonic time since, and every pause and ``retry_at`` after a failure counts
from that moment (a 429's ``Retry-After`` from when Slack said it). After a call whose outcome
is unknown (a timeout), the row is not tried again — so its history is not looked up — until
the timed-out request can no longer land: the client's timeout plus a margin after the failure.

Database errors: the sender keeps the ids it has claimed and not yet settled (``_held``). When
the database fails mid-batch it raises ``DeliveryInterrupted``, and the next ``send_due`` gives
those rows back first — released uncounted, or settled as sent when Slack already has them —
instead of leaving them claimed until the lease runs out.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import random
import socket
import time
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.blockkit import BlockKitError
from bot.clock import Clock
from bot.delivery.claims import Lane, claim_due, mark_cancelled, mark_failed, mark_sent, release
from bot.delivery.mentions import person_ids
from bot.delivery.relevance import why_not_true
from bot.ids import Template
from bot.render import render
from store.models import Notification, NotificationState, Person, Priority
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators

log = logging.getLogger(__name__)

URGENT_LANE = Lane("urgent", Priority.URGENT, Priority.URGENT)
BULK_LANE = Lane("normal", Priority.URGENT + 1, 1_000)

METADATA_EVENT = "auditbot_notification"

#: Slack errors that mean "try again later" rather than "this message can never be sent".
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
#: Errors that say the bot itself is misconfigured: stop sending, keep every row pending.
#: Methods Slack rate limits per channel: a 429 from them holds back only that channel.
PER_CHANNEL_METHODS = frozenset({"chat_postMessage", "chat_update"})
HALTING_ERRORS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope", "no_permission"}
)


class DeliveryHalted(Exception):
    """The bot cannot send at all (bad token, missing scope); rows stay pending."""


class DeliveryInterrupted(Exception):
    """The database failed mid-batch: ``held`` (notification ids) are given back when it answers.

    The message names the error's class and the ids only: a database error's own text may
    quote a statement's parameters, message context included.
    """

    def __init__(self, held: list[int], cause: BaseException) -> None:
        self.held = held
        self.kind = type(getattr(cause, "orig", None) or cause).__name__
        super().__init__(f"database error ({self.kind}); notification ids held: {held}")


@dataclass
class SendOutcome:
    """What one ``send_due`` pass did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    #: No longer true when their turn came (see ``bot/delivery/relevance.py``).
    cancelled: int = 0
    #: Set after a 429: the lane should not send again before this time.
    pause_until: dt.datetime | None = None
    errors: list[str] = field(default_factory=list)


class _Retry(Exception):
    def __init__(
        self, error: str, *, after: float | None = None, counts: bool = True, channel: str | None = None,
        unknown: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(error)
        self.error, self.after, self.counts = error, after, counts
        #: For a 429 on a per-channel method (posting, editing): the channel that is limited.
        self.channel = channel
        #: The call may have reached Slack and may yet take effect (a timeout, a dropped connection).
        self.unknown = unknown


@dataclass(frozen=True)
class _Held:
    """A claimed row not settled yet, and how to give it back if the database fails first."""

    #: Due again from this moment (None: as soon as it is given back).
    retry_at: dt.datetime | None = None
    #: Keep the attempt: a post may have reached Slack, so the next try looks in the history first.
    counted: bool = False
    error: str | None = None
    #: Slack has the message (channel, ts): give it back settled as sent.
    posted: tuple[str, str] | None = None
    sent_at: dt.datetime | None = None


class _Cancelled(Exception):
    """The notice is no longer true (its audit was completed, exempted, reallocated, extended)."""


class _Permanent(Exception):
    pass


class _NotYet(Exception):
    """The row depends on another not sent yet (an edit of a message still queued)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"waiting {seconds:.0f}s for the message it edits")
        self.seconds = seconds


class OutboxSender:
    """Sends due outbox rows of one lane through a Slack ``WebClient``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: WebClient,
        *,
        worker_id: str,
        lane: Lane = BULK_LANE,
        batch_size: int = 50,
        max_attempts: int = 8,
        lease: dt.timedelta = dt.timedelta(minutes=5),
        rng: random.Random | None = None,
        on_failure: Callable[[Session, Notification, dt.datetime], None] | None = None,
        on_sent: Callable[[Session, Notification, dt.datetime], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        timeout_margin: float = 2.0,
    ) -> None:
        """``monotonic`` measures time within a batch (tests pass a clock they move by hand);
        ``timeout_margin``: seconds beyond the client's timeout before a timed-out call is retried."""
        self.sessions = sessions
        self.client = client
        self.worker_id = worker_id
        self.lane = lane
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.lease = lease
        self.rng = rng or random.Random()
        #: Called in the same transaction that marks a row failed (alerts move down the chain).
        self.on_failure = on_failure
        #: Called in the same transaction that marks a row sent (alerts log each delivery).
        self.on_sent = on_sent
        #: Channels Slack rate limited (chat.postMessage allows about one message a second per
        #: channel): rows for them wait, rows for other channels go on.
        self._channel_pause: dict[str, dt.datetime] = {}
        self.monotonic = monotonic
        self.timeout_margin = timeout_margin
        #: Rows claimed and not settled yet (by id), kept to give back after a database error.
        self._held: dict[int, _Held] = {}

    # -- the loop body ----------------------------------------------------------------------

    def send_due(self, now: dt.datetime) -> SendOutcome:
        """Claim and send one batch of due rows. Safe to call from several processes at once.

        ``now`` is when the batch begins; a failure is timed at ``now`` plus the monotonic time
        since. Rows held from an interrupted batch are given back first. Raises
        ``DeliveryInterrupted`` when the database fails (what is claimed stays held) and
        ``DeliveryHalted`` when the bot cannot send at all.
        """
        started = self.monotonic()

        def moment() -> dt.datetime:
            return now + dt.timedelta(seconds=self.monotonic() - started)

        try:
            self._give_back(now)
            return self._send_batch(now, moment)
        except DBAPIError as exc:
            raise DeliveryInterrupted(sorted(self._held), exc) from exc

    def _send_batch(self, now: dt.datetime, moment: Clock) -> SendOutcome:
        outcome = SendOutcome()
        with self.sessions() as session, session.begin():
            ids = claim_due(
                session, now=now, lane=self.lane, worker_id=self.worker_id, limit=self.batch_size, lease=self.lease
            )
        self._held.update({notification_id: _Held() for notification_id in ids})
        outcome.claimed = len(ids)
        limited_channels: set[str] = set()
        for index, notification_id in enumerate(ids):
            if (moment() - now).total_seconds() > self.lease.total_seconds() / 2:
                # A slow Slack: hand the rest back long before another sender may take them over.
                self._release_untouched(ids[index:], now)
                break
            try:
                self._deliver(notification_id, now, moment)
                outcome.sent += 1
            except _Retry as retry:
                failed_at = moment()
                self._retry(notification_id, now, failed_at, retry, outcome)
                if retry.after is not None and retry.channel is not None and not limited_channels:
                    # One channel is limited: its rows wait, everyone else's messages go on.
                    limited_channels.add(retry.channel)
                    self._channel_pause[retry.channel] = failed_at + dt.timedelta(seconds=retry.after)
                elif retry.after is not None:  # a second channel too, or a workspace-wide limit: hand back the rest
                    outcome.pause_until = failed_at + dt.timedelta(seconds=retry.after)
                    self._release_untouched(ids[index + 1 :], outcome.pause_until)
                    break
            except _Permanent as exc:
                self._fail(notification_id, str(exc), outcome, now)
            except _Cancelled as exc:
                self._cancel(notification_id, str(exc), outcome)
            except _NotYet as wait:
                self._defer(notification_id, moment() + dt.timedelta(seconds=wait.seconds), str(wait))
                outcome.retried += 1
            except DeliveryHalted:
                self._release_untouched(ids[index:], now)
                raise
        return outcome

    def drain(self, now: dt.datetime, *, max_batches: int = 10_000) -> SendOutcome:
        """Send batches until nothing is due at ``now`` (for tests and operator commands)."""
        total = SendOutcome()
        for _ in range(max_batches):
            one = self.send_due(now)
            for name in ("claimed", "sent", "retried", "failed", "cancelled"):
                setattr(total, name, getattr(total, name) + getattr(one, name))
            total.errors.extend(one.errors)
            if one.pause_until is not None:
                total.pause_until = one.pause_until
                break
            if one.claimed == 0:
                break
        return total

    # -- one notification ---------------------------------------------------------------------

    def _deliver(self, notification_id: int, now: dt.datetime, moment: Clock) -> None:
        with self.sessions() as session:
            row = session.get(Notification, notification_id)
            assert row is not None
            key, template, context, attempts = row.idempotency_key, row.template, row.context, row.attempts
            recipient_id, channel, replaces = row.recipient_id, row.channel, row.replaces_key
            untrue = why_not_true(session, template, context)
            if untrue is not None:
                raise _Cancelled(untrue)
            if context.get("after"):
                self._wait_for(session, str(context["after"]))
            superseded = bool(replaces) and self._superseded(session, row)
            target = self._edit_target(session, replaces) if replaces and not superseded else None
            named = session.execute(
                select(Person.id, Person.email, Person.slack_user_id, Person.slack_missing_since).where(
                    Person.id.in_(set(person_ids(context)))
                )
            ).all()
        if superseded:  # a newer edit of the same message already went out
            self._settle_sent(notification_id, now, "", "")
            return
        if target is None and recipient_id is not None:
            channel = self._dm_channel(recipient_id, key, now)
        slack_ids = self._mentionable(named, now)
        try:
            payload = render(Template(template), context, slack_ids=slack_ids)
        except (BlockKitError, TemplateError, ValueError) as exc:
            raise _Permanent(f"render failed: {exc}") from exc
        self._wait_for_channel(target[0] if target is not None else channel, moment())
        if target is not None and "file" in payload:
            raise _Permanent("a file is shared afresh, never as an edit: replaces_key must not be set")
        if target is not None:
            edit_channel, edit_ts = target
            self._call("chat_update", channel=edit_channel, ts=edit_ts, text=payload["text"], blocks=payload.get("blocks"))
            self._settle_sent(notification_id, now, edit_channel, edit_ts)
            return
        assert channel is not None
        upload = payload.get("file")
        if attempts > 1:
            found = self._find_existing(channel, key, file_title=upload["title"] if upload else None)
            if found is not None:
                log.info("notification %s was already delivered (ts %s); not sending again", key, found)
                self._settle_sent(notification_id, now, channel, found)
                return
        # From here Slack may have the message: if the database fails, the row is given back
        # with its attempt counted, so the next try looks for it in the history first.
        self._held[notification_id] = _Held(counted=True)
        if upload is not None:
            self._settle_sent(notification_id, now, channel, self._upload(channel, payload))
            return
        response = self._call(
            "chat_postMessage",
            channel=channel,
            text=payload["text"],
            blocks=payload.get("blocks"),
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
            unfurl_links=False,
            unfurl_media=False,
        )
        self._settle_sent(notification_id, now, str(response["channel"]), str(response["ts"]))

    def _upload(self, channel: str, payload: dict[str, Any]) -> str:
        """Share ``payload["file"]`` in ``channel``, ``payload["text"]`` its comment: the ts of the
        message sharing it when Slack says, else "" (Slack may still be processing the file)."""
        upload = payload["file"]
        content = base64.b64decode(upload["content_base64"]) if "content_base64" in upload else upload["content"]
        try:
            response = self._call(
                "files_upload_v2", channel=channel, content=content, filename=upload["filename"],
                title=upload["title"], initial_comment=payload["text"],
            )  # fmt: skip
        except SlackRequestError as exc:  # the bytes did not reach the upload URL: nothing was completed
            raise _Retry(f"files_upload_v2: {exc}", unknown=False) from exc
        shares = ((response.get("files") or [{}])[0].get("shares")) or {}
        found = (shares.get("private") or {}).get(channel) or (shares.get("public") or {}).get(channel) or [{}]
        return str(found[0].get("ts") or "")

    def _wait_for_channel(self, channel: str | None, at: dt.datetime) -> None:
        """Defer a row whose channel Slack asked us to leave alone for a while."""
        until = self._channel_pause.get(channel) if channel else None
        if until is None:
            return
        if until <= at:
            del self._channel_pause[channel]  # type: ignore[arg-type]
            return
        raise _NotYet((until - at).total_seconds())

    @staticmethod
    def _superseded(session: Session, row: Notification) -> bool:
        """True if a later edit of the same message has already been sent."""
        return (
            session.scalar(
                select(Notification.id).where(
                    Notification.replaces_key == row.replaces_key,
                    Notification.id > row.id,
                    Notification.state == NotificationState.SENT,
                )
            )
            is not None
        )

    @staticmethod
    def _wait_for(session: Session, key: str) -> None:
        """A row that follows another (a report's chart after its summary) waits while that one is
        still to be sent; once it is sent, failed or cancelled, this one goes."""
        state = session.scalar(select(Notification.state).where(Notification.idempotency_key == key))
        if state in (NotificationState.PENDING, NotificationState.SENDING):
            raise _NotYet(30)

    @staticmethod
    def _edit_target(session: Session, replaces: str) -> tuple[str, str] | None:
        """Where the message to edit is; None to post afresh (it was never sent); wait if queued."""
        original = session.scalar(select(Notification).where(Notification.idempotency_key == replaces))
        if original is None or original.state == NotificationState.FAILED:
            return None
        if original.state == NotificationState.CANCELLED:  # nobody saw it: there is nothing to correct
            raise _Cancelled("the message it edits was cancelled, never sent")
        if original.state != NotificationState.SENT or not original.slack_channel or not original.slack_ts:
            raise _NotYet(30)
        return original.slack_channel, original.slack_ts

    def _settle_sent(self, notification_id: int, now: dt.datetime, channel: str, ts: str) -> None:
        self._held[notification_id] = _Held(posted=(channel, ts), sent_at=now)
        with self.sessions() as session, session.begin():
            self._mark_sent(session, notification_id, now, channel, ts)
        self._held.pop(notification_id, None)

    def _mark_sent(self, session: Session, notification_id: int, now: dt.datetime, channel: str, ts: str) -> None:
        if not mark_sent(session, notification_id, worker_id=self.worker_id, now=now, channel=channel, ts=ts):
            log.warning("notification %s was taken over by another sender after it was posted", notification_id)
        elif self.on_sent is not None:
            row = session.get(Notification, notification_id)
            assert row is not None
            self.on_sent(session, row, now)

    def _dm_channel(self, person_id: int, key: str, now: dt.datetime) -> str:
        """The person's DM channel, resolving and caching their Slack identity on first use."""
        with self.sessions() as session:
            person = session.get(Person, person_id)
            assert person is not None
            email, user_id, dm = person.email, person.slack_user_id, person.slack_dm_channel
        if dm:
            return dm
        if user_id is None:
            try:
                user_id = str(self._call("users_lookupByEmail", email=email)["user"]["id"])
            except _Permanent as exc:
                if "users_not_found" in str(exc):
                    self._no_slack_account(person_id, key, now)
                    raise _Permanent(f"no Slack account uses {email}") from exc
                raise
        dm = str(self._call("conversations_open", users=user_id)["channel"]["id"])
        with self.sessions() as session, session.begin():
            person = session.get(Person, person_id)
            assert person is not None
            person.slack_user_id, person.slack_dm_channel, person.slack_missing_since = user_id, dm, None
        return dm

    def _mentionable(self, named: Iterable[Any], now: dt.datetime) -> dict[int, str]:
        """Slack user ids for the people a message names, looking up (and caching) new ones.

        Someone with no Slack account is named in plain text; we ask again after a day.
        """
        found: dict[int, str] = {}
        for person_id, email, user_id, missing_since in named:
            if user_id is None and (missing_since is None or now - missing_since > dt.timedelta(days=1)):
                try:
                    user_id = str(self._call("users_lookupByEmail", email=email)["user"]["id"])
                except _Permanent:
                    user_id = None
                with self.sessions() as session, session.begin():
                    person = session.get(Person, person_id)
                    assert person is not None
                    if user_id is not None:
                        person.slack_user_id, person.slack_missing_since = user_id, None
                    elif person.slack_missing_since is None:
                        person.slack_missing_since = now
            if user_id is not None:
                found[person_id] = user_id
        return found

    def _no_slack_account(self, person_id: int, key: str, now: dt.datetime) -> None:
        """Record the gap and tell the QA coordinators once per person (never silently skip)."""
        with self.sessions() as session, session.begin():
            person = session.get(Person, person_id)
            assert person is not None
            if person.slack_missing_since is None:
                person.slack_missing_since = now
            held = session.scalars(
                select(Notification.id).where(Notification.recipient_id == person_id, Notification.state != "sent")
            ).all()
            for qa in qa_coordinators(session):
                if qa.id == person_id:
                    continue
                enqueue(
                    session,
                    key=f"noslack:{person_id}:{qa.id}",
                    template=Template.NO_SLACK_ACCOUNT,
                    context={
                        "person": person_ref(person),
                        "email": person.email,
                        "about": key.split(":", 1)[0],
                        "undelivered": len(held),
                    },
                    now=now,
                    recipient_id=qa.id,
                    priority=Priority.NORMAL,
                )

    def _find_existing(self, channel: str, key: str, *, file_title: str | None = None) -> str | None:
        """The ts of a message already posted for ``key``, if an earlier attempt got through.

        A file's message carries no metadata: it is found by the file's title (unique per row).
        """
        history = self._call("conversations_history", channel=channel, limit=100, include_all_metadata=True)
        for message in history.get("messages", []):
            if file_title is not None:
                if any(f.get("title") == file_title for f in message.get("files") or []):
                    return str(message["ts"])
                continue
            meta = message.get("metadata") or {}
            if meta.get("event_type") == METADATA_EVENT and (meta.get("event_payload") or {}).get("key") == key:
                return str(message["ts"])
        return None

    # -- Slack calls and their failures -------------------------------------------------------

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = str(exc.response.get("error", "")) if isinstance(exc.response.data, dict) else ""
            if status == 429:
                after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
                per_channel = str(kwargs["channel"]) if method in PER_CHANNEL_METHODS and kwargs.get("channel") else None
                raise _Retry(f"{method}: rate limited", after=max(after, 1.0), counts=False, channel=per_channel) from exc
            if status >= 500 or error in TRANSIENT_ERRORS:
                raise _Retry(f"{method}: HTTP {status} {error}".strip()) from exc
            if error in HALTING_ERRORS:
                raise DeliveryHalted(f"{method}: {error} — check the bot token and scopes") from exc
            raise _Permanent(f"{method}: {error or f'HTTP {status}'}") from exc
        except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError, OSError) as exc:
            raise _Retry(f"{method}: {type(exc).__name__}: {exc}", unknown=_may_have_landed(exc)) from exc

    def _not_before(self, retry: _Retry) -> float:
        """Seconds after a failure before the row may be tried again, whatever its backoff."""
        if retry.after is not None:
            return retry.after
        if retry.unknown:  # the request may still land: wait until it no longer can
            return float(self.client.timeout) + self.timeout_margin
        return 0.0

    def _retry(
        self, notification_id: int, now: dt.datetime, failed_at: dt.datetime, retry: _Retry, outcome: SendOutcome
    ) -> None:
        """Put the row back until its next attempt, counted from ``failed_at`` (the failure's moment)."""
        not_before = self._not_before(retry)
        self._held[notification_id] = _Held(
            retry_at=failed_at + dt.timedelta(seconds=not_before), counted=retry.counts, error=retry.error
        )
        with self.sessions() as session, session.begin():
            row = session.get(Notification, notification_id)
            attempts = row.attempts if row is not None else 0
        if retry.counts and attempts >= self.max_attempts:
            self._fail(notification_id, f"gave up after {attempts} attempts: {retry.error}", outcome, now)
            return
        if retry.after is not None:
            delay = retry.after
        else:  # exponential backoff with jitter, capped at an hour
            delay = max(not_before, min(3600.0, 2.0 ** min(attempts, 12)) * (0.5 + self.rng.random() / 2))
        with self.sessions() as session, session.begin():
            release(
                session,
                notification_id,
                worker_id=self.worker_id,
                retry_at=failed_at + dt.timedelta(seconds=delay),
                error=retry.error,
                count_attempt=retry.counts,
            )
        self._held.pop(notification_id, None)
        outcome.retried += 1
        outcome.errors.append(retry.error)

    def _defer(self, notification_id: int, retry_at: dt.datetime, reason: str) -> None:
        """Put back a row that must wait (its channel is paused, the message it edits is queued)."""
        self._held[notification_id] = _Held(retry_at=retry_at)
        with self.sessions() as session, session.begin():
            release(
                session, notification_id, worker_id=self.worker_id, retry_at=retry_at, error=reason, count_attempt=False
            )
        self._held.pop(notification_id, None)

    def _cancel(self, notification_id: int, reason: str, outcome: SendOutcome) -> None:
        log.info("notification %s cancelled: no longer true", notification_id)
        with self.sessions() as session, session.begin():
            mark_cancelled(session, notification_id, worker_id=self.worker_id, reason=reason)
        self._held.pop(notification_id, None)
        outcome.cancelled += 1

    def _fail(self, notification_id: int, error: str, outcome: SendOutcome, now: dt.datetime) -> None:
        log.error("notification %s failed permanently: %s", notification_id, error)
        with self.sessions() as session, session.begin():
            if mark_failed(session, notification_id, worker_id=self.worker_id, error=error) and self.on_failure:
                row = session.get(Notification, notification_id)
                assert row is not None
                self.on_failure(session, row, now)
        self._held.pop(notification_id, None)
        outcome.failed += 1
        outcome.errors.append(error)

    def _release_untouched(self, ids: list[int], retry_at: dt.datetime) -> None:
        self._held.update({notification_id: _Held(retry_at=retry_at) for notification_id in ids})
        with self.sessions() as session, session.begin():
            for notification_id in ids:
                release(session, notification_id, worker_id=self.worker_id, retry_at=retry_at, error=None, count_attempt=False)
        for notification_id in ids:
            self._held.pop(notification_id, None)

    def _give_back(self, now: dt.datetime) -> None:
        """Settle or release, in one transaction, the rows still held from an interrupted batch.

        Untouched rows go back uncounted and due at once (or when their pause ends); a row Slack
        already has is settled as sent with its ts; a row whose post may have landed keeps its
        attempt, so its next try looks for the message by its key before posting again. A row
        another sender has taken over meanwhile is left alone (``release``/``mark_sent`` refuse).
        """
        if not self._held:
            return
        held = dict(self._held)
        with self.sessions() as session, session.begin():
            for notification_id, row in held.items():
                if row.posted is not None:
                    self._mark_sent(session, notification_id, row.sent_at or now, *row.posted)
                else:
                    release(
                        session, notification_id, worker_id=self.worker_id, retry_at=row.retry_at or now,
                        error=row.error, count_attempt=row.counted,
                    )  # fmt: skip
        self._held.clear()
        log.info("outbox %s: gave back %d notification(s) from an interrupted batch: %s",
                 self.lane.name, len(held), sorted(held))  # fmt: skip


def _may_have_landed(exc: OSError) -> bool:
    """False only when the request cannot have reached Slack (connection refused, host unknown)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror)
