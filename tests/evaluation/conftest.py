"""A churn-like frame with a region and a sensitive column, and models fitted on it."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def churn() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 600
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, n),
            "charges": rng.uniform(20, 120, n),
            "region": rng.choice(["north", "south", "east"], n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    score = 0.05 * frame["charges"] - 0.08 * frame["tenure"] + rng.normal(0, 1, n)
    score += np.where(frame["region"] == "east", 1.5, 0.0)  # east is harder: noisier labels
    frame["churned"] = (score > 0).astype("int64")
    return frame


@pytest.fixture
def churn_model(project: Any, churn: Any) -> str:
    """``models:/churn/1``: a logistic regression on tenure and charges, with a signature."""
    from sklearn.linear_model import LogisticRegression

    import loopml

    features = churn[["tenure", "charges"]]
    clf = LogisticRegression().fit(features, churn["churned"])
    with loopml.start_run():
        info = loopml.log_model(clf, input_example=features.head())
    return loopml.register_model(info.uri, "churn").uri
