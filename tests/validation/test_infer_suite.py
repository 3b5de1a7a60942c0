"""Inferring a suite from reference data."""

from __future__ import annotations

import numpy as np
import pandas as pd

import loopml
from loopml.validation import Check


def _by_name(suite: loopml.Suite) -> dict[str, Check]:
    return {c.name: c for c in suite.checks}


def test_iris_suite_has_types_ranges_categories_and_table_checks(iris: pd.DataFrame) -> None:
    checks = _by_name(loopml.infer_suite(iris, name="iris"))

    assert checks["columns"].params["columns"] == list(iris.columns)
    assert checks["row_count"].params == {"min": 75, "max": 300}
    assert checks["row_count"].severity == "warning"
    assert checks["type(sepal length (cm))"].params == {"type": "numeric"}
    assert checks["type(species)"].params == {"type": "string"}
    assert checks["in_set(species)"].params["values"] == ["setosa", "versicolor", "virginica"]
    assert checks["not_null(species)"].severity == "warning"
    lo, hi = iris["sepal length (cm)"].min(), iris["sepal length (cm)"].max()
    between = checks["between(sepal length (cm))"]
    assert between.severity == "error"
    margin = 0.1 * (hi - lo)
    # widened by 10% of the range, then rounded outwards by at most a tenth of that
    assert lo - 1.1 * margin <= between.params["min"] <= lo - margin + 1e-9
    assert hi + margin - 1e-9 <= between.params["max"] <= hi + 1.1 * margin


def test_clean_reference_passes_its_own_suite(cancer: pd.DataFrame) -> None:
    result = loopml.validate(cancer, loopml.infer_suite(cancer))
    assert result.passed and not result.warnings
    assert result.checks_run == len(loopml.infer_suite(cancer).checks)
    assert result.n_rows == len(cancer)


def test_resample_of_same_distribution_flags_nothing(cancer: pd.DataFrame) -> None:
    suite = loopml.infer_suite(cancer)
    resample = cancer.sample(frac=1.5, replace=True, random_state=7)
    result = loopml.validate(resample, suite)
    assert result.failures == [] and result.warnings == []


def test_fresh_sample_from_same_distribution_flags_nothing() -> None:
    def draw(seed: int, n: int = 200_000) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "normal": rng.normal(0, 1, n),
                "heavy": rng.lognormal(0, 1, n),
                "count": rng.poisson(3, n),
                "city": pd.array(rng.choice(["a", "b", "c", "d"], n), dtype="str"),
            }
        )

    result = loopml.validate(draw(2), loopml.infer_suite(draw(1)))
    assert result.failures == [] and result.warnings == []


def test_non_negative_column_keeps_a_zero_lower_bound() -> None:
    frame = pd.DataFrame({"amount": [0.0, 5.0, 10.0]})
    between = _by_name(loopml.infer_suite(frame))["between(amount)"]
    assert between.params["min"] == 0.0 and between.params["max"] == 11.0


def test_id_column_gets_uniqueness_and_no_range() -> None:
    frame = pd.DataFrame({"user_id": np.arange(100), "score": np.linspace(0, 1, 100)})
    names = set(_by_name(loopml.infer_suite(frame)))
    assert "unique(user_id)" in names and "between(user_id)" not in names
    assert "unique(score)" not in names


def test_high_cardinality_text_gets_no_category_check() -> None:
    frame = pd.DataFrame({"note": [f"text {i}" for i in range(500)]})
    assert "in_set(note)" not in _by_name(loopml.infer_suite(frame))


def test_column_with_nulls_allows_about_twice_as_many() -> None:
    frame = pd.DataFrame({"x": [1.0, None, 3.0, 4.0] * 25})
    check = _by_name(loopml.infer_suite(frame))["not_null(x)"]
    assert check.params["max_fraction"] == 0.5
    assert check.severity == "warning"
