"""Fixtures for the validation tests: small real tables shipped with scikit-learn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture
def iris() -> pd.DataFrame:
    """scikit-learn's bundled iris table, with the species as text (150 rows)."""
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["species"] = pd.array(bunch.target_names[bunch.target], dtype="str")
    return frame


@pytest.fixture
def cancer() -> pd.DataFrame:
    """scikit-learn's bundled breast-cancer table (569 rows, 31 numeric columns)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


@pytest.fixture
def iris_csv(project: Path, iris: pd.DataFrame) -> Path:
    """The iris table as ``data/iris.csv`` in the project."""
    path = project / "data" / "iris.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    iris.to_csv(path, index=False)
    return path
