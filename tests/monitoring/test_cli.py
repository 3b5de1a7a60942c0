"""``loopml drift REFERENCE CURRENT``: the table, the verdict, the reports, the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app

runner = CliRunner()


@pytest.fixture
def files(project: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    ref = project / "ref.parquet"
    pd.DataFrame({"x": rng.normal(0, 1, 8000), "c": rng.choice(["a", "b"], 8000)}).to_parquet(ref)
    same = project / "same.csv"
    pd.DataFrame({"x": rng.normal(0, 1, 8000), "c": rng.choice(["a", "b"], 8000)}).to_csv(
        same, index=False
    )
    moved = project / "moved.csv"
    pd.DataFrame({"x": rng.normal(1, 1, 8000), "c": rng.choice(["a", "z"], 8000)}).to_csv(
        moved, index=False
    )
    return ref, same, moved


def test_drift_prints_a_table_and_the_verdict_and_exits_0(files: tuple[Path, Path, Path]) -> None:
    ref, _, moved = files
    result = runner.invoke(
        app, ["drift", str(ref), str(moved), "--html", "r.html", "--json", "r.json"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "column",
        "method",
        "score",
        "threshold",
        "drifted",
        "p-value",
        "missing",
        "change",
    ]
    assert lines[1].split()[:2] == ["x", "wasserstein"] and "drifted" in lines[1]
    assert (
        "c: 5" in result.output
        and "% of rows hold categories the reference lacks: 'z'" in result.output
    )
    assert "dataset drift: 2 of 2 columns drifted" in result.output
    assert "<script" not in Path("r.html").read_text()
    assert json.loads(Path("r.json").read_text())["drifted_columns"] == ["x", "c"]


def test_fail_on_drift_exits_1_only_when_the_dataset_drifted(
    files: tuple[Path, Path, Path],
) -> None:
    ref, same, moved = files
    assert runner.invoke(app, ["drift", str(ref), str(moved), "--fail-on-drift"]).exit_code == 1
    quiet = runner.invoke(app, ["drift", str(ref), str(same), "--fail-on-drift"])
    assert quiet.exit_code == 0 and "no dataset drift: 0 of 2 columns drifted" in quiet.output


def test_dataset_versions_and_only(files: tuple[Path, Path, Path]) -> None:
    ref, _, moved = files
    loopml.add_dataset(ref, "ref")
    result = runner.invoke(app, ["drift", "data:/ref@1", str(moved), "--only", "x"])
    assert result.exit_code == 0, result.output
    assert "1 of 1 columns drifted" in result.output and "\nc " not in result.output


def test_bad_input_is_one_line_without_a_traceback(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from loopml.cli import main

    ref, _, _ = files
    for args, message in (
        (["drift", str(ref), "missing.csv"], "error: no file at 'missing.csv'"),
        (["drift", str(ref), str(ref), "--only", "nope"], "has no column 'nope'"),
    ):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 1
        err = capsys.readouterr().err
        assert message in " ".join(err.split()) and "Traceback" not in err
