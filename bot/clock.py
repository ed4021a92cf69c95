"""The one wall clock. Everything that needs "now" is handed a ``Clock``; nothing else reads the time.

Production passes ``system_clock``; tests pass a clock they set and move by hand, so no test
depends on the date it happens to run on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

#: A function returning the current moment as an aware UTC datetime.
Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    """The real current time, as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)
