"""Slack's pace for each destination (a person's DM or a channel), as one sender keeps it.

``chat.postMessage`` allows about one message a second per channel, with short bursts. The sender keeps
that pace itself rather than meeting 429s: each destination has a rate of one post per ``CHANNEL_PACE``
with ``burst`` saved, kept as a theoretical arrival time (the generic cell rate algorithm, one timestamp
per destination). A row whose destination has no turn now is given the next free one (``turn`` books it)
and handed back until then; the destination's later rows get the turns after it, so they never overtake
it, and a row coming back at its turn goes without being booked again. A row handed back to be tried
again (a 429, a 5xx, a timeout) holds its destination's later rows back until it has gone, whatever turns
they were given. A post is booked from when its answer came back, which is no earlier than when Slack
counted it.

A 429 (Slack's burst was smaller than ours, or another sender posted there) starts the destination
afresh: nothing saved, its next post at the ``Retry-After``, its booked turns forgotten. A destination's
last few posts tell its own limit from a workspace-wide one. Each destination is sent to by one worker
thread at a time, so its entries are never raced; the turns of different destinations are, so they
are taken under a lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import deque
from dataclasses import dataclass

#: Slack's pace for posting to one channel: about one message a second.
CHANNEL_PACE = dt.timedelta(seconds=1)
#: Posts to one channel Slack takes at once before its pace applies (the local workspace's burst).
CHANNEL_BURST = 5
#: A channel refused (429) after this many posts within ``OWN_LIMIT_WINDOW`` (the refused one included) has met
#: its own limit, about one a second with short bursts, rather than a workspace-wide one.
OWN_LIMIT_POSTS = 4
OWN_LIMIT_WINDOW = dt.timedelta(seconds=5)
#: A row handed back to be tried again holds its destination's later rows back at most this long after its retry
#: time (it may have been cancelled meanwhile, or taken over by another sender).
HOLD_EXPIRES_AFTER = dt.timedelta(minutes=1)
#: The destinations remembered, at most (a month's fan-out reaches about 1,250); past it, the idle are forgotten.
RECENT_CHANNELS = 20_000


@dataclass(frozen=True)
class Turn:
    """A row's turn at its destination."""

    #: None: now; else when (the row is handed back until then).
    at: dt.datetime | None
    #: The turn was booked beforehand, so the post is not booked again when it goes.
    booked: bool


class ChannelPace:
    """Each destination's pace, booked turns and recent posts, by destination key (``Job.destination``)."""

    def __init__(self, burst: int = CHANNEL_BURST) -> None:
        self.burst = max(1, burst)
        #: How far ahead of its pace a destination may run: the burst, less the post itself.
        self.tolerance = CHANNEL_PACE * (self.burst - 1)
        #: Each destination's theoretical arrival time: when its saved burst would be empty again.
        self._due: dict[str, dt.datetime] = {}
        #: Rows handed back until a turn booked for them, by destination, then row id.
        self._booked: dict[str, dict[int, dt.datetime]] = {}
        #: A row handed back to be tried again (a 429, a 5xx, a timeout), by destination: (its id, when it is due).
        self._retrying: dict[str, tuple[int, dt.datetime]] = {}
        #: Each destination's last few posts (when they were sent): a 429 after several is its own limit.
        self._recent: dict[str, deque[dt.datetime]] = {}
        self._lock = threading.Lock()

    def turn(self, destination: str, row: int, at: dt.datetime) -> Turn:
        """When row ``row`` may be posted to ``destination``: now, or at a turn booked for it from ``at``."""
        with self._lock:
            booked = self._booked.get(destination, {})
            held = self._retrying.get(destination)
            if held is not None and at > held[1] + HOLD_EXPIRES_AFTER:
                del self._retrying[destination]
            elif held is not None and row > held[0]:  # an earlier row is to be tried again: this one goes after it
                booked.pop(row, None)
                return Turn(max(held[1], at + CHANNEL_PACE), booked=False)  # with it, or a turn later if it is late
            if row in booked:
                when = booked[row]
                if when > at:
                    return Turn(when, booked=True)
                del booked[row]
                return Turn(None, booked=True)
            due = self._due.get(destination)
            if due is None or at >= due - self.tolerance:
                return Turn(None, booked=False)
            when = due - self.tolerance
            self._due[destination] = due + CHANNEL_PACE
            self._booked.setdefault(destination, {})[row] = when
            return Turn(when, booked=True)

    def spent(self, destination: str, answered: dt.datetime) -> None:
        """A post to ``destination`` not booked beforehand was answered at ``answered``: book it from then."""
        with self._lock:
            if len(self._due) > RECENT_CHANNELS:
                self._forget_idle(answered)
            due = self._due.get(destination)
            self._due[destination] = max(due or answered, answered) + CHANNEL_PACE

    def hold(self, destination: str, row: int, retry_at: dt.datetime) -> None:
        """Row ``row`` was handed back to be tried again at ``retry_at``: the destination's later rows wait for it."""
        with self._lock:
            held = self._retrying.get(destination)
            if held is None or row <= held[0]:
                self._retrying[destination] = (row, retry_at)

    def ended(self, destination: str, row: int) -> None:
        """Row ``row`` was sent, cancelled or failed for good: the destination's later rows no longer wait for it."""
        with self._lock:
            held = self._retrying.get(destination)
            if held is not None and held[0] == row:
                del self._retrying[destination]

    def limited(self, destination: str, until: dt.datetime) -> None:
        """Slack refused ``destination`` until ``until``: its next post then, one a ``CHANNEL_PACE`` after."""
        with self._lock:
            self._due[destination] = until + self.tolerance
            self._booked.pop(destination, None)

    def sending(self, channel: str, at: dt.datetime) -> None:
        """A post or edit to ``channel`` is being sent at ``at`` (Slack counts posts as they arrive)."""
        if len(self._recent) > RECENT_CHANNELS:
            self._recent.clear()
        self._recent.setdefault(channel, deque(maxlen=OWN_LIMIT_POSTS)).append(at)

    def met_own_limit(self, channel: str, at: dt.datetime) -> bool:
        """True when ``channel`` had ``OWN_LIMIT_POSTS`` posts (the refused one included) within ``OWN_LIMIT_WINDOW``."""
        posts = self._recent.get(channel)
        return posts is not None and len(posts) == OWN_LIMIT_POSTS and at - posts[0] <= OWN_LIMIT_WINDOW

    def _forget_idle(self, at: dt.datetime) -> None:
        """Drop destinations whose burst is whole again (any turn still booked there has come: they start afresh),
        and holds that have lapsed (their row was taken over or cancelled elsewhere)."""
        lapsed = [d for d, (_, retry_at) in self._retrying.items() if at > retry_at + HOLD_EXPIRES_AFTER]
        for destination in lapsed:
            del self._retrying[destination]
        idle = [d for d, due in self._due.items() if due <= at and d not in self._retrying]
        for destination in idle:
            del self._due[destination]
            self._booked.pop(destination, None)
