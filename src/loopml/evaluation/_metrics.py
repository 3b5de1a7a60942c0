"""The metrics of one set of predictions, with scikit-learn's implementations.

Classification: accuracy; precision, recall and F1 of the positive label for
two classes, macro averages for more (with the macro and weighted averages and
the per-class values kept); ROC AUC (one-vs-rest macro for more than two
classes), log loss and the Brier score when class probabilities are known;
the confusion matrix; a reliability curve. Regression: RMSE, MAE, R², MAPE.
A metric that cannot be computed on these rows (ROC AUC of one class only) is
left out, never guessed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from loopml.errors import InvalidInput

__all__ = ["classification", "labels_of", "regression", "small_classification"]

_CALIBRATION_BINS = 10


def _distinct(values: Any) -> list[Any]:
    import pandas as pd

    return list(pd.unique(pd.Series(np.asarray(values).tolist(), dtype=object)))


def labels_of(y_true: Any, y_pred: Any, classes: Any = None, *, target: str) -> list[Any]:
    """The class labels, sorted: the model's classes when known, plus any label the rows
    hold that the model never predicts. InvalidInput when the ``target`` column and the
    predictions are labels of different kinds, or mix text and numbers (a target of
    ``"0"``/``"1"`` against a model of 0/1 could match no row)."""

    def text(values: Any) -> bool:
        return bool(len(values)) and isinstance(values[0], str)

    def first(values: Any) -> Any:
        value = values[0]
        return value.item() if hasattr(value, "item") else value

    if text(y_true) != text(y_pred):
        raise InvalidInput(
            f"the target column {target!r} holds {'text' if text(y_true) else 'numbers'} "
            f"({first(y_true)!r}) but the model predicts "
            f"{'text' if text(y_pred) else 'numbers'} ({first(y_pred)!r}): evaluate it "
            "on labels of the kind it was trained on."
        )
    truth, pred = _distinct(y_true), _distinct(y_pred)

    def kinds(values: list[Any]) -> set[str]:
        return {"text" if isinstance(v, str) else "numbers" for v in values}

    if len(kinds(truth) | kinds(pred)) > 1:

        def show(values: list[Any]) -> str:
            return f"{' and '.join(sorted(kinds(values)))} ({', '.join(map(repr, sorted(values, key=str)[:3]))})"

        raise InvalidInput(
            f"the labels mix text and numbers: the target holds {show(truth)}, the model "
            f"predicts {show(pred)}; give the target the type of label the model was "
            "trained on (e.g. frame[target].astype(int))."
        )
    seen = set(truth) | set(pred)
    if classes is not None:
        ordered = list(classes)
        return ordered + sorted(seen - set(ordered), key=str)
    return sorted(seen, key=str)


def _finite(values: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in values.items():
        number = float(value)
        if math.isfinite(number):
            out[key] = number
    return out


def classification(
    y_true: Any,
    y_pred: Any,
    proba: Any,
    labels: list[Any],
    positive: Any,
) -> dict[str, Any]:
    """``metrics``, ``per_class``, ``confusion_matrix``, ``calibration`` and ``curves``
    (ROC of the positive label, for the report) of a classifier's predictions."""
    from sklearn import metrics as skm

    binary = len(labels) == 2
    # one confusion matrix; every count-based metric is read from it, as scikit-learn's
    # precision_recall_fscore_support(labels=..., zero_division=0) reads its own
    matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0).astype(float)
    fn, fp = support - tp, predicted - tp
    p = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    r = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denominator = 2 * tp + fp + fn
    f = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    total = matrix.sum()
    out: dict[str, float] = {"accuracy": float(tp.sum() / total) if total else math.nan}
    weights = support / support.sum() if support.sum() else np.zeros_like(tp)
    for name, values in (("precision", p), ("recall", r), ("f1", f)):
        out[f"{name}_macro"] = float(values.mean())
        out[f"{name}_weighted"] = float(np.sum(values * weights))
    if binary:
        i = labels.index(positive)
        out.update(precision=p[i], recall=r[i], f1=f[i])
    else:
        out.update(precision=out["precision_macro"], recall=out["recall_macro"], f1=out["f1_macro"])
    per_class = {
        str(label): {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    result: dict[str, Any] = {
        "per_class": per_class,
        "confusion_matrix": {
            "labels": [str(v) for v in labels],
            "matrix": matrix.astype(int).tolist(),
        },
        "calibration": None,
        "curves": {},
    }
    if proba is not None:
        result.update(_probabilistic(y_true, proba, labels, positive, out))
    result["metrics"] = _finite(out)
    return result


def _probabilistic(
    y_true: Any, proba: Any, labels: list[Any], positive: Any, out: dict[str, float]
) -> dict[str, Any]:
    from sklearn import metrics as skm

    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    truth = np.asarray(y_true)
    present = np.unique(truth)
    extra: dict[str, Any] = {"calibration": None, "curves": {}}
    if proba.shape[1] != len(labels):
        return extra  # the model's classes and these labels disagree: no probability metric
    onehot = (truth[:, None] == np.asarray(labels, dtype=object)[None, :]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["log_loss"] = skm.log_loss(truth, proba, labels=labels)
        out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
        if len(labels) == 2:
            i = labels.index(positive)
            score = proba[:, i]
            hit = (truth == positive).astype(int)
            out["brier"] = skm.brier_score_loss(hit, score)
            if len(present) == 2:
                fpr, tpr, _ = skm.roc_curve(hit, score)
                out["roc_auc"] = skm.auc(fpr, tpr)  # roc_auc_score's value, from the same curve
                step = max(1, len(fpr) // 200)
                extra["curves"]["roc"] = {
                    "fpr": [*fpr[::step].tolist(), 1.0],
                    "tpr": [*tpr[::step].tolist(), 1.0],
                }
            extra["calibration"] = {"bins": _reliability(hit, score)}
        elif len(present) == len(labels):
            out["roc_auc"] = skm.roc_auc_score(
                truth, proba, multi_class="ovr", average="macro", labels=labels
            )
    return extra


def _reliability(hit: Any, score: Any) -> list[dict[str, float]]:
    """The reliability curve: for each non-empty tenth of [0, 1] of predicted probability,
    the mean prediction, the fraction that was positive and how many rows fell there
    (the bins of scikit-learn's ``calibration_curve``, with their counts)."""
    edges = np.linspace(0.0, 1.0, _CALIBRATION_BINS + 1)
    ids = np.searchsorted(edges[1:-1], score)
    counts = np.bincount(ids, minlength=_CALIBRATION_BINS)
    sums = np.bincount(ids, weights=score, minlength=_CALIBRATION_BINS)
    hits = np.bincount(ids, weights=hit, minlength=_CALIBRATION_BINS)
    return [
        {
            "mean_predicted": float(sums[i] / counts[i]),
            "fraction_positive": float(hits[i] / counts[i]),
            "count": int(counts[i]),
        }
        for i in np.flatnonzero(counts)
    ]


def small_classification(y_true: Any, y_pred: Any, positive: Any, binary: bool) -> dict[str, float]:
    """The metrics of one slice: accuracy, precision, recall and F1 (of the positive label,
    or macro averaged), vectorised so many slices stay cheap."""
    truth = np.asarray(y_true)
    pred = np.asarray(y_pred)
    out = {"accuracy": float(np.mean(truth == pred)) if len(truth) else math.nan}
    if binary:
        tp = float(np.sum((pred == positive) & (truth == positive)))
        fp = float(np.sum((pred == positive) & (truth != positive)))
        fn = float(np.sum((pred != positive) & (truth == positive)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.update(precision=precision, recall=recall, f1=f1)
        return _finite(out)
    from sklearn import metrics as skm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = skm.precision_recall_fscore_support(
            truth, pred, average="macro", zero_division=0
        )
    out.update(precision=p, recall=r, f1=f)
    return _finite(out)


def regression(y_true: Any, y_pred: Any) -> dict[str, float]:
    """RMSE, MAE, R² (two rows or more) and MAPE (where no true value is 0)."""
    truth = np.asarray(y_true, dtype=float)
    pred = np.asarray(y_pred, dtype=float).reshape(len(truth), -1)[:, 0]
    err = pred - truth
    out = {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
    if len(truth) > 1:
        total = float(np.sum((truth - truth.mean()) ** 2))
        if total > 0:
            out["r2"] = 1.0 - float(np.sum(err**2)) / total
    if len(truth) and np.all(truth != 0):
        out["mape"] = float(np.mean(np.abs(err / truth)))
    return _finite(out)
