"""``python3 dev.py test`` (the README's test command, and CI's): lint and types first, the tests only when both pass."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py lives at the root, outside the package


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command ``dev.main`` runs (after the venv's python), each exiting 0 but one with "fails" (3); no venv work."""
    ran: list[list[str]] = []

    def call(cmd: list[str], **_: Any) -> int:
        assert cmd[0] == str(dev.PY), "the venv's own Python runs each tool, never one from PATH"
        ran.append(cmd[1:])
        return 3 if "fails" in cmd else 0

    monkeypatch.setattr(dev, "_ensure_venv", lambda: None)
    monkeypatch.setattr(subprocess, "call", call)
    monkeypatch.chdir(ROOT)
    return ran


def test_ruff_and_mypy_run_before_the_tests(calls: list[list[str]]) -> None:
    assert dev.main(["test", "-k", "outbox"]) == 0
    assert calls[:2] == [["-m", "ruff", "check", "."], ["-m", "mypy"]]
    assert calls[2][:3] == ["-m", "pytest", "-n"] and calls[2][-2:] == ["-k", "outbox"]


def test_a_failing_check_stops_the_run_with_its_status(calls: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dev, "CHECKS", (("ruff", "check", "."), ("mypy", "fails")))
    assert dev.main(["test"]) == 3
    assert calls == [["-m", "ruff", "check", "."], ["-m", "mypy", "fails"]], "no pytest after a failed check"


def test_the_checks_are_configured_and_installed_with_the_tests() -> None:
    """What dev.py runs is what pyproject.toml configures and the test extras install (pinned)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = " ".join(project["project"]["optional-dependencies"]["test"])
    assert "ruff==" in extras and "mypy==" in extras
    assert project["tool"]["mypy"]["strict"] is True and project["tool"]["mypy"]["files"] == ["bot", "store"]
    assert {"E", "F", "I"} <= set(project["tool"]["ruff"]["lint"]["select"])
    assert [tool for tool, *_ in dev.CHECKS] == ["ruff", "mypy"]
