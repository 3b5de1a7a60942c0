from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app, main
from loopml.errors import InvalidInput
from loopml.tracking import Run, start_run


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    from loopml.cli import _output

    monkeypatch.setattr(_output.console, "_width", 200)
    monkeypatch.setattr(_output.err_console, "_width", 200)
    return CliRunner()


@pytest.fixture
def two_runs(backend: str) -> tuple[Run, Run]:
    with start_run("iris", run_name="rf-deep", params={"model": "rf", "depth": 8}) as a:
        loopml.log_metrics({"f1": 0.91, "loss": 0.2})
        loopml.set_tag("stage", "prod")
        loopml.log_dict({"x": 1}, "cfg.json")
        with start_run(nested=True, run_name="fold-0"):
            loopml.log_metric("f1", 0.5)
    with start_run("iris", run_name="rf-shallow", params={"model": "rf", "depth": 2}) as b:
        loopml.log_metrics({"f1": 0.72, "loss": 0.2})
    return a, b


def test_list_shows_runs_with_metric_and_param_columns(
    two_runs: tuple[Run, Run], wide: CliRunner
) -> None:
    a, _ = two_runs
    result = wide.invoke(app, ["runs", "list", "--experiment", "iris", "--all"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[0].split()
    assert header[:5] == ["id", "name", "status", "started", "duration"]
    assert {"f1", "loss", "model", "depth", "experiment"} <= set(header)
    assert [line.split()[1] for line in lines[1:4]] == ["rf-shallow", "fold-0", "rf-deep"]
    assert a.id[:8] in result.output and "FINISHED" in result.output and "0.91" in result.output
    top = wide.invoke(app, ["runs", "list", "--experiment", "iris"])
    assert "fold-0" not in top.output and "rf-deep" in top.output  # child runs need --all


def test_list_filters_orders_and_limits(two_runs: tuple[Run, Run], wide: CliRunner) -> None:
    result = wide.invoke(
        app,
        [
            "runs",
            "list",
            "--filter",
            "params.model = 'rf'",
            "--order-by",
            "metrics.f1",
            "--limit",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "rf-" in line]
    assert len(rows) == 1 and "rf-shallow" in rows[0]
    assert "first 1 runs" in result.output
    empty = wide.invoke(app, ["runs", "list", "--filter", "metrics.f1 > 5"])
    assert empty.exit_code == 0 and "No runs found" in empty.output


def test_show_prints_every_section(two_runs: tuple[Run, Run], wide: CliRunner) -> None:
    a, _ = two_runs
    result = wide.invoke(app, ["runs", "show", a.id[:6]])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        a.id,
        "rf-deep",
        "(iris)",
        "FINISHED",
        "params",
        "depth",
        "metrics (latest)",
        "0.91",
        "tags",
        "prod",
        "artifacts",
        "cfg.json",
        "child runs",
        "fold-0",
        "environment",
        "python",
    ):
        assert text in out, text


def test_show_failed_run_prints_the_error(backend: str, wide: CliRunner) -> None:
    with pytest.raises(ValueError), start_run("iris") as run:
        raise ValueError("bad batch")
    result = wide.invoke(app, ["runs", "show", run.id])
    assert result.exit_code == 0
    assert "FAILED" in result.output and "ValueError: bad batch" in result.output


def test_show_diff_prints_the_stored_git_diff(backend: str, project: Path, wide: CliRunner) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@e.x", *args],
            cwd=project,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (project / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-q", "-m", "one")
    (project / "a.py").write_text("x = 2\n")
    with start_run("iris") as run:
        pass
    result = wide.invoke(app, ["runs", "show", run.id, "--diff"])
    assert result.exit_code == 0, result.output
    assert "git dirty" in result.output and "+x = 2" in result.output


def test_compare_highlights_what_differs(two_runs: tuple[Run, Run], wide: CliRunner) -> None:
    a, b = two_runs
    result = wide.invoke(app, ["runs", "compare", a.id[:8], b.id[:8]])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "params.depth" in out and "metrics.f1" in out
    assert "params.model" not in out and "metrics.loss" not in out  # equal: hidden
    full = wide.invoke(app, ["runs", "compare", a.id, b.id, "--all"])
    assert "params.model" in full.output and "metrics.loss" in full.output


def test_compare_needs_two_runs(two_runs: tuple[Run, Run], wide: CliRunner) -> None:
    result = wide.invoke(app, ["runs", "compare", two_runs[0].id])
    assert isinstance(result.exception, InvalidInput)


def test_errors_are_one_line_messages_without_traceback(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with start_run("iris"):
        pass
    for argv, expected in (
        (["runs", "show", "abc"], "malformed run id 'abc'"),
        (["runs", "show", "0123456789"], "no run with id"),
        (["runs", "list", "--filter", "metrics.f1 >"], "invalid filter"),
        (["runs", "list", "-e", "nope"], "no experiment named 'nope'"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err


def test_list_marks_running_runs_whose_process_is_gone(backend: str, wide: CliRunner) -> None:
    from loopml.context import current

    gone = subprocess.Popen(["true"])
    gone.wait()
    run = start_run("iris", run_name="orphan")
    current().metadata.write(
        lambda conn: conn.execute("UPDATE runs SET pid = ? WHERE id = ?", (gone.pid, run.id))
    )
    result = wide.invoke(app, ["runs", "list"])
    assert "RUNNING (process gone)" in result.output
    run.end()


def test_show_lists_the_dataset_versions_a_run_read(
    backend: str, project: Path, wide: CliRunner
) -> None:
    data = project / "d.csv"
    for rows in ("a\n1\n", "a\n1\n2\n"):
        data.write_text(rows)
        loopml.add_dataset(data, "d")
    with start_run("exp") as run:
        run.use_dataset("data:/d")  # the lock pins d@2
        run.use_dataset("d@1")
    result = wide.invoke(app, ["runs", "show", run.id])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = lines.index("datasets read")
    assert [line.strip() for line in lines[at + 1 : at + 3]] == ["data:/d@1", "data:/d@2"]
    with start_run("exp") as quiet:
        pass
    assert "datasets read" not in wide.invoke(app, ["runs", "show", quiet.id]).output
