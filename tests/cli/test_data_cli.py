"""``loopml data ...`` through Typer's test runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli import app, main
from loopml.errors import InvalidInput, NotFound

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, ["data", *args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture
def iris(project: Path) -> Path:
    from sklearn.datasets import load_iris

    path = project / "data" / "iris.csv"
    path.parent.mkdir()
    load_iris(as_frame=True).frame.to_csv(path, index=False)
    return path


def test_add_list_and_show(iris: Path) -> None:
    out = _invoke("add", str(iris), "--name", "iris", "-m", "first cut")
    assert "added data:/iris@1" in out and "1 file(s)" in out
    assert "unchanged" in _invoke("add", str(iris), "--name", "iris")

    listing = _invoke("list")
    assert "iris" in listing and "first cut" in listing

    shown = _invoke("show", "iris@1")
    assert "data:/iris@1" in shown
    assert "iris.csv: 150 rows" in shown
    assert "sepal length (cm)" in shown and "5.843" in shown


def test_a_message_on_unchanged_data_is_recorded_or_refused_never_dropped(
    iris: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _invoke("add", str(iris), "--name", "iris")
    out = _invoke("add", str(iris), "--name", "iris", "-m", "the classic")
    assert "unchanged: data:/iris@1 already holds these bytes (message recorded)" in out
    assert "the classic" in _invoke("show", "iris@1")
    with pytest.raises(SystemExit) as exit_:
        main(["data", "add", str(iris), "--name", "iris", "-m", "another story"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "'another story' was not recorded" in err
    assert "the classic" in _invoke("show", "iris@1")


def test_add_without_profile(project: Path) -> None:
    bad = project / "bad.csv"
    bad.write_text('a,b\n1,2\n3,4,5\n"x\n')
    result = runner.invoke(app, ["data", "add", str(bad), "--name", "bad"])
    assert isinstance(result.exception, InvalidInput)
    assert "--no-profile" in str(result.exception)
    assert "added data:/bad@1" in _invoke("add", str(bad), "--name", "bad", "--no-profile")


def test_diff_status_and_checkout(iris: Path) -> None:
    original = iris.read_bytes()
    _invoke("add", str(iris), "--name", "iris")
    with iris.open("a") as fh:
        fh.write("5.0,3.0,1.0,0.2,0\n")
    _invoke("add", str(iris), "--name", "iris")

    diff = _invoke("diff", "iris@1", "data:/iris@2")
    assert "modified  iris.csv" in diff and "rows: 150 → 151 (+1)" in diff

    iris.write_text("broken")
    status = _invoke("status")
    assert "modified" in status and "iris.csv" in status

    out = _invoke("checkout", "iris@1")
    assert "restored 1" in out
    assert iris.read_bytes() == original
    assert "unchanged" in _invoke("status")


def test_push_and_pull_with_a_folder_remote(iris: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    _invoke("add", str(iris), "--name", "iris")
    out = _invoke("push", "--remote", str(remote))
    assert "pushed 2 of 2 object(s)" in out and "1 pack(s)" in out
    out = _invoke("pull", "--remote", str(remote), "iris@1")
    assert "pulled 0 of 2 object(s)" in out


def test_checkout_to_a_folder(iris: Path, project: Path) -> None:
    _invoke("add", str(iris), "--name", "iris")
    out_dir = project / "elsewhere"
    out_dir.mkdir()
    _invoke("checkout", "iris@1", "--to", str(out_dir))
    assert (out_dir / "iris.csv").read_bytes() == iris.read_bytes()


def test_errors_reach_the_user_as_one_line_without_traceback(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = runner.invoke(app, ["data", "show", "nope@2"])
    assert isinstance(result.exception, NotFound)

    with pytest.raises(SystemExit) as exit_info:
        main(["data", "show", "nope@2"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "error:" in err and "no dataset named 'nope'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        (["add", "missing.csv", "--name", "x"], NotFound, "no file or folder at missing.csv"),
        (["add", ".", "--name", "bad name"], InvalidInput, "invalid dataset name"),
        (["show", "data:/x@zero"], InvalidInput, "malformed dataset version"),
        (["push"], InvalidInput, "no data remote given"),
        (["checkout", "--to", "x"], InvalidInput, "--to needs a dataset"),
    ],
)
def test_bad_input_is_a_clear_error(
    project: Path, args: list[str], error: type[Exception], words: str
) -> None:
    result = runner.invoke(app, ["data", *args])
    assert isinstance(result.exception, error)
    assert words in str(result.exception)
