"""Read-only commands leave no state behind: outside a project they say so, inside one
a database nobody has written yet reads as empty; a first write makes ``.loopml/`` with
its ``.gitignore``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml
from loopml.cli import main
from loopml.errors import NotFound


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder that is no loopml project, as the working directory."""
    folder = tmp_path / "empty"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for var in list(os.environ):
        if var.startswith("LOOPML_"):
            monkeypatch.delenv(var)
    loopml.context.reset()
    yield folder
    loopml.context.reset()


def _fails(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return " ".join(err.split())


READ_ONLY = [
    ["runs", "list"],
    ["runs", "show", "abcdef12"],
    ["data", "list"],
    ["data", "show", "iris"],
    ["data", "log", "iris"],
    ["data", "diff", "iris@1", "iris@2"],
    ["data", "status"],
    ["lineage", "data:/iris@1"],
    ["lineage", "iris@1"],
    ["fsck"],
    ["gc"],
    ["db", "current"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_a_read_only_command_outside_a_project_fails_and_creates_nothing(
    nowhere: Path,
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    err = _fails(args, capsys)
    assert "is not a loopml project (run `loopml init`, or set LOOPML_TRACKING_URI)" in err
    assert list(nowhere.iterdir()) == []


def test_a_tracking_uri_to_a_missing_file_is_not_created_by_a_read(
    nowhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _fails(["runs", "list", "--tracking-uri", "sqlite:///some/new/dir/x.db"], capsys)
    assert f"no metadata database at {nowhere}/some/new/dir/x.db" in err
    assert list(nowhere.iterdir()) == []


def test_the_sdk_raises_not_found_outside_a_project(nowhere: Path) -> None:
    with pytest.raises(NotFound, match="not a loopml project"):
        loopml.search_runs()
    with pytest.raises(NotFound, match="not a loopml project"):
        loopml.list_datasets()
    assert list(nowhere.iterdir()) == []


def test_inside_a_project_an_unwritten_database_reads_as_empty(project: Path) -> None:
    assert loopml.search_runs() == []
    assert loopml.list_datasets() == []
    from typer.testing import CliRunner

    from loopml.cli import app

    result = CliRunner().invoke(app, ["runs", "list"])
    assert result.exit_code == 0 and "No runs found." in result.output
    assert sorted(p.name for p in project.iterdir()) == ["loopml.toml"]


def test_a_first_write_makes_the_state_folder_with_its_gitignore(nowhere: Path) -> None:
    with loopml.start_run(experiment="first") as run:
        run.log_metric("a", 1.0)
    ignore = nowhere / ".loopml" / ".gitignore"
    assert ignore.read_text().splitlines()[-1] == "*"
    assert [r.id for r in loopml.search_runs()] == [run.id]


def test_adding_data_in_a_fresh_folder_ignores_the_state_folder(nowhere: Path) -> None:
    (nowhere / "d.txt").write_text("x\n")
    loopml.add_dataset("d.txt", name="d")
    assert (nowhere / ".loopml" / ".gitignore").read_text().splitlines()[-1] == "*"
