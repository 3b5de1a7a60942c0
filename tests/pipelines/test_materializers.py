from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.pipelines.conftest import ProjectCode

import loopml
import loopml.pipelines as lp
from loopml.context import current
from loopml.errors import InvalidInput
from loopml.pipelines import Materializer
from loopml.pipelines._materializers import find_materializer, get_materializer


def _round_trip(value: object) -> tuple[str, object]:
    mat = find_materializer(value)
    assert mat is not None
    return mat.name, get_materializer(mat.name).load(mat.save(value))


def test_a_dataframe_round_trips_through_parquet() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 20])
    name, back = _round_trip(frame)
    assert name == "parquet"
    pd.testing.assert_frame_equal(back, frame)  # type: ignore[arg-type]


def test_an_ndarray_round_trips_through_npy() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    name, back = _round_trip(array)
    assert name == "npy"
    np.testing.assert_array_equal(back, array)  # type: ignore[arg-type]
    assert back.dtype == np.float32  # type: ignore[attr-defined]


def test_json_values_round_trip_and_inexact_ones_do_not_qualify() -> None:
    value = {"a": [1, 2.5, None, True, "s"], "b": {"c": []}}
    assert _round_trip(value) == ("json", value)
    assert find_materializer((1, 2)) is None  # a tuple would come back a list
    assert find_materializer({1: "a"}) is None  # int keys would come back strings
    assert find_materializer(np.array([object()], dtype=object)) is None


def test_a_fitted_estimator_is_a_model_package_and_old_skops_outputs_still_load() -> None:
    pytest.importorskip("skops")
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(X, y)
    found = find_materializer(model)
    assert found is not None and found.name == "model"
    # outputs stored as skops archives before model packages load by their name
    skops = get_materializer("skops")
    back = skops.load(skops.save(model))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))  # type: ignore[attr-defined]


def test_a_registered_materializer_wins(project: Path) -> None:
    class Box:
        def __init__(self, v: int) -> None:
            self.v = v

    lp.register_materializer(
        Box, save=lambda b: str(b.v).encode(), load=lambda d: Box(int(d)), ext="box", name="box"
    )
    mat = find_materializer(Box(3))
    assert mat is not None and mat.ext == "box"
    assert get_materializer("box").load(b"7").v == 7


def test_register_materializer_checks_its_arguments() -> None:
    with pytest.raises(InvalidInput, match="needs a type"):
        lp.register_materializer("nope", bytes, bytes, "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="no materializer named"):
        get_materializer("not-registered")


def test_a_pipeline_stores_frames_and_arrays(project: Path) -> None:
    @lp.step
    def frame(n: int) -> pd.DataFrame:
        return pd.DataFrame({"x": range(n)})

    @lp.step
    def as_array(df: pd.DataFrame) -> np.ndarray:
        return df["x"].to_numpy() * 2

    @lp.pipeline
    def p(n: int = 4) -> object:
        return as_array(frame(n))

    first = p()
    again = p()
    assert [s.cached for s in again.steps] == [True, True]
    pd.testing.assert_frame_equal(again.steps[0].output, first.steps[0].output)
    np.testing.assert_array_equal(again.steps[1].output, [0, 2, 4, 6])
    assert [r.path for s in again.steps for r in s.output_records] == [
        "outputs/output.parquet",
        "outputs/output.npy",
    ]


def test_a_frame_passed_as_a_param_is_keyed_by_its_content(project: Path) -> None:
    from loopml.pipelines._cache import hash_value

    big = pd.DataFrame({"x": range(1000)})
    other = big.copy()
    other.loc[500, "x"] = -1  # same repr (the middle rows are elided), different content
    assert repr(big) == repr(other)
    assert hash_value(big) != hash_value(other)
    assert hash_value(big) == hash_value(big.copy())


BOX = """
import loopml

class Box:
    def __init__(self, v):
        self.v = v

@loopml.step
def boxed(v: int) -> Box:
    return Box(v)

@loopml.pipeline
def p(v: int = 3):
    return boxed(v)
"""


def _register_box(register: Callable[..., Materializer], box: type) -> Materializer:
    return register(
        box, save=lambda b: str(b.v).encode(), load=lambda d: box(int(d)), ext="box", name="box"
    )


def test_a_materializer_registered_on_a_client_is_not_seen_by_another_client(
    project: Path, code: ProjectCode, tmp_path: Path
) -> None:
    code.write("box_pipe", BOX)
    mod = code.load("box_pipe")
    a = loopml.Client(project, tracking_uri=f"sqlite:///{tmp_path / 'a.db'}")
    b = loopml.Client(project, tracking_uri=f"sqlite:///{tmp_path / 'b.db'}")
    _register_box(a.register_materializer, mod.Box)
    assert a.materializers[mod.Box].name == "box"
    assert b.materializers == {}
    assert find_materializer(mod.Box(1), a) == a.materializers[mod.Box]
    assert find_materializer(mod.Box(1), b) is None
    assert find_materializer(mod.Box(1)) is None  # nor by the default context
    assert get_materializer("box", a).load(b"7").v == 7
    with pytest.raises(InvalidInput, match="no materializer named 'box'"):
        get_materializer("box", b)

    run = a.run_pipeline(mod.p)
    record = run.steps[0].output_records[0]
    assert (record.materializer, record.path) == ("box", "outputs/output.box")
    assert run.steps[0].output.v == 3
    assert a.load_pipeline_run(run.id).steps[0].output.v == 3

    with pytest.raises(lp.PipelineFailed) as err:
        b.run_pipeline(mod.p)
    error = err.value.run.steps[0].error or ""
    assert "box_pipe.Box" in error and "register_materializer" in error


def test_a_materializer_registered_by_the_module_function_serves_the_default_context(
    project: Path, code: ProjectCode
) -> None:
    code.write("box_pipe", BOX)
    mod = code.load("box_pipe")
    _register_box(lp.register_materializer, mod.Box)
    assert current().materializers[mod.Box].name == "box"
    run = mod.p()
    record = run.steps[0].output_records[0]
    assert (record.materializer, record.path) == ("box", "outputs/output.box")
    assert loopml.load_pipeline_run(run.id).steps[0].output.v == 3
    assert mod.p().steps[0].cached
    assert find_materializer(mod.Box(1), loopml.Client(project)) is None
