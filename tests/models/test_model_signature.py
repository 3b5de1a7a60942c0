"""Signatures are inferred from the input example and enforced on every predict."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.models import ColumnSpec, Signature, SignatureWarning, infer_signature


@pytest.fixture
def model(tmp_path: Path, classifier: Any, frame: Any) -> Any:
    loopml.save_model(classifier, tmp_path / "m", input_example=frame.head())
    return loopml.load_model(tmp_path / "m")


def test_inferred_from_each_kind_of_example(frame: Any) -> None:
    import polars as pl
    import pyarrow as pa

    want = (ColumnSpec("age", "float64"), ColumnSpec("visits", "int64"))
    assert infer_signature(frame).inputs == want
    assert infer_signature(pl.from_pandas(frame)).inputs == want
    assert infer_signature(pa.Table.from_pandas(frame)).inputs == want
    assert infer_signature(frame.to_dict("records")).inputs == want
    arr = infer_signature(np.zeros((2, 3)))
    assert [c.name for c in arr.inputs] == ["x0", "x1", "x2"]


def test_nan_is_allowed_only_where_the_example_has_one() -> None:
    sig = infer_signature(pd.DataFrame({"a": [1.0, np.nan], "b": [1.0, 2.0]}))
    assert [(c.name, c.allow_nan) for c in sig.inputs] == [("a", True), ("b", False)]


def test_the_signature_round_trips_through_its_dict(model: Any) -> None:
    assert Signature.from_dict(model.signature.to_dict()) == model.signature


def test_a_missing_column_is_named(model: Any, frame: Any) -> None:
    with pytest.raises(InvalidInput, match="missing column 'visits'"):
        model.predict(frame[["age"]])


def test_a_value_that_cannot_be_cast_names_column_and_row(model: Any) -> None:
    rows = [{"age": 30.0, "visits": 1}, {"age": "abc", "visits": 2}]
    with pytest.raises(InvalidInput, match=r"column 'age' row 1: 'abc' cannot be cast"):
        model.predict(rows)


def test_a_fraction_into_an_int_column_names_column_and_row(model: Any) -> None:
    bad = pd.DataFrame({"age": [30.0, 40.0, 50.0], "visits": [1.0, 2.0, 1.5]})
    with pytest.raises(InvalidInput, match=r"column 'visits' row 2: 1.5 cannot be cast"):
        model.predict(bad)


def test_safe_casts_are_made(model: Any, classifier: Any, frame: Any) -> None:
    text = frame.head(4).astype({"age": str, "visits": "float64"})
    np.testing.assert_array_equal(model.predict(text), classifier.predict(frame.head(4)))


def test_a_cast_column_of_a_slice_lines_up_with_the_rest(
    model: Any, classifier: Any, frame: Any
) -> None:
    # a slice keeps its labels (17, 18, ...): a cast column must not be matched by label
    text = frame.astype({"visits": "float64"}).iloc[17:20]
    np.testing.assert_array_equal(model.predict(text), classifier.predict(frame.iloc[17:20]))
    np.testing.assert_array_equal(
        model.predict(text.iloc[[1]]), classifier.predict(frame.iloc[[18]])
    )


def test_nan_where_forbidden_names_column_and_row(model: Any, frame: Any) -> None:
    bad = frame.head(3).copy()
    bad.loc[2, "age"] = np.nan
    with pytest.raises(InvalidInput, match=r"column 'age' row 2: a missing value \(NaN\)"):
        model.predict(bad)
    rows = [{"age": 1.0, "visits": 1}, {"age": 2.0, "visits": None}]
    with pytest.raises(InvalidInput, match=r"column 'visits' row 1"):
        model.predict(rows)


def test_extra_columns_are_dropped_with_one_warning(
    model: Any, classifier: Any, frame: Any
) -> None:
    wide = frame.head(5).assign(zip="x", city="y")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = model.predict(wide)
    found = [w for w in caught if issubclass(w.category, SignatureWarning)]
    assert len(found) == 1 and "zip, city" in str(found[0].message)
    np.testing.assert_array_equal(out, classifier.predict(frame.head(5)))


def test_columns_in_another_order_are_reordered(model: Any, classifier: Any, frame: Any) -> None:
    np.testing.assert_array_equal(
        model.predict(frame[["visits", "age"]]), classifier.predict(frame)
    )


def test_numpy_arrays_of_the_signature_width_only(model: Any, classifier: Any, frame: Any) -> None:
    np.testing.assert_array_equal(model.predict(frame.to_numpy()), classifier.predict(frame))
    with pytest.raises(InvalidInput, match="3 columns, but the model's signature has 2"):
        model.predict(np.zeros((1, 3)))
    with pytest.raises(InvalidInput, match="must be 2-D"):
        model.predict(np.zeros(2))


def test_polars_pyarrow_and_records(model: Any, classifier: Any, frame: Any) -> None:
    import polars as pl
    import pyarrow as pa

    want = classifier.predict(frame)
    for data in (pl.from_pandas(frame), pa.Table.from_pandas(frame), frame.to_dict("records")):
        np.testing.assert_array_equal(model.predict(data), want)


def test_unsupported_input_is_refused(model: Any) -> None:
    with pytest.raises(InvalidInput, match="got builtins.str"):
        model.predict("age=3")


def test_a_matching_frame_is_passed_on_as_it_is(model: Any, frame: Any) -> None:
    assert model.signature.conform(frame) is frame


def test_the_fast_dtype_read_agrees_with_pandas_on_mixed_frames() -> None:
    import pandas as pd

    from loopml.models._signature import _dtypes_of

    frame = pd.DataFrame(
        {
            "i": [1, 2],
            "f": [0.5, None],
            "s": ["a", "b"],
            "c": pd.Categorical(["x", "y"]),
            "b": [True, False],
            "t": pd.to_datetime(["2026-01-01", "2026-01-02"]),
        }
    )[["f", "i", "s", "c", "t", "b"]]  # columns out of block order
    assert _dtypes_of(frame) == list(frame.dtypes)


@pytest.mark.parametrize(
    ("dtype", "refused", "kept"),
    [
        ("int64", [2**63, -(2**63) - 1, 2**64, "9223372036854775808"], [2**63 - 1, -(2**63)]),
        ("uint64", [2**64, -1], [2**64 - 1, 0]),
        ("int32", [2**31, -(2**31) - 1], [2**31 - 1, -(2**31)]),
        ("int8", [128, -129], [127, -128]),
    ],
)
def test_a_whole_number_just_out_of_range_is_refused_not_wrapped(
    dtype: str, refused: list[Any], kept: list[int]
) -> None:
    sig = Signature((ColumnSpec("n", dtype),))
    for value in refused:
        with pytest.raises(
            InvalidInput, match=rf"column 'n' row 1: .* cannot be cast safely to {dtype}"
        ):
            sig.conform(pd.DataFrame({"n": [1, value]}))
    for value in kept:
        assert sig.conform(pd.DataFrame({"n": [1, value]}))["n"].tolist() == [1, value]


def test_conform_floats_gives_what_conform_gives_or_leaves_the_frame_to_conform() -> None:
    sig = Signature((ColumnSpec("a", "float64"), ColumnSpec("b", "float64")))
    block = np.array([[1.0, 2.0], [3.0, 4.0]])
    fast = sig.conform_floats(block)
    assert fast is not None and fast.columns is sig.columns
    # (the same names; the fast frame's Index is object-dtype, see Signature.columns)
    pd.testing.assert_frame_equal(
        fast, sig.conform(pd.DataFrame(block, columns=["a", "b"])), check_column_type=False
    )
    assert sig.conform(fast) is fast  # a frame made with the shared columns is not re-checked
    # a NaN the signature refuses, another width or dtype: conform of the frame says why
    assert sig.conform_floats(np.array([[1.0, np.nan]])) is None
    with pytest.raises(InvalidInput, match="column 'b' row 0: a missing value"):
        sig.conform(pd.DataFrame([[1.0, np.nan]], columns=["a", "b"]))
    assert sig.conform_floats(np.array([[1.0, 2.0, 3.0]])) is None
    assert sig.conform_floats(np.array([[1, 2]])) is None
    assert sig.conform_floats(np.array([1.0, 2.0])) is None
    # only the columns that refuse NaN are searched
    mixed = Signature((ColumnSpec("a", "float64"), ColumnSpec("b", "float64", allow_nan=True)))
    assert mixed.conform_floats(np.array([[1.0, np.nan]])) is not None
    assert mixed.conform_floats(np.array([[np.nan, 1.0]])) is None
    # a float32 column is cast by conform, never taken as float64 here
    narrow = Signature((ColumnSpec("a", "float32"),))
    assert narrow.conform_floats(np.array([[1.0]])) is None
    assert str(narrow.conform(pd.DataFrame({"a": [1.0]}))["a"].dtype) == "float32"
