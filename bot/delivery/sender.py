"""The outbox sender: claims due notifications, calls Slack outside any transaction, settles them.

The only code in the product that posts messages. Guarantees, with the claim rules in
``claims.py``: a row is sent by one sender at a time; a row whose sender crashed is taken over
after a lease; a retry of a row that might already have reached Slack (a timeout, a crash
after posting) first looks for the message by its idempotency key in the channel's metadata,
so a notification is delivered once. A file (a calendar invite, a report chart: a payload with ``file``) is uploaded
with ``files_upload_v2`` instead, and its retry looks for a message sharing a file of its title.

A batch (``batch.py``) is loaded in a few queries and sent by ``concurrency`` threads: every row for
one person or channel goes to the same thread, in claim order, so a channel's messages arrive in
order, an edit follows the message it edits, and a channel's pace (``pace.py``) holds. Threads share the
Slack client, never a session; results are settled ``settle_every`` to a transaction. A DM goes to
the person's stored D… channel, else to their Slack user id (the D… id in the answer is stored with
the row); only someone never matched to Slack is looked up by email.

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
import queue
import random
import socket
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from jinja2 import TemplateError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.blockkit import BlockKitError
from bot.clock import Clock
from bot.delivery.batch import BatchState, Job, Result, load_jobs, settle, shares_of
from bot.delivery.claims import Lane, claim_due, mark_sent, next_due, release
from bot.delivery.pace import CHANNEL_BURST, ChannelPace
from bot.ids import Template
from bot.render import render
from store.models import Notification, Person, Priority
from store.outbox import enqueue, person_ref
from store.queries import qa_coordinators

log = logging.getLogger(__name__)

URGENT_LANE = Lane("urgent", Priority.URGENT, Priority.URGENT)
BULK_LANE = Lane("normal", Priority.URGENT + 1, 1_000)

METADATA_EVENT = "auditbot_notification"

#: Slack errors that mean "try again later" rather than "this message can never be sent".
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})
#: Methods Slack rate limits per channel: a 429 from them holds back only that channel.
PER_CHANNEL_METHODS = frozenset({"chat_postMessage", "chat_update"})
#: A DM's answers that mean the person's Slack account is deactivated or gone: they are then treated as
#: having none (named in plain text, the QA coordinators told) until the directory finds them again.
GONE_ERRORS = ("user_not_found", "user_disabled", "is_archived", "channel_not_found")
#: Errors that say the bot itself is misconfigured: stop sending, keep every row pending.
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
    #: When nothing was due: when the lane's next pending row is (None: nothing pending).
    next_due: dt.datetime | None = None
    errors: list[str] = field(default_factory=list)


class _Retry(Exception):
    def __init__(
        self, error: str, *, after: float | None = None, counts: bool = True, channel: str | None = None,
        unknown: bool = False,
    ) -> None:
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
        concurrency: int = 1,
        settle_every: int = 1,
        channel_burst: int = CHANNEL_BURST,
    ) -> None:
        """``monotonic`` measures time within a batch (tests pass a clock they move by hand);
        ``timeout_margin``: seconds beyond the client's timeout before a timed-out call is retried;
        ``concurrency``: worker threads sending a batch (a channel's rows all go to one, in claim order);
        ``settle_every``: results written per transaction (1: each row as soon as it ends);
        ``channel_burst``: posts to one channel sent at once before Slack's pace of one a second is kept."""
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
        #: Each destination's pace (chat.postMessage allows about one message a second per channel): a row
        #: whose destination has no turn now is handed back until its turn; rows for others go on.
        self.pace = ChannelPace(channel_burst)
        self.monotonic = monotonic
        self.timeout_margin = timeout_margin
        #: Rows claimed and not settled yet (by id), kept to give back after a database error.
        self._held: dict[int, _Held] = {}
        self.concurrency = max(1, concurrency)
        self.settle_every = max(1, settle_every)
        #: Guards the outcome's counts and the jitter's generator across a batch's worker threads.
        self._lock = threading.Lock()

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
                session, now=now, lane=self.lane, worker_id=self.worker_id, limit=self.batch_size, lease=self.lease,
                burst=self.pace.burst,
            )
        self._held.update({notification_id: _Held() for notification_id in ids})
        outcome.claimed = len(ids)
        if not ids:
            with self.sessions() as session:
                outcome.next_due = next_due(session, self.lane)
            return outcome
        with self.sessions() as session:
            jobs = load_jobs(session, ids)
        shares = shares_of(jobs, self.concurrency)
        batch = BatchState({job.key for job in jobs})
        if len(shares) == 1:
            pending: list[Result] = []

            def settle_soon(result: Result) -> None:
                pending.append(result)
                if len(pending) >= self.settle_every:
                    self._settle(pending, now)
                    pending.clear()

            self._work(shares[0], now, moment, batch, outcome, settle_soon)
            if pending:
                self._settle(pending, now)
        else:
            self._work_concurrently(shares, now, moment, batch, outcome)
        if batch.halted is not None:
            raise batch.halted
        outcome.pause_until = batch.stop_until
        return outcome

    def _work_concurrently(
        self, shares: list[list[Job]], now: dt.datetime, moment: Clock, batch: BatchState, outcome: SendOutcome
    ) -> None:
        """One thread per share; this thread settles results as they come, ``settle_every`` at a time.

        On a database error the workers stop taking new rows (each finishes its Slack call, so what
        Slack has is held as posted) before the error is raised."""
        results: queue.SimpleQueue[Result | BaseException | None] = queue.SimpleQueue()

        def run(share: list[Job]) -> None:
            try:
                self._work(share, now, moment, batch, outcome, results.put)
            except BaseException as exc:  # noqa: BLE001 - handed to the settling thread, raised there
                batch.stop.set()
                results.put(exc)
            finally:
                results.put(None)

        pending: list[Result] = []
        failure: BaseException | None = None
        finished = 0
        with ThreadPoolExecutor(max_workers=len(shares), thread_name_prefix=f"outbox-{self.lane.name}") as pool:
            for share in shares:
                pool.submit(run, share)
            try:
                while finished < len(shares):
                    item = results.get()
                    if item is None:
                        finished += 1
                    elif isinstance(item, BaseException):
                        failure = failure or item
                    else:
                        pending.append(item)
                    if pending and (len(pending) >= self.settle_every or finished == len(shares)):
                        self._settle(pending, now)
                        pending = []
            except BaseException:
                batch.stop.set()  # the pool waits for the workers' current calls before this is raised
                raise
        if failure is not None:
            raise failure

    def _work(
        self, jobs: list[Job], now: dt.datetime, moment: Clock, batch: BatchState, outcome: SendOutcome,
        sink: Callable[[Result], None],
    ) -> None:
        """Send ``jobs`` (one share of a batch) in claim order, handing each one's result to ``sink``. A row whose
        destination has no turn now (``ChannelPace``) is handed back until the turn booked for it, and the
        destination's later rows get the turns after it; a row handed back to be tried again holds its
        destination's later rows until it has gone. Either way a destination's rows never overtake one another, and
        nobody waits: the next batch is claimed meanwhile."""
        learnt: dict[int, str] = {}
        for job in jobs:
            if batch.stop.is_set() or (moment() - now).total_seconds() > self.lease.total_seconds() / 2:
                # A lane pause, a halt, a database error; or a slow Slack: hand the rest back untouched,
                # long before another sender may take them over.
                retry_at = (batch.stop_until or now) if batch.stop.is_set() else now
                self._held[job.id] = _Held(retry_at=retry_at)
                result = Result(job.id, "retry", retry_at=retry_at)
            elif turn_at := self._turn(job, moment()):
                self._held[job.id] = _Held(retry_at=turn_at)
                self._count(outcome, "retried")
                result = Result(job.id, "retry", retry_at=turn_at)
            else:
                result = self._attempt(job, now, moment, batch, outcome, learnt)
                if result.kind == "retry":  # its destination's later rows wait for it (``ChannelPace.hold``)
                    self.pace.hold(job.destination, job.id, result.retry_at or now)
                else:
                    self.pace.ended(job.destination, job.id)
            batch.record(job.key, result)
            sink(result)

    def _turn(self, job: Job, at: dt.datetime) -> dt.datetime | None:
        """None when ``job`` may be posted now (``job.booked`` says whether its turn was booked before); else its turn."""
        turn = self.pace.turn(job.destination, job.id, at)
        job.booked = turn.booked
        return turn.at

    def _attempt(
        self, job: Job, now: dt.datetime, moment: Clock, batch: BatchState, outcome: SendOutcome, learnt: dict[int, str]
    ) -> Result:
        """Send one row; how it ended. Slack's answers and their failures become results, never database writes."""
        try:
            channel, ts, dm = self._deliver(job, now, moment, batch, learnt)
        except _Retry as retry:
            failed_at = moment()
            result = self._retry(job, failed_at, retry, outcome)
            if retry.after is not None:
                self._rate_limited(retry, failed_at, failed_at + dt.timedelta(seconds=retry.after), batch)
            return result
        except _Permanent as exc:
            return self._fail(job.id, str(exc), outcome)
        except _Cancelled as exc:
            log.info("notification %s cancelled: no longer true", job.id)
            self._count(outcome, "cancelled")
            return Result(job.id, "cancel", error=str(exc))
        except _NotYet as wait:
            retry_at = moment() + dt.timedelta(seconds=wait.seconds)
            self._held[job.id] = _Held(retry_at=retry_at)
            self._count(outcome, "retried")
            return Result(job.id, "retry", retry_at=retry_at, error=str(wait))
        except DeliveryHalted as exc:
            with batch.lock:
                batch.halted = batch.halted or exc
                batch.stop.set()
            return Result(job.id, "retry", retry_at=now)
        self._held[job.id] = _Held(posted=(channel, ts), sent_at=now)
        self._count(outcome, "sent")
        return Result(job.id, "sent", channel=channel, ts=ts, dm=dm)

    def _rate_limited(self, retry: _Retry, failed_at: dt.datetime, until: dt.datetime, batch: BatchState) -> None:
        """One channel limited: its rows wait, everyone else's go on. A second channel too, or a workspace-wide
        limit: the lane pauses and the rest of the batch is handed back. A channel we had just posted to several
        times has met its own limit (Slack's 429 does not say which limit), whatever other channels have met."""
        own = retry.channel is not None and self.pace.met_own_limit(retry.channel, failed_at)
        with batch.lock:
            if retry.channel is not None and (own or batch.limited_channels <= {retry.channel}):
                batch.limited_channels.add(retry.channel)
                self.pace.limited(retry.channel, until)
                return
            if batch.stop_until is None or until > batch.stop_until:
                batch.stop_until = until
            batch.stop.set()

    def _count(self, outcome: SendOutcome, name: str, error: str | None = None) -> None:
        with self._lock:
            setattr(outcome, name, getattr(outcome, name) + 1)
            if error is not None:
                outcome.errors.append(error)

    def _settle(self, results: list[Result], now: dt.datetime) -> None:
        """Write ``results`` in one transaction; then they are no longer held."""
        with self.sessions() as session, session.begin():
            lost = settle(
                session, results, worker_id=self.worker_id, now=now, on_sent=self.on_sent, on_failure=self.on_failure
            )
        for result in results:
            self._held.pop(result.id, None)
        for notification_id in lost:
            log.warning("notification %s was taken over by another sender before it was settled", notification_id)

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

    def _deliver(
        self, job: Job, now: dt.datetime, moment: Clock, batch: BatchState, learnt: dict[int, str]
    ) -> tuple[str, str, tuple[int, str] | None]:
        """Post (or edit, or upload) one row: the channel and ts Slack has it under, and a DM channel learnt."""
        if job.untrue is not None:
            raise _Cancelled(job.untrue)
        if job.wait is not None:
            raise _NotYet(job.wait)
        target = _in_batch(job, batch) if job.after_in_batch or job.edit_in_batch else job.target
        if job.superseded:  # a newer edit of the same message already went out
            return "", "", None
        channel, dm = job.channel, None
        if target is None and job.recipient_id is not None:
            channel = self._dm_or_user(job, learnt, now)
        slack_ids = self._mentionable(job.named, now)
        try:
            payload = render(Template(job.template), job.context, slack_ids=slack_ids)
        except (BlockKitError, TemplateError, ValueError) as exc:
            raise _Permanent(f"render failed: {exc}") from exc
        self.pace.sending(job.destination, moment())  # its turn was taken in ``_work``
        if target is not None and "file" in payload:
            raise _Permanent("a file is shared afresh, never as an edit: replaces_key must not be set")
        try:
            if target is not None:
                edit_channel, edit_ts = target
                self._call("chat_update", channel=edit_channel, ts=edit_ts, text=payload["text"], blocks=payload.get("blocks"))
                self._spent(job, moment())
                return edit_channel, edit_ts, None
            assert channel is not None
            upload = payload.get("file")
            if (job.attempts > 1 or upload is not None) and job.recipient is not None and channel == job.recipient[2]:
                # History and file shares need the D… id: open the DM once (rare: a retry, or a file to a person).
                channel = str(self._call("conversations_open", users=channel)["channel"]["id"])
                learnt[job.recipient[0]] = channel
                dm = (job.recipient[0], channel)
            if job.attempts > 1:
                found = self._find_existing(channel, job.key, file_title=upload["title"] if upload else None)
                if found is not None:
                    log.info("notification %s was already delivered (ts %s); not sending again", job.key, found)
                    return channel, found, dm
            # From here Slack may have the message: if the database fails, the row is given back
            # with its attempt counted, so the next try looks for it in the history first.
            self._held[job.id] = _Held(counted=True)
            if upload is not None:
                return channel, self._upload(channel, payload), dm
            response = self._call(
                "chat_postMessage",
                channel=channel,
                text=payload["text"],
                blocks=payload.get("blocks"),
                metadata={"event_type": METADATA_EVENT, "event_payload": {"key": job.key}},
                unfurl_links=False,
                unfurl_media=False,
            )
        except _Retry as retry:
            if retry.channel is not None:
                retry.channel = job.destination  # the person's DM (by user id or D… id), or the channel
            raise
        except _Permanent as exc:
            if job.recipient is not None and any(error in str(exc) for error in GONE_ERRORS):
                self._account_gone(job.recipient[0], job.key, now)
            raise
        self._spent(job, moment())
        answered = str(response["channel"])
        if job.recipient is not None and job.recipient[3] != answered and answered.startswith("D"):
            learnt[job.recipient[0]] = answered
            dm = (job.recipient[0], answered)
        return answered, str(response["ts"]), dm

    def _upload(self, channel: str, payload: dict[str, Any]) -> str:
        """Share ``payload["file"]`` in ``channel``, ``payload["text"]`` its comment: the ts of the
        message sharing it when Slack says, else "" (Slack may still be processing the file)."""
        upload = payload["file"]
        content = base64.b64decode(upload["content_base64"]) if "content_base64" in upload else upload["content"]
        try:
            response = self._call(
                "files_upload_v2", channel=channel, content=content, filename=upload["filename"],
                title=upload["title"], initial_comment=payload["text"],
            )
        except SlackRequestError as exc:  # the bytes did not reach the upload URL: nothing was completed
            raise _Retry(f"files_upload_v2: {exc}", unknown=False) from exc
        shares = ((response.get("files") or [{}])[0].get("shares")) or {}
        found = (shares.get("private") or {}).get(channel) or (shares.get("public") or {}).get(channel) or [{}]
        return str(found[0].get("ts") or "")

    def _spent(self, job: Job, answered: dt.datetime) -> None:
        """A post or edit was answered: unless its turn was booked beforehand, it takes the destination's next."""
        if not job.booked:
            self.pace.spent(job.destination, answered)

    def _mark_sent(self, session: Session, notification_id: int, now: dt.datetime, channel: str, ts: str) -> None:
        if not mark_sent(session, notification_id, worker_id=self.worker_id, now=now, channel=channel, ts=ts):
            log.warning("notification %s was taken over by another sender after it was posted", notification_id)
        elif self.on_sent is not None:
            row = session.get(Notification, notification_id)
            assert row is not None
            self.on_sent(session, row, now)

    def _dm_or_user(self, job: Job, learnt: dict[int, str], now: dt.datetime) -> str:
        """Where a DM goes: the stored D… channel, else the user id (chat.postMessage opens the DM and
        answers with its D… id, stored with the row), else — someone never matched to Slack — looked up by email."""
        assert job.recipient is not None
        person_id, email, user_id, dm, _ = job.recipient
        dm = dm or learnt.get(person_id)
        if dm:
            return dm
        if user_id:
            return user_id
        try:
            user_id = str(self._call("users_lookupByEmail", email=email)["user"]["id"])
        except _Permanent as exc:
            if "users_not_found" in str(exc):
                self._no_slack_account(person_id, job.key, now)
                raise _Permanent(f"no Slack account uses {email}") from exc
            raise
        dm = str(self._call("conversations_open", users=user_id)["channel"]["id"])
        with self.sessions() as session, session.begin():
            person = session.get(Person, person_id)
            assert person is not None
            person.slack_user_id, person.slack_dm_channel, person.slack_missing_since = user_id, dm, None
        learnt[person_id] = dm
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

    def _account_gone(self, person_id: int, key: str, now: dt.datetime) -> None:
        """A DM found the person's account deactivated: forget their Slack ids, then as ``_no_slack_account``."""
        with self.sessions() as session, session.begin():
            session.execute(update(Person).where(Person.id == person_id).values(slack_user_id=None, slack_dm_channel=None))
        self._no_slack_account(person_id, key, now)

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
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise _Retry(f"{method}: {type(exc).__name__}: {exc}", unknown=_may_have_landed(exc)) from exc

    def _not_before(self, retry: _Retry) -> float:
        """Seconds after a failure before the row may be tried again, whatever its backoff."""
        if retry.after is not None:
            return retry.after
        if retry.unknown:  # the request may still land: wait until it no longer can
            return float(self.client.timeout) + self.timeout_margin
        return 0.0

    def _retry(self, job: Job, failed_at: dt.datetime, retry: _Retry, outcome: SendOutcome) -> Result:
        """Put the row back until its next attempt, counted from ``failed_at`` (the failure's moment)."""
        not_before = self._not_before(retry)
        self._held[job.id] = _Held(
            retry_at=failed_at + dt.timedelta(seconds=not_before), counted=retry.counts, error=retry.error
        )
        if retry.counts and job.attempts >= self.max_attempts:
            return self._fail(job.id, f"gave up after {job.attempts} attempts: {retry.error}", outcome)
        if retry.after is not None:
            delay = retry.after
        else:  # exponential backoff with jitter, capped at an hour
            with self._lock:
                jitter = self.rng.random()
            delay = max(not_before, min(3600.0, 2.0 ** min(job.attempts, 12)) * (0.5 + jitter / 2))
        self._count(outcome, "retried", retry.error)
        retry_at = failed_at + dt.timedelta(seconds=delay)
        return Result(job.id, "retry", retry_at=retry_at, error=retry.error, counted=retry.counts)

    def _fail(self, notification_id: int, error: str, outcome: SendOutcome) -> Result:
        log.error("notification %s failed permanently: %s", notification_id, error)
        self._count(outcome, "failed", error)
        return Result(notification_id, "fail", error=error)

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
                    )
        self._held.clear()
        log.info("outbox %s: gave back %d notification(s) from an interrupted batch: %s",
                 self.lane.name, len(held), sorted(held))


def _in_batch(job: Job, batch: BatchState) -> tuple[str, str] | None:
    """A dependency claimed in this batch, at this row's turn: wait while it is unsent; the message to edit."""
    with batch.lock:
        if job.after_in_batch and batch.ended.get(job.after_in_batch) in (None, "retry"):
            raise _NotYet(30)
        if not job.edit_in_batch:
            return job.target
        assert job.replaces is not None
        ended, posted = batch.ended.get(job.replaces), batch.posted.get(job.replaces)
    if posted is not None and posted[1]:
        return posted
    if ended == "fail":
        return None  # never sent: post afresh
    if ended == "cancel":
        raise _Cancelled("the message it edits was cancelled, never sent")
    raise _NotYet(30)


def _may_have_landed(exc: OSError) -> bool:
    """False only when the request cannot have reached Slack (connection refused, host unknown)."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return not isinstance(reason, ConnectionRefusedError | socket.gaierror)
