"""ARCHITECTURE.md stays true: every top-level folder, every package of ``bot/`` and every service area is named
in its code map (and everything it names exists); and the layers' import boundaries hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
#: Not the code: tools' and machines' own folders.
NOT_CODE = {".git", ".venv", ".ci", "data", "auditbot.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}


def named() -> set[str]:
    """Every folder the map names, as a path ending in ``/``."""
    return set(re.findall(r"`([A-Za-z0-9_./-]+/)`", MAP))


def test_every_folder_the_map_names_exists() -> None:
    assert sorted(path for path in named() if not (ROOT / path).is_dir()) == []


def test_every_top_level_folder_and_every_package_of_the_bot_is_named() -> None:
    top = {f"{p.name}/" for p in ROOT.iterdir() if p.is_dir() and p.name not in NOT_CODE and not p.name.startswith(".")}
    packages = {f"bot/{p.name}/" for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists()}
    areas = {f"bot/services/{p.name}/" for p in (ROOT / "bot" / "services").iterdir() if (p / "__init__.py").exists()}
    shown = named()
    assert sorted(top - shown) == [] and sorted(packages - shown) == [] and sorted(areas - shown) == []


def test_every_file_the_map_names_exists() -> None:
    """Paths to files (``bot/web.py``, ``.ci/run``); bare names (``sender.py``) belong to the folder before them."""
    files = {p for p in re.findall(r"`([A-Za-z0-9_./-]+)`", MAP) if "/" in p and not p.endswith("/") and "." in p}
    assert files and sorted(p for p in files if not (ROOT / p).is_file()) == []


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """The modules ``path`` imports at run time, and those only under ``if TYPE_CHECKING:`` (annotations)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for block in ast.walk(tree)
                   if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
                   for stmt in block.body for n in ast.walk(stmt)}
    runtime: set[str] = set()
    typing: set[str] = set()
    for n in ast.walk(tree):
        names = ([a.name for a in n.names] if isinstance(n, ast.Import)
                 else [n.module] if isinstance(n, ast.ImportFrom) and n.module and n.level == 0 else [])
        (typing if id(n) in typing_only else runtime).update(names)
    return runtime, typing


def _each(folder: Path) -> list[tuple[str, set[str], set[str]]]:
    return [(str(path.relative_to(folder.parent)), *_imports(path)) for path in sorted(folder.rglob("*.py"))]


def _top(name: str) -> str:
    return name.split(".")[0]


#: What talks to Slack, directly or through the modules that do.
SLACK = ("slack_sdk", "slack_bolt")
SLACK_SIDE = ("bot.handlers", "bot.delivery", "bot.web", "bot.workspace", "bot.app", "bot.runtime", "bot.cli")
#: The store modules a handler may call: its shared queries, and the request receipts the edge keeps.
HANDLER_STORE_API = {"store.queries", "store.receipts"}
#: Slack methods that post, edit or upload a message: only the outbox's senders and a request's follow-ups call them.
POSTING = {"chat_postMessage", "chat_postEphemeral", "chat_update", "chat_delete", "chat_scheduleMessage",
           "chat_meMessage", "files_upload", "files_upload_v2"}


def slack_users(folder: Path) -> dict[str, list[str]]:
    """Modules under ``folder`` importing Slack, or the parts of the bot that talk to it."""
    found = {module: sorted(n for n in runtime | typing if _top(n) in SLACK or n.startswith(SLACK_SIDE))
             for module, runtime, typing in _each(folder)}
    return {m: names for m, names in found.items() if names}


def bot_users(folder: Path) -> dict[str, list[str]]:
    """Modules under ``folder`` importing anything of ``bot``."""
    found = {module: sorted(n for n in runtime | typing if _top(n) == "bot") for module, runtime, typing in _each(folder)}
    return {m: names for m, names in found.items() if names}


def store_reaches(folder: Path) -> dict[str, list[str]]:
    """Handlers under ``folder`` calling the store other than through ``HANDLER_STORE_API``, or naming anything
    but its models in annotations."""
    found = {module: sorted(n for n in runtime if _top(n) == "store" and n not in HANDLER_STORE_API)
             + sorted(f"{n} (annotations)" for n in typing if _top(n) == "store" and n != "store.models")
             for module, runtime, typing in _each(folder)}
    return {m: names for m, names in found.items() if names}


def posters(folder: Path) -> dict[str, list[str]]:
    """Modules under ``folder`` naming a ``POSTING`` method (``client.chat_postMessage``, ``"chat.postMessage"``)."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in POSTING}
        names |= {n.value.replace(".", "_") for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and n.value.replace(".", "_") in POSTING}
        if names:
            found[str(path.relative_to(folder.parent))] = sorted(names)
    return found


def test_services_and_the_store_never_reach_slack() -> None:
    assert slack_users(ROOT / "bot" / "services") == {} and slack_users(ROOT / "store") == {}


def test_the_store_imports_nothing_of_the_bot() -> None:
    assert bot_users(ROOT / "store") == {}


def test_handlers_reach_the_store_only_through_its_queries() -> None:
    """Handlers call services; of the store they may call only ``HANDLER_STORE_API``, and name its models only in
    annotations (a service hands them a person, they hand it on)."""
    assert store_reaches(ROOT / "bot" / "handlers") == {}


def test_only_delivery_posts_to_slack() -> None:
    """Outside ``bot/delivery/`` (and ``bot/workspace/``, the local Slack that answers these methods) nothing
    names a method that posts, edits or uploads a message."""
    found = {m: names for folder in sorted((ROOT / "bot").iterdir()) if folder.is_dir()
             and folder.name not in ("delivery", "workspace") for m, names in posters(folder).items()}
    found.update({m: names for m, names in posters(ROOT / "bot").items() if m.count("/") == 1})
    assert found == {}
    assert set(posters(ROOT / "bot" / "delivery")["delivery/sender.py"]) >= {"chat_postMessage", "chat_update"}


def test_each_check_sees_a_planted_violation(tmp_path: Path) -> None:
    """The checks above are not vacuous: each finds what it forbids, in any form of import."""
    plant = tmp_path / "pkg"
    plant.mkdir()
    (plant / "a.py").write_text("import slack_sdk.web as w\nfrom store.models import Role\nfrom store.queries import q\n")
    (plant / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from store.models import Person\n"
                                "    from store.outbox import enqueue\n")
    (plant / "c.py").write_text("def f():\n    from bot.delivery.sender import OutboxSender\n    client.chat_postMessage()\n")
    (plant / "d.py").write_text("CALL = ('chat.update', {})\n")
    assert slack_users(plant) == {"pkg/a.py": ["slack_sdk.web"], "pkg/c.py": ["bot.delivery.sender"]}
    assert bot_users(plant) == {"pkg/c.py": ["bot.delivery.sender"]}
    assert store_reaches(plant) == {"pkg/a.py": ["store.models"], "pkg/b.py": ["store.outbox (annotations)"]}
    assert posters(plant) == {"pkg/c.py": ["chat_postMessage"], "pkg/d.py": ["chat_update"]}


def test_the_changelog_the_package_and_auditbot_version_agree() -> None:
    import tomllib

    from click.testing import CliRunner

    from bot.cli import cli

    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    released = re.findall(r"^## \[([0-9]+\.[0-9]+\.[0-9]+)\] - [0-9]{4}-[0-9]{2}-[0-9]{2}$",
                          (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), flags=re.M)
    said = CliRunner().invoke(cli, ["--version"]).output.strip()
    assert released and released[0] == packaged, "the newest release in CHANGELOG.md is pyproject.toml's version"
    assert said == f"auditbot {packaged}"
