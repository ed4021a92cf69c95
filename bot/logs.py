"""Logging, set up in one place: the bot's own records at the chosen level, never a message body.

Logs carry ids, idempotency keys and template names, never rendered text or typed notes, at
any level. The bot's own log calls keep to that; libraries that echo payloads at DEBUG (Bolt's
request and response bodies, slack_sdk's API call arguments, waitress, urllib3, websocket
frames) are held at INFO or above whatever level is chosen, and SQLAlchemy -- whose INFO lines
carry statement parameters -- at WARNING or above.
"""

from __future__ import annotations

import logging
from typing import Any

import click

#: The levels ``--log-level`` accepts.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Loggers that write request bodies or API payloads below INFO (``bot.bolt`` is the app's Bolt logger).
PAYLOAD_LOGGERS = ("slack_bolt", "slack_sdk", "bot.bolt", "waitress", "urllib3", "websocket")
#: Loggers that write statement parameters (typed notes among them) below WARNING.
PARAMETER_LOGGERS = ("sqlalchemy",)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    """Log at ``level`` (one of ``LEVELS``, any case) to stderr, keeping payload-echoing
    libraries quiet whatever the level. Safe to call again (one handler; levels set anew)."""
    wanted = level.upper()
    if wanted not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: choose {', '.join(LEVELS)}")
    number = logging.getLevelNamesMapping()[wanted]
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: a host that set up handlers (a test runner) keeps them
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(number)
    for name in PAYLOAD_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.INFO))
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.WARNING))


class _LevelChoice(click.Choice[str]):
    """``click.Choice`` of ``LEVELS`` whose refusal is one line, not a usage screen."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            raise click.ClickException(f"--log-level: choose {', '.join(LEVELS)}") from None


#: The ``--log-level`` option of the long-running commands (``run``, ``worker``).
log_level_option = click.option(
    "--log-level", type=_LevelChoice(LEVELS, case_sensitive=False), default="INFO", show_default=True,
    help="How much to log (message bodies and typed notes are never logged).",
)
