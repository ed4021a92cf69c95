"""A local, Slack-compatible workspace for ``auditbot run`` without credentials and for tests."""

from bot.workspace.actor import ActionNotFoundError, Actor, BotTimeoutError, BotUnreachableError, sign
from bot.workspace.persist import StateFileError
from bot.workspace.server import LocalWorkspace

__all__ = [
    "ActionNotFoundError", "Actor", "BotTimeoutError", "BotUnreachableError", "LocalWorkspace", "StateFileError", "sign",
]
