"""Slack's pace for each destination (a person's DM or a channel), as one sender has met it.

``chat.postMessage`` allows about one message a second per channel, with short bursts. A
destination Slack has refused (429) is left alone until its ``Retry-After``, then posted to at
``CHANNEL_PACE``; a destination's last few posts tell its own limit from a workspace-wide one.
Each destination is sent to by one worker thread at a time, so its entries are never raced.
"""

from __future__ import annotations

import datetime as dt
from collections import deque

#: Slack's pace for posting to one channel (about one message a second): a channel it has limited is
#: then posted to at this pace, rather than tried again at once after each Retry-After (whole seconds).
CHANNEL_PACE = dt.timedelta(seconds=1)
#: A paced channel goes back to Slack's short bursts after this long without a post from us.
PACE_FORGOTTEN_AFTER = dt.timedelta(seconds=3)
#: A channel refused (429) after this many posts within ``OWN_LIMIT_WINDOW`` (the refused one included) has met
#: its own limit, about one a second with short bursts, rather than a workspace-wide one.
OWN_LIMIT_POSTS = 4
OWN_LIMIT_WINDOW = dt.timedelta(seconds=5)
#: The channels whose recent posts are remembered, at most (a month's fan-out reaches about 1,250).
RECENT_CHANNELS = 20_000


class ChannelPace:
    """Pauses, paces and recent posts, by destination key (``Job.destination``)."""

    def __init__(self) -> None:
        #: Destinations Slack asked us to leave alone, until when.
        self._pause: dict[str, dt.datetime] = {}
        #: Destinations Slack has limited, and when we last posted to each: later posts keep ``CHANNEL_PACE``.
        self._paced: dict[str, dt.datetime] = {}
        #: Each destination's last few posts (when they were sent): a 429 after several is its own limit.
        self._recent: dict[str, deque[dt.datetime]] = {}

    def wait(self, channel: str, at: dt.datetime) -> float:
        """Seconds until ``channel`` may be posted to: Slack asked us to leave it alone for a while, or (once
        limited) our last post there was less than ``CHANNEL_PACE`` ago. 0: now."""
        until = self._pause.get(channel)
        last = self._paced.get(channel)
        if last is not None and at - last > PACE_FORGOTTEN_AFTER:
            self._paced.pop(channel, None)
        elif last is not None:
            until = max(until or at, last + CHANNEL_PACE)
        if until is None or until <= at:
            self._pause.pop(channel, None)
            return 0.0
        return (until - at).total_seconds()

    def limited(self, channel: str, until: dt.datetime) -> None:
        """Slack refused ``channel`` until ``until``: leave it alone till then, and keep the pace after."""
        self._pause[channel] = until
        self._paced[channel] = until - CHANNEL_PACE  # its first post after the pause goes at once

    def sending(self, channel: str, at: dt.datetime) -> None:
        """A post or edit to ``channel`` is being sent at ``at`` (Slack counts posts as they arrive)."""
        if len(self._recent) > RECENT_CHANNELS:
            self._recent.clear()
        self._recent.setdefault(channel, deque(maxlen=OWN_LIMIT_POSTS)).append(at)

    def sent(self, channel: str, at: dt.datetime) -> None:
        """The post sent at ``at`` was taken: a paced channel's next one keeps the pace from it."""
        if channel in self._paced:
            self._paced[channel] = at

    def met_own_limit(self, channel: str, at: dt.datetime) -> bool:
        """True when ``channel`` had ``OWN_LIMIT_POSTS`` posts (the refused one included) within ``OWN_LIMIT_WINDOW``."""
        posts = self._recent.get(channel)
        return posts is not None and len(posts) == OWN_LIMIT_POSTS and at - posts[0] <= OWN_LIMIT_WINDOW
