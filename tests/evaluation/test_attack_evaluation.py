"""Hostile data, models, stored records and paths against evaluate, its report, the model
card and reproduce: each is one clear loopml error (or a correct figure), never a
traceback from deep inside, and bad input stores nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.errors import CorruptObject

runner = CliRunner()


def _fail(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a command that must fail with exit code 1."""
    from loopml.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert out.err.startswith("error: "), out.err
    return " ".join(out.err.split())


def _tamper(table: str, column: str, value: str, row_id: int) -> None:
    from loopml.context import current

    def tx(conn: Any) -> None:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, row_id)).close()

    current().metadata.write(tx)


@pytest.mark.parametrize(
    "stored",
    [
        "{not json",
        '"a string"',
        "[1, 2]",
        "null",
        '{"metrics": {"f1": "high"}}',
        '{"model_uri": "m", "manifest_digest": "d", "target": "t", "task": "classification", '
        '"rows": "many", "data_digest": "x", "metrics": {}}',
        '{"model_uri": "m", "manifest_digest": "d", "target": "t", "task": "classification", '
        '"rows": 3, "data_digest": "x", "metrics": {"f1": 0.5}, "worst_slices": {"c": 3}}',
        '{"model_uri": "m", "manifest_digest": "d", "target": "t", "task": "classification", '
        '"rows": 3, "data_digest": "x", "metrics": {}, "importance": {"a": {"mean": "x"}}}',
    ],
)
def test_a_tampered_stored_evaluation_is_corrupt_object_and_lineage_still_prints(
    churn_model: str, churn: Any, project: Path, stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = loopml.evaluate(churn_model, churn, target="churned", latency=False, importance=False)
    assert ev.id is not None
    _tamper("evaluations", "result", stored, ev.id)
    for read in (
        lambda: loopml.evaluation.get_evaluation(ev.id),  # type: ignore[arg-type]
        lambda: loopml.evaluation.list_evaluations("churn"),
        lambda: loopml.lineage.resolve(str(ev.uri)),
    ):
        with pytest.raises(CorruptObject, match=rf"evaluation:/{ev.id} is corrupt"):
            read()
    # the graph around it still prints, naming the node as corrupt
    graph = loopml.get_lineage(churn_model)
    assert graph.labels[str(ev.uri)].startswith("corrupt")
    done = runner.invoke(app, ["lineage", churn_model])
    assert done.exit_code == 0, done.output
    assert "corrupt" in done.output
    assert "is corrupt" in _fail(["lineage", str(ev.uri)], capsys)
    # the model card says so where the evaluation would be, and shows the rest
    pytest.importorskip("plotly")
    card = loopml.evaluation.model_card(churn_model, project / "card.html").read_text()
    assert "is corrupt" in card and "Environment history" in card


def test_a_tampered_stored_reproduction_is_corrupt_object(project: Path) -> None:
    from loopml.evaluation._reproduce import _from_row

    good = (1, "churn", 1, "r1", "r2", "REPRODUCED", 1e-6, '{"metrics": []}', "ok", "u", 1.0)
    assert _from_row(good).status == "REPRODUCED"
    for comparison in ("{not json", "[1]", '{"metrics": [{"metric": "f1", "original": "x"}]}'):
        with pytest.raises(CorruptObject, match="reproduction 1 of models:/churn/1 is corrupt"):
            _from_row((*good[:7], comparison, *good[8:]))
    with pytest.raises(CorruptObject):
        _from_row((*good[:5], "MAYBE", *good[6:]))


class _Predicts:
    """A python_function model that returns whatever ``kind`` says."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def load_context(self, context: Any) -> None:
        pass

    def predict(self, frame: Any) -> Any:
        import numpy as np
        import pandas as pd

        above = (frame["tenure"] < 30).astype(int)
        if self.kind == "list":
            return above.tolist()
        if self.kind == "frame":
            return pd.DataFrame({"p": above})
        if self.kind == "two columns":
            return pd.DataFrame({"p": above, "q": 1})
        if self.kind == "raises":
            raise RuntimeError("the model's own bug")
        if self.kind == "short":
            return above.to_numpy()[:-1]
        if self.kind == "none":
            return None
        if self.kind == "nan":
            out = above.to_numpy(dtype=float)
            out[3] = np.nan
            return out
        if self.kind == "inf":
            out = frame["charges"].to_numpy(dtype=float, copy=True)
            out[5] = np.inf
            return out
        return above.astype(str).to_numpy()  # "text"


def _pyfunc(kind: str, churn: Any) -> Any:
    with loopml.start_run():
        info = loopml.log_model(
            _Predicts(kind), input_example=churn[["tenure", "charges"]].head(), allow_pickle=True
        )
    return loopml.load_model(info.uri, allow_pickle=True)


@pytest.mark.parametrize("kind", ["list", "frame"])
def test_a_python_function_model_may_return_a_list_or_a_one_column_frame(
    project: Path, churn: Any, kind: str
) -> None:
    from sklearn import metrics as skm

    ev = loopml.evaluate(_pyfunc(kind, churn), churn, target="churned", latency=False)
    expected = (churn["tenure"] < 30).astype(int)
    assert ev.metrics["f1"] == pytest.approx(skm.f1_score(churn["churned"], expected))
    assert set(ev.importance) == {"tenure", "charges"}


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("two columns", r"shape \(600, 2\) for 600 rows: evaluation needs one prediction per row"),
        ("short", r"shape \(599,\) for 600 rows"),
        ("none", r"shape \(\) for 600 rows"),
        ("raises", r"failed to predict 600 rows of the evaluation data: RuntimeError: the model"),
        ("nan", r"predicted nan for row 3: every row needs a prediction"),
        ("inf", r"predicted inf for row 5"),
        ("text", r"holds numbers \([01]\) but the model predicts text \('[01]'\)"),
    ],
)
def test_a_model_whose_predictions_are_unusable_is_one_clear_error_and_stores_nothing(
    project: Path, churn: Any, kind: str, message: str
) -> None:
    from loopml.errors import InvalidInput

    model = _pyfunc(kind, churn)
    with pytest.raises(InvalidInput, match=message):
        loopml.evaluate(model, churn, target="churned")
    assert loopml.evaluation.list_evaluations() == []


def test_a_model_that_fails_on_the_data_is_one_error_line_in_the_cli(
    churn_model: str, churn: Any, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    bad = churn.assign(tenure=np.where(churn.index == 7, np.inf, churn["tenure"]))
    bad.to_csv(project / "bad.csv", index=False)
    uri = loopml.add_dataset("bad.csv", name="bad").uri
    line = _fail(["evaluate", churn_model, "--data", uri, "--target", "churned"], capsys)
    assert line.startswith(f"error: {churn_model} failed to predict 600 rows")
    assert loopml.evaluation.list_evaluations() == []


@pytest.mark.parametrize(
    "labels",
    [
        lambda y: y.astype(str),  # "0"/"1" against a model of 0/1
        lambda y: y.astype(object).where(y.index != 0, "1"),  # ints and one text label
    ],
)
def test_labels_of_another_type_than_the_model_s_are_one_clear_error(
    churn_model: str, churn: Any, labels: Any
) -> None:
    from loopml.errors import InvalidInput

    data = churn.assign(churned=labels(churn["churned"]))
    with pytest.raises(InvalidInput, match="holds text .* but the model predicts numbers"):
        loopml.evaluate(churn_model, data, target="churned", store=False)


def test_boolean_and_float_labels_of_a_0_1_model_are_its_classes(
    churn_model: str, churn: Any
) -> None:
    base = loopml.evaluate(churn_model, churn, target="churned", store=False, latency=False)
    for cast in (bool, float):
        data = churn.assign(churned=churn["churned"].astype(cast))
        ev = loopml.evaluate(churn_model, data, target="churned", store=False, latency=False)
        assert ev.metrics["f1"] == pytest.approx(base.metrics["f1"])
        assert ev.metrics["roc_auc"] == pytest.approx(base.metrics["roc_auc"])


def test_a_regressor_on_a_target_of_few_integers_is_a_regression(project: Path, churn: Any) -> None:
    from sklearn import metrics as skm
    from sklearn.tree import DecisionTreeRegressor

    # tenure in whole decades (0 to 5): an integer target of six values, as a rating is
    data = churn.assign(decade=(churn["tenure"] // 10).astype(int))
    features = data[["charges", "tenure"]]
    reg = DecisionTreeRegressor(max_depth=2).fit(features[["charges"]], data["decade"])
    with loopml.start_run():
        info = loopml.log_model(reg, input_example=features[["charges"]].head())
    ev = loopml.evaluate(info.uri, data, target="decade", store=False, latency=False)
    assert ev.task == "regression" and ev.confusion_matrix is None
    pred = reg.predict(features[["charges"]])
    rmse = float(np.sqrt(skm.mean_squared_error(data["decade"], pred)))
    assert ev.metrics["rmse"] == pytest.approx(rmse)
    # a regressor on a text target is refused, not cast
    from loopml.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not numbers, and .* is a regressor"):
        loopml.evaluate(info.uri, data.assign(decade=data["decade"].astype(str)), target="decade")


@pytest.mark.parametrize("copy", ["tenure", "churned", "region"])
def test_a_column_named_twice_is_one_clear_error(churn_model: str, churn: Any, copy: str) -> None:
    import pandas as pd

    from loopml.errors import InvalidInput

    data = pd.concat([churn, churn[[copy]]], axis=1)
    with pytest.raises(InvalidInput, match=f"has the column '{copy}' more than once"):
        loopml.evaluate(churn_model, data, target="churned", store=False)


@pytest.fixture
def holdout(churn: Any, project: Path) -> str:
    churn.to_csv(project / "holdout.csv", index=False)
    return loopml.add_dataset("holdout.csv", name="holdout").uri


def _regressor(churn: Any) -> str:
    from sklearn.linear_model import LinearRegression

    features = churn[["tenure"]]
    with loopml.start_run():
        info = loopml.log_model(
            LinearRegression().fit(features, churn["charges"]), input_example=features.head()
        )
    return loopml.register_model(info.uri, "charges").uri


def test_evaluate_checks_every_option_before_it_stores_anything(
    churn_model: str, churn: Any, holdout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["evaluate", churn_model, "--data", holdout, "--target", "churned"]
    line = _fail([*base, "--columns", "nope"], capsys)
    assert "--columns: no column 'nope'" in line
    line = _fail([*base, "--against", churn_model, "--columns", "value"], capsys)
    assert "--columns: no column 'value'" in line  # the --against table has other columns
    line = _fail([*base, "--against", "--upload-pack=/tmp/x"], capsys)
    assert "no model package at '--upload-pack=/tmp/x'" in line
    # a champion of another task is refused after both are evaluated, before either is kept
    line = _fail([*base, "--against", _regressor(churn)], capsys)
    assert "is a classification and the champion (models:/charges/1) a regression" in line
    if Path("/proc/self").is_dir():  # permissions say yes, the folder says no
        line = _fail([*base, "--html", "/proc/report.html"], capsys)
        assert "cannot write the --html path '/proc/report.html'" in line
    assert loopml.evaluation.list_evaluations() == []
    # and a good --against stores both
    done = CliRunner().invoke(app, [*base, "--against", churn_model, "--format", "json"])
    assert done.exit_code == 0, done.output
    assert len(loopml.evaluation.list_evaluations()) == 2


def test_an_evaluation_made_without_storing_is_stored_once(churn_model: str, churn: Any) -> None:
    from loopml.errors import Conflict, InvalidInput

    ev = loopml.evaluate(churn_model, churn, target="churned", store=False, latency=False)
    assert ev.id is None and loopml.evaluation.list_evaluations() == []
    ev.store()
    assert ev.id is not None
    assert loopml.evaluation.get_evaluation(ev.id).metrics == ev.metrics
    with pytest.raises(Conflict, match="stored already"):
        ev.store()
    other = loopml.evaluate(_regressor(churn), churn, target="churned", store=False)
    with pytest.raises(InvalidInput, match="their metrics do not compare"):
        loopml.evaluation.compare(ev, other)


def test_a_report_path_in_a_folder_nothing_can_be_made_in_is_refused_first(
    churn_model: str, churn: Any
) -> None:
    from loopml.errors import InvalidInput

    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    ev = loopml.evaluate(churn_model, churn, target="churned", store=False, latency=False)
    with pytest.raises(InvalidInput, match="cannot write the report path"):
        ev.to_html("/proc/report.html")
    with pytest.raises(InvalidInput, match="cannot write the model card path"):
        loopml.evaluation.model_card(churn_model, "/proc/card.html")


@pytest.fixture
def pipeline_repo(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git project whose pipeline registered ``models:/churn/1`` at its commit."""
    import shutil
    import sys

    from .test_reproduce import PIPE, TOML, commit_all, git

    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("reproduce needs git")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    (project / "churn_pipe.py").write_text(PIPE.format(noise=False))
    (project / "loopml.toml").write_text(TOML)
    (project / ".gitignore").write_text(".loopml/\n*.txt\n")
    rows = ["a,b,y"] + [f"{i},{i % 3},{int(i >= 20)}" for i in range(40)]
    (project / "points.csv").write_text("\n".join(rows) + "\n")
    loopml.add_dataset(project / "points.csv", name="points")
    git(project, "init", "-q")
    commit_all(project)
    loopml.run_and_register(None, "churn")
    return project


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("git_commit", "--upload-pack=touch pwned", "which is not a commit hash"),
        ("git_commit", "HEAD~1", "which is not a commit hash"),
        ("entry", "os:system; rm -rf /", "which is not module:function"),
        ("entry", "../evil:run", "which is not module:function"),
    ],
)
def test_a_tampered_commit_or_pipeline_is_refused_before_git_or_python_sees_it(
    pipeline_repo: Path, column: str, value: str, message: str
) -> None:
    from loopml.context import current
    from loopml.errors import InvalidInput

    version = loopml.get_model_version("churn", 1)
    run_id = loopml.get_run(version.run_id).parent_id

    if column == "git_commit":

        def tx(conn: Any) -> None:
            conn.execute("UPDATE runs SET git_commit = ? WHERE id = ?", (value, run_id)).close()

        current().metadata.write(tx)
    else:  # any tracking client may set a run's tags
        from loopml.tracking import set_run_tags

        set_run_tags(run_id or "", {"loopml.entry": value})
    assert loopml.get_run(run_id or "").tags.get("loopml.entry") == (
        value if column == "entry" else "churn_pipe:churn"
    )
    with pytest.raises(InvalidInput, match=message):
        loopml.evaluation.reproduce("models:/churn/1")
    assert loopml.evaluation.list_reproductions() == []
    assert not (pipeline_repo / "pwned").exists()
