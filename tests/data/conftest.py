"""Fixtures for the data tests: small real tables (shipped with scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def iris_csv(project: Path) -> Path:
    """scikit-learn's bundled iris table as ``data/iris.csv`` (150 rows, 5 columns)."""
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    path = project / "data" / "iris.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def cancer_csv(project: Path) -> Path:
    """scikit-learn's bundled breast-cancer table as ``data/cancer.csv`` (569 rows)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    path = project / "data" / "cancer.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path
