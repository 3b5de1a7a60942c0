"""``loopml runs delete|restore|metrics``, ``loopml experiments`` and ``loopml artifacts``,
and every table read at 80 columns: no word split across lines, no number cut."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app, main
from loopml.cli.runs import sparkline
from loopml.tracking import Run, get_run, search_runs, start_run


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    from loopml.cli import _output

    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(_output.console, "_width", 80)
    monkeypatch.setattr(_output.err_console, "_width", 80)
    return CliRunner()


def _invoke(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    for line in result.output.splitlines() if "--format" not in args else []:
        if not line.startswith("("):  # notes under a table are one paragraph
            assert len(line.rstrip()) <= 80, line
    assert "0…" not in result.output and "…%" not in result.output
    return result.output


def _words_whole(output: str, words: list[str]) -> None:
    for word in words:
        assert re.search(rf"(^|\s){re.escape(word)}(\s|$)", output, re.M), word


@pytest.fixture
def sweep(backend: str, project: Path) -> list[Run]:
    runs = []
    for depth in (2, 4, 8):
        params = {"max_depth": depth, "model": {"name": "random_forest", "lr": 0.01 * depth}}
        with start_run("iris", run_name=f"depth-{depth}", params=params) as run:
            for step in range(12):
                loopml.log_metric("loss", 1 / (step + 1) + depth / 1000)
            loopml.log_metrics({"f1": 0.812345 + depth / 100, "accuracy_on_validation": 0.9})
            loopml.log_dict({"depth": depth}, "cfg/params.json")
            with start_run(nested=True, run_name="fold-0", kind="step"):
                pass
        runs.append(run)
    return runs


def test_runs_list_at_80_columns_keeps_words_and_numbers_whole(
    sweep: list[Run], narrow: CliRunner
) -> None:
    out = _invoke(narrow, "runs", "list", "--order-by", "metrics.f1 DESC")
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["id", "name", "status", "started", "duration"]
    assert "f1" in lines[0].split()  # the sort key's metric is shown
    assert [line.split()[1] for line in lines[1:4]] == ["depth-8", "depth-4", "depth-2"]
    _words_whole(out, ["0.8923", "0.8523", "0.8323", "FINISHED", sweep[0].id[:8]])
    assert "fold-0" not in out


def test_runs_list_json_and_csv_give_full_ids_and_raw_values(
    sweep: list[Run], narrow: CliRunner
) -> None:
    data = json.loads(_invoke(narrow, "runs", "list", "--format", "json", "--all"))
    assert len(data) == 6 and {r.id for r in sweep} <= {row["id"] for row in data}
    top = {row["id"]: row for row in data}[sweep[1].id]
    assert top["params.max_depth"] == 4 and top["metrics.f1"] == pytest.approx(0.852345)
    assert top["status"] == "FINISHED" and top["started"].endswith("+00:00")
    csv = _invoke(narrow, "runs", "list", "--format", "csv", "--columns", "id,params.max_depth")
    assert csv.splitlines()[0] == "id,params.max_depth"
    assert f"{sweep[2].id},8" in csv.splitlines()


def test_runs_compare_at_80_columns(sweep: list[Run], narrow: CliRunner) -> None:
    out = _invoke(narrow, "runs", "compare", *(r.id[:8] for r in sweep))
    _words_whole(out, ["params.max_depth", "metrics.f1", "0.8323", "0.8923", "depth-2"])
    assert "metrics.accuracy_on_validation" not in out  # equal everywhere: hidden
    assert "accuracy_on_validation" in _invoke(
        narrow, "runs", "compare", sweep[0].id, sweep[1].id, "--all"
    )
    data = json.loads(
        _invoke(narrow, "runs", "compare", sweep[0].id, sweep[1].id, "--format", "json")
    )
    depth = next(row for row in data if row["key"] == "params.max_depth")
    assert depth == {"key": "params.max_depth", sweep[0].id: 2, sweep[1].id: 4}


def test_runs_show_prints_the_tree_of_child_runs(backend: str, narrow: CliRunner) -> None:
    with start_run("p", run_name="train-pipeline", kind="pipeline") as parent:
        with start_run(nested=True, run_name="load", kind="step", tags={"loopml.cache": "hit"}):
            pass
        with start_run(nested=True, run_name="fit", kind="step", tags={"loopml.cache": "miss"}):
            pass
    out = _invoke(narrow, "runs", "show", parent.id[:6])
    tree = out[out.index("child runs") :]
    load_line = next(line for line in tree.splitlines() if "load" in line)
    fit_line = next(line for line in tree.splitlines() if "fit" in line)
    assert "FINISHED" in load_line and "cache hit" in load_line and " ms" in load_line
    assert "cache miss" in fit_line
    assert tree.index("load") < tree.index("fit")


def test_runs_delete_and_restore(sweep: list[Run], narrow: CliRunner) -> None:
    out = _invoke(narrow, "runs", "delete", sweep[0].id[:6], sweep[1].id)
    assert f"deleted run {sweep[0].id[:8]} (depth-2)" in out
    assert {r.id for r in search_runs(top_level_only=True)} == {sweep[2].id}
    listed = _invoke(narrow, "runs", "list", "--deleted", "--columns", "name,deleted")
    assert re.search(r"depth-2\s+yes", listed) and re.search(r"depth-8\s*$", listed, re.M)
    assert "deleted" in _invoke(narrow, "runs", "show", sweep[0].id)
    _invoke(narrow, "runs", "restore", sweep[0].id)
    assert not get_run(sweep[0].id).deleted and get_run(sweep[1].id).deleted


def test_runs_metrics_shows_a_sparkline_and_the_history(
    sweep: list[Run], narrow: CliRunner
) -> None:
    out = _invoke(narrow, "runs", "metrics", sweep[0].id, "loss")
    assert "12 values" in out
    assert "█▄" in out and "▁" in out  # falling loss: high first, low last
    _words_whole(out, ["1.002", "0.08533"])  # max and last
    assert re.search(r"min 0\.08533\s+max 1\.002\s+last 0\.08533 \(step 11\)", out)
    data = json.loads(_invoke(narrow, "runs", "metrics", sweep[0].id, "loss", "--format", "json"))
    assert [row["step"] for row in data] == list(range(12))
    assert data[0]["value"] == pytest.approx(1.002)
    csv = _invoke(narrow, "runs", "metrics", sweep[0].id, "loss", "--format", "csv")
    assert csv.splitlines()[0] == "step,value,timestamp" and len(csv.splitlines()) == 13


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5.0, 5.0]) == "▄▄"
    assert sparkline([1.0, float("nan"), 0.0]) == "█ ▁"
    assert len(sparkline([float(i) for i in range(1000)], width=40)) == 40


def test_experiments_list_rename_delete_restore(sweep: list[Run], narrow: CliRunner) -> None:
    with start_run("other"):
        pass
    out = _invoke(narrow, "experiments", "list")
    assert re.search(r"^iris\s+6\s+\d+s ago", out, re.M)  # 3 runs and their 3 steps
    _invoke(narrow, "experiments", "rename", "iris", "flowers")
    assert get_run(sweep[0].id).experiment == "flowers"
    out = _invoke(narrow, "experiments", "delete", "flowers")
    assert "deleted experiment 'flowers'" in out
    assert "flowers" not in _invoke(narrow, "experiments", "list")
    data = json.loads(_invoke(narrow, "experiments", "list", "--all", "--format", "json"))
    assert {(e["name"], e["deleted"]) for e in data} == {("flowers", True), ("other", False)}
    assert search_runs(experiment="other") and not search_runs(filter="name = 'depth-2'")
    _invoke(narrow, "experiments", "restore", "flowers")
    assert search_runs(filter="name = 'depth-2'")


def test_experiment_and_run_errors_are_one_line(
    sweep: list[Run], capsys: pytest.CaptureFixture[str]
) -> None:
    with start_run("other"):
        pass
    for argv, expected in (
        (["experiments", "rename", "iris", "other"], "an experiment named 'other' exists"),
        (["experiments", "delete", "nope"], "no experiment named 'nope'"),
        (["runs", "delete", "zz"], "malformed run id"),
        (["runs", "metrics", sweep[0].id, "nope"], "has no metric 'nope'; it has: "),
        (["artifacts", "download", sweep[0].id, "../x"], "no '..'"),
        (["artifacts", "download", sweep[0].id, "/etc/passwd"], "is absolute"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 1
        err = " ".join(capsys.readouterr().err.split())
        assert expected in err and "Traceback" not in err, err


def test_artifacts_list_and_download(sweep: list[Run], narrow: CliRunner, project: Path) -> None:
    out = _invoke(narrow, "artifacts", "list", sweep[0].id)
    _words_whole(out, ["cfg/params.json"])
    data = json.loads(_invoke(narrow, "artifacts", "list", sweep[0].id, "cfg", "--format", "json"))
    assert [row["path"] for row in data] == ["cfg/params.json"]
    assert data[0]["uri"] == f"runs:/{sweep[0].id}/cfg/params.json"
    out = _invoke(narrow, "artifacts", "download", sweep[0].id, "--to", "out")
    target = project / "out" / "cfg" / "params.json"
    assert "written" in out and "out/cfg/params.json" in out
    assert json.loads(target.read_text()) == {"depth": 2}
    assert not target.stat().st_mode & 0o222  # read-only
    assert "unchanged" in _invoke(narrow, "artifacts", "download", sweep[0].id, "--to", "out")
    # a different file in the way is refused unless --overwrite
    result = narrow.invoke(app, ["artifacts", "download", sweep[1].id, "--to", "out"])
    assert result.exit_code != 0 and "already exists with other content" in str(result.exception)
    assert json.loads(target.read_text()) == {"depth": 2}
    out = _invoke(narrow, "artifacts", "download", sweep[1].id, "--to", "out", "--overwrite")
    assert "replaced" in out and json.loads(target.read_text()) == {"depth": 4}
    one = _invoke(narrow, "artifacts", "download", sweep[2].id, "cfg/params.json", "--to", "one")
    assert "one/params.json" in one
    assert json.loads((project / "one" / "params.json").read_text()) == {"depth": 8}
