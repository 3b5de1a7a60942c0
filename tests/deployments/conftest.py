"""Two registered versions of a small scikit-learn model, ``churn`` v1 and v2; and
``churn`` deployed with v1, v2 a candidate for prod."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def versions(project: Any) -> list[Any]:
    """``churn`` v1 and v2 (different coefficients, so different packages), v1 in prod."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import loopml

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, 80), "charges": rng.uniform(20, 120, 80)})
    target = (frame["charges"] / 2 > frame["tenure"]).astype("int64")
    made = []
    for c in (1.0, 0.1):
        clf = LogisticRegression(C=c).fit(frame, target)
        with loopml.start_run():
            info = loopml.log_model(clf, input_example=frame.head())
        made.append(loopml.register_model(info.uri, "churn"))
    loopml.promote_model("churn", 1, to="prod")
    return made


@pytest.fixture
def served(versions: list[Any]) -> list[Any]:
    """``churn`` serving prod's v1, and v2 a candidate for prod."""
    import loopml

    loopml.deploy("churn", "models:/churn@prod")
    loopml.promote("churn/2", to="prod", candidate=True)
    return versions
