"""Batch scoring: ``loopml.predict_batch`` / ``loopml predict`` score a dataset version or a
file chunk by chunk, write the predictions in the input's order, and record a run with
lineage; bad input is refused with one line and leaves no file and no run behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import loopml
from loopml.errors import Conflict, InvalidInput, NotFound, Untrusted

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")
pytest.importorskip("skops")

ROWS = 1_000


def _frame(rows: int = ROWS) -> Any:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(rows) * 7 + 3,
            "age": rng.uniform(18, 90, rows),
            "tenure": rng.integers(0, 120, rows).astype(float),
            "note": [f"n{i}" for i in range(rows)],
        }
    )


@pytest.fixture
def frame() -> Any:
    return _frame()


@pytest.fixture
def model(project: Path, frame: Any) -> Any:
    """``models:/churn/1``: a logistic regression on age and tenure."""
    from sklearn.linear_model import LogisticRegression

    features = frame[["age", "tenure"]]
    fitted = LogisticRegression(max_iter=500).fit(features, (frame["age"] > 50).astype(int))
    with loopml.start_run(experiment="train"):
        info = loopml.log_model(fitted, input_example=features.head())
    loopml.register_model(info.uri, "churn")
    return loopml.load_model("models:/churn/1")


def _runs() -> list[Any]:
    return [r for r in loopml.search_runs() if r.kind == "predict"]


def test_predictions_equal_the_models_own_on_the_whole_frame(
    project: Path, model: Any, frame: Any
) -> None:
    frame.to_parquet(project / "in.parquet")
    done = loopml.predict_batch(
        "models:/churn/1", project / "in.parquet", project / "out.parquet", chunk_rows=300
    )
    out = pd.read_parquet(project / "out.parquet")
    assert done.rows == ROWS and done.chunks == 4  # 300 + 300 + 300 + 100
    assert out.columns.tolist() == ["prediction"] == done.columns
    np.testing.assert_array_equal(out["prediction"], model.predict(frame[["age", "tenure"]]))


def test_a_chunk_size_that_does_not_divide_the_rows_keeps_order_and_ids(
    project: Path, model: Any, frame: Any
) -> None:
    frame.to_parquet(project / "in.parquet", row_group_size=128)
    seen: list[tuple[int, int]] = []
    done = loopml.predict_batch(
        "models:/churn/1",
        project / "in.parquet",
        project / "out.parquet",
        chunk_rows=333,
        keep=["customer_id"],
        on_chunk=lambda rows, total: seen.append((rows, total)),
    )
    assert seen == [(333, ROWS), (666, ROWS), (999, ROWS), (ROWS, ROWS)]
    assert done.chunks == 4
    out = pd.read_parquet(project / "out.parquet")
    assert out.columns.tolist() == ["customer_id", "prediction"]
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    np.testing.assert_array_equal(out["prediction"], model.predict(frame[["age", "tenure"]]))


@pytest.mark.parametrize(("src", "dst"), [("csv", "csv"), ("csv", "parquet"), ("parquet", "csv")])
def test_csv_and_parquet_in_and_out(
    project: Path, model: Any, frame: Any, src: str, dst: str
) -> None:
    source = project / f"in.{src}"
    if src == "csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source)
    target = project / f"out.{dst}"
    loopml.predict_batch(
        "models:/churn/1", str(source), str(target), chunk_rows=256, keep="customer_id"
    )
    out = pd.read_csv(target) if dst == "csv" else pd.read_parquet(target)
    assert len(out) == ROWS
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    read = pd.read_csv(source) if src == "csv" else frame
    want = model.predict(read[["age", "tenure"]])
    np.testing.assert_array_equal(out["prediction"].to_numpy(), want)


def test_the_run_records_params_metrics_the_output_and_lineage(
    project: Path, model: Any, frame: Any
) -> None:
    frame.to_parquet(project / "customers.parquet")
    ds = loopml.add_dataset(project / "customers.parquet", name="customers")
    loopml.set_alias("churn", "champion", 1)
    done = loopml.predict_batch(
        "models:/churn@champion", "data:/customers", project / "preds.parquet", chunk_rows=400
    )
    assert done.model == "models:/churn/1" and done.dataset == ds.uri
    run = loopml.get_run(done.run_id)
    assert run.kind == "predict" and run.status == "FINISHED"
    assert run.params["model"] == "models:/churn/1"
    assert run.params["input"] == ds.uri
    assert run.params["chunk_rows"] == 400
    assert run.metrics["rows"] == ROWS
    assert run.metrics["rows_per_second"] == pytest.approx(done.rows_per_second)
    stored = loopml.tracking.download_artifact(done.run_id, "preds.parquet", project / "back")
    assert Path(stored).read_bytes() == (project / "preds.parquet").read_bytes()
    up = {e.src: e.relation for e in loopml.lineage.upstream(f"runs:/{done.run_id}")}
    assert up == {"models:/churn/1": "input", ds.uri: "input"}
    down = [(e.dst, e.relation) for e in loopml.lineage.downstream(f"runs:/{done.run_id}")]
    assert (done.artifact, "output") in down
    assert done.artifact == f"runs:/{done.run_id}/preds.parquet"


def test_record_false_writes_the_output_and_no_run(project: Path, model: Any, frame: Any) -> None:
    frame.to_parquet(project / "in.parquet")
    done = loopml.predict_batch(model, project / "in.parquet", project / "o.csv", record=False)
    assert done.run_id is None and _runs() == []
    assert len(pd.read_csv(project / "o.csv")) == ROWS


@pytest.fixture
def ray(ray_session: object) -> object:
    return ray_session


def test_ray_scores_chunks_in_parallel_and_writes_them_in_order(
    project: Path, model: Any, frame: Any, ray: object
) -> None:
    frame.to_parquet(project / "in.parquet")
    done = loopml.predict_batch(
        "models:/churn/1",
        project / "in.parquet",
        project / "out.parquet",
        chunk_rows=90,
        executor="ray",
        keep=["customer_id"],
    )
    out = pd.read_parquet(project / "out.parquet")
    assert done.chunks == 12
    assert out["customer_id"].tolist() == frame["customer_id"].tolist()
    np.testing.assert_array_equal(out["prediction"], model.predict(frame[["age", "tenure"]]))
    assert loopml.get_run(done.run_id).params["executor"] == "ray"


def test_a_bad_value_on_ray_names_the_row_of_the_input(
    project: Path, model: Any, frame: Any, ray: object
) -> None:
    frame.loc[705, "age"] = np.nan
    frame.to_parquet(project / "in.parquet")
    with pytest.raises(InvalidInput, match=r"row 705 of .*in\.parquet \(row 105 of chunk 2\)"):
        loopml.predict_batch(
            "models:/churn/1",
            project / "in.parquet",
            project / "o.parquet",
            chunk_rows=300,
            executor="ray",
        )
    assert not (project / "o.parquet").exists()


# -- bad input: one line each, nothing written, no run --------------------------------------


def _nothing_left(project: Path, name: str) -> None:
    assert not (project / name).exists()
    assert not [p for p in project.iterdir() if p.name.startswith(f".{name}.")]
    assert _runs() == []


def _one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_an_unknown_model_is_not_found(project: Path, model: Any, frame: Any) -> None:
    frame.to_parquet(project / "in.parquet")
    with pytest.raises(NotFound) as exc:
        loopml.predict_batch("models:/nope/1", project / "in.parquet", project / "o.parquet")
    assert "nope" in _one_line(exc)
    _nothing_left(project, "o.parquet")


def test_an_unknown_dataset_is_not_found(project: Path, model: Any) -> None:
    with pytest.raises(NotFound) as exc:
        loopml.predict_batch("models:/churn/1", "data:/missing@3", project / "o.parquet")
    assert "missing" in _one_line(exc)
    _nothing_left(project, "o.parquet")


def test_an_input_file_that_does_not_exist_is_not_found(project: Path, model: Any) -> None:
    with pytest.raises(NotFound, match="no input at"):
        loopml.predict_batch("models:/churn/1", project / "gone.csv", project / "o.parquet")
    _nothing_left(project, "o.parquet")


def test_an_input_lacking_a_signature_column_names_it(
    project: Path, model: Any, frame: Any
) -> None:
    frame.drop(columns=["tenure"]).to_csv(project / "in.csv", index=False)
    with pytest.raises(InvalidInput, match=r"lacks the column 'tenure'.*row 0 of chunk 0") as exc:
        loopml.predict_batch("models:/churn/1", project / "in.csv", project / "o.parquet")
    _one_line(exc)
    _nothing_left(project, "o.parquet")


def test_a_bad_value_in_a_later_chunk_names_the_column_and_the_row(
    project: Path, model: Any, frame: Any
) -> None:
    frame["tenure"] = frame["tenure"].astype(object)
    frame.loc[705, "tenure"] = "abc"
    frame.to_csv(project / "in.csv", index=False)
    with pytest.raises(InvalidInput) as exc:
        loopml.predict_batch(
            "models:/churn/1", project / "in.csv", project / "o.parquet", chunk_rows=300
        )
    text = _one_line(exc)
    assert "column 'tenure' row 705 of" in text and "(row 105 of chunk 2)" in text
    _nothing_left(project, "o.parquet")


def test_an_existing_output_is_refused_unless_overwrite(
    project: Path, model: Any, frame: Any
) -> None:
    frame.to_parquet(project / "in.parquet")
    (project / "o.csv").write_text("keep me\n")
    with pytest.raises(Conflict, match="exists: pass overwrite=True") as exc:
        loopml.predict_batch("models:/churn/1", project / "in.parquet", project / "o.csv")
    _one_line(exc)
    assert (project / "o.csv").read_text() == "keep me\n"
    assert _runs() == []
    loopml.predict_batch(
        "models:/churn/1", project / "in.parquet", project / "o.csv", overwrite=True
    )
    assert len(pd.read_csv(project / "o.csv")) == ROWS


def test_an_unwritable_output_is_refused(
    project: Path, model: Any, frame: Any, tmp_path: Path
) -> None:
    frame.to_parquet(project / "in.parquet")
    if os.geteuid() == 0:  # root writes anywhere a file system lets it: /proc it does not
        target = Path("/proc/preds.parquet")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        target = locked / "preds.parquet"
    with pytest.raises(InvalidInput, match="cannot be written") as exc:
        loopml.predict_batch("models:/churn/1", project / "in.parquet", target)
    _one_line(exc)
    assert not target.exists() and _runs() == []


def test_an_output_of_another_format_or_folder_is_refused(project: Path, model: Any) -> None:
    (project / "in.csv").write_text("age,tenure\n1,2\n")
    with pytest.raises(InvalidInput, match=r"must end in \.parquet or \.csv"):
        loopml.predict_batch("models:/churn/1", project / "in.csv", project / "o.json")
    with pytest.raises(NotFound, match="does not exist"):
        loopml.predict_batch("models:/churn/1", project / "in.csv", project / "no" / "o.csv")
    assert _runs() == []


class Doubler:
    """A python_function model."""

    def load_context(self, context: Any) -> None:
        self.factor = 2

    def predict(self, frame: Any) -> Any:
        return frame["age"].to_numpy() * self.factor


def test_a_pickle_model_needs_the_opt_in(project: Path, frame: Any) -> None:
    loopml.save_model(
        Doubler(), project / "m", input_example=frame[["age"]].head(), allow_pickle=True
    )
    frame.to_parquet(project / "in.parquet")
    with pytest.raises(Untrusted, match="allow_pickle=True") as exc:
        loopml.predict_batch(project / "m", project / "in.parquet", project / "o.parquet")
    _one_line(exc)
    _nothing_left(project, "o.parquet")
    loopml.predict_batch(
        project / "m", project / "in.parquet", project / "o.parquet", allow_pickle=True
    )
    np.testing.assert_allclose(pd.read_parquet(project / "o.parquet")["prediction"], frame.age * 2)


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_an_empty_input_is_refused(project: Path, model: Any, frame: Any, kind: str) -> None:
    empty = frame.head(0)
    source = project / f"in.{kind}"
    if kind == "csv":
        empty.to_csv(source, index=False)
    else:
        empty.to_parquet(source)
    with pytest.raises(InvalidInput, match="has no rows: there is nothing to score") as exc:
        loopml.predict_batch("models:/churn/1", source, project / "o.parquet")
    _one_line(exc)
    _nothing_left(project, "o.parquet")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"executor": "spark"}, "unknown executor 'spark'"),
        ({"keep": ["nope"]}, "column 'nope' to keep is not in"),
        ({"keep": ["prediction"]}, None),
    ],
)
def test_bad_options_are_refused(
    project: Path, model: Any, frame: Any, kwargs: dict[str, Any], match: str | None
) -> None:
    frame.assign(prediction=1).to_parquet(project / "in.parquet")
    with pytest.raises(InvalidInput, match=match or "kept column 'prediction' has the name"):
        loopml.predict_batch("models:/churn/1", project / "in.parquet", project / "o.csv", **kwargs)
    _nothing_left(project, "o.csv")


# -- the command ----------------------------------------------------------------------------


def test_the_command_scores_and_says_where(project: Path, model: Any, frame: Any) -> None:
    from loopml.cli import app

    frame.to_parquet(project / "in.parquet")
    result = CliRunner().invoke(
        app,
        [
            "predict",
            "models:/churn/1",
            "--input",
            "in.parquet",
            "--output",
            "preds.csv",
            "--keep",
            "customer_id",
            "--chunk-rows",
            "128",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "scored 1,000 rows in 8 chunks" in result.output
    out = pd.read_csv(project / "preds.csv")
    assert out.columns.tolist() == ["customer_id", "prediction"]
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopml",
            "predict",
            "models:/churn/1",
            "--input",
            "in.parquet",
            "--output",
            "preds.csv",
        ],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--overwrite" in lines[0]
