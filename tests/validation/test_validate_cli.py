"""``loopml data validate`` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.errors import InvalidInput

runner = CliRunner()


@pytest.fixture
def two_versions(iris_csv: Path, iris: pd.DataFrame) -> Path:
    """data:/iris@1 clean; data:/iris@2 with an unseen species and 10% fewer rows."""
    loopml.add_dataset(str(iris_csv), "iris")
    bad = iris.head(135).copy()
    bad.loc[[3, 9], "species"] = "lily"
    bad.to_csv(iris_csv, index=False)
    loopml.add_dataset(str(iris_csv), "iris")
    return iris_csv


def test_failing_version_exits_1_with_summary_and_reports(
    two_versions: Path, tmp_path: Path
) -> None:
    html, out, suite = tmp_path / "r.html", tmp_path / "r.json", tmp_path / "s.yaml"
    result = runner.invoke(
        app,
        [
            "data", "validate", "data:/iris@2", "--reference", "data:/iris@1",
            "--html", str(html), "--json", str(out), "--save-suite", str(suite),
        ],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "'lily'" in result.output and "FAILED: 1 error(s)" in result.output
    assert "stored as validation:/" in result.output
    assert "lily" in html.read_text()
    assert json.loads(out.read_text())["n_failures"] == 1
    assert loopml.validation.Suite.load(suite).checks


def test_passing_version_exits_0(two_versions: Path, tmp_path: Path) -> None:
    suite = tmp_path / "s.json"
    loopml.infer_suite("data:/iris@1").save(suite)
    result = runner.invoke(app, ["data", "validate", "iris@1", "--suite", str(suite)])
    assert result.exit_code == 0, result.output
    assert "passed: 0 error(s)" in result.output


def test_warnings_are_listed_but_exit_0(iris_csv: Path, iris: pd.DataFrame) -> None:
    loopml.add_dataset(str(iris_csv), "iris")
    iris.head(40).to_csv(iris_csv, index=False)
    loopml.add_dataset(str(iris_csv), "iris")
    result = runner.invoke(app, ["data", "validate", "data:/iris@2", "--reference", "data:/iris@1"])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "1 warning(s)" in result.output


def test_neither_suite_nor_reference_is_a_clear_error(two_versions: Path) -> None:
    result = runner.invoke(app, ["data", "validate", "data:/iris@2"])
    assert result.exit_code == 1
    assert isinstance(result.exception, InvalidInput)
    assert "--suite" in str(result.exception) and "--reference" in str(result.exception)
