"""Acting as a workspace member towards the bot: slash commands, clicks and modal submissions.

Requests go to the bot's HTTP endpoint signed exactly like Slack signs them
(``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))``), form-encoded, with
Slack's payload shapes. What Slack would do with the bot's answer (show a slash-command ack
as an ephemeral message, apply a modal's ``response_action``) is applied to the workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from bot.blockkit import BlockKitError
from bot.workspace.forms import element_options
from bot.workspace.payloads import InvalidPayloadError, checked_view
from bot.workspace.socket import NotAcknowledged
from bot.workspace.state import Message, ResponseTarget, User, View, slack_id

if TYPE_CHECKING:
    from bot.workspace.server import LocalWorkspace

#: The legacy verification token Slack still puts in payloads.
VERIFICATION_TOKEN = "local-verification-token"

#: What an untouched input element reports in ``view.state.values`` (key, empty value).
EMPTY_INPUT_STATE: dict[str, tuple[str, Any]] = {
    "plain_text_input": ("value", None),
    "email_text_input": ("value", None),
    "url_text_input": ("value", None),
    "number_input": ("value", None),
    "static_select": ("selected_option", None),
    "external_select": ("selected_option", None),
    "radio_buttons": ("selected_option", None),
    "users_select": ("selected_user", None),
    "conversations_select": ("selected_conversation", None),
    "channels_select": ("selected_channel", None),
    "datepicker": ("selected_date", None),
    "timepicker": ("selected_time", None),
    "checkboxes": ("selected_options", []),
    "multi_static_select": ("selected_options", []),
    "multi_external_select": ("selected_options", []),
    "multi_users_select": ("selected_users", []),
    "multi_conversations_select": ("selected_conversations", []),
    "multi_channels_select": ("selected_channels", []),
}

#: Where an element keeps the initial value Slack reports for an untouched input, by state key.
INITIAL_KEY: dict[str, str] = {
    "value": "initial_value",
    "selected_option": "initial_option",
    "selected_options": "initial_options",
    "selected_user": "initial_user",
    "selected_users": "initial_users",
    "selected_conversation": "initial_conversation",
    "selected_conversations": "initial_conversations",
    "selected_channel": "initial_channel",
    "selected_channels": "initial_channels",
    "selected_date": "initial_date",
    "selected_time": "initial_time",
}

#: How a click on each element type reports its choice: ``option`` or the key for ``value``.
CLICK_SELECTION: dict[str, str] = {
    "static_select": "option",
    "external_select": "option",
    "overflow": "option",
    "radio_buttons": "option",
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}


#: Interactions whose acknowledgement may carry an answer (a modal's errors or next view; a menu's options).
ANSWERED_INTERACTIONS = ("view_submission", "view_closed", "block_suggestion", "shortcut", "message_action")


class BotUnreachableError(ConnectionError):
    """The bot's HTTP endpoint refused or dropped the connection."""


class BotTimeoutError(TimeoutError):
    """The bot did not answer within Slack's acknowledgement window."""


class ActionNotFoundError(LookupError):
    """The message has no element with the requested action_id."""


def sign(signing_secret: str, timestamp: int, body: bytes) -> str:
    """Slack's request signature: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


class Actor:
    """Sends correctly signed Slack requests to ``workspace.bot_endpoint`` on a member's behalf."""

    def __init__(self, workspace: LocalWorkspace) -> None:
        self.ws = workspace
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # --- transport -----------------------------------------------------------------------------

    def signed_headers(self, body: bytes) -> dict[str, str]:
        """Headers Slack would send with ``body`` (timestamp from the workspace's wall clock)."""
        timestamp = int(self.ws.state.wall_clock())
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(self.ws.signing_secret, timestamp, body),
        }

    def send_raw(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST ``body`` with exactly ``headers`` to the bot; returns (status, body text). A workspace whose app uses
        Socket Mode (it has an app-level token) delivers it over the bot's socket as an envelope instead
        (``_over_socket``), as Slack does."""
        answer = self._over_socket(body, headers) if self.ws.app_token is not None else self._over_http(body, headers)
        self.ws.arrivals.append("answer")
        if self.ws.settle is not None:  # the bot's follow-ups (modal, ephemeral) land before the member looks
            self.ws.settle()
        return answer

    def _over_http(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """POST to the bot's request URL, as Slack does to an app with one."""
        if not self.ws.bot_endpoint:
            raise RuntimeError("the local workspace has no bot_endpoint to send to")
        request = urllib.request.Request(self.ws.bot_endpoint, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.ws.ack_timeout_seconds) as response:
                answer = response.status, response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            answer = exc.code, exc.read().decode("utf-8", errors="replace")
        except TimeoutError as exc:
            raise BotTimeoutError(f"the bot did not answer within {self.ws.ack_timeout_seconds} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise BotTimeoutError(f"the bot did not answer within {self.ws.ack_timeout_seconds} s") from exc
            raise BotUnreachableError(f"cannot reach the bot at {self.ws.bot_endpoint}: {exc.reason}") from exc
        return answer

    def _over_socket(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """Deliver what would have been POSTed as a Socket Mode envelope, as Slack does to a connected app:
        an event, an interaction, or a slash command; the acknowledgement's payload is the answer."""
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if content_type.startswith("application/json"):
            kind, payload, answers = "events_api", json.loads(body), False
        else:
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
            if "payload" in form:
                payload = json.loads(form["payload"])
                kind, answers = "interactive", payload.get("type") in ANSWERED_INTERACTIONS
            else:
                kind, payload, answers = "slash_commands", form, True
        try:
            answer = self.ws.socket.deliver(kind, payload, accepts_response_payload=answers)
        except NotAcknowledged as exc:
            raise BotTimeoutError(f"the bot did not acknowledge within {self.ws.ack_timeout_seconds} s") from exc
        return 200, json.dumps(answer) if answer else ""

    def _post_form(self, fields: dict[str, str]) -> tuple[int, Any]:
        body = urlencode(fields).encode("utf-8")
        status, text = self.send_raw(body, self.signed_headers(body))
        return status, _parse(text)

    # --- helpers -------------------------------------------------------------------------------

    def _member(self, email: str) -> User:
        user = self.ws.state.user_by_email(email)
        if user is None or user.deleted:
            raise KeyError(f"no active user with email {email!r} in the local workspace")
        return user

    def _user_field(self, user: User) -> dict[str, str]:
        return {"id": user.id, "username": user.username, "name": user.username, "team_id": self.ws.team_id}

    def _team(self) -> dict[str, str]:
        return {"id": self.ws.state.team_id, "domain": self.ws.state.team_domain}

    def _response_url(self, token: str) -> str:
        return f"{self.ws.root_url}_local/response/{token}"

    # --- slash commands ------------------------------------------------------------------------

    def slash_command(
        self, user_email: str, command: str, text: str = "", channel_id: str | None = None
    ) -> dict[str, Any]:
        """Run ``command text`` as the member; their DM with the bot is the default channel.

        A non-empty 200 answer is shown to the member as Slack shows an ack body (ephemeral,
        or in the channel for ``response_type: in_channel``). Returns ``{"status", "body",
        "trigger_id", "response_url", "channel_id"}``.
        """
        state = self.ws.state
        with state.lock:
            user = self._member(user_email)
            channel = state.resolve_channel(channel_id or user.im_channel)
            if channel is None:
                raise KeyError(f"no channel {channel_id!r} in the local workspace")
            trigger_id = state.issue_trigger(user.id)
            token = state.issue_response_url(user.id, channel.id, None)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": state.team_id,
            "team_domain": state.team_domain,
            "channel_id": channel.id,
            "channel_name": "directmessage" if channel.im_user else channel.name,
            "user_id": user.id,
            "user_name": user.username,
            "command": command,
            "text": text,
            "api_app_id": state.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(token),
            "trigger_id": trigger_id,
        }
        status, body = self._post_form(fields)
        if status == 200 and body not in (None, ""):
            content = body if isinstance(body, dict) else {"text": str(body)}
            self._show_ack(ResponseTarget(user.id, channel.id, None, issued_at=state.clock()), content)
        return {"status": status, "body": body, "trigger_id": trigger_id,
                "response_url": fields["response_url"], "channel_id": channel.id}

    def _show_ack(self, target: ResponseTarget, content: dict[str, Any]) -> None:
        with self.ws.state.lock:
            try:
                self.ws.api.record_response(target, content)
            except InvalidPayloadError as exc:
                problems = exc.result.body.get("response_metadata", {}).get("messages", [exc.result.body["error"]])
                raise BlockKitError(problems) from None

    # --- clicks --------------------------------------------------------------------------------

    def click(self, user_email: str, message: dict[str, Any], action_id: str, value: str | None = None,
              selected_option: dict[str, Any] | str | None = None) -> dict[str, Any]:
        """Click the element ``action_id`` in a stored message (a dict from ``messages()``).

        ``value`` overrides a button's value (or picks a select option by value);
        ``selected_option`` is an option dict or an option value. Returns ``{"status", "body",
        "trigger_id", "response_url"}``.
        """
        state = self.ws.state
        with state.lock:
            user = self._member(user_email)
            stored = state.find_message(str(message.get("channel")), str(message.get("ts")), ephemeral=None)
            if stored is None:
                raise LookupError(f"message {message.get('ts')} in {message.get('channel')} is not in the workspace")
            self._check_visible(user, stored)
            block_id, element = _find_action(stored, action_id)
            action = _action(element, block_id, state.next_ts(), value, selected_option)
            channel = state.channels[stored.channel]
            trigger_id = state.issue_trigger(user.id)
            token = state.issue_response_url(user.id, stored.channel, stored.ts)
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_field(user),
                "api_app_id": state.app_id,
                "token": VERIFICATION_TOKEN,
                "container": {"type": "message", "message_ts": stored.ts, "channel_id": stored.channel,
                              "is_ephemeral": stored.ephemeral},
                "trigger_id": trigger_id,
                "team": self._team(),
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel.id, "name": "directmessage" if channel.im_user else channel.name},
                "state": {"values": {}},
                "response_url": self._response_url(token),
                "actions": [action],
            }
            if not stored.ephemeral:  # Slack leaves the message out of clicks on ephemeral messages
                payload["message"] = stored.api(bot_id=state.bot_id, app_id=state.app_id, team_id=state.team_id)
        status, body = self._post_form({"payload": json.dumps(payload)})
        return {"status": status, "body": body, "trigger_id": trigger_id, "response_url": payload["response_url"]}

    def click_view(self, user_email: str, view: dict[str, Any], action_id: str, value: str | None = None,
                   selected_option: dict[str, Any] | str | None = None) -> dict[str, Any]:
        """Click the element ``action_id`` (the button whose value is ``value``, when given; a menu's
        ``selected_option``) in a published App Home view (a dict from ``home()`` or ``views()``), as Slack sends it:
        ``container.type == "view"``, the view object, a trigger_id, and no response_url or channel.
        Returns ``{"status", "body", "trigger_id"}``."""
        state = self.ws.state
        with state.lock:
            user = self._member(user_email)
            stored = state.views.get(str(view.get("id")))
            if stored is None or not stored.open:
                raise LookupError(f"view {view.get('id')} is not in the workspace")
            if stored.user_id != user.id:
                raise PermissionError(f"{user.email} cannot see another member's view")
            block_id, element = _find_in_blocks(stored.body.get("blocks", []), stored.id, action_id, f"view {stored.id}", value)
            action = _action(element, block_id, state.next_ts(), None, selected_option)
            trigger_id = state.issue_trigger(user.id)
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_field(user),
                "api_app_id": state.app_id,
                "token": VERIFICATION_TOKEN,
                "container": {"type": "view", "view_id": stored.id},
                "trigger_id": trigger_id,
                "team": self._team(),
                "enterprise": None,
                "is_enterprise_install": False,
                "view": self.ws.api.api_view(stored),
                "actions": [action],
            }
        status, body = self._post_form({"payload": json.dumps(payload)})
        return {"status": status, "body": body, "trigger_id": trigger_id}

    # --- events --------------------------------------------------------------------------------

    def open_home(self, user_email: str) -> dict[str, Any]:
        """The member opens the bot's Home tab: Slack's ``app_home_opened`` event (JSON, signed),
        carrying the Home view published before, if any. Returns ``{"status", "body"}``."""
        state = self.ws.state
        with state.lock:
            user = self._member(user_email)
            existing = state.views.get(state.home_views.get(user.id, ""))
            event: dict[str, Any] = {"type": "app_home_opened", "user": user.id, "channel": user.im_channel, "tab": "home",
                                     "event_ts": state.next_ts()}
            if existing is not None:
                event["view"] = self.ws.api.api_view(existing)
            envelope = {
                "token": VERIFICATION_TOKEN, "team_id": state.team_id, "api_app_id": state.app_id, "event": event,
                "type": "event_callback", "event_id": slack_id("Ev", f"{user.id}:{event['event_ts']}"),
                "event_time": int(state.wall_clock()), "authorizations": [{"team_id": state.team_id, "user_id": state.bot_user.id,
                                                                           "is_bot": True}],
            }
        body = json.dumps(envelope).encode("utf-8")
        headers = {**self.signed_headers(body), "Content-Type": "application/json"}
        status, text = self.send_raw(body, headers)
        return {"status": status, "body": _parse(text)}

    def _check_visible(self, user: User, message: Message) -> None:
        channel = self.ws.state.channels[message.channel]
        if message.ephemeral and message.visible_to != user.id:
            raise PermissionError(f"{user.email} cannot see that ephemeral message")
        if channel.im_user is not None and channel.im_user != user.id:
            raise PermissionError(f"{user.email} cannot see another member's DM")

    # --- modals --------------------------------------------------------------------------------

    def submit_view(self, user_email: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Submit the open modal ``view`` with ``values`` ({block_id: {action_id: value-dict}}).

        Input blocks left out are sent empty, as Slack does. The bot's ``response_action``
        (``update``/``push``/``clear``; an empty ack closes the modal; ``errors`` keeps it) is
        applied to the member's view stack. Returns ``{"status", "body", "trigger_id"}``.
        """
        state = self.ws.state
        with state.lock:
            user = self._member(user_email)
            stored = state.views.get(str(view.get("id")))
            if stored is None or stored.user_id != user.id:
                raise LookupError(f"view {view.get('id')!r} was not opened for {user_email}")
            if not stored.open or stored.body.get("type") != "modal":
                raise LookupError(f"view {stored.id} is not an open modal")
            api_view = self.ws.api.api_view(stored)
            api_view["state"] = {"values": _state_values(stored, values)}
            trigger_id = state.issue_trigger(user.id)
            payload = {
                "type": "view_submission",
                "team": self._team(),
                "user": self._user_field(user),
                "api_app_id": state.app_id,
                "token": VERIFICATION_TOKEN,
                "trigger_id": trigger_id,
                "view": api_view,
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
        status, body = self._post_form({"payload": json.dumps(payload)})
        if status == 200:
            self._apply_response_action(stored, body if isinstance(body, dict) else None)
        return {"status": status, "body": body, "trigger_id": trigger_id}

    def close_modal(self, user_email: str, values: dict[str, dict[str, Any]] | None = None) -> dict[str, Any] | None:
        """Close the member's open modals, as the modal's X does; None when none is open.

        A modal with ``notify_on_close`` is sent to the bot as ``view_closed`` (Slack closes it
        whatever the bot answers), with what was typed into the modal on top (``values``, as for
        ``submit_view``; untouched inputs show their initial values). Returns ``{"view",
        "notified", "status", "body"}``.
        """
        state = self.ws.state
        with state.lock:
            user = self._member(user_email)
            stack = list(state.stack(user.id))
            if not stack:
                return None
            top = state.views[stack[-1]]
            view = self.ws.api.api_view(top)
            view["state"] = {"values": _state_values(top, values or {})}
            state.clear_views(user.id)
            payload = {
                "type": "view_closed", "team": self._team(), "user": self._user_field(user),
                "api_app_id": state.app_id, "token": VERIFICATION_TOKEN, "view": view,
                "is_cleared": len(stack) > 1, "is_enterprise_install": False, "enterprise": None,
            }
        if not view["notify_on_close"]:
            return {"view": view, "notified": False, "status": None, "body": None}
        status, body = self._post_form({"payload": json.dumps(payload)})
        return {"view": view, "notified": True, "status": status, "body": body}

    def _apply_response_action(self, view: View, body: dict[str, Any] | None) -> None:
        action = (body or {}).get("response_action")
        with self.ws.state.lock:
            try:
                if action is None:
                    self.ws.state.close_view(view.id)
                elif action == "clear":
                    self.ws.state.clear_views(view.user_id)
                elif action == "update":
                    view.body = checked_view((body or {}).get("view"), kind="modal")
                    view.hash = self.ws.state.new_hash()
                    self.ws.state.changed("view", view)
                elif action == "push":
                    result = self.ws.api.push_view(view.user_id, checked_view((body or {}).get("view"), kind="modal"))
                    if not result.body["ok"]:
                        raise BlockKitError([f"response_action push: {result.body['error']}"])
                elif action != "errors":
                    raise BlockKitError([f"response_action: unknown value {action!r}"])
            except InvalidPayloadError as exc:
                problems = exc.result.body.get("response_metadata", {}).get("messages", [exc.result.body["error"]])
                raise BlockKitError([f"response_action {action} view: {p}" for p in problems]) from None


def _parse(text: str) -> Any:
    """A bot answer: parsed JSON when it is JSON, else the text ('' when empty)."""
    if text.strip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _find_action(message: Message, action_id: str) -> tuple[str, dict[str, Any]]:
    """(block_id, element) for ``action_id`` in a message's blocks; Slack fills missing block_ids."""
    return _find_in_blocks(message.blocks or [], message.ts, action_id, f"message {message.ts}")


def _find_in_blocks(blocks: list[dict[str, Any]], seed: str, action_id: str, where: str,
                    value: str | None = None) -> tuple[str, dict[str, Any]]:
    """(block_id, element) for ``action_id`` in ``blocks`` (the first whose value is ``value``, when given)."""
    available: list[str] = []
    for i, block in enumerate(blocks):
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        candidates += [block[key] for key in ("accessory", "element") if isinstance(block.get(key), dict)]
        for element in candidates:
            if not isinstance(element, dict) or "action_id" not in element:
                continue
            if element["action_id"] == action_id and (value is None or element.get("value") == value):
                return str(block.get("block_id") or slack_id("", f"{seed}:{i}")[:5]), element
            available.append(str(element["action_id"]))
    raise ActionNotFoundError(f"no element with action_id {action_id!r} in {where}; it has {available}")


def _action(element: dict[str, Any], block_id: str, action_ts: str, value: str | None,
            selected_option: dict[str, Any] | str | None) -> dict[str, Any]:
    """The ``actions[0]`` entry Slack sends for a click on ``element``."""
    kind = str(element.get("type"))
    action: dict[str, Any] = {"type": kind, "action_id": element["action_id"], "block_id": block_id,
                              "action_ts": action_ts}
    if kind == "button":
        action["text"] = element.get("text")
        chosen = value if value is not None else element.get("value")
        if chosen is not None:
            action["value"] = chosen
        if element.get("style"):
            action["style"] = element["style"]
        return action
    selection = CLICK_SELECTION.get(kind)
    if selection is None:
        raise NotImplementedError(f"clicking a {kind} element is not supported by the local workspace")
    if selection != "option":
        if value is None:
            raise ValueError(f"a {kind} click needs value=")
        action[selection] = value
        return action
    wanted = selected_option if selected_option is not None else value
    if isinstance(wanted, dict):
        action["selected_option"] = wanted
    elif wanted is None:
        raise ValueError(f"a {kind} click needs selected_option= (an option or its value)")
    else:
        option = next((o for o in element_options(element) if o.get("value") == wanted), None)
        if option is None and kind != "external_select":
            raise ValueError(f"{kind} {element['action_id']!r} has no option with value {wanted!r}")
        action["selected_option"] = option or {"text": {"type": "plain_text", "text": wanted}, "value": wanted}
    if "placeholder" in element:
        action["placeholder"] = element["placeholder"]
    return action


def _state_values(view: View, values: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``view.state.values`` as Slack sends it: every input block, given or empty."""
    inputs = {str(b.get("block_id") or slack_id("", f"{view.id}:{i}")[:5]): b.get("element") or {}
              for i, b in enumerate(view.body.get("blocks", []))
              if isinstance(b, dict) and b.get("type") == "input"}
    unknown = sorted(set(values) - set(inputs))
    if unknown:
        raise KeyError(f"view {view.id} has no input blocks {unknown}; it has {sorted(inputs)}")
    result: dict[str, dict[str, Any]] = {}
    for block_id, element in inputs.items():
        action_id = str(element.get("action_id"))
        kind = str(element.get("type"))
        given = values.get(block_id, {})
        if given and set(given) != {action_id}:
            raise KeyError(f"input block {block_id!r} has action_id {action_id!r}, not {sorted(given)}")
        if action_id in given:
            entry = {"type": kind, **given[action_id]}
        else:  # untouched: Slack reports the element's initial value, if it has one
            key, empty = EMPTY_INPUT_STATE.get(kind, ("value", None))
            initial = element.get(INITIAL_KEY.get(key, ""))
            entry = {"type": kind, key: initial if initial is not None else (list(empty) if isinstance(empty, list) else empty)}
        result[block_id] = {action_id: entry}
    return result
