"""The shape of the package, checked: one room for SQL per package, imports that respect
the rows of docs/architecture.md, and a public API that type-checks in user code."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "loopml"

#: the packages and top-level modules, by row (docs/architecture.md)
ROWS = {
    "config": 0,
    "errors": 0,
    "uri": 0,
    "_lazy": 0,
    "_enum": 0,
    "_validate": 0,
    "_files": 0,
    "_user": 0,
    "store": 1,
    "context": 1,
    "lineage": 2,
    "tracking": 2,
    "data": 2,
    "models": 2,
    "pipelines": 3,
    "validation": 3,
    "registry": 3,
    "predictions": 3,
    "evaluation": 4,
    "deployments": 4,
    "monitoring": 4,
    "automation": 5,
    "serving": 5,
    "_client": 5,
    "cli": 6,
}
DRIVERS = {"sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic"}
_SQL = re.compile(
    r"\b(SELECT\s+\S.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b",
    re.IGNORECASE | re.DOTALL,
)


def _modules() -> list[tuple[Path, tuple[str, ...]]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("").parts
        out.append((path, rel))
    return out


def _area(parts: tuple[str, ...] | list[str]) -> str | None:
    if len(parts) < 2 or parts[0] != "loopml":
        return None
    return parts[1] if parts[1] in ROWS else None


def _imports(tree: ast.AST, rel: tuple[str, ...]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(rel[: len(rel) - node.level]) if node.level else []
            root = base + (node.module.split(".") if node.module else [])
            found.append((node.lineno, ".".join(root)))
            found += [(node.lineno, ".".join([*root, a.name])) for a in node.names]
    return found


def _is_sql_room(rel: tuple[str, ...]) -> bool:
    """The store package (domain-free SQL, migrations) and each package's repository."""
    return rel[1] == "store" or rel[-1] == "_repository"


def test_only_repositories_and_the_store_touch_the_database() -> None:
    offenders = []
    for path, rel in _modules():
        if _is_sql_room(rel):
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for line, name in _imports(tree, rel):
            if name.split(".")[0] in DRIVERS:
                offenders.append(f"{path.relative_to(SRC)}:{line} imports {name}")
        for node in ast.walk(tree):
            text_node = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if text_node and _SQL.search(node.value):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} holds SQL")
    assert not offenders, "\n".join(offenders)


def test_imports_follow_the_rows_without_cycles_or_private_reaches() -> None:
    upward, private = [], []
    sideways: dict[tuple[str, str], str] = {}
    for path, rel in _modules():
        here = _area(rel)
        if here is None:
            continue
        for line, name in _imports(ast.parse(path.read_text(encoding="utf-8")), rel):
            parts = name.split(".")
            there = _area(parts)
            if there is None or there == here:
                continue
            where = f"{path.relative_to(SRC)}:{line} {name}"
            if ROWS[there] > ROWS[here]:
                upward.append(where)
            elif ROWS[there] == ROWS[here]:
                sideways.setdefault((here, there), where)
            if len(parts) > 2 and parts[2].startswith("_") and not parts[2].startswith("__"):
                private.append(where)
    cycles = [
        f"{sideways[(a, b)]} <-> {sideways[(b, a)]}"
        for (a, b) in sideways
        if a < b and (b, a) in sideways
    ]
    assert not upward, "imports upward:\n" + "\n".join(upward)
    assert not cycles, "sibling packages import each other:\n" + "\n".join(cycles)
    assert not private, "imports of another package's private module:\n" + "\n".join(private)


def test_only_the_uri_registry_and_lazy_exports_import_by_path() -> None:
    allowed = {("loopml", "_lazy")}
    users = []
    for path, rel in _modules():
        if rel in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if name in ("import_module", "__import__") and node.args:
                    arg = node.args[0]
                    literal = isinstance(arg, ast.Constant) and str(arg.value).startswith("loopml")
                    if literal:
                        users.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not users, "\n".join(users)


USER_SCRIPT = """
import loopml
from loopml import Client, RunStatus


def train(client: Client) -> float:
    with loopml.start_run(experiment="e", params={"lr": 0.1}) as run:
        loopml.log_metric("loss", 0.5, step=1)
        run.set_tag("stage", "dev")
    assert loopml.get_run(run.id).status == RunStatus.FINISHED
    best = loopml.search_runs("metrics.loss < 1", order_by=["metrics.loss"], max_results=1)
    version = client.add_dataset("data.csv", name="d")
    print(version.uri, loopml.lineage.get_lineage(version.uri).labels)
    study: loopml.Study = client.tune(loopml.load_pipeline(), n_trials=2)
    print(study.best_params)
    return best[0].metrics["loss"]


@loopml.step
def double(x: int) -> int:
    return 2 * x


@loopml.pipeline
def chain(n: int = 1) -> None:
    double(n)
"""


@pytest.mark.slow
def test_a_user_script_type_checks_with_mypy_strict(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    bad = tmp_path / "bad.py"
    bad.write_text("import loopml\n\nx: int = loopml.get_run('abcdef')\n")

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [mypy, "--strict", "--no-incremental", str(path)],
            capture_output=True,
            text=True,
            env={"MYPYPATH": str(SRC.parent), "PATH": str(Path(sys.executable).parent)},
            cwd=tmp_path,
        )

    ok = check(script)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    wrong = check(bad)
    assert wrong.returncode == 1 and 'expression has type "Run"' in wrong.stdout, wrong.stdout


def test_the_package_is_marked_typed() -> None:
    assert (SRC / "py.typed").is_file()
