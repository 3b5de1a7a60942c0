from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app

runner = CliRunner()


def _dataset_and_run(project: Path) -> tuple[str, str]:
    (project / "d.csv").write_text("a,b\n1,2\n3,4\n")
    ds = loopml.add_dataset(project / "d.csv", name="tiny", message="two rows")
    with loopml.start_run(experiment="exp", run_name="reader") as run:
        run.use_dataset("data:/tiny@latest")
    return ds.uri, run.id


def test_lineage_walks_from_data_to_runs_with_labels(backend: str, project: Path) -> None:
    data_uri, run_id = _dataset_and_run(project)
    lin = loopml.get_lineage("data:/tiny@latest")
    assert lin.uri == data_uri == "data:/tiny@1"
    assert [c.uri for c in lin.downstream.children] == [f"runs:/{run_id}"]
    assert lin.labels[f"runs:/{run_id}"] == "reader (exp, finished)"
    assert "two rows" in lin.labels[data_uri]
    up = loopml.get_lineage(f"runs:/{run_id}")
    assert [(c.relation, c.uri) for c in up.upstream.children] == [("input", data_uri)]


def test_lineage_cli_prints_both_directions(backend: str, project: Path) -> None:
    _, run_id = _dataset_and_run(project)
    result = runner.invoke(app, ["lineage", f"runs:/{run_id}"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "upstream" in result.output and "downstream" in result.output
    assert "input data:/tiny@1" in result.output and "reader (exp, finished)" in result.output


def test_lineage_of_unknown_nodes_is_not_found(backend: str, project: Path) -> None:
    with pytest.raises(loopml.NotFound):
        loopml.get_lineage("data:/nope@1")
    with pytest.raises(loopml.NotFound):
        loopml.get_lineage("runs:/" + "ab" * 16)
