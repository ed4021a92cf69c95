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
    ALLOCATION_PREVIEW = "allocation_preview"
    REMINDER_AUDITOR = "reminder_auditor"
    REMINDER_MANAGER = "reminder_manager"
    OVERDUE_AUDITOR = "overdue_auditor"
    OVERDUE_MANAGER = "overdue_manager"
    OVERDUE_QA = "overdue_qa"
    AUDIT_COMPLETED = "audit_completed"
    BREAK_DECISION = "break_decision"
    BREAKS_LIST = "breaks_list"

    @property
    def filename(self) -> str:
        """The template file in ``messages/``."""
        return f"{self.value}.json.j2"

    @property
    def is_view(self) -> bool:
        """True for modal and App Home views (different Block Kit limits)."""
        return self.value.startswith("view_")


class ActionId(StrEnum):
    """``action_id`` of interactive elements; the handler for each is registered by its area."""

    MARK_COMPLETE = "audit_mark_complete"
    REQUEST_BREAK = "audit_request_break"


class BlockId(StrEnum):
    """``block_id`` of blocks that carry interactive elements."""

    AUDIT_ACTIONS = "audit_actions"


class Command(StrEnum):
    """Slash commands (declared in app_manifest.yml)."""

    AUDIT = "/audit"
