"""pandas (string dtype, NumPy 2), pyarrow and polars inputs give the same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import loopml
from loopml.errors import InvalidInput, NotFound


def _planted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.loc[[0, 1], "species"] = "orchid"
    out.loc[2, "petal length (cm)"] = 99.0
    return out


def _names(result: loopml.ValidationResult) -> list[str]:
    return sorted(r.check.name for r in result.failures)


def test_pandas_string_dtype_and_numpy2(iris: pd.DataFrame) -> None:
    assert np.__version__.startswith("2")
    assert isinstance(iris["species"].dtype, pd.StringDtype)
    result = loopml.validate(_planted(iris), loopml.infer_suite(iris))
    assert _names(result) == ["between(petal length (cm))", "in_set(species)"]


def test_pandas_categorical_and_object_columns(iris: pd.DataFrame) -> None:
    suite = loopml.infer_suite(iris)
    as_category = _planted(iris).astype({"species": "category"})
    assert _names(loopml.validate(as_category, suite)) == [
        "between(petal length (cm))",
        "in_set(species)",
    ]
    as_object = iris.astype({"species": object})
    assert loopml.validate(as_object, suite).passed


def test_pyarrow_table(iris: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(iris, preserve_index=False)
    suite = loopml.infer_suite(table)
    current = pa.Table.from_pandas(_planted(iris), preserve_index=False)
    assert _names(loopml.validate(current, suite)) == [
        "between(petal length (cm))",
        "in_set(species)",
    ]


def test_polars_frame(iris: pd.DataFrame) -> None:
    pl = pytest.importorskip("polars")
    suite = loopml.infer_suite(pl.from_pandas(iris))
    result = loopml.validate(pl.from_pandas(_planted(iris)), suite)
    assert _names(result) == ["between(petal length (cm))", "in_set(species)"]


def test_something_not_tabular_is_invalid_input(project: Path) -> None:
    with pytest.raises(InvalidInput, match="expected a pandas or polars DataFrame"):
        loopml.infer_suite([1, 2, 3])
    with pytest.raises(
        InvalidInput, match=r"malformed dataset URI 'data/iris\.csv'.*'data:/iris@3'"
    ):
        loopml.infer_suite("data/iris.csv")


def test_text_is_a_dataset_reference_not_a_file_path(project: Path) -> None:
    # any string is a dataset reference now ("d@1", "d", "data:/d@1"): a file name is
    # looked up as a dataset, never read from disk
    (project / "iris.csv").write_text("a\n1\n")
    with pytest.raises(NotFound, match=r"no dataset named 'iris\.csv'.*loopml data add PATH"):
        loopml.infer_suite("iris.csv")


def test_column_of_mixed_values_is_invalid_input() -> None:
    frame = pd.DataFrame({"a": pd.Series([1, "x", 2.5], dtype=object)})
    with pytest.raises(InvalidInput, match="one type of value"):
        loopml.infer_suite(frame)
