"""The local workspace's Web API methods, answering like Slack does.

``WebApi.call`` runs one method: token check, injected faults, rate limits (the method's Slack
tier, chat.postMessage's per-channel limit, an optional workspace-wide write limit), then the
method, and keeps a ``CallRecord`` of it. A ``timeout_after_store`` fault may take effect late
(``landing_delay``), as a post still on its way through Slack when the client gave up.
Messages and views are checked with ``bot.blockkit`` so a payload Slack would reject is
rejected here too.
"""

from __future__ import annotations

import base64
import contextlib
import copy
from collections.abc import Callable, Mapping
from typing import Any

from bot.blockkit import MAX_FILE_COMMENT
from bot.workspace.calls import CallRecord
from bot.workspace.payloads import (
    ApiResult,
    InvalidPayloadError,
    checked_view,
    error,
    json_param,
    message_content,
    ok,
    truthy,
)
from bot.workspace.state import (
    MAX_VIEW_STACK,
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL_SECONDS,
    TRIGGER_TTL_SECONDS,
    Channel,
    FaultPlan,
    Message,
    RateLimits,
    ResponseTarget,
    TokenBucket,
    View,
    WorkspaceState,
    retry_after,
    ts_key,
)

Params = dict[str, Any]

#: Methods that count against the optional workspace-wide write limit.
WRITE_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.delete",
     "views.open", "views.update", "views.push", "views.publish", "files.completeUploadExternal"}
)


class WebApi:
    """The Web API methods over one ``WorkspaceState``."""

    def __init__(
        self,
        state: WorkspaceState,
        *,
        bot_token: str,
        limits: RateLimits,
        faults: FaultPlan,
        landing_delay: float = 0.0,
    ) -> None:
        self.state, self.bot_token, self.faults = state, bot_token, faults
        #: Seconds (by ``state.clock``) before a ``timeout_after_store`` call takes effect; 0 = at once.
        self.landing_delay = landing_delay
        #: The server's root URL (``LocalWorkspace.start`` sets it): upload URLs and files live under it.
        self.url_root = "http://127.0.0.1/"
        self._landing: list[tuple[float, Callable[[Params], ApiResult], Params]] = []
        self.limits = limits
        self._channel_buckets: dict[str, TokenBucket] = {}
        self._tier_buckets: dict[str, TokenBucket | None] = {}
        self._workspace_bucket: TokenBucket | None = None
        self.set_limits(limits)
        self.methods: dict[str, Callable[[Params], ApiResult]] = {
            "auth.test": self.auth_test,
            "users.lookupByEmail": self.users_lookup_by_email,
            "users.info": self.users_info,
            "users.list": self.users_list,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.delete": self.chat_delete,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
            "files.info": self.files_info,
        }

    def set_limits(self, limits: RateLimits) -> None:
        """Replace the rate limits; every bucket starts full again."""
        with self.state.lock:
            self.limits = limits
            self._channel_buckets.clear()
            self._tier_buckets.clear()
            rate = limits.workspace_rate_per_sec
            self._workspace_bucket = TokenBucket(rate, limits.workspace_burst, self.state.clock) if rate else None

    # --- dispatch ----------------------------------------------------------------------------

    def call(self, method: str, params: Params, token: str | None) -> ApiResult:
        """Run one Web API call as Slack would: auth, faults, rate limits, then the method.

        Each call is kept, with its arrival time and answer, in ``state.calls`` and ``state.call_log``
        (the last ``call_history`` of them; the record keeps its own compact copy of ``params``).
        """
        with self.state.lock:
            now = self.state.clock()
            self.land_due(now)
            record = CallRecord(method=method, params=params, at=now)
            self.state.calls.append(record)
            self.state.call_log.append(record)
            result = self._answer(method, params, token, record)
            record.status = result.status
            if "Retry-After" in result.headers:
                record.retry_after = int(result.headers["Retry-After"])
            return result

    def _answer(self, method: str, params: Params, token: str | None, record: CallRecord) -> ApiResult:
        if not token:
            return error("not_authed")
        if token != self.bot_token:
            return error("invalid_auth")
        handler = self.methods.get(method)
        if handler is None:
            return error("unknown_method")
        fault = record.fault = self.faults.due()
        if fault == "429":
            throttled = error("ratelimited", status=429)
            throttled.headers["Retry-After"] = str(self.faults.retry_after)
            return throttled
        if fault in {"500", "503", "timeout"}:
            status = 503 if fault == "503" else 500
            return ApiResult({"ok": False, "error": "internal_error"}, status=status, hold=fault == "timeout")
        limited = self._rate_limit(method, params, record)
        if limited is not None:
            record.fault = None  # answered at once: the fault never happened
            return limited
        if fault == "timeout_after_store" and self.landing_delay > 0:
            # Still on its way through Slack: takes effect later, after the client has given up.
            self._landing.append((record.at + self.landing_delay, handler, copy.deepcopy(params)))
            return ApiResult({"ok": False, "error": "internal_error"}, status=500, hold=True)
        try:
            result = handler(params)
        except InvalidPayloadError as exc:
            result = exc.result
        if fault == "timeout_after_store":
            result.hold = True
        return result

    def land_due(self, now: float | None = None) -> None:
        """Let delayed ``timeout_after_store`` calls whose time has come take effect (oldest first)."""
        with self.state.lock:
            now = self.state.clock() if now is None else now
            due = [item for item in self._landing if item[0] <= now]
            self._landing = [item for item in self._landing if item[0] > now]
            for _, handler, params in sorted(due, key=lambda item: item[0]):
                with contextlib.suppress(InvalidPayloadError):  # Slack would have rejected it too: nothing lands
                    handler(params)

    def _rate_limit(self, method: str, params: Params, record: CallRecord) -> ApiResult | None:
        """A 429 when any limit on this call has no token left (the longest wait is the Retry-After).

        Limits: the method's tier (per workspace), chat.postMessage's per channel, and the optional
        workspace-wide one for writes. A limited call spends no token.
        """
        buckets: list[tuple[str, TokenBucket]] = []
        if method not in self._tier_buckets:
            self._tier_buckets[method] = self.limits.tier_bucket(method, self.state.clock)
        tier_bucket = self._tier_buckets[method]
        if tier_bucket is not None:
            buckets.append(("tier", tier_bucket))
        if method in WRITE_METHODS and self._workspace_bucket is not None:
            buckets.append(("workspace", self._workspace_bucket))
        if method == "chat.postMessage" and self.limits.channel_rate_per_sec:
            channel = self.state.resolve_channel(str(params.get("channel", "")))
            if channel is not None:
                bucket = self._channel_buckets.get(channel.id)
                if bucket is None:
                    bucket = TokenBucket(self.limits.channel_rate_per_sec, self.limits.channel_burst, self.state.clock)
                    self._channel_buckets[channel.id] = bucket
                buckets.append(("channel", bucket))
        waits = [(bucket.wait_seconds(), name) for name, bucket in buckets]
        wait, name = max(waits, default=(0.0, ""))
        if wait > 0:
            record.limited_by = name
            result = error("ratelimited", status=429)
            result.headers["Retry-After"] = str(retry_after(wait))
            return result
        for _, bucket in buckets:
            bucket.take()
        return None

    # --- helpers -----------------------------------------------------------------------------

    def _api_message(self, message: Message, *, include_metadata: bool = True) -> dict[str, Any]:
        s = self.state
        return message.api(bot_id=s.bot_id, app_id=s.app_id, team_id=s.team_id, include_metadata=include_metadata)

    def api_view(self, view: View) -> dict[str, Any]:
        """A kept view as the API shows it."""
        return view.api(team_id=self.state.team_id, app_id=self.state.app_id, bot_id=self.state.bot_id)

    def _channel(self, params: Params) -> Channel:
        channel = self.state.resolve_channel(str(params.get("channel", "") or ""))
        if channel is None:
            raise InvalidPayloadError(error("channel_not_found"))
        if channel.im_user is not None and self.state.users[channel.im_user].deleted:
            raise InvalidPayloadError(error("is_archived"))
        return channel

    def _exchange_trigger(self, params: Params) -> str:
        trigger_id = str(params.get("trigger_id", "") or "")
        trigger = self.state.triggers.get(trigger_id)
        if trigger is None:
            # An expired trigger is forgotten; one this workspace issued still answers expired_trigger_id.
            issued = self.state.was_issued(trigger_id, "trigger")
            raise InvalidPayloadError(error("expired_trigger_id" if issued else "invalid_trigger_id"))
        if self.state.clock() - trigger.issued_at >= TRIGGER_TTL_SECONDS:
            raise InvalidPayloadError(error("expired_trigger_id"))
        if trigger.used:
            raise InvalidPayloadError(error("exchanged_trigger_id"))
        trigger.used = True
        return trigger.user_id

    # --- auth and users ----------------------------------------------------------------------

    def auth_test(self, params: Params) -> ApiResult:
        """``auth.test``: who the bot token belongs to."""
        s = self.state
        return ok(url=f"https://{s.team_domain}.slack.com/", team=s.team_name, user=s.bot_user.name,
                  team_id=s.team_id, user_id=s.bot_user.id, bot_id=s.bot_id, is_enterprise_install=False)

    def users_lookup_by_email(self, params: Params) -> ApiResult:
        """``users.lookupByEmail``: active users only."""
        user = self.state.user_by_email(str(params.get("email", "")))
        if user is None or user.deleted:
            return error("users_not_found")
        return ok(user=user.api(self.state.team_id))

    def users_info(self, params: Params) -> ApiResult:
        """``users.info``: deactivated users come back with ``deleted: true``."""
        user = self.state.users.get(str(params.get("user", "")))
        if user is None:
            return error("user_not_found")
        return ok(user=user.api(self.state.team_id))

    def users_list(self, params: Params) -> ApiResult:
        """``users.list``: everyone; with ``limit``, a page at a time (``cursor``/``next_cursor``), as Slack pages."""
        users = list(self.state.users.values())
        limit = int(params.get("limit") or 0) or len(users)
        try:
            start = int(base64.b64decode(str(params.get("cursor") or "")).decode().removeprefix("offset:") or 0)
        except ValueError:
            return error("invalid_cursor")
        members = [u.api(self.state.team_id) for u in users[start : start + limit]]
        following = base64.b64encode(f"offset:{start + limit}".encode()).decode() if start + limit < len(users) else ""
        return ok(members=members, response_metadata={"next_cursor": following})

    # --- conversations -----------------------------------------------------------------------

    def conversations_open(self, params: Params) -> ApiResult:
        """``conversations.open``: the stable DM channel with one user."""
        users = [u.strip() for u in str(params.get("users", "") or "").split(",") if u.strip()]
        if not users:
            return error("users_list_not_supplied")
        if len(users) > 1:
            return error("not_implemented", messages=["the local workspace opens DMs with one user only"])
        user = self.state.users.get(users[0])
        if user is None:
            return error("user_not_found")
        if user.deleted:
            return error("user_disabled")
        return ok(channel={"id": user.im_channel, "is_im": True, "user": user.id}, already_open=True, no_op=True)

    def conversations_history(self, params: Params) -> ApiResult:
        """``conversations.history``: top-level, non-ephemeral messages, newest first."""
        channel = self._channel(params)
        include_metadata = truthy(params.get("include_all_metadata"))
        inclusive = truthy(params.get("inclusive"))
        oldest, latest = params.get("oldest"), params.get("latest")
        found = []
        for m in self.state.messages:
            if m.channel != channel.id or m.ephemeral or (m.thread_ts and m.thread_ts != m.ts):
                continue
            key = ts_key(m)
            if oldest and (key < _ts(oldest) or (key == _ts(oldest) and not inclusive)):
                continue
            if latest and (key > _ts(latest) or (key == _ts(latest) and not inclusive)):
                continue
            found.append(m)
        found.sort(key=ts_key, reverse=True)
        return self._page(found, params, include_metadata)

    def conversations_replies(self, params: Params) -> ApiResult:
        """``conversations.replies``: a thread's parent then its replies, oldest first."""
        channel = self._channel(params)
        ts = str(params.get("ts", ""))
        thread = [m for m in self.state.messages
                  if m.channel == channel.id and not m.ephemeral and (m.ts == ts or m.thread_ts == ts)]
        if not thread:
            return error("thread_not_found")
        return self._page(sorted(thread, key=ts_key), params, truthy(params.get("include_all_metadata")))

    def _page(self, found: list[Message], params: Params, include_metadata: bool) -> ApiResult:
        try:
            limit = min(max(int(params.get("limit", 100) or 100), 1), 999)
            start = int(params.get("cursor") or 0)
        except ValueError:
            return error("invalid_arguments", messages=["limit and cursor must be integers"])
        page = found[start:start + limit]
        more = start + limit < len(found)
        return ok(
            messages=[self._api_message(m, include_metadata=include_metadata) for m in page],
            has_more=more,
            response_metadata={"next_cursor": str(start + limit) if more else ""},
        )

    # --- chat ----------------------------------------------------------------------------------

    def chat_post_message(self, params: Params) -> ApiResult:
        """``chat.postMessage`` to a channel, a DM channel or a user id (their DM)."""
        channel = self._channel(params)
        text, blocks, metadata = message_content(params)
        thread_ts = params.get("thread_ts") or None
        message = Message(channel=channel.id, ts=self.state.next_ts(), user=self.state.bot_user.id, text=text,
                          blocks=blocks, metadata=metadata, thread_ts=str(thread_ts) if thread_ts else None)
        self.state.store(message)
        return ok(channel=channel.id, ts=message.ts, message=self._api_message(message))

    def chat_update(self, params: Params) -> ApiResult:
        """``chat.update``: omitted fields keep their values; marks the message edited."""
        channel = self._channel(params)
        message = self.state.find_message(channel.id, str(params.get("ts", "")))
        if message is None:
            return error("message_not_found")
        message.text, message.blocks, message.metadata = message_content(params, current=message)
        message.edited = True
        self.state.changed("message", message)
        return ok(channel=channel.id, ts=message.ts, text=message.text, message=self._api_message(message))

    def chat_post_ephemeral(self, params: Params) -> ApiResult:
        """``chat.postEphemeral``: stored as visible only to ``user``."""
        channel = self._channel(params)
        user = self.state.users.get(str(params.get("user", "")))
        if user is None or user.deleted:
            return error("user_not_found")
        if channel.im_user is not None and channel.im_user != user.id:
            return error("user_not_in_channel")
        text, blocks, _ = message_content({k: v for k, v in params.items() if k != "metadata"})
        thread_ts = params.get("thread_ts") or None
        message = Message(channel=channel.id, ts=self.state.next_ts(), user=self.state.bot_user.id, text=text,
                          blocks=blocks, ephemeral=True, visible_to=user.id,
                          thread_ts=str(thread_ts) if thread_ts else None)
        self.state.store(message)
        return ok(message_ts=message.ts)

    def chat_delete(self, params: Params) -> ApiResult:
        """``chat.delete``."""
        channel = self._channel(params)
        message = self.state.find_message(channel.id, str(params.get("ts", "")))
        if message is None:
            return error("message_not_found")
        self.state.messages.remove(message)
        self.state.changed("deleted", message)
        return ok(channel=channel.id, ts=message.ts)

    # --- views ---------------------------------------------------------------------------------

    def views_open(self, params: Params) -> ApiResult:
        """``views.open``: needs a fresh, unused trigger_id; starts a new modal stack."""
        body = checked_view(params.get("view"), kind="modal")
        user_id = self._exchange_trigger(params)
        self.state.clear_views(user_id)
        view = self.state.new_view(user_id, body, root=None, previous=None)
        self.state.stack(user_id).append(view.id)
        return ok(view=self.api_view(view))

    def views_push(self, params: Params) -> ApiResult:
        """``views.push``: onto the user's stack, at most three deep."""
        body = checked_view(params.get("view"), kind="modal")
        user_id = self._exchange_trigger(params)
        return self.push_view(user_id, body)

    def push_view(self, user_id: str, body: dict[str, Any]) -> ApiResult:
        """Push a checked modal onto ``user_id``'s stack."""
        stack = self.state.stack(user_id)
        if len(stack) >= MAX_VIEW_STACK:
            return error("push_limit_reached")
        top = self.state.views[stack[-1]] if stack else None
        view = self.state.new_view(user_id, body, root=top.root_view_id if top else None,
                                   previous=top.id if top else None)
        stack.append(view.id)
        return ok(view=self.api_view(view))

    def views_update(self, params: Params) -> ApiResult:
        """``views.update`` by view_id or external_id, honouring ``hash``."""
        view = self.state.find_view(view_id=params.get("view_id"), external_id=params.get("external_id"))
        if view is None or not view.open:
            return error("not_found")
        body = checked_view(params.get("view"), kind=str(view.body.get("type")))
        if params.get("hash") and params["hash"] != view.hash:
            return error("hash_conflict")
        view.body, view.hash = body, self.state.new_hash()
        self.state.changed("view", view)
        return ok(view=self.api_view(view))

    def views_publish(self, params: Params) -> ApiResult:
        """``views.publish``: the user's App Home."""
        user = self.state.users.get(str(params.get("user_id", "")))
        if user is None:
            return error("user_not_found")
        body = checked_view(params.get("view"), kind="home")
        existing = self.state.views.get(self.state.home_views.get(user.id, ""))
        if existing is not None:
            if params.get("hash") and params["hash"] != existing.hash:
                return error("hash_conflict")
            existing.body, existing.hash = body, self.state.new_hash()
            self.state.changed("view", existing)
            self._home_published()
            return ok(view=self.api_view(existing))
        view = self.state.new_view(user.id, body, root=None, previous=None)
        self.state.home_views[user.id] = view.id
        self._home_published()
        return ok(view=self.api_view(view))

    def _home_published(self) -> None:
        """Wake whoever waits for a Home to be published (``LocalWorkspace.wait_for_home``)."""
        with self.state.home_published:
            self.state.home_published.notify_all()

    # --- files ---------------------------------------------------------------------------------

    def files_get_upload_url_external(self, params: Params) -> ApiResult:
        """``files.getUploadURLExternal``: reserve a file and the URL its bytes go to."""
        name, length = str(params.get("filename") or ""), str(params.get("length") or "")
        if not name.strip() or not length.isdigit() or int(length) < 1:
            return error("invalid_arguments", messages=["filename and a positive integer length are required"])
        file = self.state.new_file(name, int(length), self.state.bot_user.id)
        return ok(upload_url=f"{self.url_root}upload/v1/{file.upload_id}", file_id=file.id)

    def upload(self, upload_id: str, data: bytes) -> tuple[int, str]:
        """A POST of a file's bytes to its upload URL (no token: the URL is the permission): (status, text)."""
        with self.state.lock:
            file = self.state.file_by_upload(upload_id)
            if file is None or file.completed:
                return 404, "Not Found"
            file.data = base64.b64encode(data).decode("ascii")
            self.state.changed("file", file)
            return 200, f"OK - {len(data)}"

    def files_complete_upload_external(self, params: Params) -> ApiResult:
        """``files.completeUploadExternal``: title the uploaded files and share them, in one message
        from the bot with ``initial_comment`` as its text, in ``channel_id`` (else they stay private)."""
        wanted = json_param(params, "files", "invalid_arguments")
        if not isinstance(wanted, list) or not wanted or not all(isinstance(f, dict) and f.get("id") for f in wanted):
            return error("invalid_arguments", messages=["files: a JSON array of {id, title}"])
        if params.get("channels"):
            return error("not_implemented", messages=["the local workspace shares to one channel_id only"])
        files = [self.state.files.get(str(f["id"])) for f in wanted]
        for file in files:
            if file is None or file.completed or file.data is None or len(file.content) != file.length:
                return error("file_not_found", messages=["each file must be uploaded, with its declared length, once"])
        channel = self._channel({"channel": params["channel_id"]}) if params.get("channel_id") else None
        comment = str(params.get("initial_comment") or "")
        if len(comment) > MAX_FILE_COMMENT:
            return error("msg_too_long")
        ts = self.state.next_ts() if channel is not None else None
        for file, asked in zip(files, wanted, strict=True):
            assert file is not None
            file.title, file.completed = str(asked.get("title") or file.name), True
            if channel is not None:
                file.channel, file.ts, file.public = channel.id, ts, channel.im_user is None
            self.state.changed("file", file)
        shown = [file.api(self.url_root) for file in files if file is not None]
        if channel is not None and ts is not None:
            thread_ts = params.get("thread_ts") or None
            self.state.store(Message(channel=channel.id, ts=ts, user=self.state.bot_user.id, text=comment,
                                     files=shown, thread_ts=str(thread_ts) if thread_ts else None))
        return ok(files=shown)

    def files_info(self, params: Params) -> ApiResult:
        """``files.info``: a completed file, with where it is shared."""
        file = self.state.files.get(str(params.get("file", "")))
        if file is None or not file.completed:
            return error("file_not_found")
        return ok(file=file.api(self.url_root), comments=[], response_metadata={"next_cursor": ""})

    # --- response_url --------------------------------------------------------------------------

    def respond(self, token: str, body: Any) -> ApiResult:
        """A post to a response_url issued with an interaction."""
        with self.state.lock:
            now = self.state.clock()
            self.state.calls.append(CallRecord(method="response_url", params=body if isinstance(body, dict) else {}, at=now))
            self.state.forget_expired()
            target = self.state.responses.get(token)
            if target is None:
                # Expired or used up, then forgotten: Slack still knows the URL it issued.
                return error("expired_url" if self.state.was_issued(token, "response") else "not_found", status=404)
            if now - target.issued_at > RESPONSE_URL_TTL_SECONDS:
                return error("expired_url", status=404)
            if not isinstance(body, dict):
                return error("invalid_payload", status=400)
            target.uses += 1
            if target.uses >= RESPONSE_URL_MAX_USES:
                del self.state.responses[token]  # used up: the next post answers expired_url
            try:
                return self.record_response(target, body)
            except InvalidPayloadError as exc:
                exc.result.status = 400
                return exc.result

    def record_response(self, target: ResponseTarget, body: Mapping[str, Any]) -> ApiResult:
        """Apply a response_url post (or a slash-command ack body) for ``target``.

        Raises ``InvalidPayloadError`` when the content breaks Block Kit limits.
        """
        source = (self.state.find_message(target.channel_id, target.message_ts, ephemeral=None)
                  if target.message_ts else None)
        if truthy(body.get("delete_original")):
            if source is None:
                return error("message_not_found", status=404)
            self.state.messages.remove(source)
            self.state.changed("deleted", source)
            return ok()
        if truthy(body.get("replace_original")) and source is not None:
            source.text, source.blocks, _ = message_content({k: v for k, v in body.items() if k != "metadata"})
            source.edited = True
            self.state.changed("message", source)
            return ok()
        text, blocks, _ = message_content({k: v for k, v in body.items() if k != "metadata"})
        in_channel = body.get("response_type") == "in_channel"
        thread_ts = body.get("thread_ts") or None
        self.state.store(Message(
            channel=target.channel_id, ts=self.state.next_ts(), user=self.state.bot_user.id, text=text,
            blocks=blocks, ephemeral=not in_channel, visible_to=None if in_channel else target.user_id,
            thread_ts=str(thread_ts) if thread_ts else None,
        ))
        return ok()


def _ts(value: Any) -> tuple[int, ...]:
    text = str(value)
    whole, _, frac = text.partition(".")
    return (int(whole or 0), int((frac or "0").ljust(6, "0")[:6]))
