"""What starting the CLI and a cached ``loopml run`` import: nothing they do not use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = {
    "alembic",
    "numpy",
    "optuna",
    "pandas",
    "pyarrow",
    "ray",
    "skops",
    "sklearn",
}


def _modules_after(code: str, cwd: Path | None = None) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, env=env
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_importing_the_cli_loads_no_store_and_no_command_module() -> None:
    modules = _modules_after("import loopml, loopml.cli")
    assert not _tops(modules) & (HEAVY | {"sqlalchemy", "pydantic"})
    commands = {m for m in modules if m.startswith("loopml.cli.") and m != "loopml.cli._output"}
    assert commands == set()


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    run = "from loopml.cli import main\ntry:\n    main(['db', 'current'])\nexcept SystemExit:\n    pass"
    modules = _modules_after(run, cwd=tmp_path)
    assert "loopml.cli.db" in modules
    assert not {"loopml.cli.data", "loopml.cli.runs", "loopml.cli.run", "loopml.cli.tune"} & modules
    assert not _tops(modules) & HEAVY


def test_a_cached_run_of_plain_values_imports_no_dataframe_library(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text('[pipeline]\nentry = "pipeline:chain"\n')
    (tmp_path / "pipeline.py").write_text(
        "import loopml\n\n\n@loopml.step\ndef start(n: int) -> int:\n    return n\n\n\n"
        "@loopml.step\ndef add(x: int) -> dict:\n    return {'x': x + 1}\n\n\n"
        "@loopml.pipeline\ndef chain(n: int = 1):\n    return add(start(n))\n"
    )
    run = "from loopml.cli import main\ntry:\n    main(['run'])\nexcept SystemExit:\n    pass"
    _modules_after(run, cwd=tmp_path)  # fills the cache (and creates the store)
    modules = _modules_after(run, cwd=tmp_path)
    assert not _tops(modules) & HEAVY
    assert "loopml.tracking._search" not in modules


def test_a_cached_quickstart_run_imports_no_heavy_library(tmp_path: Path) -> None:
    """The quickstart's steps import pandas and scikit-learn in their bodies (its
    ``train`` step: ``from models import make_estimator``, and models.py imports
    scikit-learn): computing their cache keys reads that code, it does not import it."""
    import shutil

    example = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
    root = tmp_path / "quickstart"
    shutil.copytree(example, root, ignore=shutil.ignore_patterns("data", ".loopml", "loopml.lock"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}

    def cli(*args: str) -> None:
        code = f"from loopml.cli import main\nmain({list(args)!r})"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr

    subprocess.run([sys.executable, "prepare.py"], cwd=root, env=env, check=True)
    cli("data", "add", "data/digits.csv", "--name", "digits")
    cli("run")  # fills the cache
    run = "from loopml.cli import main\ntry:\n    main(['run'])\nexcept SystemExit:\n    pass"
    modules = _modules_after(run, cwd=root)
    assert not _tops(modules) & HEAVY
    assert "models" not in modules  # the project module the train step imports
