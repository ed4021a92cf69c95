#!/usr/bin/env python3
"""Fresh-machine entry points: ``python3 dev.py run`` and ``python3 dev.py test``.

Needs nothing but Python 3.11+. Creates ``.venv`` beside this file on first use, installs the
project (editable, with test extras) into it, and reinstalls only when ``pyproject.toml``
changes. Everything after the verb is passed on: ``python3 dev.py test -k outbox``.

``test`` first runs the checks CI refuses on, as configured in ``pyproject.toml``: ``ruff check``
(lint and import order, the whole tree) and ``mypy`` (strict, ``bot/`` and ``store/``); the tests
run only when both pass.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".dev-stamp"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
#: Where the tests look for PostgreSQL unless AUDITBOT_TEST_POSTGRES_URL says otherwise
#: (set it to an empty string to run on SQLite only).
DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py is what an older python3 runs first: it must say so
        sys.exit(f"auditbot needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print(f"dev.py: creating virtualenv in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing auditbot and its dependencies (first run only)", flush=True)
    subprocess.run(
        [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]"],
        check=True,
    )
    STAMP.write_text(wanted)


def _parallel(args: list[str]) -> list[str]:
    """Spread the suite over xdist workers, test by test: two per core, as
    the tests mostly wait on databases and local servers; an idle worker takes tests still queued on a
    busy one (``worksteal``), so a few long simulations do not leave one worker running alone at the end.
    ``-n 0`` (or any ``-n``/``-p no:xdist`` given) decides otherwise."""
    given = any(a in ("-n", "--numprocesses", "no:xdist") or a.startswith(("-n", "--numprocesses=")) for a in args)
    workers = min(8, 2 * (os.cpu_count() or 1))
    return [] if given else ["-n", str(workers), "--dist", "worksteal"]


#: The static checks ``test`` runs before the tests, each configured in pyproject.toml.
CHECKS = (("ruff", "check", "."), ("mypy",))


def _checks() -> int:
    """Run ``CHECKS`` in order with the venv's Python (a missing tool says "No module named ..."); the first
    failure's exit status, or 0."""
    for tool, *args in CHECKS:
        print(f"dev.py: {tool} {' '.join(args)}".rstrip(), flush=True)
        status = subprocess.call([str(PY), "-m", tool, *args], cwd=ROOT)
        if status:
            print(f"dev.py: {tool} found problems (above); the tests did not run", flush=True)
            return status
    return 0


def main(argv: list[str]) -> int:
    """Dispatch ``run`` or ``test``."""
    if not argv or argv[0] not in {"run", "test"}:
        print(__doc__)
        return 2
    _ensure_venv()
    verb, rest = argv[0], argv[1:]
    env = dict(os.environ)
    if verb == "run":
        cmd = [str(BIN / "auditbot"), "run", *rest]
    else:
        if status := _checks():
            return status
        env.setdefault("AUDITBOT_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
        cmd = [str(PY), "-m", "pytest", *_parallel(rest), *rest]
    os.chdir(ROOT)
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
