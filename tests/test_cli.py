"""Start-up and operator commands as a person would meet them: clear one-line errors, no tracebacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import _register_all, cli
from bot.settings import SettingsError, load_settings
from tests.support import running_workspace

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def commands() -> None:
    if "run" not in cli.commands:
        _register_all()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AUDITBOT_NATION": "wales"}, "AUDITBOT_NATION: Input should be 'england-and-wales', 'scotland' or 'northern-ireland'"),
        ({"AUDITBOT_TIMEZONE": "Europe/Londn"}, "AUDITBOT_TIMEZONE: unknown time zone 'Europe/Londn'"),
        ({"AUDITBOT_SLACK_BOT_TOKEN": "xoxb-1"}, "AUDITBOT_SLACK_BOT_TOKEN is set but AUDITBOT_SLACK_SIGNING_SECRET is not"),
        ({"AUDITBOT_SLACK_BOT_TOKEN": "xoxp-1", "AUDITBOT_SLACK_SIGNING_SECRET": "s"}, "must be a bot token starting with xoxb-"),
        ({"AUDITBOT_MAX_AUDITS_PER_YEAR": "ten"}, "AUDITBOT_MAX_AUDITS_PER_YEAR: Input should be a valid integer"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(env: dict[str, str], expected: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 1
    assert expected in result.output
    assert result.output.startswith("Error: configuration problem: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"AUDITBOT_HOLIDAYS_OVERRIDE_FILE": "missing.json"},
            "AUDITBOT_HOLIDAYS_OVERRIDE_FILE: holidays override file missing.json: file not found",
        ),
        (
            {"AUDITBOT_WORKING_HOURS_START": "18:00"},
            "AUDITBOT_WORKING_HOURS_START (18:00) must be before AUDITBOT_WORKING_HOURS_END (17:30)",
        ),
        (
            {"AUDITBOT_DATABASE_URL": "nonsense"},
            "AUDITBOT_DATABASE_URL: not a database URL (e.g. postgresql+psycopg://auditbot@db/auditbot or sqlite:///data/auditbot.db)",
        ),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["db", "upgrade"], ["tick", "--at", "2026-12-01 09:00"]])
def test_a_bad_calendar_or_database_setting_is_one_line_for_every_command(
    env: dict[str, str], expected: str, command: list[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 1
    assert result.output == f"Error: configuration problem: {expected}\n"
    assert not (tmp_path / "data").exists(), "nothing was started or created"


def test_a_database_url_naming_no_installed_driver_is_one_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"AUDITBOT_DATABASE_URL": "nosuchdb://user:pw@host/db"})
    assert result.exit_code == 1
    assert result.output.startswith("Error: configuration problem: AUDITBOT_DATABASE_URL: cannot open it (NoSuchModuleError")
    assert result.output.count("\n") == 1 and "pw" not in result.output


def test_an_unreachable_database_is_one_line_naming_the_setting(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = "postgresql+psycopg://auditbot:secret@127.0.0.1:1/auditbot?connect_timeout=2"
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"AUDITBOT_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.output.startswith(
        "Error: AUDITBOT_DATABASE_URL: cannot use the database at postgresql+psycopg://auditbot:***@127.0.0.1:1/auditbot"
    )
    assert result.output.count("\n") == 1 and "secret" not in result.output
    outbox = CliRunner().invoke(cli, ["outbox"], env={"AUDITBOT_DATABASE_URL": url})
    assert outbox.exit_code == 1 and outbox.output.startswith("Error: AUDITBOT_DATABASE_URL: cannot use the database")


def test_secrets_never_appear_in_settings_output() -> None:
    settings = load_settings(slack_bot_token="xoxb-very-secret", slack_signing_secret="shh")
    assert "very-secret" not in repr(settings) and "shh" not in str(settings.model_dump())
    with pytest.raises(SettingsError):
        load_settings(port=70000)


def test_the_bot_refuses_an_unmigrated_database_and_names_the_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"AUDITBOT_SLACK_BOT_TOKEN": "xoxb-1", "AUDITBOT_SLACK_SIGNING_SECRET": "s", "AUDITBOT_PORT": "0"}
    db = tmp_path / "data" / "auditbot.db"
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: there is no database at sqlite:///{db.as_posix()}: run `auditbot db upgrade` first "
        "(or set AUDITBOT_DATA_DIR or AUDITBOT_DATABASE_URL to the one you meant)\n"
    )
    assert not (tmp_path / "data").exists(), "looking created nothing"
    db.parent.mkdir()
    db.touch()
    empty = CliRunner().invoke(cli, ["run"], env=env)
    assert empty.output == (f"Error: the database at sqlite:///{db.as_posix()} has no tables yet: "
                            "run `auditbot db upgrade` first\n")

    upgraded = CliRunner().invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0 and "is up to date" in upgraded.output
    assert CliRunner().invoke(cli, ["outbox"], env=env).output == "pending: 0  sending: 0  sent: 0  failed: 0  cancelled: 0\n"


def test_workspace_messages_shows_what_a_person_received() -> None:
    from slack_sdk import WebClient

    with running_workspace() as ws:
        ws.add_user("sam.patel@council.example", "Sam Patel")
        client = WebClient(token="xoxb-local-test", base_url=ws.base_url, retry_handlers=[])
        channel = client.conversations_open(users=ws.user_id("sam.patel@council.example"))["channel"]["id"]
        client.chat_postMessage(
            channel=channel,
            text="fallback",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Case reference*\nCMS-1"}}],
        )
        url = ws.root_url
        result = CliRunner().invoke(cli, ["workspace", "--url", url, "messages", "--user", "sam.patel@council.example"])
        nobody = CliRunner().invoke(cli, ["workspace", "--url", url, "messages", "--user", "nobody@council.example"])
    assert result.exit_code == 0
    assert "*Case reference*\n  CMS-1" in result.output and " in D" in result.output
    assert (nobody.exit_code, nobody.output) == (1, "Error: nobody with that email is in the local workspace\n")
    gone = CliRunner().invoke(cli, ["workspace", "--url", url, "users"])
    assert gone.exit_code == 1 and "is `auditbot run` running?" in gone.output


def test_manifest_scopes_are_exactly_those_the_code_uses() -> None:
    method_scopes = {
        "chat_postMessage": {"chat:write"},
        "chat_update": {"chat:write"},
        "chat_postEphemeral": {"chat:write"},
        "conversations_open": {"im:write"},
        # the outbox's look-up before a retry: DMs, and the safeguarding channel (public or private)
        "conversations_history": {"im:history", "channels:history", "groups:history"},
        "users_info": {"users:read"},
        "users_list": {"users:read", "users:read.email"},  # the directory sync matches people by the emails it lists
        "users_lookupByEmail": {"users:read.email"},
        "files_upload_v2": {"files:write"},  # calendar invites (files.getUploadURLExternal, files.completeUploadExternal)
    }
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py") if "workspace" not in p.parts)
    used = {scope for method, scopes in method_scopes.items() if re.search(rf"\b{method}\b", source) for scope in scopes}
    if "users:read.email" in used:
        used.add("users:read")  # Slack requires users:read alongside users:read.email
    used.add("commands")  # the /audit slash command
    manifest = (ROOT / "app_manifest.yml").read_text()
    declared = set(re.findall(r"^\s+- ([a-z.:]+)\s", manifest.split("bot:", 1)[1].split("settings:", 1)[0], re.M))
    assert declared == used


def test_the_manifest_lists_every_subcommand_and_keeps_the_messages_tab_read_only() -> None:
    from bot.handlers.commands import ROUTES

    manifest = (ROOT / "app_manifest.yml").read_text()
    (hint,) = re.findall(r'^\s+usage_hint: "([^"]+)"$', manifest, re.M)
    assert {part.split()[0] for part in hint.split(" | ")} == set(ROUTES)
    app_home = manifest.split("app_home:", 1)[1].split("slash_commands:", 1)[0]
    assert re.search(r"^\s+messages_tab_read_only_enabled: true$", app_home, re.M)


def test_the_manifest_enables_the_home_tab_and_subscribes_to_exactly_the_events_the_code_handles() -> None:
    manifest = (ROOT / "app_manifest.yml").read_text()
    app_home = manifest.split("app_home:", 1)[1].split("slash_commands:", 1)[0]
    assert re.search(r"^\s+home_tab_enabled: true$", app_home, re.M)
    events = manifest.split("bot_events:", 1)[1].split("interactivity:", 1)[0]
    declared = set(re.findall(r"^\s+- ([a-z_]+)", events, re.M))
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "handlers").rglob("*.py"))
    assert declared == set(re.findall(r'app\.event\("([a-z_]+)"\)', source)) == {"app_home_opened", "user_change", "team_join"}


def test_the_reader_shows_mentions_as_names_and_undoes_slack_escapes() -> None:
    from bot.cli.workspace import readable

    assert readable("• Social worker: <@UABC123> &amp; team &lt;North&gt;", {"UABC123": "Sam Patel"}) == (
        "• Social worker: @Sam Patel & team <North>"
    )


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.output) == (0, f"auditbot {version('auditbot')}\n")


@pytest.mark.parametrize(
    ("value", "names"),
    [("QA Team", ["QA Team"]), ("QA Team, Performance Team ", ["QA Team", "Performance Team"]), ('["A", "B"]', ["A", "B"])],
)
def test_a_list_setting_takes_comma_separated_text_or_json(monkeypatch: pytest.MonkeyPatch, value: str, names: list[str]) -> None:
    monkeypatch.setenv("AUDITBOT_QA_TEAM_NAMES", value)
    assert load_settings().qa_team_names == names


def test_a_bad_list_setting_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["outbox"], env={"AUDITBOT_QA_TEAM_NAMES": "[broken"})
    assert result.exit_code == 1
    assert result.output == (
        "Error: configuration problem: AUDITBOT_QA_TEAM_NAMES: not a JSON list; give comma-separated names or a JSON list\n"
    )


def test_a_relative_data_dir_is_the_checkouts_whatever_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    import bot.settings

    assert Path(__file__).resolve().parent.parent == bot.settings.BASE_DIR, "the checkout the tests run from"
    home, elsewhere = tmp_path / "checkout", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.setattr(bot.settings, "BASE_DIR", home)
    monkeypatch.chdir(elsewhere)
    env = {"AUDITBOT_DATA_DIR": "data"}

    assert CliRunner().invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    outbox = CliRunner().invoke(cli, ["outbox"], env=env)

    assert outbox.output == "pending: 0  sending: 0  sent: 0  failed: 0  cancelled: 0\n"
    assert (home / "data" / "auditbot.db").is_file()
    assert not (elsewhere / "data").exists()
