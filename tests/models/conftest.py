"""Small fitted models and frames shared by the model tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def frame() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"age": rng.uniform(18, 80, 60), "visits": rng.integers(0, 9, 60).astype("int64")}
    )


@pytest.fixture
def target(frame: Any) -> Any:
    return (frame["age"] + 3 * frame["visits"] > 55).astype("int64")


@pytest.fixture
def classifier(frame: Any, target: Any) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, target)
