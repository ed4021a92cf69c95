"""In-memory state of the local workspace: users, channels, messages, views, triggers and limits.

Nothing here does I/O. ``WorkspaceState`` is guarded by one re-entrant lock (``state.lock``)
that the HTTP handlers hold while they read or change it. When persistence is on
(``bot.workspace.persist``), ``state.changes`` collects what changed until it is written.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import mimetypes
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.workspace.calls import CallRecord, PackedJson

Clock = Callable[[], float]

#: How long a trigger_id may be exchanged for a view (Slack: 3 seconds).
TRIGGER_TTL_SECONDS = 3.0
#: Slack lets a response_url be used 5 times within 30 minutes.
RESPONSE_URL_TTL_SECONDS = 30 * 60
RESPONSE_URL_MAX_USES = 5
#: Slack allows at most three modals on a user's view stack.
MAX_VIEW_STACK = 3
FAULT_KINDS = frozenset({"429", "500", "503", "timeout", "timeout_after_store", "mix"})
#: What a ``mix`` fault is, drawn evenly: a rate limit, a server error, and hangs past the client's
#: timeout where nothing is stored and where the call takes effect.
MIX_KINDS = ("429", "500", "timeout", "timeout_after_store")
#: How many Web API calls ``state.calls`` and ``state.call_log`` keep (the oldest are forgotten first).
CALL_HISTORY = 20_000

#: Calls a minute per method per workspace in each of Slack's Web API tiers
#: (https://docs.slack.dev/apis/web-api/rate-limits: Tier 1 1+, Tier 2 20+, Tier 3 50+, Tier 4 100+ a minute).
TIER_CALLS_PER_MINUTE: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}
#: The tier of each method the workspace implements, as each method's reference page gives it.
#: ``chat.postMessage`` has no tier: Slack limits it per channel (1 a second, short bursts), as ``RateLimits`` does.
#: ``conversations.history``/``.replies``: Tier 3. Since 2025 Slack gives commercially distributed apps that are
#: not in the Marketplace Tier 1 (and 15 messages a page) for these two; this bot is a council's internal app,
#: which keeps Tier 3.
METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "users.lookupByEmail": 3,
    "users.info": 4,
    "users.list": 2,
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.delete": 3,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}


def slack_id(prefix: str, seed: str) -> str:
    """A deterministic Slack-looking id: ``prefix`` + 10 uppercase base32 chars of sha256(seed)."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    return prefix + base64.b32encode(digest).decode("ascii")[:10]


def ts_key(message: Message) -> tuple[int, ...]:
    """Sort key ordering messages by their ``ts``."""
    return tuple(int(part) for part in message.ts.split("."))


def user_id_for(email: str) -> str:
    """The user id the workspace gives ``email`` (case-insensitive)."""
    return slack_id("U", email.strip().lower())


@dataclass
class User:
    """A workspace member (or the bot's own user)."""

    id: str
    email: str
    name: str
    is_bot: bool = False
    deleted: bool = False
    im_channel: str = ""

    @property
    def username(self) -> str:
        """Slack-style handle derived from the email's local part."""
        return self.email.split("@", 1)[0].lower()

    def api(self, team_id: str) -> dict[str, Any]:
        """The user object as ``users.info`` returns it."""
        return {
            "id": self.id,
            "team_id": team_id,
            "name": self.username,
            "real_name": self.name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": {"email": self.email, "real_name": self.name, "display_name": self.name},
        }

    def summary(self) -> dict[str, Any]:
        """The short form the ``/_local/users`` read API returns."""
        return {"id": self.id, "email": self.email, "name": self.name, "is_bot": self.is_bot, "deleted": self.deleted}


@dataclass
class Channel:
    """A public channel or a user's direct-message (IM) channel."""

    id: str
    name: str
    im_user: str | None = None


@dataclass
class Message:
    """One stored message; ephemeral ones carry ``visible_to``."""

    channel: str
    ts: str
    user: str
    text: str
    #: Kept as compact JSON text and decoded on each read (a fresh copy): a message costs about its JSON's size.
    #: (A descriptor as the default, made once with the class; mypy sees it as the field's value.)
    blocks: list[Any] | None = PackedJson(default=None)  # type: ignore[assignment]  # noqa: RUF009
    metadata: dict[str, Any] | None = PackedJson(default=None)  # type: ignore[assignment]  # noqa: RUF009
    ephemeral: bool = False
    visible_to: str | None = None
    thread_ts: str | None = None
    edited: bool = False
    #: Files the message shares (``files.completeUploadExternal``), as the API shows them.
    files: list[dict[str, Any]] | None = None

    def public(self) -> dict[str, Any]:
        """A copy in the shape ``LocalWorkspace.messages()`` returns (blocks and metadata decode afresh)."""
        return {
            "channel": self.channel,
            "ts": self.ts,
            "user": self.user,
            "text": self.text,
            "blocks": self.blocks,
            "metadata": self.metadata,
            "ephemeral": self.ephemeral,
            "visible_to": self.visible_to,
            "thread_ts": self.thread_ts,
            "edited": self.edited,
            "files": copy.deepcopy(self.files),
        }

    def api(self, *, bot_id: str, app_id: str, team_id: str, include_metadata: bool = False) -> dict[str, Any]:
        """The message object as the Web API and interaction payloads show it."""
        body: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": bot_id,
            "app_id": app_id,
            "team": team_id,
            "text": self.text,
            "ts": self.ts,
        }
        blocks = self.blocks
        if blocks is not None:
            body["blocks"] = blocks
        if self.thread_ts:
            body["thread_ts"] = self.thread_ts
        if self.edited:
            body["edited"] = {"user": self.user, "ts": self.ts}
        metadata = self.metadata if include_metadata else None
        if metadata is not None:
            body["metadata"] = metadata
        if self.files:
            body["files"] = copy.deepcopy(self.files)
            body["upload"] = True
        return body


@dataclass
class File:
    """A file uploaded through ``files.getUploadURLExternal``, then completed (shared or kept private)."""

    id: str
    name: str
    #: The length declared when the upload URL was issued; the bytes must match it.
    length: int
    user: str
    created: int
    upload_id: str
    #: The uploaded bytes, base64 (None until uploaded).
    data: str | None = None
    title: str = ""
    completed: bool = False
    #: Where completion shared it: the channel, the message's ts, and whether the channel is public.
    channel: str | None = None
    ts: str | None = None
    public: bool = False

    @property
    def content(self) -> bytes:
        """The uploaded bytes (empty before the upload)."""
        return base64.b64decode(self.data) if self.data is not None else b""

    def api(self, url_root: str) -> dict[str, Any]:
        """The file object as ``files.info`` and ``files.completeUploadExternal`` show it."""
        mimetype = mimetypes.guess_type(self.name)[0] or "application/octet-stream"
        shares = {("public" if self.public else "private"): {self.channel: [{"ts": self.ts}]}} if self.channel else {}
        return {
            "id": self.id, "created": self.created, "timestamp": self.created, "name": self.name,
            "title": self.title or self.name, "mimetype": mimetype, "filetype": self.name.rpartition(".")[2].lower(),
            "user": self.user, "size": len(self.content), "mode": "hosted", "is_external": False,
            "is_public": self.public, "url_private": f"{url_root}files/{self.id}/{self.name}",
            "channels": [self.channel] if self.channel and self.public else [],
            "ims": [self.channel] if self.channel and not self.public else [], "shares": shares,
        }


@dataclass
class View:
    """A modal or App Home view the bot opened, pushed or published for a user."""

    id: str
    user_id: str
    body: dict[str, Any]
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    open: bool = True

    def api(self, *, team_id: str, app_id: str, bot_id: str) -> dict[str, Any]:
        """The view object as ``views.*`` and ``view_submission`` payloads show it."""
        body = copy.deepcopy(self.body)
        result: dict[str, Any] = {
            "id": self.id,
            "team_id": team_id,
            "type": body.get("type"),
            "blocks": body.get("blocks", []),
            "private_metadata": body.get("private_metadata", ""),
            "callback_id": body.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "clear_on_close": bool(body.get("clear_on_close", False)),
            "notify_on_close": bool(body.get("notify_on_close", False)),
            "root_view_id": self.root_view_id,
            "previous_view_id": self.previous_view_id,
            "app_id": app_id,
            "external_id": body.get("external_id", ""),
            "app_installed_team_id": team_id,
            "bot_id": bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in body:
                result[key] = body[key]
        return result


@dataclass
class Trigger:
    """A trigger_id issued with an interaction; exchangeable once for a view within 3 s."""

    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseTarget:
    """Where a response_url posts to: the user, channel and (for clicks) the source message."""

    user_id: str
    channel_id: str
    message_ts: str | None
    issued_at: float
    uses: int = 0


class TokenBucket:
    """A token bucket on an injected clock: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int, clock: Clock) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + max(0.0, now - self._last) * self.rate)
        self._last = now

    def wait_seconds(self) -> float:
        """0 when a token is available now, else the seconds until one is."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate

    def take(self) -> None:
        """Spend one token (call only after ``wait_seconds()`` returned 0)."""
        self._refill()
        self._tokens -= 1.0


def retry_after(wait_seconds: float) -> int:
    """The ``Retry-After`` header value for a wait: whole seconds, at least 1."""
    return max(1, math.ceil(wait_seconds))


class FaultPlan:
    """Which API calls fail: a seeded random ``rate`` plus a queue of one-shot failures."""

    def __init__(self, rate: float, kind: str, seed: int, *, retry_after: int = 2) -> None:
        self.seed = seed
        self.rate, self.kind = 0.0, "500"
        #: The ``Retry-After`` (seconds) an injected 429 carries.
        self.retry_after = retry_after
        self._rng = random.Random(seed)
        self._queue: deque[str] = deque()
        self.set(rate, kind)

    def set(self, rate: float, kind: str, *, seed: int | None = None, retry_after: int | None = None) -> None:
        """Fail a fraction ``rate`` of calls with ``kind`` (re-seeds, so runs repeat exactly).

        ``kind="mix"`` draws each fault evenly from ``MIX_KINDS`` with the same seeded generator.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        _check_kind(kind)
        if retry_after is not None:
            if retry_after < 1:
                raise ValueError(f"Retry-After must be at least 1 second, got {retry_after}")
            self.retry_after = retry_after
        if seed is not None:
            self.seed = seed
        self.rate, self.kind = rate, kind
        self._rng = random.Random(self.seed)

    def fail_next(self, n: int, kind: str) -> None:
        """Make the next ``n`` API calls fail with ``kind``."""
        _check_kind(kind)
        self._queue.extend([kind] * n)

    def due(self) -> str | None:
        """The fault kind for this call, or None when it should succeed."""
        if self._queue:
            kind = self._queue.popleft()
        elif self.rate > 0 and self._rng.random() < self.rate:
            kind = self.kind
        else:
            return None
        return self._rng.choice(MIX_KINDS) if kind == "mix" else kind


def _token_digest(kind: str, n: int, team_id: str) -> str:
    return hashlib.sha256(f"{kind}:{n}:{team_id}".encode()).hexdigest()[:24]


def _check_kind(kind: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {sorted(FAULT_KINDS)}, got {kind!r}")


@dataclass
class RateLimits:
    """Configured limits: Slack's per-method tiers, per-channel for chat.postMessage, optional workspace-wide for writes.

    ``tiers``: each method in ``METHOD_TIERS`` gets a bucket of its tier's calls a minute (refilled
    evenly, one minute's allowance saved as its burst); ``tier_scale`` multiplies those allowances
    (2.0 = twice Slack's); ``tiers=False`` turns them off.
    """

    channel_rate_per_sec: float | None = 1.0
    channel_burst: int = 5
    workspace_rate_per_sec: float | None = None
    workspace_burst: int = 50
    tiers: bool = True
    tier_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.tier_scale <= 0:
            raise ValueError(f"tier_scale must be positive, got {self.tier_scale}")

    def tier_bucket(self, method: str, clock: Clock) -> TokenBucket | None:
        """A full bucket for ``method``'s tier (None when tiers are off or the method has none)."""
        tier = METHOD_TIERS.get(method)
        if not self.tiers or tier is None:
            return None
        per_minute = TIER_CALLS_PER_MINUTE[tier] * self.tier_scale
        return TokenBucket(per_minute / 60.0, max(1, round(per_minute)), clock)


class WorkspaceState:
    """Everything the local workspace remembers, behind ``self.lock``."""

    def __init__(
        self, *, team_id: str, team_name: str, clock: Clock, wall_clock: Clock, call_history: int = CALL_HISTORY
    ) -> None:
        self.lock = threading.RLock()
        #: Notified (under ``lock``) whenever ``views.publish`` stores someone's App Home.
        self.home_published = threading.Condition(self.lock)
        self.team_id, self.team_name = team_id, team_name
        self.team_domain = "".join(c if c.isalnum() else "-" for c in team_name.lower()).strip("-") or "local"
        self.clock, self.wall_clock = clock, wall_clock
        self.app_id = slack_id("A", f"app:{team_id}")
        self.bot_id = slack_id("B", f"bot:{team_id}")
        self.users: dict[str, User] = {}
        self.users_by_email: dict[str, str] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: list[Message] = []
        self.views: dict[str, View] = {}
        self.view_stacks: dict[str, list[str]] = {}
        self.home_views: dict[str, str] = {}
        self.files: dict[str, File] = {}
        self.triggers: dict[str, Trigger] = {}
        self.responses: dict[str, ResponseTarget] = {}
        #: The last ``call_history`` Web API calls and response_url posts (``method`` "response_url").
        self.calls: deque[CallRecord] = deque(maxlen=call_history)
        #: The last ``call_history`` Web API calls with their arrival time and answer (``bot.workspace.calls``).
        self.call_log: deque[CallRecord] = deque(maxlen=call_history)
        #: Changes not yet persisted, as (kind, object), oldest first; None = not tracked.
        self.changes: list[tuple[str, Any]] | None = None
        self._last_ts_micros = 0
        self._counter = 0
        self.bot_user = self.add_user(f"auditbot@{self.team_domain}.invalid", "auditbot", is_bot=True)

    def set_call_history(self, maxlen: int) -> None:
        """Keep the last ``maxlen`` calls from now on (the newest of those kept so far stay)."""
        if maxlen < 1:
            raise ValueError(f"call history must keep at least 1 call, got {maxlen}")
        self.calls = deque(self.calls, maxlen=maxlen)
        self.call_log = deque(self.call_log, maxlen=maxlen)

    def changed(self, kind: str, obj: Any) -> None:
        """Note a change for persistence: kind ``user``/``channel``/``message``/``view``/``file``/``deleted``."""
        if self.changes is not None:
            self.changes.append((kind, obj))

    # --- ids ------------------------------------------------------------------------------

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def next_ts(self) -> str:
        """A message timestamp from the wall clock, strictly increasing and unique."""
        micros = max(int(self.wall_clock() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def counters(self) -> tuple[int, int]:
        """The last ts (in microseconds) and the id counter, for persistence."""
        return self._last_ts_micros, self._counter

    def restore_counters(self, ts_micros: int, counter: int) -> None:
        """Move the counters forward (never back) to persisted values."""
        self._last_ts_micros = max(self._last_ts_micros, ts_micros)
        self._counter = max(self._counter, counter)

    def new_hash(self) -> str:
        """A fresh view hash."""
        n = self._next()
        return f"{int(self.wall_clock())}.{hashlib.sha256(f'hash:{n}'.encode()).hexdigest()[:8]}"

    def issue_trigger(self, user_id: str) -> str:
        """Issue a trigger_id for an interaction by ``user_id`` (expired ones are forgotten first)."""
        self.forget_expired()
        n = self._next()
        token = f"{n}.{int(self.wall_clock())}.{hashlib.sha256(f'trigger:{n}'.encode()).hexdigest()[:32]}"
        self.triggers[token] = Trigger(user_id=user_id, issued_at=self.clock())
        return token

    def issue_response_url(self, user_id: str, channel_id: str, message_ts: str | None) -> str:
        """Issue a response_url token for an interaction (the server builds the URL)."""
        self.forget_expired()
        n = self._next()
        token = f"{n}.{_token_digest('response', n, self.team_id)}"
        self.responses[token] = ResponseTarget(user_id, channel_id, message_ts, issued_at=self.clock())
        return token

    def forget_expired(self) -> None:
        """Drop expired trigger_ids and response_urls, oldest first, stopping at the first still live.

        Both dicts keep issue order, so this costs one look per forgotten token (plus one).
        """
        now = self.clock()
        while self.triggers:
            token, trigger = next(iter(self.triggers.items()))
            if now - trigger.issued_at < TRIGGER_TTL_SECONDS:
                break
            del self.triggers[token]
        while self.responses:
            token, target = next(iter(self.responses.items()))
            if now - target.issued_at <= RESPONSE_URL_TTL_SECONDS:
                break
            del self.responses[token]

    def was_issued(self, token: str, kind: str) -> bool:
        """Whether this workspace issued ``token`` (a ``trigger`` or ``response`` token), kept or forgotten."""
        number, _, rest = token.partition(".")
        if not number.isdigit() or int(number) > self._counter:
            return False
        n = int(number)
        if kind == "trigger":
            return rest.partition(".")[2] == hashlib.sha256(f"trigger:{n}".encode()).hexdigest()[:32]
        return rest == _token_digest(kind, n, self.team_id)

    # --- users and channels ----------------------------------------------------------------

    def add_user(self, email: str, name: str, *, is_bot: bool = False) -> User:
        """Add (or return the existing) user for ``email``, with a DM channel."""
        key = email.strip().lower()
        existing = self.users_by_email.get(key)
        if existing is not None:
            user = self.users[existing]
            if user.deleted:
                user.deleted = False
                self.changed("user", user)
            return user
        uid = user_id_for(key)
        im = Channel(id=slack_id("D", f"im:{uid}"), name=uid, im_user=uid)
        user = User(id=uid, email=email.strip(), name=name, is_bot=is_bot, im_channel=im.id)
        self.users[uid] = user
        self.users_by_email[key] = uid
        self.channels[im.id] = im
        self.changed("channel", im)
        self.changed("user", user)
        return user

    def user_by_email(self, email: str) -> User | None:
        """The user with ``email`` (case-insensitive), deleted or not."""
        uid = self.users_by_email.get(email.strip().lower())
        return self.users.get(uid) if uid else None

    def add_channel(self, name: str) -> Channel:
        """Add (or return the existing) public channel called ``name``."""
        name = name.lstrip("#")
        cid = slack_id("C", f"channel:{name}")
        if cid not in self.channels:
            self.channels[cid] = Channel(id=cid, name=name)
            self.changed("channel", self.channels[cid])
        return self.channels[cid]

    def resolve_channel(self, ref: str) -> Channel | None:
        """A channel from a C…/D… id, a user id (their DM) or a ``#name``."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self.channels[self.users[ref].im_channel]
        name = ref.lstrip("#")
        return next((c for c in self.channels.values() if c.im_user is None and c.name == name), None)

    # --- messages --------------------------------------------------------------------------

    def store(self, message: Message) -> Message:
        """Keep ``message`` (its ts already assigned)."""
        self.messages.append(message)
        self.changed("message", message)
        return message

    def find_message(self, channel_id: str, ts: str, *, ephemeral: bool | None = False) -> Message | None:
        """The message at ``ts`` in ``channel_id`` (``ephemeral=None`` matches either kind)."""
        for message in self.messages:
            same = message.channel == channel_id and message.ts == ts
            if same and (ephemeral is None or message.ephemeral == ephemeral):
                return message
        return None

    def visible_messages(self, *, user_id: str | None = None, channel_id: str | None = None) -> list[Message]:
        """Messages a user sees in their DM plus ephemerals shown to them, and/or one channel's."""
        result = []
        im = self.users[user_id].im_channel if user_id else None
        for message in self.messages:
            if channel_id is not None and message.channel != channel_id:
                continue
            if user_id is not None:
                in_dm = message.channel == im and (not message.ephemeral or message.visible_to == user_id)
                if not in_dm and not (message.ephemeral and message.visible_to == user_id):
                    continue
            result.append(message)
        return sorted(result, key=ts_key)

    # --- files -----------------------------------------------------------------------------

    def new_file(self, name: str, length: int, user_id: str) -> File:
        """Reserve a file and its opaque upload id (the bytes come later, to the upload URL)."""
        n = self._next()
        upload_id = hashlib.sha256(f"upload:{n}:{self.team_id}".encode()).hexdigest()[:32]
        file = File(id=slack_id("F", f"file:{n}:{self.team_id}"), name=name, length=length, user=user_id,
                    created=int(self.wall_clock()), upload_id=upload_id)
        self.files[file.id] = file
        self.changed("file", file)
        return file

    def file_by_upload(self, upload_id: str) -> File | None:
        """The file an upload URL's id belongs to."""
        return next((f for f in self.files.values() if f.upload_id == upload_id), None)

    # --- views -----------------------------------------------------------------------------

    def new_view(self, user_id: str, body: dict[str, Any], *, root: str | None, previous: str | None) -> View:
        """Create and keep a view for ``user_id``."""
        vid = slack_id("V", f"view:{self._next()}:{self.team_id}")
        view = View(id=vid, user_id=user_id, body=body, hash=self.new_hash(), root_view_id=root or vid,
                    previous_view_id=previous)
        self.views[vid] = view
        self.changed("view", view)
        return view

    def find_view(self, *, view_id: str | None = None, external_id: str | None = None) -> View | None:
        """A kept view by id or by the bot's external_id."""
        if view_id:
            return self.views.get(view_id)
        if external_id:
            return next((v for v in self.views.values() if v.body.get("external_id") == external_id), None)
        return None

    def stack(self, user_id: str) -> list[str]:
        """The user's open modal stack (view ids, bottom first)."""
        return self.view_stacks.setdefault(user_id, [])

    def close_view(self, view_id: str) -> None:
        """Take ``view_id`` (and anything pushed above it) off its user's stack."""
        view = self.views[view_id]
        stack = self.stack(view.user_id)
        if view_id in stack:
            for vid in stack[stack.index(view_id):]:
                self.views[vid].open = False
                self.changed("view", self.views[vid])
            del stack[stack.index(view_id):]

    def clear_views(self, user_id: str) -> None:
        """Close every modal on the user's stack."""
        for vid in self.stack(user_id):
            self.views[vid].open = False
            self.changed("view", self.views[vid])
        self.stack(user_id).clear()
