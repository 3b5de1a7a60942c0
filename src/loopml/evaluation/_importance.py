"""Which inputs a model leans on: permutation importance for any model, SHAP for trees.

Permutation importance (Breiman's, as scikit-learn's ``permutation_importance``
computes it) is the drop in the task's main metric (F1 for a classifier,
-RMSE for a regressor) when one input column's values are shuffled, so
the link between that column and the target is broken: a large drop means
the model leans on the column, about zero that it ignores it. It needs only
``Model.predict``, so it works for every flavor. Each column is shuffled
``n_repeats`` times (seeded), on a seeded sample of the rows sized so the
shuffled predictions add up to about :data:`PERMUTED_ROWS` rows whatever the
number of columns (from :data:`MIN_ROWS` to :data:`MAX_ROWS` rows); the
shuffled copies are predicted together, in calls of at most about
:data:`PERMUTED_ROWS` rows.

SHAP attributions (``explain=True``, tree models only) are each input's
mean absolute SHAP value over a sample of at most :data:`SHAP_ROWS` rows,
in the model's own output units (the margin of a boosted model, the
probability of a forest). XGBoost and LightGBM compute them themselves
(``pred_contribs`` / ``pred_contrib``, the same TreeSHAP algorithm);
scikit-learn trees go through ``shap.TreeExplainer`` (the ``explain`` extra).
For a classifier of two classes the attributions are those of the positive
class; for more, the mean over the classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from loopml.errors import InvalidInput, MissingExtra
from loopml.evaluation._metrics import small_classification

__all__ = [
    "MAX_ROWS",
    "MIN_ROWS",
    "N_REPEATS",
    "PERMUTED_ROWS",
    "SHAP_ROWS",
    "check_explainable",
    "permutation_importance",
    "sample_rows",
    "shap_importance",
]

#: how many shuffled rows importance predicts in all, about
PERMUTED_ROWS = 50_000
#: the fewest and most rows of the sample importance shuffles
MIN_ROWS = 500
MAX_ROWS = 10_000
#: how many times each column is shuffled
N_REPEATS = 5
#: the most rows SHAP attributions are computed on
SHAP_ROWS = 2_000

# scikit-learn's tree models whose TreeSHAP shap computes
_SKLEARN_TREES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "IsolationForest",
)


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of ``size`` of ``n`` rows (all when ``n <= size``)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _score(task: str, truth: np.ndarray, pred: np.ndarray, positive: Any, binary: bool) -> float:
    """The main metric, higher is better: F1 (of the positive label, or macro) or -RMSE."""
    if task == "classification":
        return float(small_classification(truth, pred, positive, binary).get("f1", 0.0))
    err = np.asarray(pred, dtype=float).reshape(len(truth), -1)[:, 0] - truth.astype(float)
    return -float(np.sqrt(np.mean(err**2)))


def permutation_importance(
    model: Any,
    features: Any,
    truth: np.ndarray,
    y_pred: np.ndarray,
    *,
    task: str,
    positive: Any,
    binary: bool,
    n_repeats: int = N_REPEATS,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``{column: {"mean", "std"}}``: the drop of the main metric when the column is
    shuffled, over ``n_repeats`` shuffles (see the module docstring). ``y_pred`` are the
    model's predictions on all of ``features``, so the unshuffled score costs nothing."""
    import pandas as pd

    columns = [str(c) for c in features.columns]
    if not columns:
        return {}
    size = min(MAX_ROWS, max(MIN_ROWS, PERMUTED_ROWS // (len(columns) * n_repeats)))
    rows = sample_rows(len(features), size, seed)
    sample = features.iloc[rows].reset_index(drop=True)
    truth_s, pred_s = truth[rows], np.asarray(y_pred)[rows]
    base = _score(task, truth_s, pred_s, positive, binary)
    rng = np.random.default_rng(seed)
    n = len(sample)
    block = n * n_repeats
    stacked = pd.concat([sample] * n_repeats, ignore_index=True)
    # columns are shuffled in groups predicted in one call of at most about PERMUTED_ROWS
    # rows: a model's per-call cost (thread start-up, input checks) is paid a few times
    per_call = max(1, PERMUTED_ROWS // block)
    names = list(sample.columns)
    out: dict[str, dict[str, float]] = {}
    for start in range(0, len(names), per_call):
        group = names[start : start + per_call]
        copies = []
        for name in group:
            shuffles = np.concatenate([rng.permutation(n) for _ in range(n_repeats)])
            copy = stacked.copy(deep=False)
            copy[name] = sample[name].to_numpy()[shuffles]
            copies.append(copy)
        pred = np.asarray(model.predict(pd.concat(copies, ignore_index=True)))
        if pred.ndim > 1 and pred.shape[1] == 1:
            pred = pred[:, 0]
        for g, name in enumerate(group):
            drops = [
                base
                - _score(
                    task,
                    truth_s,
                    pred[g * block + r * n : g * block + (r + 1) * n],
                    positive,
                    binary,
                )
                for r in range(n_repeats)
            ]
            out[str(name)] = {"mean": float(np.mean(drops)), "std": float(np.std(drops))}
    return out


def _kind(native: Any) -> str | None:
    """``xgboost``, ``lightgbm`` or ``sklearn`` for a tree model, else None."""
    cls = type(native)
    module = cls.__module__.split(".", 1)[0]
    if module == "xgboost":
        return "xgboost"
    if module == "lightgbm" or type(getattr(native, "booster", None)).__module__.startswith(
        "lightgbm"
    ):
        return "lightgbm"
    if module == "sklearn" and cls.__name__ in _SKLEARN_TREES:
        return "sklearn"
    return None


def check_explainable(model: Any) -> str:
    """The kind of tree ``model`` (a loaded :class:`loopml.Model`) is; InvalidInput for a
    model that is not a tree, MissingExtra when a scikit-learn tree needs shap."""
    kind = _kind(model.native)
    if kind is None:
        cls = type(model.native)
        raise InvalidInput(
            f"SHAP attributions (explain=True) are computed for tree models only "
            f"(scikit-learn trees and forests, gradient boosting, XGBoost, LightGBM); this "
            f"model is a {cls.__module__}.{cls.__qualname__}: drop explain=True (--explain), "
            "permutation importance covers every model."
        )
    if kind == "sklearn":
        try:
            import shap  # noqa: F401
        except ImportError:
            raise MissingExtra("SHAP attributions (explain=True)", "explain", "shap") from None
    return kind


def shap_importance(
    model: Any, features: Any, labels: list[Any], positive: Any, seed: int = 0
) -> dict[str, float]:
    """``{column: mean |SHAP|}`` of a tree model (see the module docstring)."""
    kind = check_explainable(model)
    rows = sample_rows(len(features), SHAP_ROWS, seed)
    sample = features.iloc[rows]
    if model.signature is not None:
        sample = model.signature.conform(sample)
    columns = [str(c) for c in sample.columns]
    width = len(columns)
    native = model.native
    if kind == "xgboost":
        import xgboost

        booster = native if isinstance(native, xgboost.Booster) else native.get_booster()
        values = np.asarray(booster.predict(xgboost.DMatrix(sample), pred_contribs=True))
        values = values[..., :width] if values.ndim == 2 else values[:, :, :width]
        if values.ndim == 3:  # (rows, classes, columns + bias)
            values = np.moveaxis(values, 1, 2)
    elif kind == "lightgbm":
        booster = getattr(native, "booster", native)
        if not hasattr(booster, "predict"):
            booster = native.booster_
        raw = np.asarray(booster.predict(sample, pred_contrib=True))
        if raw.shape[1] == width + 1:
            values = raw[:, :width]
        else:  # (rows, classes * (columns + bias))
            values = np.moveaxis(raw.reshape(len(raw), -1, width + 1)[:, :, :width], 1, 2)
    else:
        import shap

        explainer = shap.TreeExplainer(native)
        given = sample if hasattr(native, "feature_names_in_") else sample.to_numpy()
        values = np.asarray(explainer.shap_values(given, check_additivity=False))
        if values.ndim == 3 and values.shape[0] != len(sample):  # (classes, rows, columns)
            values = np.moveaxis(values, 0, 2)
    magnitude = np.abs(values)
    if magnitude.ndim == 3:  # (rows, columns, classes)
        k = magnitude.shape[2]
        if k == 2 and len(labels) == 2 and positive in labels:
            magnitude = magnitude[:, :, labels.index(positive)]
        else:
            magnitude = magnitude.mean(axis=2)
    means = magnitude.mean(axis=0)
    return {name: float(means[i]) for i, name in enumerate(columns)}
