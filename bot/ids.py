"""Every template, action, block and callback id the bot uses, as enum members."""

from __future__ import annotations

from enum import StrEnum


class Template(StrEnum):
    """Message and view templates in ``messages/`` (file name without ``.json.j2``)."""

    ALLOCATION_AUDITOR = "allocation_auditor"
    ALLOCATION_WORKER = "allocation_worker"
    ALLOCATION_TEAM_MANAGER = "allocation_team_manager"
    NO_SLACK_ACCOUNT = "no_slack_account"
    HELP = "help"
    MY_AUDITS = "my_audits"
    ERROR = "error"
    REFUSAL = "refusal"

    @property
    def filename(self) -> str:
        """The template file in ``messages/``."""
        return f"{self.value}.json.j2"

    @property
    def is_view(self) -> bool:
        """True for modal and App Home views (different Block Kit limits)."""
        return self.value.startswith("view_")


class Command(StrEnum):
    """Slash commands (declared in app_manifest.yml)."""

    AUDIT = "/audit"
