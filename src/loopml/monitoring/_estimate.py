"""Performance estimated before labels arrive: from calibrated confidence, or a model of the loss.

:class:`ConfidenceEstimator` (after NannyML's CBPE) calibrates a classifier's scores on a
labelled reference; on a window without labels, each row's calibrated probability is
the chance that the row is positive, so the expected confusion matrix and the expected
ROC curve follow. Nothing is sorted per window: scores are counted on a fine grid
(:data:`GRID` cells between 0 and 1, with the decision threshold on a cell edge), the
calibrated probability of each cell is looked up once, and the metrics come from the
counts, so a million scores take a few milliseconds.

:class:`LossEstimator` (after NannyML's DLE) learns a regressor's absolute and squared
error from the features and the prediction on a labelled reference, and averages its
predictions over a window.

Both give alert bounds (:meth:`ConfidenceEstimator.bounds`, :meth:`LossEstimator.bounds`):
the central ``confidence`` range of the realised metric over bootstrap windows of the
window's size drawn from the reference, so a reference of a single chunk still gives a
band of the width chance alone gives a window of that size.

Example::

    from loopml.monitoring import ConfidenceEstimator

    est = ConfidenceEstimator.fit(reference["label"], reference["score"])
    est.estimate(today["score"])            # {'roc_auc': 0.91, 'accuracy': 0.86, ...}
    low, high = est.bounds("roc_auc", len(today))
    ConfidenceEstimator.from_dict(json.loads(json.dumps(est.to_dict())))  # same estimator
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from loopml.errors import InvalidInput

from ._frames import column_kind

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    IntArray = npt.NDArray[np.int64]
    Array = npt.NDArray[Any]

__all__ = ["GRID", "ConfidenceEstimator", "LossEstimator"]

GRID = 2**14
"""Cells of the score grid between 0 and 1 (a cell is 0.00006 wide)."""
COARSE = 64
"""Grid cells merged into one for the bootstrap of the bounds (258 cells)."""
BOOTSTRAP = 1000
"""Bootstrap windows behind each bound."""
MIN_ROWS = 100
"""The fewest reference rows a fit accepts."""
MIN_CLASS = 10
"""The fewest reference rows of each class a fit accepts."""
FORMAT = 1
BINARY_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")
MULTICLASS_METRICS = ("accuracy", "f1")
LOSS_METRICS = ("mae", "rmse")
CALIBRATIONS = ("isotonic", "histogram")


# ---------------------------------------------------------------- input checks


def _vector(value: Any, what: str) -> FloatArray:
    """``value`` (array, list, pandas or Arrow column) as a 1-D float array."""

    arr = _array(value, what)
    if arr.ndim != 1:
        raise InvalidInput(
            f"expected {what} as one column of numbers, got an array of shape {arr.shape}."
        )
    return arr


def _array(value: Any, what: str) -> FloatArray:
    import numpy as np

    module = type(value).__module__.split(".")[0]
    try:
        if module == "pandas" and hasattr(value, "to_numpy"):
            arr = value.to_numpy(dtype=np.float64, na_value=np.nan)
        elif module == "pyarrow":
            import pyarrow as pa

            if isinstance(value, pa.Table | pa.RecordBatch):
                arr = np.column_stack([c.to_numpy(zero_copy_only=False) for c in value.columns])
            else:
                arr = value.to_numpy(zero_copy_only=False)
            arr = np.asarray(arr, dtype=np.float64)
        elif module == "polars" and hasattr(value, "to_numpy"):
            arr = np.asarray(value.to_numpy(), dtype=np.float64)
        else:
            arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"expected {what} as numbers, got {type(value).__name__} that cannot be read as "
            f"numbers ({exc}). Convert it to a float array first."
        ) from None
    if arr.ndim == 0:
        raise InvalidInput(f"expected {what} as a column of numbers, got one value {value!r}.")
    if np.isnan(arr).any():
        where = int(np.flatnonzero(np.isnan(arr).ravel())[0])
        raise InvalidInput(
            f"{what} holds missing values (NaN or null), the first at flat position {where}; "
            "expected numbers only: drop or fill those rows first."
        )
    return arr


def _scores(value: Any, what: str, *, classes: int | None = None) -> FloatArray:
    """Probabilities in [0, 1]: one column (binary) or one column per class."""

    arr = _array(value, what)
    if arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] < 2):
        raise InvalidInput(
            f"expected {what} as one column of probabilities of the positive class, or a "
            f"2-D array of one column per class, got an array of shape {arr.shape}."
        )
    if classes is not None:
        got = 0 if arr.ndim == 1 else arr.shape[1]
        if got != classes:
            expected = "one column (binary)" if classes == 0 else f"{classes} columns"
            raise InvalidInput(
                f"expected {what} as {expected} like the reference, got shape {arr.shape}."
            )
    if arr.size == 0:
        raise InvalidInput(f"expected {what} to hold at least one row, got none.")
    low, high = float(arr.min()), float(arr.max())
    if low < 0.0 or high > 1.0:
        bad = low if low < 0.0 else high
        raise InvalidInput(
            f"expected {what} as probabilities between 0 and 1, got {bad!r}. Pass the "
            "model's predicted probabilities (predict_proba), not decision values or labels."
        )
    return arr


def _number(value: Any) -> str:
    """A number as users wrote it: 2 rather than np.float64(2.0)."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _same_length(a: Any, b: Any, what_a: str, what_b: str) -> None:
    if len(a) != len(b):
        raise InvalidInput(
            f"{what_a} and {what_b} must have the same length, got {len(a):,} and {len(b):,} "
            "rows: pass the rows of one window, in the same order."
        )


# ---------------------------------------------------------------- binned metrics


def _grid_index(scores: FloatArray, threshold: float) -> IntArray:
    """The grid cell of each score; the threshold falls on the edge of cell ``_offset``."""
    import numpy as np

    pos = scores - threshold
    pos *= GRID
    pos += _offset(threshold)
    return pos.astype(np.int64)  # pos >= 0, so truncation is floor


def _offset(threshold: float) -> int:
    return math.ceil(threshold * GRID)


def _centers(threshold: float) -> FloatArray:
    """The score at the middle of each grid cell (GRID + 2 cells), clipped to [0, 1]."""
    import numpy as np

    cells = np.arange(GRID + 2, dtype=np.float64)
    return np.clip(threshold + (cells - _offset(threshold) + 0.5) / GRID, 0.0, 1.0)


def _auc(pos: Array, neg: Array) -> FloatArray:
    """ROC AUC from expected positives / negatives per cell, cells in ascending score
    order along the last axis; ties within a cell count half (Mann-Whitney)."""
    import numpy as np

    above = np.cumsum(pos[..., ::-1], axis=-1)[..., ::-1] - pos  # positives scored higher
    total_pos = pos.sum(axis=-1)
    total_neg = neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = ((neg * (above + 0.5 * pos)).sum(axis=-1)) / (total_pos * total_neg)
    return out


def _confusion_metrics(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, Any]:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "accuracy": (tp + tn) / (tp + fp + fn + tn),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }


def _binary_metrics(pos: Array, neg: Array, offset: int) -> dict[str, Any]:
    """Every binary metric from positives / negatives per cell; cells from ``offset`` on
    are predicted positive."""
    tp, fp = pos[..., offset:].sum(axis=-1), neg[..., offset:].sum(axis=-1)
    fn, tn = pos[..., :offset].sum(axis=-1), neg[..., :offset].sum(axis=-1)
    return {"roc_auc": _auc(pos, neg), **_confusion_metrics(tp, fp, fn, tn)}


def _macro_f1(confusion: Array) -> Any:
    """Macro F1 from confusion matrices ``[..., true, predicted]``."""
    import numpy as np

    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    predicted = confusion.sum(axis=-2)
    actual = confusion.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = 2 * tp / (predicted + actual)
    return np.nanmean(f1, axis=-1) if f1.ndim > 1 else float(np.nanmean(f1))


def _calibrate(
    counts: Array, positives: Array, centers: FloatArray, method: str
) -> tuple[FloatArray, FloatArray]:
    """The calibration map as knots (score, probability) from counts per grid cell."""
    import numpy as np

    seen = counts > 0
    x, n, k = centers[seen], counts[seen], positives[seen]
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(x, k / n, sample_weight=n)
        return (
            np.asarray(iso.X_thresholds_, dtype=np.float64),
            np.asarray(iso.y_thresholds_, dtype=np.float64),
        )
    # histogram: groups of equal reference mass, at least 50 rows each, at most 100
    groups = int(min(100, max(1, n.sum() // 50)))
    group = np.minimum((np.cumsum(n) - n) * groups // n.sum(), groups - 1).astype(np.int64)
    gn = np.bincount(group, weights=n, minlength=groups)
    gk = np.bincount(group, weights=k, minlength=groups)
    gx = np.bincount(group, weights=x * n, minlength=groups)
    keep = gn > 0
    return gx[keep] / gn[keep], gk[keep] / gn[keep]


def _bootstrap(cells: FloatArray, size: int, seed: int) -> FloatArray:
    """Counts of ``BOOTSTRAP`` windows of ``size`` rows drawn from cells with these counts."""
    import numpy as np

    flat = cells.ravel()
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(size, flat / flat.sum(), size=BOOTSTRAP).astype(np.float64)
    return draws.reshape((BOOTSTRAP, *cells.shape))


def _band(values: Any, shift: float, confidence: float, metric: str) -> tuple[float, float]:
    import numpy as np

    alpha = (1.0 - confidence) / 2.0
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return (math.nan, math.nan)
    low, high = np.quantile(finite, [alpha, 1.0 - alpha]) + shift
    upper = math.inf if metric in ("mae", "rmse") else 1.0
    return (float(max(low, 0.0)), float(min(high, upper)))


def _check_bounds_args(metric: str, size: int, confidence: float, metrics: Sequence[str]) -> None:
    if metric not in metrics:
        raise InvalidInput(f"expected the metric as one of {', '.join(metrics)}, got {metric!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInput(f"expected the window size as a positive whole number, got {size!r}.")
    if not 0.0 < confidence < 1.0:
        raise InvalidInput(
            f"expected the confidence as a share between 0 and 1 (0.99), got {confidence!r}."
        )


# ---------------------------------------------------------------- classifiers


@dataclass
class ConfidenceEstimator:
    """A classifier's ROC AUC, accuracy, precision, recall and F1 expected from its scores.

    Fitted on a labelled reference with :meth:`fit`; :meth:`estimate` needs scores only.
    Binary: ``scores`` are the probability of the positive class, a row is predicted
    positive when its score is at least ``threshold``. Multiclass (``classes`` > 0):
    ``scores`` hold one column per class, the predicted class is the column of the
    highest score, and the estimate holds ``accuracy`` and ``f1`` (macro).

    Calibration is isotonic by default (``calibration="histogram"`` for 100 groups of
    equal reference mass, linearly interpolated): on synthetic data with covariate shift
    (benchmarks/bench_estimate.py) isotonic estimates the ROC AUC closer to the truth.
    Every field is a plain value, so :meth:`to_dict` is JSON and :meth:`from_dict`
    gives the same estimator back.
    """

    threshold: float
    calibration: str
    knots: list[tuple[list[float], list[float]]]
    """The calibration map of each class (binary: one), as (scores, probabilities)."""
    reference: dict[str, float]
    """The metrics realised on the reference."""
    cells: list[list[float]]
    """Reference rows counted for the bootstrap of :meth:`bounds`: binary, per coarse
    score cell (258 of them) the negatives and the positives; multiclass, the
    confusion matrix (true class by row, predicted class by column)."""
    classes: int = 0
    """0 for a binary classifier, else the number of classes."""
    n_rows: int = 0
    seed: int = 0
    _tables: Any = field(default=None, init=False, repr=False, compare=False)
    _bounds: dict[tuple[int, float], dict[str, tuple[float, float]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metrics :meth:`estimate` gives."""
        return MULTICLASS_METRICS if self.classes else BINARY_METRICS

    @classmethod
    def fit(
        cls,
        y_true: Any,
        y_score: Any,
        *,
        threshold: float = 0.5,
        calibration: str = "isotonic",
        seed: int = 0,
    ) -> ConfidenceEstimator:
        """Calibrate ``y_score`` against ``y_true`` on a labelled reference.

        Binary: ``y_true`` holds 0 and 1 (or False and True), ``y_score`` the
        probability of 1. Multiclass: ``y_score`` is a 2-D array of one column per
        class, ``y_true`` the column index (0 .. classes - 1) of each row's class.
        """
        import numpy as np

        if calibration not in CALIBRATIONS:
            raise InvalidInput(
                f"expected calibration as one of {', '.join(CALIBRATIONS)}, got {calibration!r}."
            )
        if isinstance(threshold, bool) or not 0.0 < float(threshold) < 1.0:
            raise InvalidInput(
                f"expected the threshold as a probability between 0 and 1 (0.5), got {threshold!r}."
            )
        scores = _scores(y_score, "the reference scores (y_score)")
        labels = _vector(y_true, "the reference labels (y_true)")
        _same_length(labels, scores, "y_true", "y_score")
        if len(labels) < MIN_ROWS:
            raise InvalidInput(
                f"expected a reference of at least {MIN_ROWS} labelled rows, got "
                f"{len(labels)}: calibrate on a larger reference."
            )
        classes = 0 if scores.ndim == 1 else scores.shape[1]
        expected = np.arange(max(classes, 2))
        found = np.unique(labels)
        strange = np.setdiff1d(found, expected)
        if strange.size:
            allowed = "0 and 1" if not classes else f"0 to {classes - 1} (the score columns)"
            raise InvalidInput(
                f"expected the reference labels as {allowed}, got {_number(strange[0])}. Map the "
                "labels to these codes first (e.g. (y == 'churned').astype(int))."
            )
        counts = np.bincount(labels.astype(np.int64), minlength=max(classes, 2))
        if counts.min() < MIN_CLASS:
            rare = int(np.argmin(counts))
            raise InvalidInput(
                f"expected at least {MIN_CLASS} reference rows of every class, got "
                f"{int(counts[rare])} of class {rare}: a reference with (almost) one class "
                "cannot calibrate the scores; take a reference holding both outcomes."
            )
        threshold = float(threshold)
        if classes:
            return cls._fit_multiclass(labels, scores, classes, calibration, seed)
        y = labels.astype(bool)
        idx = _grid_index(scores, threshold)
        n = np.bincount(idx, minlength=GRID + 2).astype(np.float64)
        k = np.bincount(idx, weights=y, minlength=GRID + 2)
        x, p = _calibrate(n, k, _centers(threshold), calibration)
        offset = _offset(threshold)
        realised = _binary_metrics(k, n - k, offset)
        coarse = _coarse(idx, offset)
        width = int(coarse.max()) + 1
        cells = np.stack(
            [
                np.bincount(coarse, weights=~y, minlength=width),
                np.bincount(coarse, weights=y, minlength=width),
            ]
        )
        return cls(
            threshold=threshold,
            calibration=calibration,
            knots=[(x.tolist(), p.tolist())],
            reference={m: float(v) for m, v in realised.items()},
            cells=cells.tolist(),
            n_rows=len(labels),
            seed=seed,
        )

    @classmethod
    def _fit_multiclass(
        cls, labels: FloatArray, scores: FloatArray, classes: int, calibration: str, seed: int
    ) -> ConfidenceEstimator:
        import numpy as np

        y = labels.astype(np.int64)
        knots = []
        for c in range(classes):
            idx = _grid_index(scores[:, c], 0.0)
            n = np.bincount(idx, minlength=GRID + 2).astype(np.float64)
            k = np.bincount(idx, weights=y == c, minlength=GRID + 2)
            x, p = _calibrate(n, k, _centers(0.0), calibration)
            knots.append((x.tolist(), p.tolist()))
        predicted = scores.argmax(axis=1)
        flat = np.bincount(y * classes + predicted, minlength=classes * classes)
        confusion = flat.reshape(classes, classes).astype(np.float64)
        reference = {
            "accuracy": float(np.trace(confusion) / confusion.sum()),
            "f1": float(_macro_f1(confusion)),
        }
        return cls(
            threshold=0.5,
            calibration=calibration,
            knots=knots,
            reference=reference,
            cells=confusion.tolist(),
            classes=classes,
            n_rows=len(labels),
            seed=seed,
        )

    def _table(self) -> FloatArray:
        """The calibrated probability of each grid cell, one row per class."""
        import numpy as np

        if self._tables is None:
            centers = _centers(0.0 if self.classes else self.threshold)
            self._tables = np.stack(
                [np.interp(centers, np.asarray(x), np.asarray(p)) for x, p in self.knots]
            )
        tables: FloatArray = self._tables
        return tables

    def calibrate(self, y_score: Any) -> FloatArray:
        """The calibrated probabilities of ``y_score`` (multiclass: rows sum to 1)."""
        import numpy as np

        scores = _scores(y_score, "the scores", classes=self.classes)
        table = self._table()
        if not self.classes:
            out: FloatArray = table[0][_grid_index(scores, self.threshold)]
            return out
        probs = np.column_stack(
            [table[c][_grid_index(scores[:, c], 0.0)] for c in range(self.classes)]
        )
        total = probs.sum(axis=1, keepdims=True)
        np.divide(probs, total, out=probs, where=total > 0)
        return probs

    def estimate(self, y_score: Any) -> dict[str, float]:
        """The metrics expected on a window of scores without labels.

        Binary: ``roc_auc``, ``accuracy``, ``precision``, ``recall``, ``f1``;
        multiclass: ``accuracy`` and ``f1`` (macro). A metric with no defined value
        (precision when no row is predicted positive) is NaN.
        """
        import numpy as np

        if self.classes:
            scores = _scores(y_score, "the scores", classes=self.classes)
            probs = self.calibrate(scores)
            predicted = scores.argmax(axis=1)
            # expected confusion[true, predicted]: row i adds probs[i, c] to (c, pred_i)
            confusion = np.stack(
                [
                    np.bincount(predicted, weights=probs[:, c], minlength=self.classes)
                    for c in range(self.classes)
                ]
            )
            return {
                "accuracy": float(np.trace(confusion) / len(scores)),
                "f1": float(_macro_f1(confusion)),
            }
        scores = _scores(y_score, "the scores", classes=0)
        counts = np.bincount(_grid_index(scores, self.threshold), minlength=GRID + 2)
        pos = counts * self._table()[0]
        neg = counts - pos
        metrics = _binary_metrics(pos, neg, _offset(self.threshold))
        return {m: float(v) for m, v in metrics.items()}

    def bounds(self, metric: str, size: int, *, confidence: float = 0.99) -> tuple[float, float]:
        """The range holding ``confidence`` of the realised ``metric`` over windows of
        ``size`` rows like the reference (bootstrap); outside it, alert.

        Computed from the reference alone, so one reference chunk gives a band as wide
        as chance makes windows of that size differ, not a band of zero width.
        """
        _check_bounds_args(metric, size, confidence, self.metrics)
        key = (size, confidence)
        if key not in self._bounds:
            import numpy as np

            cells = np.asarray(self.cells, dtype=np.float64)
            draws = _bootstrap(cells, size, self.seed)
            if self.classes:
                values = {
                    "accuracy": np.trace(draws, axis1=1, axis2=2) / size,
                    "f1": _macro_f1(draws),
                }
                at_reference = dict(self.reference)  # no coarsening: no shift
            else:
                offset = -(-_offset(self.threshold) // COARSE)
                values = _binary_metrics(draws[:, 1], draws[:, 0], offset)
                coarse = _binary_metrics(cells[1], cells[0], offset)
                at_reference = {m: float(coarse[m]) for m in values}
            # the bootstrap on coarse cells shifts by what coarsening shifts the reference
            self._bounds[key] = {
                m: _band(values[m], self.reference[m] - at_reference[m], confidence, m)
                for m in values
            }
        return self._bounds[key][metric]

    def to_dict(self) -> dict[str, Any]:
        """The estimator as plain JSON-able values (:meth:`from_dict` reads it back)."""
        return {
            "format": FORMAT,
            "kind": "confidence",
            "threshold": self.threshold,
            "calibration": self.calibration,
            "classes": self.classes,
            "n_rows": self.n_rows,
            "seed": self.seed,
            "knots": [{"score": list(x), "probability": list(p)} for x, p in self.knots],
            "reference": dict(self.reference),
            "cells": [list(row) for row in self.cells],
        }

    @classmethod
    def from_dict(cls, data: Any) -> ConfidenceEstimator:
        """The estimator :meth:`to_dict` wrote; InvalidInput naming the field that is wrong."""
        if not isinstance(data, Mapping) or data.get("kind") != "confidence":
            raise InvalidInput(
                "expected a confidence estimator written by ConfidenceEstimator.to_dict() "
                f"(an object with kind 'confidence'), got {str(data)[:80]!r}."
            )
        if data.get("format") != FORMAT:
            raise InvalidInput(
                f"expected 'format' {FORMAT} of the estimator, got {data.get('format')!r}: "
                "fit the estimator again with this version of loopml."
            )
        try:
            knots = [
                ([float(v) for v in k["score"]], [float(v) for v in k["probability"]])
                for k in data["knots"]
            ]
            estimator = cls(
                threshold=float(data["threshold"]),
                calibration=str(data["calibration"]),
                knots=knots,
                reference={str(k): float(v) for k, v in data["reference"].items()},
                cells=[[float(v) for v in row] for row in data["cells"]],
                classes=int(data["classes"]),
                n_rows=int(data["n_rows"]),
                seed=int(data["seed"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(
                f"the confidence estimator's fields cannot be read ({exc!r}); expected what "
                "ConfidenceEstimator.to_dict() writes: fit the estimator again."
            ) from None
        if any(len(x) != len(p) or not x for x, p in knots):
            raise InvalidInput(
                "expected each calibration map as scores and probabilities of the same "
                "length, got maps of different lengths: fit the estimator again."
            )
        return estimator


def _coarse(idx: IntArray, offset: int) -> IntArray:
    """Grid cells merged COARSE at a time; the threshold stays on a cell edge."""
    coarse: IntArray = (idx - offset) // COARSE + (-(-offset // COARSE))
    return coarse


# ---------------------------------------------------------------- regressors


@dataclass
class LossEstimator:
    """A regressor's MAE and RMSE expected from its features and predictions (DLE).

    Two of scikit-learn's HistGradientBoostingRegressor learn the absolute and the
    squared error from the features plus the prediction on a labelled reference,
    stopping early on a held-out fifth of it so the trees do not learn the reference's
    noise (which shrinks the loss they predict). Text, boolean and categorical columns
    are coded with the reference's categories (at most 254 a column, the rest and
    values never seen count as missing) and passed as categorical features; no pandas
    dtype is relied on, so pandas 2 and 3 frames, polars and Arrow tables all work.

    It holds fitted scikit-learn models and does not serialise to JSON: a monitor keeps
    it in memory and fits it again from the reference when it starts.
    """

    columns: list[str]
    categories: dict[str, list[str]]
    """For each categorical column, its reference values in code order."""
    mae_model: Any = field(repr=False)
    mse_model: Any = field(repr=False)
    reference: dict[str, float]
    """``mae`` and ``rmse`` realised on the reference."""
    cells: list[list[float]] = field(repr=False)
    """Reference rows in groups of equal absolute error: count, sum of absolute errors,
    sum of squared errors per group (for the bootstrap of :meth:`bounds`)."""
    n_rows: int = 0
    seed: int = 0
    _bounds: dict[tuple[int, float], dict[str, tuple[float, float]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    metrics: ClassVar[tuple[str, ...]] = LOSS_METRICS

    @classmethod
    def fit(cls, features: Any, y_pred: Any, y_true: Any, *, seed: int = 0) -> LossEstimator:
        """Learn the loss of ``y_pred`` against ``y_true`` from ``features`` (a pandas or
        polars frame or an Arrow table) on a labelled reference."""
        import numpy as np
        from sklearn.ensemble import HistGradientBoostingRegressor

        from loopml.data import as_arrow_table

        table, _ = as_arrow_table(features, what="reference features")
        pred = _vector(y_pred, "the reference predictions (y_pred)")
        true = _vector(y_true, "the reference targets (y_true)")
        _same_length(pred, true, "y_pred", "y_true")
        _same_length(pred, range(table.num_rows), "y_pred", "the features")
        if len(pred) < MIN_ROWS:
            raise InvalidInput(
                f"expected a reference of at least {MIN_ROWS} labelled rows, got {len(pred)}: "
                "learn the loss on a larger reference."
            )
        columns, categories = [], {}
        for name, column in zip(table.column_names, table.columns, strict=True):
            kind = column_kind(column.type)
            if kind is None:
                continue
            columns.append(name)
            if kind == "categorical":
                categories[name] = _top_values(column)
        if not columns:
            raise InvalidInput(
                "expected at least one numeric or categorical feature column, got "
                f"{table.column_names or 'none'}: pass the model's input features."
            )
        estimator = cls(columns, categories, None, None, {}, [], n_rows=len(pred), seed=seed)
        x = estimator._matrix(table, pred)
        error = true - pred
        abs_error, sq_error = np.abs(error), error * error
        mask = [*(c in categories for c in columns), False]
        models = []
        for target in (abs_error, sq_error):
            model = HistGradientBoostingRegressor(
                categorical_features=np.asarray(mask),
                early_stopping=True,
                validation_fraction=0.2,
                n_iter_no_change=10,
                max_iter=300,
                random_state=seed,
            )
            models.append(model.fit(x, target))
        estimator.mae_model, estimator.mse_model = models
        estimator.reference = {
            "mae": float(abs_error.mean()),
            "rmse": float(math.sqrt(sq_error.mean())),
        }
        order = np.argsort(abs_error, kind="stable")
        group = np.arange(len(order)) * 1024 // len(order)
        cells = np.zeros((3, 1024))
        cells[0] = np.bincount(group, minlength=1024)
        cells[1] = np.bincount(group, weights=abs_error[order], minlength=1024)
        cells[2] = np.bincount(group, weights=sq_error[order], minlength=1024)
        estimator.cells = cells.tolist()
        return estimator

    def _matrix(self, table: Any, pred: FloatArray) -> FloatArray:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        missing = [c for c in self.columns if c not in table.column_names]
        if missing:
            raise InvalidInput(
                f"the features lack the reference column(s) {', '.join(missing)}; expected "
                f"the columns {', '.join(self.columns)}."
            )
        out = np.empty((table.num_rows, len(self.columns) + 1), dtype=np.float64)
        for j, name in enumerate(self.columns):
            column = table.column(name)
            if name in self.categories:
                values = pa.array(self.categories[name], type=pa.string())
                codes = pc.index_in(_as_text(column), value_set=values)
                out[:, j] = codes.to_numpy(zero_copy_only=False)
            else:
                if pa.types.is_dictionary(column.type):
                    column = column.cast(column.type.value_type)
                out[:, j] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        out[:, -1] = pred
        return out

    def estimate(self, features: Any, y_pred: Any) -> dict[str, float]:
        """``mae`` and ``rmse`` expected on a window of features and predictions."""
        import numpy as np

        from loopml.data import as_arrow_table

        table, _ = as_arrow_table(features, what="features")
        pred = _vector(y_pred, "the predictions (y_pred)")
        _same_length(pred, range(table.num_rows), "y_pred", "the features")
        if not len(pred):
            raise InvalidInput("expected a window of at least one row, got none.")
        x = self._matrix(table, pred)
        mae = np.clip(self.mae_model.predict(x), 0.0, None).mean()
        mse = np.clip(self.mse_model.predict(x), 0.0, None).mean()
        return {"mae": float(mae), "rmse": float(math.sqrt(mse))}

    def bounds(self, metric: str, size: int, *, confidence: float = 0.99) -> tuple[float, float]:
        """The range holding ``confidence`` of the realised ``metric`` (``mae`` or
        ``rmse``) over windows of ``size`` rows like the reference (bootstrap)."""
        _check_bounds_args(metric, size, confidence, LOSS_METRICS)
        key = (size, confidence)
        if key not in self._bounds:
            import numpy as np

            cells = np.asarray(self.cells, dtype=np.float64)
            counts = cells[0]
            mean_abs = np.divide(cells[1], counts, out=np.zeros_like(counts), where=counts > 0)
            mean_sq = np.divide(cells[2], counts, out=np.zeros_like(counts), where=counts > 0)
            draws = _bootstrap(counts, size, self.seed)
            values = {"mae": draws @ mean_abs / size, "rmse": np.sqrt(draws @ mean_sq / size)}
            self._bounds[key] = {m: _band(values[m], 0.0, confidence, m) for m in values}
        return self._bounds[key][metric]


def _top_values(column: Any) -> list[str]:
    """The 254 most frequent values of a categorical column, as text."""
    import pyarrow.compute as pc

    counts = pc.value_counts(_as_text(column)).to_pylist()
    counts = [c for c in counts if c["values"] is not None]
    counts.sort(key=lambda c: (-c["counts"], c["values"]))
    return [c["values"] for c in counts[:254]]


def _as_text(column: Any) -> Any:
    """A text, boolean or dictionary column as plain text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return pc.cast(column, pa.string())
