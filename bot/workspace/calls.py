"""What the local workspace remembers of each Web API call, and questions asked of that record.

Every call is kept as a ``CallRecord``: when it arrived (by the workspace's ``clock``, the one
its rate limits use), how it was answered, any ``Retry-After`` given and any injected fault.
Tests and benchmarks ask of it whether a client honoured ``Retry-After`` (``retry_waits``) and
how long it waited before posting a message again after a post of it timed out
(``retries_after_timeouts``; messages are told apart by their metadata).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_MISSING = object()


class PackedJson:
    """A dataclass field kept as compact JSON text and decoded (a fresh copy) on each read.

    A parsed Block Kit payload costs several times its JSON's size in Python objects; kept as
    text it costs about its size. A value JSON cannot encode is kept as a deep copy instead.
    """

    def __init__(self, *, default: Any = _MISSING) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}_json"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:  # the dataclass asks for the field's default
            if self.default is _MISSING:
                raise AttributeError(self.slot)
            return self.default
        packed = obj.__dict__[self.slot]
        if isinstance(packed, str):
            return json.loads(packed)
        return copy.deepcopy(packed)

    def __set__(self, obj: Any, value: Any) -> None:
        if value is None:
            obj.__dict__[self.slot] = None
            return
        try:
            obj.__dict__[self.slot] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            obj.__dict__[self.slot] = copy.deepcopy(value)

    @staticmethod
    def size(obj: Any, name: str) -> int:
        """Characters of ``obj.name``'s JSON text (0 when None or not kept as text)."""
        packed = obj.__dict__.get(f"_{name}_json")
        return len(packed) if isinstance(packed, str) else 0

#: Methods Slack rate limits per channel: a 429 from them holds back that channel only.
PER_CHANNEL_METHODS = frozenset({"chat.postMessage", "chat.update"})
#: Faults after which the client cannot know whether its call took effect.
UNKNOWN_OUTCOME_FAULTS = frozenset({"timeout", "timeout_after_store"})


@dataclass
class CallRecord:
    """One Web API call: what was asked, when it arrived, and how it was answered."""

    method: str
    #: Arrival time by the workspace's ``clock`` (seconds).
    at: float
    #: The parameters as received, kept as compact JSON (each read decodes a fresh copy). No default: the
    #: descriptor refuses the dataclass's question (mypy sees a default, so it comes after ``at``).
    params: dict[str, Any] = PackedJson()  # type: ignore[assignment]
    status: int = 200
    #: The ``Retry-After`` header sent with a 429, in seconds.
    retry_after: int | None = None
    #: The injected fault this call met (``429``, ``500``, ``timeout``, ...), if any.
    fault: str | None = None
    #: Which limit answered 429 ``ratelimited``: ``tier`` (the method's), ``channel`` or ``workspace``; None if none.
    limited_by: str | None = None

    @property
    def channel(self) -> str | None:
        """The ``channel`` parameter as sent (an id, a user id or a ``#name``)."""
        value = self.params.get("channel")
        return str(value) if value else None


@dataclass(frozen=True)
class RetryWait:
    """A 429 and the client's next call that it limited: the wait asked for and the wait kept."""

    limited: CallRecord
    #: The next call of the same method (and, for per-channel methods, the same channel).
    next_call: CallRecord | None

    @property
    def waited(self) -> float | None:
        """Seconds from the 429 to that next call (None if there was none)."""
        return None if self.next_call is None else self.next_call.at - self.limited.at

    @property
    def ratio(self) -> float | None:
        """``waited / Retry-After``: below 1.0 the client came back too early."""
        waited, asked = self.waited, self.limited.retry_after
        return None if waited is None or not asked else waited / asked


def _same_limit(limited: CallRecord, later: CallRecord) -> bool:
    if later.method != limited.method:
        return False
    return limited.method not in PER_CHANNEL_METHODS or later.channel == limited.channel


def retry_waits(log: Sequence[CallRecord]) -> list[RetryWait]:
    """Every 429 in ``log`` with the next call it applied to (oldest first)."""
    waits = []
    for index, record in enumerate(log):
        if record.status == 429 and record.retry_after is not None:
            later = next((r for r in log[index + 1 :] if _same_limit(record, r)), None)
            waits.append(RetryWait(record, later))
    return waits


@dataclass(frozen=True)
class RetryAfterTimeout:
    """A post that timed out and the client's next post of the same message (same channel, same metadata)."""

    post: CallRecord
    retry: CallRecord | None

    @property
    def waited(self) -> float | None:
        """Seconds from the timed-out post's arrival to that retry (None: never posted again)."""
        return None if self.retry is None else self.retry.at - self.post.at


def retries_after_timeouts(log: Sequence[CallRecord]) -> list[RetryAfterTimeout]:
    """Each ``chat.postMessage`` that met a timeout fault, with the next post of the same message."""
    found = []
    for index, record in enumerate(log):
        if record.method == "chat.postMessage" and record.fault in UNKNOWN_OUTCOME_FAULTS:
            retry = next((r for r in log[index + 1 :] if _same_message(record, r)), None)
            found.append(RetryAfterTimeout(record, retry))
    return found


def _same_message(post: CallRecord, later: CallRecord) -> bool:
    return (
        later.method == "chat.postMessage"
        and later.channel == post.channel
        and later.params.get("metadata") == post.params.get("metadata")
    )
