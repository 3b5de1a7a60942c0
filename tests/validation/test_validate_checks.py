"""Planted problems are found with the right counts and samples; severities behave."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.errors import InvalidInput, ValidationFailed
from loopml.validation import (
    Suite,
    expect_column_type,
    expect_column_values_between,
    expect_column_values_in_set,
    expect_column_values_not_null,
    expect_column_values_unique,
    expect_columns,
    expect_row_count_between,
)


def _failed(result: loopml.ValidationResult) -> dict[str, object]:
    return {r.check.name: r for r in result.failures + result.warnings}


def test_out_of_range_values_are_counted_with_samples_and_rows(iris: pd.DataFrame) -> None:
    suite = loopml.infer_suite(iris)
    current = iris.copy()
    current.loc[[3, 40, 77], "petal width (cm)"] = [9.5, 12.0, -4.0]
    result = loopml.validate(current, suite)
    assert not result.passed
    [failure] = result.failures
    assert failure.check.name == "between(petal width (cm))"
    assert failure.failed_count == 3
    assert sorted(failure.sample_values) == [-4.0, 9.5, 12.0]
    assert failure.sample_rows == [3, 40, 77]
    assert "3 value(s) outside" in failure.message


def test_unseen_category_is_found(iris: pd.DataFrame) -> None:
    current = iris.copy()
    current.loc[[1, 2], "species"] = "unknown-flower"
    result = loopml.validate(current, loopml.infer_suite(iris))
    [failure] = result.failures
    assert failure.check.name == "in_set(species)"
    assert failure.failed_count == 2
    assert failure.sample_values == ["unknown-flower"]
    assert failure.sample_rows == [1, 2]


def test_missing_column_fails_and_skips_its_checks(iris: pd.DataFrame) -> None:
    result = loopml.validate(iris.drop(columns="species"), loopml.infer_suite(iris))
    names = [r.check.name for r in result.failures]
    assert names == ["columns"]
    assert result.failures[0].sample_values == ["species"]
    skipped = [r.check.name for r in result.results if r.status == "skipped"]
    assert set(skipped) == {"type(species)", "not_null(species)", "in_set(species)"}


def test_changed_type_fails_and_skips_value_checks(iris: pd.DataFrame) -> None:
    current = iris.copy()
    current["sepal width (cm)"] = current["sepal width (cm)"].astype("str")
    result = loopml.validate(current, loopml.infer_suite(iris))
    [failure] = result.failures
    assert failure.check.name == "type(sepal width (cm))"
    assert "expected numeric, got string" in failure.message


def test_nulls_and_row_count_are_warnings_that_do_not_fail(iris: pd.DataFrame) -> None:
    suite = loopml.infer_suite(iris)
    current = iris.head(60).copy()
    current.loc[[5, 6], "sepal length (cm)"] = np.nan
    result = loopml.validate(current, suite)
    assert result.passed
    warned = _failed(result)
    assert set(warned) == {"row_count", "not_null(sepal length (cm))"}
    assert warned["not_null(sepal length (cm))"].failed_count == 2  # type: ignore[attr-defined]
    result.raise_for_errors()


def test_duplicate_ids_are_found() -> None:
    frame = pd.DataFrame({"order_id": [1, 2, 3, 4, 5]})
    suite = loopml.infer_suite(frame)
    result = loopml.validate(pd.DataFrame({"order_id": [1, 2, 2, 2, 5]}), suite)
    [failure] = result.failures
    assert failure.check.name == "unique(order_id)"
    assert failure.failed_count == 2 and failure.sample_values == [2]


def test_raise_for_errors_lists_failed_checks(iris: pd.DataFrame) -> None:
    current = iris.copy()
    current.loc[0, "species"] = "rose"
    with pytest.raises(ValidationFailed, match=r"in_set\(species\)"):
        loopml.validate(current, loopml.infer_suite(iris)).raise_for_errors()


def test_hand_written_suite_with_severities() -> None:
    frame = pd.DataFrame({"age": [10, 20, 130, None], "city": ["Paris", "Lyon", "Nice", "Lyon"]})
    suite = Suite(
        [
            expect_columns(["age", "city"], allow_extra=False),
            expect_row_count_between(1, 10),
            expect_column_type("age", "numeric"),
            expect_column_values_not_null("age", max_fraction=0.5),
            expect_column_values_between("age", 0, 120),
            expect_column_values_in_set("city", ["Paris", "Lyon"], severity="warning"),
            expect_column_values_unique("city", severity="warning"),
        ]
    )
    result = loopml.validate(frame, suite)
    assert [r.check.name for r in result.failures] == ["between(age)"]
    assert {r.check.name for r in result.warnings} == {"in_set(city)", "unique(city)"}
    assert result.checks_run == 7


def test_max_fraction_tolerates_a_few_offending_rows() -> None:
    frame = pd.DataFrame({"x": np.arange(1000.0)})
    loose = Suite([expect_column_values_between("x", 0, 998, max_fraction=0.001)])
    strict = Suite([expect_column_values_between("x", 0, 998)])
    assert loopml.validate(frame, loose).passed
    assert not loopml.validate(frame, strict).passed


def test_extra_columns_fail_only_when_not_allowed() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert loopml.validate(frame, Suite([expect_columns(["a"])])).passed
    result = loopml.validate(frame, Suite([expect_columns(["a"], allow_extra=False)]))
    assert result.failures[0].sample_values == ["b"]


def test_validate_with_reference_infers_the_suite(iris: pd.DataFrame) -> None:
    assert loopml.validate(iris, reference=iris).passed


def test_validate_without_suite_or_reference_explains_what_is_needed(
    iris: pd.DataFrame,
) -> None:
    with pytest.raises(InvalidInput, match="needs a suite or a reference"):
        loopml.validate(iris)


def test_suite_column_unknown_to_the_data_is_invalid_input() -> None:
    suite = Suite([expect_column_values_between("agee", 0, 1)])
    with pytest.raises(InvalidInput, match=r"'agee'.*it has age"):
        loopml.validate(pd.DataFrame({"age": [1]}), suite)


def test_range_check_on_text_column_fails_clearly() -> None:
    suite = Suite([expect_column_values_between("city", 0, 1)])
    result = loopml.validate(pd.DataFrame({"city": ["Paris"]}), suite)
    assert "cannot compare a string column" in result.failures[0].message
