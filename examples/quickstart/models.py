"""The estimators the pipeline can train, built from the ``model`` parameter.

A plain module, not a step: the cache key of the step that calls
:func:`make_estimator` covers this code too, so editing it re-runs training.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FORESTS = {"random_forest": RandomForestClassifier, "extra_trees": ExtraTreesClassifier}
ESTIMATORS = (*FORESTS, "logistic_regression")


def make_estimator(model: dict[str, Any], seed: int) -> BaseEstimator:
    """An unfitted estimator for ``model["estimator"]``; forests start with no trees
    (``warm_start``), so the caller can grow them in stages."""
    kind = model["estimator"]
    if kind in FORESTS:
        return FORESTS[kind](
            n_estimators=0,
            max_depth=model["max_depth"],
            warm_start=True,
            n_jobs=1,
            random_state=seed,
        )
    if kind == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=model["C"], max_iter=200))
    raise ValueError(f"unknown estimator {kind!r}: expected one of {', '.join(ESTIMATORS)}")
