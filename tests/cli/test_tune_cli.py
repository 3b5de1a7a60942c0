"""``loopml run`` and ``loopml tune`` on the command line: the experiment their runs go
in, the stores they use, and a final table of trials that reads at 80 columns."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app

PIPE = """
import loopml

@loopml.step
def fit(model: dict) -> float:
    score = -(model["learning_rate"] - 0.3) ** 2 - (0.0 if model["kind"] == "good" else 0.5)
    loopml.log_metric("validation_score", score)
    return score

@loopml.pipeline
def quad(model: dict = {"learning_rate": 0.1, "kind": "good", "depth": 1}):
    return fit(model)
"""

TOML = """
[pipeline]
entry = "quad_pipe:quad"

[tune]
metric = "validation_score"

[tune.space]
"model.learning_rate" = { low = 0.00001, high = 1.0, log = true }
"model.kind" = { choices = ["good", "bad"] }
"model.depth" = { low = 1, high = 8 }
"""

NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[-+]\d+)?$")


@pytest.fixture
def quad(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (project / "quad_pipe.py").write_text(PIPE)
    (project / "loopml.toml").write_text(TOML)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return project


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A terminal 80 columns wide."""
    from loopml.cli import _output

    monkeypatch.setattr(_output.console, "_width", 80)
    monkeypatch.setattr(_output.err_console, "_width", 80)
    return CliRunner()


def test_tune_table_reads_at_80_columns(quad: Path, narrow: CliRunner) -> None:
    args = ["tune", "--n-trials", "7", "--seed", "0", "--pruner", "none", "-e", "search"]
    result = narrow.invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80, out
    header = lines[0].split()
    # short, unique headers for the dotted parameters; the metric and trial never dropped
    assert header[:2] == ["trial", "validation_score"]
    assert {"learning_rate", "kind", "depth"} <= set(header)
    rows = [line.split() for line in lines[1:6]]
    assert len(rows) == 5 and all(len(r) >= 5 for r in rows)
    for row in rows:
        assert row[0].isdigit() and NUMBER.match(row[1]), row  # numbers shown whole
        assert row[header.index("kind")] in ("good", "bad")
    values = [float(r[1]) for r in rows]
    assert values == sorted(values, reverse=True)  # best first: maximize
    assert "…" not in out
    assert "(the best 5 of 7 complete trials; --top N shows more)" in out
    assert re.search(r"best trial \d+: validation_score = -?[\d.e-]+ \(maximize\)", out)
    assert "trials" in result.stderr and "7/7" in result.stderr  # the progress bar

    runs = loopml.search_runs(experiment="search")
    kinds = sorted({r.kind for r in runs})
    assert "tuning" in kinds and "pipeline" in kinds  # the tuning run and its trials


def test_tune_json_lists_every_trial_and_stdout_holds_only_the_json(
    quad: Path, narrow: CliRunner
) -> None:
    result = narrow.invoke(
        app, ["tune", "--n-trials", "3", "--seed", "1", "--format", "json", "--top", "1"]
    )
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)
    assert len(trials) == 3  # --top shapes the table only
    assert set(trials[0]) == {
        "trial",
        "value",
        "params.model.learning_rate",
        "params.model.kind",
        "params.model.depth",
        "run",
        "duration",
        "state",
    }
    assert all(t["state"] == "COMPLETE" and len(t["run"]) == 32 for t in trials)
    assert trials[0]["value"] >= trials[1]["value"] >= trials[2]["value"]
    assert "best trial" in result.stderr

    csv_out = narrow.invoke(
        app, ["tune", "--n-trials", "1", "--format", "csv", "--columns", "trial,value"]
    )
    assert csv_out.exit_code == 0, csv_out.output
    assert csv_out.stdout.splitlines()[0] == "trial,value"


def test_tune_columns_naming_no_column_is_one_line_error(quad: Path, narrow: CliRunner) -> None:
    result = narrow.invoke(app, ["tune", "--n-trials", "1", "--columns", "trial,nope"])
    assert result.exit_code != 0
    assert isinstance(result.exception, loopml.InvalidInput)
    assert "no column 'nope'" in str(result.exception) and "params.model.kind" in str(
        result.exception
    )


def test_run_puts_its_pipeline_run_in_the_experiment(quad: Path, narrow: CliRunner) -> None:
    result = narrow.invoke(app, ["run", "-e", "nightly", "-p", "model.kind=bad"])
    assert result.exit_code == 0, result.output
    (run,) = loopml.search_runs("name = 'quad'", experiment="nightly")
    assert run.params["model.kind"] == "bad"
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_run_writes_to_the_stores_named_on_the_command_line(
    quad: Path, narrow: CliRunner, tmp_path: Path
) -> None:
    db, objects = tmp_path / "other" / "meta.db", tmp_path / "other" / "objects"
    result = narrow.invoke(
        app, ["run", "--tracking-uri", f"sqlite:///{db}", "--artifact-uri", str(objects)]
    )
    assert result.exit_code == 0, result.output
    assert db.is_file() and any(objects.iterdir())
    assert not (quad / ".loopml" / "loopml.db").exists()
