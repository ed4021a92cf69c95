"""All configuration in one pydantic-settings object (environment variables and ``.env``)."""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from store.models import Role


class ModerationFinal(StrEnum):
    """Whose word ends a grade disagreement: the moderator's (Hull 22), or a Head of Service's after it (Bradford §3)."""

    MODERATOR = "moderator"
    HEAD_OF_SERVICE = "head_of_service"


class GuardrailLevel(StrEnum):
    """How much the privacy guardrail checks typed text (there is no "off")."""

    STRICT = "strict"
    STANDARD = "standard"


class Nation(StrEnum):
    """Whose bank holidays count as non-working days."""

    ENGLAND_AND_WALES = "england-and-wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern-ireland"


def _checkout() -> Path | None:
    """The source checkout this code runs from (``python3 dev.py run``), if it is one."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "dev.py").is_file() else None


#: Where a relative ``AUDITBOT_DATA_DIR`` and the ``.env`` file are found: the checkout when the
#: bot runs from one, so the same ``data/`` is used from any directory; else the working directory.
BASE_DIR = _checkout()


class SettingsError(Exception):
    """A missing or malformed setting, explained in one line."""


class Settings(BaseSettings):
    """The bot's settings. Every field can be set as ``AUDITBOT_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="AUDITBOT_",
        env_file=(BASE_DIR / ".env", ".env") if BASE_DIR is not None else ".env",  # the working directory's wins
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Path("data")
    #: The grading scheme audits are recorded on: ``bradford``, ``hull`` or the path of a council's TOML file.
    grading_scheme: str = "bradford"
    database_url: str = ""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    #: Only for the local workspace and tests: where the Web API lives.
    slack_api_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(3000, ge=0, le=65535)
    local_workspace_port: int = Field(3001, ge=0, le=65535)
    #: Local mode: the bot connects to its local workspace over Socket Mode, as a council behind a firewall does.
    local_socket_mode: bool = False

    nation: Nation = Nation.ENGLAND_AND_WALES
    timezone: str = "Europe/London"
    #: Extra bank holidays in the GOV.UK bank-holidays JSON format (see examples/).
    holidays_override_file: Path | None = None
    #: Local (``timezone``) working hours: reminders and chases go out in [start, end).
    working_hours_start: dt.time = dt.time(8, 30)
    working_hours_end: dt.time = dt.time(17, 30)

    # Programme rules (defaults from the seed documents; see shared/domain.md).
    max_audits_per_year: int = Field(10, ge=1, description="Hull A.2")
    exclude_own_team: bool = Field(True, description="Hull 4.8, Bradford §2")
    exclude_line_reports: bool = True
    resample_months: int = Field(12, ge=0, description="how recent 'audited recently' is, for the three choices below")
    #: Not re-sampling a recently audited case is a council's choice, not a seed rule: on for the
    #: random control sample, off for thematic and named-case samples (e.g. "all private fostering
    #: arrangements", Hull App. D). Re-audits are never held back.
    avoid_recent_control: bool = True
    avoid_recent_thematic: bool = False
    avoid_recent_named: bool = False
    auditor_pairs: bool = Field(False, description="Stockton 1.4")
    control_sample_size: int = Field(40, ge=0, description="Hull App. D")
    thematic_sample_size: int = Field(20, ge=0, description="Hull App. D")

    # The monthly cycle (shared/domain.md steps 1, 3, 4).
    tick_interval_seconds: int = Field(60, ge=5, description="how often the scheduler looks for due work")
    preview_working_days_before: int = Field(3, ge=0, description="allocation preview to the QA team")
    allocation_catch_up_working_days: int = Field(5, ge=0, description="late scheduled allocation after downtime")
    reminder_days_before: int = Field(7, ge=0, description="Bradford §2: a week before the deadline")
    overdue_repeat_days: int = Field(7, ge=1, description="overdue notices repeat weekly (Hull 30)")
    #: The privacy guardrail on typed text: strict also looks for names after "child", "mum", "Mrs"...
    privacy_guardrail: GuardrailLevel = GuardrailLevel.STRICT
    #: Hull A.4: exemptions "can only be agreed by" the Assistant Director. A delegate must hold an
    #: approver role too (another Assistant Director) unless the council allows any named person.
    delegates_must_hold_approver_role: bool = True
    reallocation_working_days: int = Field(
        10, ge=0, description="a reallocated audit is due no sooner than this many working days after reallocation"
    )
    max_breaks_per_year: int = Field(2, ge=0, description="Hull A.2: 10 audits a year, two months off")
    max_break_share: float = Field(0.2, ge=0, le=1, description="Hull A.3: at most 20% of auditors on a break")

    # Exemptions and extensions (shared/domain.md step 5; Hull A.4-5).
    exemption_approver_role: Role = Field(Role.ASSISTANT_DIRECTOR, description="decides for children's social care auditors")
    qa_exemption_approver_role: Role = Field(Role.STRATEGIC_LEAD, description="decides for QA-team auditors")
    #: Comma-separated text ("QA Team, Performance Team") or a JSON list.
    qa_team_names: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["Quality Assurance Team"])
    max_extension_working_days: int = Field(10, ge=1, description="how far past the deadline an extension may go")
    exemption_resend_working_days: int = Field(2, ge=1, description="re-send an undecided request after this")
    exemption_escalate_working_days: int = Field(2, ge=1, description="then escalate to the approver's manager")

    # Right to reply, challenges and moderation (shared/domain.md steps 8-9; Hull 18-22, 4.32; Bradford §3).
    reply_window_working_days: int = Field(5, ge=1, description="the worker, TM and IRO may reply this long (Hull 18)")
    answer_working_days: int = Field(
        3, ge=1, description="auditor, challenger, moderator, Head of Service: then reminded, then QA told"
    )
    #: ``moderator``: the moderator's judgement is final (Hull 22); ``head_of_service``: a grade
    #: disagreement may go on to the Head of Service QA, an actions one to the case's Head of Service (Bradford §3).
    moderation_final: ModerationFinal = ModerationFinal.MODERATOR
    #: Who may moderate: senior managers outside the case's service and circle (Hull 22).
    moderator_roles: Annotated[list[Role], NoDecode] = Field(
        default_factory=lambda: [Role.HEAD_OF_SERVICE, Role.STRATEGIC_LEAD, Role.GROUP_MANAGER]
    )
    sample_moderation_percent: int = Field(10, ge=0, le=100, description="Hull 4.32: 10% of the month's finalised audits")
    qa_amend_working_days: int = Field(3, ge=1, description="Hull 20: a returned audit is due back in 3 working days")

    # After the audit (shared/domain.md steps 10-11; Hull 23-27, App. D, App. E).
    oversight_working_days: int = Field(
        10, ge=1, description="Hull App. D: management oversight within 10 working days of finalisation"
    )
    oversight_reminder_working_days: int = Field(
        2, ge=0, description="the team manager is reminded this long before oversight is due"
    )
    action_reminder_working_days: int = Field(
        2, ge=0, description="an action's owner is reminded this long before it is due, and on the day"
    )
    inadequate_meeting_reminder_working_days: int = Field(
        5, ge=1, description="Hull 25: the group manager reminded until the meeting is held"
    )
    inadequate_review_weeks: int = Field(4, ge=1, description="Hull 25: a review four weeks after an Inadequate is final")
    reaudit_within_months: int = Field(2, ge=1, description="Hull 25: a re-audit within two months")
    assurance_sample_size: int = Field(10, ge=0, description="Hull App. E: audits a month whose signed-off actions QA verifies")

    # The monthly report (shared/domain.md step 12).
    report_working_day: int = Field(10, ge=1, le=20, description="Hull App. C: posted on this working day of the next month")
    qa_channel: str | None = Field(None, description="channel id the monthly report goes to (else each QA coordinator's DM)")

    # Reflection meetings (shared/domain.md step 2).
    meeting_answer_working_days: int = Field(2, ge=1, description="a proposal unanswered this long is one attempt (Hull A.12)")
    meeting_attempts: int = Field(2, ge=1, description="Hull A.12: after two unanswered attempts the auditor may escalate")
    meeting_nudge_working_days: int = Field(
        5, ge=1, description="nothing arranged this long after allocation: nudge (Hull A.10-11)"
    )
    meeting_minutes: int = Field(60, ge=15, le=240, description="how long a reflection meeting is booked for")

    # Immediate safeguarding concerns (shared/domain.md step 6).
    safeguarding_channel: str | None = Field(None, description="channel id told of each alert (never its note)")
    alert_escalation_minutes: int = Field(30, ge=1, description="unacknowledged by the team manager: escalate")

    # Delivery.
    outbox_batch_size: int = Field(200, ge=1)
    outbox_concurrency: int = Field(8, ge=1, description="threads sending a batch; a channel's messages stay with one, in order")
    outbox_settle_every: int = Field(50, ge=1, description="sent messages recorded per database transaction")
    outbox_max_attempts: int = Field(8, ge=1)
    outbox_lease_seconds: int = Field(300, ge=10)
    slack_timeout_seconds: float = Field(10.0, gt=0)
    slack_channel_burst: int = Field(
        5, ge=1, description="posts to one channel sent at once before Slack's pace of one a second is kept (after a 429, none)"
    )
    #: Local (``timezone``) time of the daily Slack directory sync (``users.list``); it also runs at start.
    directory_sync_time: dt.time = dt.time(6, 30)

    # The Slack request URL (bot/web.py): threads, the processing gate and load shedding.
    http_threads: int = Field(32, ge=1, description="waitress threads")
    slack_gate: int = Field(8, ge=1, description="Slack requests processed at once (about the database pool)")
    slack_gate_wait_seconds: float = Field(
        0.5, ge=0, description="a command waits this long for a place, or the oldest click for a thread; then new ones hear busy"
    )
    view_gate_wait_seconds: float = Field(2.5, ge=0, description="a modal submission waits this long, then gets a 503")
    followup_threads: int = Field(16, ge=1, description="threads making calls that follow an acknowledgement")
    form_trigger_seconds: float = Field(
        2.5, gt=0, description="a form not open this long after its click (Slack's trigger: 3 s) is answered 'please click again'"
    )
    click_threads: int = Field(
        2, ge=1, description="threads acting on clicks after their acknowledgement (within the gate; few: their work is CPU)"
    )

    @field_validator("qa_team_names", "moderator_roles", mode="before")
    @classmethod
    def _list_from_text(cls, value: object) -> object:
        """A list setting from the environment: a JSON list, or comma-separated names."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("not a JSON list; give comma-separated names or a JSON list") from None
        return [part.strip() for part in text.split(",") if part.strip()]

    @field_validator("holidays_override_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _defaults_and_pairs(self) -> Settings:
        if not self.data_dir.is_absolute():
            self.data_dir = (BASE_DIR or Path.cwd()) / self.data_dir
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'auditbot.db').as_posix()}"
        tokens = {
            "AUDITBOT_SLACK_BOT_TOKEN": self.slack_bot_token,
            "AUDITBOT_SLACK_SIGNING_SECRET": self.slack_signing_secret,
        }
        given = [k for k, v in tokens.items() if v is not None]
        if given and len(given) != len(tokens) and self.slack_app_token is None:
            missing = sorted(set(tokens) - set(given))
            raise ValueError(f"{', '.join(given)} is set but {', '.join(missing)} is not")
        if self.slack_app_token is not None and self.slack_bot_token is None:
            raise ValueError("AUDITBOT_SLACK_APP_TOKEN is set but AUDITBOT_SLACK_BOT_TOKEN is not (Socket Mode needs both)")
        if self.slack_bot_token is not None and not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
            raise ValueError("AUDITBOT_SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if self.slack_app_token is not None and not self.slack_app_token.get_secret_value().startswith("xapp-"):
            raise ValueError("AUDITBOT_SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        return self

    @property
    def local_mode(self) -> bool:
        """True when no Slack credentials are configured: run against the local workspace."""
        return self.slack_bot_token is None

    @property
    def tz(self) -> ZoneInfo:
        """The council's local time zone."""
        return ZoneInfo(self.timezone)


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"])
            name = f"AUDITBOT_{loc.upper()}" if loc else "settings"
            problems.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
        raise SettingsError("; ".join(problems)) from None
