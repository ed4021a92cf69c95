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
