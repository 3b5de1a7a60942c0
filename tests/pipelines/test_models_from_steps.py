"""A step that returns a model stores it as a model package in its run."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.conftest import ProjectCode

import loopml

pytest.importorskip("sklearn")
pytest.importorskip("skops")

TRAIN = """
import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def data(n: int) -> pd.DataFrame:
    xs = [float(i) for i in range(n)]
    return pd.DataFrame({"a": xs, "b": [x * 2 for x in xs], "y": [int(x >= n / 2) for x in xs]})

@loopml.step
def train(frame: pd.DataFrame, c: float) -> LogisticRegression:
    return LogisticRegression(C=c).fit(frame[["b", "a"]], frame["y"])

@loopml.step
def score(model: LogisticRegression, frame: pd.DataFrame) -> float:
    return float(model.score(frame[["b", "a"]], frame["y"]))

@loopml.pipeline
def fit(n: int = 20, c: float = 1.0):
    frame = data(n)
    return score(train(frame, c), frame)
"""


@pytest.fixture
def pipe(project: Path, code: ProjectCode) -> loopml.pipelines.Pipeline:
    code.write("trainer", TRAIN)
    return code.load("trainer").fit


def test_a_returned_estimator_is_a_loadable_model_package_in_the_step_run(
    pipe: loopml.pipelines.Pipeline,
) -> None:
    result = pipe.run()
    train = result.step("train")
    model = loopml.load_model(f"runs:/{train.run_id}/model")
    assert model.flavor == "sklearn"
    # the signature comes from the frame the model was fitted on, in the model's order
    assert model.signature is not None and model.signature.names == ["b", "a"]
    assert model.metadata["input_example"][0] == {"b": 0.0, "a": 0.0}
    assert list(model.predict([{"a": 1.0, "b": 2.0}, {"a": 19.0, "b": 38.0}])) == [0, 1]
    with pytest.raises(loopml.errors.InvalidInput, match="'a'"):
        model.predict([{"b": 1.0}])
    # the next step received the estimator itself
    assert result.step("score").outputs["output"] == 1.0
    paths = {a.path for a in loopml.tracking.list_artifacts(train.run_id)}
    assert paths == {"model/loopml-model.json", "model/model.skops"}


def test_a_cached_step_points_at_the_same_package(pipe: loopml.pipelines.Pipeline) -> None:
    first = pipe.run()
    second = pipe.run()
    before, after = first.step("train"), second.step("train")
    assert after.cached and not before.cached
    a = loopml.models.read_model_info(f"runs:/{before.run_id}/model")
    b = loopml.models.read_model_info(f"runs:/{after.run_id}/model")
    assert a.manifest_digest == b.manifest_digest and a.digests == b.digests
    # recomputed without the cache, the package is the same bytes
    third = pipe.run(cache=False)
    c = loopml.models.read_model_info(f"runs:/{third.step('train').run_id}/model")
    assert c.manifest_digest == a.manifest_digest
    assert third.step("score").outputs["output"] == first.step("score").outputs["output"]


def test_a_loaded_pipeline_run_gives_the_estimator_back(pipe: loopml.pipelines.Pipeline) -> None:
    result = pipe.run()
    loaded = loopml.load_pipeline_run(result.id)
    estimator = loaded.step("train").outputs["output"]
    assert type(estimator).__name__ == "LogisticRegression"
    assert list(estimator.feature_names_in_) == ["b", "a"]


def test_a_damaged_package_file_is_a_cache_miss_and_the_rerun_repairs_it(
    project: Path, pipe: loopml.pipelines.Pipeline
) -> None:
    import os

    from loopml.store.artifacts import LocalArtifactStore

    first = pipe.run()
    info = loopml.models.read_model_info(f"runs:/{first.step('train').run_id}/model")
    skops_digest = info.metadata["files"]["model.skops"]["blake3"]
    store = LocalArtifactStore(project / ".loopml" / "artifacts")
    path = store.path(skops_digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.truncate(1)

    second = pipe.run()
    train = second.step("train")
    assert not train.cached
    assert train.explain.startswith("miss: artifact corrupt: output/model.skops")
    assert store.verify(skops_digest)  # the re-run stored the same bytes again, sound
    assert pipe.run().step("train").cached


ARRAYS = """
import loopml
import numpy as np
from sklearn.linear_model import LogisticRegression

@loopml.step
def train(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression().fit(x, y)

@loopml.pipeline
def fit(n: int = 20):
    xs = np.arange(n, dtype=float)
    return train(np.column_stack([xs, xs * 2]), (xs >= n / 2).astype(int))
"""


def test_a_model_fitted_on_an_array_gets_its_signature_from_that_array(
    project: Path, code: ProjectCode
) -> None:
    import warnings

    import numpy as np

    code.write("arrays", ARRAYS)
    result = code.load("arrays").fit.run()
    model = loopml.load_model(f"runs:/{result.step('train').run_id}/model")
    assert model.signature is not None and model.signature.names == ["x0", "x1"]
    assert [c.dtype for c in model.signature.inputs] == ["float64", "float64"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted without feature names" from scikit-learn
        assert list(model.predict(np.array([[1.0, 2.0], [19.0, 38.0]]))) == [0, 1]
        assert list(model.predict([{"x0": 19.0, "x1": 38.0}])) == [1]
    with pytest.raises(loopml.errors.InvalidInput, match="3 columns"):
        model.predict(np.ones((1, 3)))
