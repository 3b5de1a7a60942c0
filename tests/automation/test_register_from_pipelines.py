"""Pipelines produce models: ``loopml run --register`` / ``[model]`` and
``loopml tune --register`` register the model a step returned."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app

pytest.importorskip("sklearn")
pytest.importorskip("skops")

PIPE = """
import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def data(n: int) -> pd.DataFrame:
    xs = [float(i) for i in range(n)]
    return pd.DataFrame({"a": xs, "b": [x % 3 for x in xs], "y": [int(x >= n / 2) for x in xs]})

@loopml.step(name="train")
def fit(frame: pd.DataFrame, c: float) -> LogisticRegression:
    model = LogisticRegression(C=c).fit(frame[["a", "b"]], frame["y"])
    loopml.log_metric("score", -abs(c - 0.5))
    return model

@loopml.step
def report(model: LogisticRegression, frame: pd.DataFrame) -> dict:
    return {"accuracy": float(model.score(frame[["a", "b"]], frame["y"]))}

@loopml.pipeline
def churn(n: int = 30, c: float = 1.0):
    frame = data(n)
    return report(fit(frame, c), frame)
"""

TOML = """
[pipeline]
entry = "churn_pipe:churn"

[tune]
metric = "score"

[tune.space]
c = { low = 0.01, high = 2.0 }
"""


@pytest.fixture
def churn(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (project / "churn_pipe.py").write_text(PIPE)
    (project / "loopml.toml").write_text(TOML)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return project


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A terminal 80 columns wide (``_width`` is what the ``width`` setter sets: patching
    it restores the computed width afterwards, instead of fixing the one it had)."""
    from loopml.cli import _output

    monkeypatch.setattr(_output.console, "_width", 80)
    monkeypatch.setattr(_output.err_console, "_width", 80)
    return CliRunner()


def _reads_at_80(out: str, *tokens: str) -> None:
    """Every line fits in 80 columns, and each of ``tokens`` (a URI, a version, a
    number) stands whole on one line: no word is split across lines."""
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    for token in tokens:
        assert any(token in line for line in lines), (token, out)


def test_run_register_registers_v1_then_an_unchanged_rerun_registers_nothing(
    churn: Path, narrow: CliRunner
) -> None:
    first = narrow.invoke(app, ["run", "--register", "churn"], env={"COLUMNS": "80"})
    assert first.exit_code == 0, first.output
    _reads_at_80(first.stdout, "models:/churn/1", "(version 1)")
    assert "registered models:/churn/1 (version 1) from step train" in first.stdout
    version = loopml.get_model_version("churn", 1)
    model = loopml.load_model("models:/churn/1")
    assert list(model.predict([{"a": 0.0, "b": 0.0}, {"a": 29.0, "b": 2.0}])) == [0, 1]
    assert model.signature is not None and model.signature.names == ["a", "b"]

    # the same bytes again, from the cache and then recomputed: nothing new
    for extra in ([], ["--no-cache"]):
        again = narrow.invoke(app, ["run", "--register", "churn", *extra], env={"COLUMNS": "80"})
        assert again.exit_code == 0, again.output
        _reads_at_80(again.stdout, "(models:/churn/1)", "v1")
        text = " ".join(again.stdout.split())
        assert "model unchanged: churn v1 holds these bytes (models:/churn/1)" in text
        assert "nothing new registered" in text
    assert [v.version for v in loopml.search_model_versions("name = 'churn'")] == [1]

    # other bytes: version 2, from the step's run
    changed = narrow.invoke(app, ["run", "--register", "churn", "-p", "c=0.3"])
    assert changed.exit_code == 0, changed.output
    assert "registered models:/churn/2" in changed.stdout
    v2 = loopml.get_model_version("churn", 2)
    assert v2.run_id != version.run_id
    assert v2.source == f"runs:/{v2.run_id}/model"


def test_model_section_registers_and_promote_moves_the_environment(
    churn: Path, narrow: CliRunner
) -> None:
    (churn / "loopml.toml").write_text(TOML + '\n[model]\nname = "churn"\nstep = "train"\n')
    loopml.context.reset()
    result = narrow.invoke(app, ["run", "--promote", "staging"])
    assert result.exit_code == 0, result.output
    assert "registered models:/churn/1" in result.stdout
    assert "staging -> v1" in " ".join(result.stdout.split())
    assert loopml.get_model_version("churn", alias="staging").version == 1
    (move,) = loopml.model_history("churn", "staging")
    assert move.reason is not None and "step train" in move.reason


def test_a_bad_environment_or_missing_model_fails_first_and_registers_nothing(
    churn: Path, narrow: CliRunner
) -> None:
    bad = narrow.invoke(app, ["run", "--register", "churn", "--promote", "stagin"])
    assert bad.exit_code != 0
    said = str(bad.exception)  # main() prints it as one line
    assert "unknown environment 'stagin'" in said and "staging" in said
    assert loopml.search_runs() == []  # nothing ran

    no_name = narrow.invoke(app, ["run", "--promote", "staging"])
    assert no_name.exit_code != 0
    assert "no model name to register" in str(no_name.exception)

    wrong = narrow.invoke(app, ["run", "--register", "churn"], env={})
    assert wrong.exit_code == 0
    with pytest.raises(loopml.errors.NotFound, match="step 'data' .* returned no model"):
        loopml.automation.register_step_model(
            loopml.search_runs(filter="kind = 'pipeline'")[0].id, "other", step="data"
        )
    assert [m.name for m in loopml.registry.list_models()] == ["churn"]


def test_tune_register_registers_the_best_trials_model(churn: Path, narrow: CliRunner) -> None:
    args = ["tune", "--n-trials", "4", "--seed", "0", "--pruner", "none", "--register", "churn"]
    args += ["--study", "s1"]
    result = narrow.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    _reads_at_80(result.stdout, "models:/churn/1", "(version 1)")
    study = loopml.load_study("s1")
    best = study.best_trial
    version = loopml.get_model_version("churn", 1)
    best_run = loopml.load_pipeline_run(best.run_id or "")
    assert version.source == best_run.step("train").models["output"]
    assert re.search(r"registered models:/churn/1 \(version 1\) from step train", result.stdout)
    # the registered model is the one fitted with the best trial's C
    model = loopml.load_model("models:/churn/1")
    assert pytest.approx(best.params["c"]) == model.native.C


def test_sdk_run_and_register_reports_the_version(churn: Path) -> None:
    done = loopml.run_and_register("churn_pipe:churn", "churn")
    assert done.is_new and done.version.version == 1 and done.step == "train"
    again = loopml.run_and_register("churn_pipe:churn", "churn", cache=False)
    assert not again.is_new and again.version.version == 1
    assert again.run.id != done.run.id
    assert "v1 holds these bytes" in again.message


@pytest.mark.parametrize("name", ["../x", "a/b", "churn@prod", "x" * 300])
def test_a_malformed_model_name_fails_before_the_pipeline_runs(
    churn: Path, narrow: CliRunner, name: str
) -> None:
    for command in (["run", "--register", name], ["tune", "--register", name, "--n-trials", "1"]):
        result = narrow.invoke(app, command)
        assert result.exit_code != 0
        assert "model name" in str(result.exception) and "\n" not in str(result.exception)
        assert loopml.search_runs() == []  # nothing ran
    (churn / "loopml.toml").write_text(TOML + f'\n[model]\nname = "{name}"\n')
    loopml.context.reset()
    with pytest.raises(loopml.errors.InvalidInput, match="model name"):
        loopml.automation.run_and_register()
    assert loopml.search_runs() == []


GATES = """
[gates.staging]
"metrics.accuracy" = "{threshold}"
"metrics.accuracy - champion.metrics.accuracy" = ">= 0"

[gates.staging.options]
data = "data:/holdout"
target = "y"
"""


def _holdout(root: Path) -> None:
    rows = ["a,b,y"] + [f"{float(i)},{i % 3},{int(i >= 15)}" for i in range(30)]
    (root / "holdout.csv").write_text("\n".join(rows) + "\n")
    loopml.add_dataset(root / "holdout.csv", name="holdout")


def test_run_to_promotes_through_the_gates_and_a_refusal_exits_1_but_keeps_the_version(
    churn: Path, narrow: CliRunner
) -> None:
    _holdout(churn)
    (churn / "loopml.toml").write_text(TOML + GATES.format(threshold=">= 0.8"))
    loopml.context.reset()
    first = narrow.invoke(app, ["run", "--register", "churn", "--to", "staging"])
    assert first.exit_code == 0, first.output
    text = " ".join(first.stdout.split())
    assert "registered models:/churn/1" in text
    assert "staging -> v1 (1 of 2 gate checks passed, 1 skipped)" in text
    (promotion,) = loopml.evaluation.list_promotions("churn")
    assert promotion.status == "PROMOTED" and "step train" in str(promotion.reason)

    (churn / "loopml.toml").write_text(TOML + GATES.format(threshold=">= 1.01"))
    loopml.context.reset()
    refused = narrow.invoke(app, ["run", "--register", "churn", "--to", "staging", "-p", "c=0.3"])
    assert refused.exit_code == 1
    error = refused.exception
    assert isinstance(error, loopml.GateFailed)
    assert str(error).startswith("registered models:/churn/2 (version 2) from step train")
    assert "staging refused it (1 failing gate checks)" in str(error)
    assert "metrics.accuracy >= 1.01" in str(error)
    assert "metrics.accuracy" in refused.stdout and "failed" in refused.stdout  # the table
    assert error.registration.version.version == 2
    assert loopml.get_model_version("churn", 2).version == 2  # still registered
    assert loopml.get_model_version("churn", alias="staging").version == 1


def test_tune_to_and_the_old_promote_flag_go_through_the_same_gates(
    churn: Path, narrow: CliRunner
) -> None:
    _holdout(churn)
    (churn / "loopml.toml").write_text(TOML + GATES.format(threshold=">= 1.01"))
    loopml.context.reset()
    args = ["tune", "--n-trials", "2", "--seed", "0", "--pruner", "none", "--register", "churn"]
    result = narrow.invoke(app, [*args, "--to", "staging"])
    assert result.exit_code == 1 and isinstance(result.exception, loopml.GateFailed)
    assert result.exception.registration.study is not None
    assert loopml.get_model_version("churn", 1).version == 1
    old = narrow.invoke(app, ["run", "--register", "churn", "--promote", "staging"])
    assert old.exit_code == 1 and isinstance(old.exception, loopml.GateFailed)
    both = narrow.invoke(app, ["run", "--register", "churn", "--to", "dev", "--promote", "qa"])
    assert "--to 'dev' and --promote 'qa' name two environments" in str(both.exception)
    typo = narrow.invoke(app, ["run", "--register", "churn", "--to", "staging"])
    assert typo.exit_code == 1
    (churn / "loopml.toml").write_text(TOML + GATES.format(threshold=">= x"))
    loopml.context.reset()
    runs = len(loopml.search_runs())
    bad = narrow.invoke(app, ["run", "--register", "churn", "--to", "staging"])
    assert "'x' is not a number" in str(bad.exception)
    assert len(loopml.search_runs()) == runs  # the gates are read before anything runs
    assert [p.status for p in loopml.evaluation.list_promotions("churn")] == ["REFUSED"] * 3
