from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
import loopml.context
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


def test_lineage_cli_prints_only_the_directions_that_have_something(
    backend: str, project: Path
) -> None:
    data_uri, run_id = _dataset_and_run(project)
    result = runner.invoke(app, ["lineage", f"runs:/{run_id}"])
    assert result.exit_code == 0, result.output
    assert "upstream" in result.output and "downstream" not in result.output
    assert "input data:/tiny@1" in result.output and "reader (exp, finished)" in result.output

    result = runner.invoke(app, ["lineage", data_uri])
    assert result.exit_code == 0, result.output
    assert "downstream" in result.output and "upstream" not in result.output
    assert f"input runs:/{run_id}" in result.output


def test_lineage_cli_of_a_node_with_no_edges_says_so(backend: str, project: Path) -> None:
    (project / "d.csv").write_text("a\n1\n")
    ds = loopml.add_dataset(project / "d.csv", name="alone")
    result = runner.invoke(app, ["lineage", ds.uri])
    assert result.exit_code == 0, result.output
    assert "nothing upstream or downstream yet" in result.output
    assert "← upstream" not in result.output and "→ downstream" not in result.output


def test_lineage_cli_reads_the_stores_named_on_the_command_line(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dataset_and_run(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a folder with no project: the options name the stores
    loopml.context.reset()
    result = runner.invoke(
        app,
        [
            "lineage",
            "data:/tiny@1",
            "--tracking-uri",
            f"sqlite:///{project / '.loopml' / 'loopml.db'}",
            "--artifact-uri",
            str(project / ".loopml" / "artifacts"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "input runs:/" in result.output and "reader (exp, finished)" in result.output
    assert not (elsewhere / ".loopml").exists()


def test_lineage_of_unknown_nodes_is_not_found(backend: str, project: Path) -> None:
    with pytest.raises(loopml.NotFound):
        loopml.get_lineage("data:/nope@1")
    with pytest.raises(loopml.NotFound):
        loopml.get_lineage("runs:/" + "ab" * 16)
