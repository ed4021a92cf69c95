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
    missing = sorted(path for path in named() if path.startswith(("bot/", "store/", "messages/", "tests/", "bench/"))
                     and not (ROOT / path).is_dir())
    assert missing == []


def test_every_top_level_folder_and_every_package_of_the_bot_is_named() -> None:
    top = {f"{p.name}/" for p in ROOT.iterdir() if p.is_dir() and p.name not in NOT_CODE and not p.name.startswith(".")}
    packages = {f"bot/{p.name}/" for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists()}
    areas = {f"bot/services/{p.name}/" for p in (ROOT / "bot" / "services").iterdir() if (p / "__init__.py").exists()}
    shown = named() | {f"bot/services/{a}" for a in re.findall(r"`([a-z_]+/)`", MAP)}
    assert sorted(top - shown) == [] and sorted(packages - shown) == [] and sorted(areas - shown) == []


def imports(folder: Path) -> dict[str, set[str]]:
    """Each module under ``folder`` and the top-level names of what it imports."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        found[str(path.relative_to(ROOT))] = names
    return found


def test_services_and_the_store_never_import_slack() -> None:
    found = {**imports(ROOT / "bot" / "services"), **imports(ROOT / "store")}
    slack = {module: sorted(n for n in names if n.split(".")[0] in ("slack_sdk", "slack_bolt"))
             for module, names in found.items()}
    assert {m: n for m, n in slack.items() if n} == {}


#: The store modules a handler may call: its shared queries, and the request receipts the edge keeps.
HANDLER_STORE_API = {"store.queries", "store.receipts"}


def _runtime_and_typing_imports(path: Path) -> tuple[set[str], set[str]]:
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


def test_handlers_reach_the_store_only_through_its_queries() -> None:
    """Handlers call services; of the store they may call only ``HANDLER_STORE_API``, and name its models only in
    annotations (a service hands them a person, they hand it on)."""
    wrong = {}
    for path in sorted((ROOT / "bot" / "handlers").rglob("*.py")):
        runtime, typing = _runtime_and_typing_imports(path)
        bad = sorted(n for n in runtime if n.split(".")[0] == "store" and n not in HANDLER_STORE_API)
        bad += sorted(f"{n} (annotations)" for n in typing if n.split(".")[0] == "store" and n != "store.models")
        if bad:
            wrong[str(path.relative_to(ROOT))] = bad
    assert wrong == {}


def test_the_boundary_check_sees_a_handler_reaching_into_the_store(tmp_path: Path) -> None:
    module = tmp_path / "handler.py"
    module.write_text("from typing import TYPE_CHECKING\nfrom store.models import Role\nfrom store.queries import q\n"
                      "if TYPE_CHECKING:\n    from store.models import Person\n    from store.outbox import enqueue\n")
    runtime, typing = _runtime_and_typing_imports(module)
    assert runtime == {"typing", "store.models", "store.queries"} and typing == {"store.models", "store.outbox"}


def test_the_store_imports_nothing_of_the_bot() -> None:
    found = imports(ROOT / "store")
    assert {m: sorted(n for n in names if n.split(".")[0] == "bot") for m, names in found.items()
            if any(n.split(".")[0] == "bot" for n in names)} == {}


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
