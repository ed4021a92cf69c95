"""Mutation score of the rules that guard delivery and authority.

Each mutant is one small change to one module — a comparison flipped at its boundary or
negated, ``and``/``or`` swapped, an integer constant moved by one, ``True``/``False`` swapped,
a ``not`` dropped, a returned value dropped — and is *killed* when that module's tests fail
(or hang) against it. The score is killed ÷ (mutants − known-equivalent mutants), printed per
module beside its floor of 90%.

Run: ``.venv/bin/python bench/mutation.py [--module calendar] [--jobs 2] [--show-survivors]``.
Mutants run on SQLite, and the claim rules' also on PostgreSQL (their locking differs), in
throwaway copies of the tree, so the working tree is never touched. A full run takes several
minutes on two cores.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = 0.90

#: Modules whose rules differ by database (row locks, SKIP LOCKED): their mutants also run on
#: PostgreSQL when ``AUDITBOT_TEST_POSTGRES_URL`` (or --postgres) names one.
BOTH_BACKENDS = frozenset({"claims"})

#: module under test -> the tests that cover it (fastest first: a run stops at the first failure)
TARGETS: dict[str, tuple[str, ...]] = {
    "claims": ("bot/delivery/claims.py", "tests/test_claims.py", "tests/test_outbox.py"),
    "authz": ("bot/services/authz.py", "tests/test_authz.py"),
    "calendar": ("bot/calendar.py", "tests/test_calendar.py"),
    "allocation_rules": ("bot/services/allocation/rules.py", "tests/test_allocation_rules.py", "tests/test_allocation.py"),
}

#: Mutants no test can kill because the program means the same with them, keyed by module, the
#: mutated line (stripped) and the mutation, with the reason.
EQUIVALENT: dict[tuple[str, str, str], str] = {
    ("calendar", "while high - low > dt.timedelta(seconds=1):", "> -> >="):
        "the bisection stops one step later at most; the result is rounded to the whole second either way",
    ("calendar", "while high - low > dt.timedelta(seconds=1):", "1 -> 2"):
        "changes happen on whole seconds and the answer is truncated to the second: a 2 s window still ends on it",
    ("calendar", "middle = low + (high - low) // 2", "2 -> 3"):
        "splitting at a third instead of a half still narrows onto the same change, a few steps later",
    ("calendar", "step = _ONE_DAY if n > 0 else -_ONE_DAY", "> -> >="):
        "n == 0 has already returned two lines above",
    ("calendar", "step = _ONE_DAY if n > 0 else -_ONE_DAY", "0 -> -1"):
        "n == 0 has already returned, so n > -1 and n > 0 agree on every n that reaches here",
    ("calendar", "if not (self.is_working_day(day) and local.time() < start):", "< -> <="):
        "a working day at exactly the start is in working hours and has already returned above",
    ("allocation_rules", "load = chosen[0]", "0 -> -1"):
        "this branch has exactly one load: its first is its last",
    ("allocation_rules",
     'head = "no eligible auditor" if needed == 1 or eligible == 0 else f"only {eligible} eligible auditor for a pair"',
     "1 -> 0"):
        "callers ask why only when fewer than needed are eligible: needing one, that is none, which the second test covers",
}

_COMPARE_SWAPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE,),
    ast.LtE: (ast.Lt,),
    ast.Gt: (ast.GtE,),
    ast.GtE: (ast.Gt,),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in",
           ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.And: "and", ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    """One change: the ``site``-th mutable node in walk order, changed the ``variant``-th way."""

    module: str
    site: int
    variant: int
    line: int
    source_line: str
    description: str

    @property
    def equivalent_reason(self) -> str | None:
        return EQUIVALENT.get((self.module, self.source_line, self.description))


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """Nodes not worth mutating: annotations, decorators, asserts, log calls."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.arg):
            mark(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
            for decorator in node.decorator_list:
                mark(decorator)
        elif isinstance(node, ast.ClassDef):
            for decorator in node.decorator_list:
                mark(decorator)
        elif isinstance(node, ast.Assert) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Name) and node.func.value.id == "log"):
            mark(node)
    return skip


def _variants(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """The mutated copies of ``node`` (each with its description)."""
    out: list[tuple[str, ast.AST]] = []
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            for swap in _COMPARE_SWAPS.get(type(op), ()):
                new = copy.deepcopy(node)
                new.ops[index] = swap()
                out.append((f"{_SYMBOL[type(op)]} -> {_SYMBOL[swap]}", new))
    elif isinstance(node, ast.BoolOp):
        new = copy.deepcopy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        out.append((f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[type(new.op)]}", new))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        out.append((f"{node.value} -> {not node.value}", ast.Constant(not node.value)))
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):
        out.append((f"{node.value} -> {node.value + 1}", ast.Constant(node.value + 1)))
        out.append((f"{node.value} -> {node.value - 1}", ast.Constant(node.value - 1)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("not x -> x", copy.deepcopy(node.operand)))
    elif isinstance(node, ast.Return) and node.value is not None and not (
        isinstance(node.value, ast.Constant) and node.value.value is None
    ):
        out.append(("return x -> return None", ast.Return(value=ast.Constant(None))))
    return out


def _sites(tree: ast.AST) -> Iterator[ast.AST]:
    skip = _skipped_nodes(tree)
    for node in ast.walk(tree):
        if id(node) not in skip and _variants(node):
            yield node


def mutants(module: str) -> list[Mutant]:
    """Every mutant of ``module``, in a stable order."""
    path = ROOT / TARGETS[module][0]
    source = path.read_text()
    lines = source.splitlines()
    found: list[Mutant] = []
    for site, node in enumerate(_sites(ast.parse(source))):
        line = getattr(node, "lineno", 0)
        for variant, (description, _) in enumerate(_variants(node)):
            found.append(Mutant(module, site, variant, line, lines[line - 1].strip() if line else "", description))
    return found


class _Apply(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST) -> None:
        self.target, self.replacement = target, replacement

    def visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return ast.copy_location(self.replacement, node)
        return super().visit(node)


def mutated_source(mutant: Mutant) -> str:
    """The module's source with ``mutant`` applied."""
    tree = ast.parse((ROOT / TARGETS[mutant.module][0]).read_text())
    node = list(_sites(tree))[mutant.site]
    _, replacement = _variants(node)[mutant.variant]
    new = _Apply(node, replacement).visit(tree)
    return ast.unparse(ast.fix_missing_locations(new))


def _copy_tree(into: Path) -> None:
    for name in ("bot", "store", "messages", "tests", "examples"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, into / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")


def _run_tests(tree: Path, tests: tuple[str, ...], timeout: float, postgres: str) -> str:
    """'passed', 'failed' or 'timeout' for ``tests`` run in ``tree`` (on PostgreSQL too if ``postgres``)."""
    env = {**os.environ, "AUDITBOT_TEST_POSTGRES_URL": postgres, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CI", None)  # CI=true makes a missing PostgreSQL an error
    only = [] if postgres else ["-k", "not postgresql"]
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *only, *tests]
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        return "timeout"
    return "passed" if code == 0 else "failed"


def run_module(module: str, jobs: int, postgres: str) -> tuple[list[Mutant], list[Mutant], list[Mutant]]:
    """Run every mutant of ``module``; returns (killed, survived, equivalent)."""
    target, *tests = TARGETS[module]
    postgres = postgres if module in BOTH_BACKENDS else ""
    all_mutants = mutants(module)
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        trees = [Path(tmp) / f"tree{n}" for n in range(jobs)]
        for tree in trees:
            _copy_tree(tree)
        started = time.monotonic()
        if _run_tests(trees[0], tuple(tests), 600, postgres) != "passed":
            raise SystemExit(f"{module}: the tests fail on the unmutated code; fix them first")
        budget = max(30.0, 4 * (time.monotonic() - started))
        free = list(trees)

        def one(mutant: Mutant) -> tuple[Mutant, str]:
            tree = free.pop()
            try:
                (tree / target).write_text(mutated_source(mutant))
                return mutant, _run_tests(tree, tuple(tests), budget, postgres)
            finally:
                shutil.copy2(ROOT / target, tree / target)
                free.append(tree)

        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(one, all_mutants))
    killed = [m for m, r in results if r != "passed"]
    survived = [m for m, r in results if r == "passed" and m.equivalent_reason is None]
    equivalent = [m for m, r in results if r == "passed" and m.equivalent_reason is not None]
    return killed, survived, equivalent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", choices=sorted(TARGETS), action="append", help="only these modules (repeatable)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--show-survivors", action="store_true", help="list each surviving mutant")
    parser.add_argument("--list", action="store_true", help="list the mutants without running them")
    parser.add_argument("--postgres", default=os.environ.get("AUDITBOT_TEST_POSTGRES_URL", ""), metavar="URL",
                        help="PostgreSQL for the modules whose rules differ by database (default: $AUDITBOT_TEST_POSTGRES_URL)")
    args = parser.parse_args()
    modules = args.module or list(TARGETS)
    below = False
    for module in modules:
        if args.list:
            for m in mutants(module):
                print(f"{TARGETS[module][0]}:{m.line}: {m.description}: {m.source_line}")
            continue
        started = time.monotonic()
        killed, survived, equivalent = run_module(module, max(1, args.jobs), args.postgres)
        catchable = len(killed) + len(survived)
        score = len(killed) / catchable if catchable else 1.0
        below |= score < FLOOR
        print(
            f"{module:17} {TARGETS[module][0]:34} mutants {catchable + len(equivalent):4}  equivalent {len(equivalent):3}  "
            f"killed {len(killed):4}  score {score:6.1%}  floor {FLOOR:.0%}  ratio {score / FLOOR:.2f}  "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        if module in BOTH_BACKENDS and not args.postgres:
            print("    (SQLite only: the PostgreSQL branch's mutants cannot be caught; give --postgres URL)")
        if args.show_survivors:
            for m in survived:
                print(f"    survived  {TARGETS[module][0]}:{m.line}: {m.description}: {m.source_line}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
