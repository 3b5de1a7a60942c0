"""examples/quickstart works as its README says, in a fresh copy, through the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tests.conftest import _reset_loopml

import loopml

pytestmark = pytest.mark.slow

pytest.importorskip("sklearn")
pytest.importorskip("skops")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "quickstart"
BIN = Path(sys.executable).parent
STEPS = ["load", "validate", "split", "train", "evaluate"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "400"
    return env


def _sh(root: Path, *args: str) -> str:
    result = subprocess.run(args, cwd=root, env=_env(), capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example with its data written and versioned (done once)."""
    root = tmp_path_factory.mktemp("example") / "quickstart"
    shutil.copytree(
        EXAMPLE,
        root,
        ignore=shutil.ignore_patterns("data", ".loopml", "loopml.lock", "__pycache__"),
    )
    assert "1797 rows" in _sh(root, sys.executable, "prepare.py")
    assert "data:/digits@1" in _sh(root, "loopml", "data", "add", "data/digits.csv", "-n", "digits")
    return root


@pytest.fixture
def quickstart(prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh copy of the prepared example, as the working directory, loopml reset."""
    root = tmp_path / "quickstart"
    shutil.copytree(prepared, root)
    for var in [v for v in os.environ if v.startswith("LOOPML_")]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(root)
    _reset_loopml()
    yield root
    _reset_loopml()


def _pipeline_runs() -> list[loopml.PipelineRun]:
    found = loopml.search_runs("kind = 'pipeline'", order_by=["start_time"])
    return [loopml.load_pipeline_run(r.id) for r in found]


def test_quickstart_runs_every_step_then_takes_them_all_from_the_cache(quickstart: Path) -> None:
    out = _sh(quickstart, "loopml", "run")
    assert "FINISHED" in out and "5 steps, 0 from the cache" in out

    (first,) = _pipeline_runs()
    assert first.status == "FINISHED"
    assert [(s.name, s.status, s.cached) for s in first.steps] == [
        (name, "FINISHED", False) for name in STEPS
    ]
    train_df, test_df = first.step("split").outputs["train"], first.step("split").outputs["test"]
    assert len(train_df) + len(test_df) == 1797
    metrics = first.step("evaluate").output
    assert metrics["test_accuracy"] > 0.9 and metrics["test_f1"] > 0.9
    train_run = first.step("train").run_id
    assert train_run is not None
    history = loopml.get_metric_history(train_run, "val_accuracy")
    assert [m.step for m in history] == [1, 2, 3, 4]
    evaluate_run = loopml.get_run(first.step("evaluate").run_id or "")
    assert evaluate_run.metrics["test_accuracy"] == metrics["test_accuracy"]

    out = _sh(quickstart, "loopml", "run")
    assert "5 steps, 5 from the cache" in out
    second = _pipeline_runs()[-1]
    assert [(s.name, s.cached) for s in second.steps] == [(name, True) for name in STEPS]
    assert second.step("evaluate").output == metrics
    assert "model unchanged: digits v1 holds these bytes" in out

    out = _sh(quickstart, "loopml", "run", "-p", "model.max_depth=12", "--explain")
    assert "split: hit" in out and "train: miss: params changed: model" in out


def test_quickstart_registers_its_model_and_promotes_it_to_staging(quickstart: Path) -> None:
    out = _sh(quickstart, "loopml", "run")
    assert "registered models:/digits/1 (version 1) from step train" in out
    (run,) = _pipeline_runs()
    version = loopml.get_model_version("digits", 1)
    assert version.source == f"runs:/{run.step('train').run_id}/model"

    out = _sh(quickstart, "loopml", "models", "promote", "digits/1", "--to", "staging")
    assert "staging of digits: nothing → v1 (PROMOTED: 2 of 3 checks passed, 1 skipped)" in out
    assert "skipped" in out  # no champion yet: the comparison with it is skipped
    model = loopml.load_model("models:/digits@staging")
    assert model.version == 1 and model.flavor == "sklearn"
    assert model.signature is not None and len(model.signature.names) == 64
    test = run.step("split").outputs["test"]
    predicted = model.predict(test.drop(columns="target").head(20))
    assert (predicted == test["target"].head(20).to_numpy()).mean() > 0.8


def test_quickstart_gates_refuse_a_weak_model_and_keep_it_registered(quickstart: Path) -> None:
    _sh(quickstart, "loopml", "run", "--to", "staging")
    weak = ["-p", "model.max_depth=2", "-p", "model.n_estimators=20"]
    result = subprocess.run(
        ["loopml", "run", *weak, "--to", "staging"],
        cwd=quickstart,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    error = " ".join(result.stderr.split())
    assert error.startswith("error: registered models:/digits/2 (version 2) from step train")
    assert "metrics.accuracy >= 0.9" in error
    assert "metrics.f1 - champion.metrics.f1 >= -0.01" in error
    assert "Traceback" not in result.stderr
    assert result.stdout.count("failed") >= 2  # the checks table
    assert loopml.get_model_version("digits", 2).version == 2  # kept registered
    assert loopml.get_model_version("digits", alias="staging").version == 1
    statuses = [p.status for p in loopml.evaluation.list_promotions("digits")]
    assert statuses == ["REFUSED", "PROMOTED"]
    out = _sh(quickstart, "loopml", "models", "history", "digits")
    assert "REFUSED" in out and "PROMOTED" in out


def test_quickstart_tunes_and_writes_the_best_params(quickstart: Path) -> None:
    out = _sh(
        quickstart,
        "loopml",
        "tune",
        "--n-trials",
        "2",
        "--executor",
        "local",
        "--write-best",
        "params.yaml",
    )
    assert "val_accuracy" in out

    runs = _pipeline_runs()
    assert len(runs) == 2
    assert all(r.status == "FINISHED" for r in runs)
    best = yaml.safe_load((quickstart / "params.yaml").read_text())
    assert best["model"]["estimator"] in ("random_forest", "extra_trees", "logistic_regression")
    assert any(
        r.params["model.estimator"] == best["model"]["estimator"]
        and loopml.get_metric_history(r.step("train").run_id or "", "val_accuracy")
        for r in runs
    )


def test_quickstart_goes_back_in_data_when_going_back_in_git(quickstart: Path) -> None:
    out = _sh(quickstart, "loopml", "run")
    assert "note:" not in out  # the lock pins the only version
    first = _pipeline_runs()[-1]
    assert first.params["dataset"] == "data:/digits@1"
    old_lock = (quickstart / "loopml.lock").read_bytes()  # "the old commit"

    csv = quickstart / "data" / "digits.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:1701]))  # a new version: the first 1,700 rows
    assert "data:/digits@2" in _sh(quickstart, "loopml", "data", "add", str(csv), "-n", "digits")
    _sh(quickstart, "loopml", "run")
    second = _pipeline_runs()[-1]
    assert second.params["dataset"] == "data:/digits@2"
    split = second.step("split")
    assert len(split.outputs["train"]) + len(split.outputs["test"]) == 1700

    (quickstart / "loopml.lock").write_bytes(old_lock)  # git checkout <old commit>
    _sh(quickstart, "loopml", "data", "checkout")
    assert len(csv.read_text().splitlines()) == 1798
    out = _sh(quickstart, "loopml", "run")
    assert "note: data:/digits means data:/digits@1, the version loopml.lock pins" in out
    assert "5 steps, 5 from the cache" in out  # the data of the old commit, as it ran then
    third = _pipeline_runs()[-1]
    assert third.params["dataset"] == "data:/digits@1"
    assert loopml.tracking.datasets_read(third.id) == ["data:/digits@1"]
    assert third.step("evaluate").output == first.step("evaluate").output
