"""Hostile text through the everyday commands: names, params, tags and paths chosen by
someone else never drive the terminal, never turn into Rich markup, never become a
spreadsheet formula or a .gitignore pattern, and big numbers keep every digit."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.errors import InvalidInput
from loopml.tracking import search_runs, start_run

ESC_NAME = "evil\x1b[31mRED\x1b[0m\x07\x9b2J"
ESC_PARAM = "\x1b]0;owned\x07x"


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A terminal 80 columns wide (``_width`` is what the ``width`` setter sets: patching
    it restores the computed width afterwards, instead of fixing the one it had)."""
    from loopml.cli import _output

    monkeypatch.setattr(_output.console, "_width", 80)
    monkeypatch.setattr(_output.err_console, "_width", 80)
    return CliRunner()


def _no_controls(text: str) -> None:
    for char in ("\x1b", "\x07", "\x9b", "\r"):
        assert char not in text, repr(text)


def test_control_characters_in_names_params_and_tags_never_reach_the_terminal(
    project: Path, narrow: CliRunner
) -> None:
    with start_run("x", run_name=ESC_NAME, params={"p": ESC_PARAM, "t": "a\tb\nc"}) as run:
        loopml.log_metric("m", math.nan)
        loopml.set_tag("note", "\x1b[5mblink")
    with start_run("x", run_name="plain") as other:
        pass
    for args in (
        ["runs", "list", "-e", "x"],
        ["runs", "list", "-e", "x", "--columns", "name,params.p,params.t"],
        ["runs", "show", run.id],
        ["runs", "compare", run.id, other.id, "--all"],
        ["runs", "list", "-e", "x", "--format", "csv"],
        ["runs", "delete", run.id],
        ["runs", "restore", run.id],
    ):
        result = narrow.invoke(app, args, terminal_width=80)
        assert result.exit_code == 0, (args, result.output)
        _no_controls(result.output)
        assert "\\x1b" in result.output, (args, result.output)
    table = narrow.invoke(app, ["runs", "list", "-e", "x", "--columns", "name,params.t"])
    assert "a\\tb\\nc" in table.output  # one row stays one line
    assert all(cell_len(line) <= 80 for line in table.output.splitlines())


def test_json_escapes_c1_controls_and_keeps_the_value(project: Path, narrow: CliRunner) -> None:
    with start_run("x", run_name=ESC_NAME):
        loopml.log_metric("m", math.inf)
    result = narrow.invoke(app, ["runs", "list", "-e", "x", "--format", "json"])
    assert result.exit_code == 0, result.output
    _no_controls(result.output)
    assert "\\u009b" in result.output
    (row,) = json.loads(result.output)
    assert row["name"] == ESC_NAME and row["metrics.m"] == "inf"


def test_rich_markup_in_names_and_paths_prints_literally(
    project: Path, narrow: CliRunner, tmp_path: Path
) -> None:
    (project / "[bold]b[red].txt").write_text("hello")
    with start_run("x", run_name="a[/]") as run:
        loopml.log_artifact(str(project / "[bold]b[red].txt"))
    deleted = narrow.invoke(app, ["runs", "delete", run.id])
    assert deleted.exit_code == 0, deleted.output
    assert "(a[/])" in deleted.output
    restored = narrow.invoke(app, ["runs", "restore", run.id])
    assert "(a[/])" in restored.output
    out = tmp_path / "out"
    downloaded = narrow.invoke(app, ["artifacts", "download", run.id, "--to", str(out)])
    assert downloaded.exit_code == 0, downloaded.output
    assert "[bold]b[red].txt" in downloaded.output
    renamed = narrow.invoke(app, ["experiments", "rename", "x", "[/]y"])
    assert renamed.exit_code == 0, renamed.output
    assert "'[/]y'" in renamed.output
    listed = narrow.invoke(app, ["experiments", "list"])
    assert "[/]y" in listed.output


def test_csv_neutralises_formulas_but_not_numbers(project: Path, narrow: CliRunner) -> None:
    hostile = {"q": "=cmd|' /C calc'!A0", "at": "@SUM(A1)", "plus": "+1+1", "neg": "-5"}
    with start_run("x", run_name="=HYPERLINK(1)", params={**hostile, "f": -0.5}):
        loopml.log_metric("loss", -1.25)
    result = narrow.invoke(app, ["runs", "list", "-e", "x", "--format", "csv"])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.output))
    assert row["name"] == "'=HYPERLINK(1)"
    assert row["params.q"] == "'=cmd|' /C calc'!A0"
    assert row["params.at"] == "'@SUM(A1)" and row["params.plus"] == "'+1+1"
    assert row["params.neg"] == "-5" and row["params.f"] == "-0.5"
    assert row["metrics.loss"] == "-1.25"
    # JSON is the exact format: no quote added there
    data = json.loads(narrow.invoke(app, ["runs", "list", "-e", "x", "--format", "json"]).output)
    assert data[0]["params.q"] == hostile["q"] and data[0]["name"] == "=HYPERLINK(1)"


def test_json_and_csv_list_every_param_and_metric_and_columns_names_any(
    project: Path, narrow: CliRunner
) -> None:
    params = {f"p{i}": i for i in range(6)}
    with start_run("x", params=params):
        loopml.log_metrics({f"m{i}": float(i) for i in range(6)})
    with start_run("x", params={"p0": 9}):
        pass
    result = narrow.invoke(app, ["runs", "list", "-e", "x", "--format", "json"])
    keys = set(json.loads(result.output)[0])
    assert {f"params.p{i}" for i in range(6)} <= keys  # not only the few a table shows
    assert {f"metrics.m{i}" for i in range(6)} <= keys
    table = narrow.invoke(app, ["runs", "list", "-e", "x", "--columns", "name,params.p5"])
    assert table.exit_code == 0, table.output
    assert table.output.split()[:2] == ["name", "p5"]


def test_params_beyond_64_bits_keep_every_digit(backend: str) -> None:
    big = 2**70
    with start_run("x", params={"big": big, "neg": -(2**64), "many": [big, 1.5]}) as run:
        pass
    params = loopml.get_run(run.id).params
    assert params["big"] == big and type(params["big"]) is int
    assert params["neg"] == -(2**64) and params["many"] == [big, 1.5]
    assert [r.id for r in search_runs("params.big > 1e20", experiment="x")] == [run.id]


@pytest.fixture
def data_project(project: Path, narrow: CliRunner) -> Path:
    (project / "loopml.lock").write_text("")
    return project


def test_gitignore_lines_name_exactly_the_added_path(data_project: Path, narrow: CliRunner) -> None:
    (data_project / ".gitignore").write_text("keep")  # no trailing newline
    names = ["we*ird.csv", "q?.csv", "[ab].csv", "back\\slash.csv", "trail.csv ", "!neg.csv"]
    for i, name in enumerate(names):
        (data_project / name).write_text("a\n1\n")
        result = narrow.invoke(app, ["data", "add", name, "-n", f"d{i}"])
        assert result.exit_code == 0, result.output
    for decoy in ("weXXird.csv", "qz.csv", "a.csv", "neg.csv"):
        (data_project / decoy).write_text("a\n1\n")
    lines = (data_project / ".gitignore").read_text().splitlines()
    assert lines[0] == "keep"
    assert lines[1:] == [
        "/we\\*ird.csv",
        "/q\\?.csv",
        "/\\[ab].csv",
        "/back\\\\slash.csv",
        "/trail.csv\\ ",
        "/!neg.csv",
    ]
    subprocess.run(["git", "init", "-q", str(data_project)], check=True)
    ignored = subprocess.run(
        ["git", "check-ignore", "-z", "--stdin", "--no-index"],
        input="\0".join([*names, "weXXird.csv", "qz.csv", "a.csv", "neg.csv"]) + "\0",
        cwd=data_project,
        capture_output=True,
        text=True,
    ).stdout.split("\0")[:-1]
    assert sorted(ignored) == sorted(names)


def test_a_path_with_a_line_break_is_refused_before_anything_is_stored(
    data_project: Path, narrow: CliRunner
) -> None:
    name = "nl\nname.csv"
    (data_project / name).write_text("a\n1\n")
    with pytest.raises(InvalidInput, match="line break"):
        loopml.add_dataset(name, name="nl")
    assert not (data_project / ".gitignore").exists()
    assert "nl" not in (data_project / "loopml.lock").read_text()
    assert loopml.data.list_datasets() == []


def test_gitignore_folder_is_refused_and_a_linked_one_is_written_through(
    data_project: Path, narrow: CliRunner
) -> None:
    (data_project / "a.csv").write_text("a\n1\n")
    (data_project / ".gitignore").mkdir()
    result = narrow.invoke(app, ["data", "add", "a.csv"])
    assert isinstance(result.exception, InvalidInput)
    assert ".gitignore is not a file" in str(result.exception)
    assert loopml.data.list_datasets() == []
    (data_project / ".gitignore").rmdir()
    (data_project / "shared-ignore").write_text("keep\n")
    (data_project / ".gitignore").symlink_to("shared-ignore")
    result = narrow.invoke(app, ["data", "add", "a.csv"])
    assert result.exit_code == 0, result.output
    assert (data_project / ".gitignore").is_symlink()
    assert (data_project / "shared-ignore").read_text() == "keep\n/a.csv\n"


def test_a_remote_whose_path_holds_glob_characters_is_collected_and_named_literally(
    data_project: Path, narrow: CliRunner, tmp_path: Path
) -> None:
    remote = tmp_path / "remote [x]"
    remote.mkdir()
    (data_project / "a.csv").write_text("a\n1\n")
    (data_project / "b.csv").write_text("b\n2\n")
    for name in ("a.csv", "b.csv"):
        assert narrow.invoke(app, ["data", "add", name]).exit_code == 0
    pushed = narrow.invoke(app, ["data", "push", "--remote", str(remote)])
    assert pushed.exit_code == 0, pushed.output
    assert narrow.invoke(app, ["data", "remove", "b"]).exit_code == 0
    assert narrow.invoke(app, ["gc", "--grace", "0", "--force"]).exit_code == 0  # purges b

    def gc(*extra: str) -> str:
        result = narrow.invoke(app, ["gc", "--remote", str(remote), "--grace", "0", *extra])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    dry = gc()
    assert f"{remote}: would remove 2 objects" in dry  # b's file and its manifest
    assert f"loopml gc --remote '{remote}' --force" in dry  # a hint that works as printed
    assert f"{remote}: removed 2 objects" in gc("--force")
    assert "would remove 0 objects" in gc()
    (data_project / "a.csv").unlink()
    pulled = narrow.invoke(app, ["data", "checkout", "--remote", str(remote)])
    assert pulled.exit_code == 0, pulled.output
    assert (data_project / "a.csv").read_text() == "a\n1\n"
