"""Metrics per slice of the data, the worst slices, and fairness across groups.

A slice is the rows holding one value of a column. Named columns are sliced
by every value; a numeric column with more than :data:`MAX_VALUES` values is
cut into quantile bins (``[0.5, 2.0)``), and a categorical one keeps its
``MAX_VALUES - 1`` most frequent values and puts the rest in ``<other>``. Every categorical column (text,
category or boolean, with 2 to :data:`MAX_VALUES` values) is sliced too, so
the worst slices of each are found without being asked for. Missing values
form their own slice, ``<missing>``.

Fairness compares groups of a sensitive feature on a classifier's outcomes:
the demographic parity difference is the largest gap in selection rate (how
often the positive label is predicted), the equal opportunity difference the
largest gap in true positive rate, the ratio the smallest selection rate over
the largest (these are fairlearn's definitions). With more than two classes
each class is taken one-vs-rest and the largest gap over the classes is
reported, with every class's kept under ``per_class``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loopml.errors import InvalidInput
from loopml.evaluation._metrics import regression, small_classification

__all__ = [
    "MAX_VALUES",
    "MISSING",
    "OTHER",
    "automatic_columns",
    "fairness",
    "groups",
    "slice_metrics",
]

#: the most values a column is sliced by (a numeric one with more is binned)
MAX_VALUES = 50
#: the label of the slice of missing values
MISSING = "<missing>"
#: the label of the slice of a categorical column's less frequent values
OTHER = "<other>"
_BINS = 5
_WORST = 3


def _is_categorical(series: Any) -> bool:
    import pandas as pd

    dtype = series.dtype
    return bool(
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def automatic_columns(frame: Any, exclude: set[str]) -> list[str]:
    """The categorical columns worth slicing: 2 to MAX_VALUES distinct values."""
    found = []
    for name in frame.columns:
        if name in exclude or not _is_categorical(frame[name]):
            continue
        n = frame[name].nunique(dropna=False)
        if 2 <= n <= MAX_VALUES:
            found.append(str(name))
    return found


def groups(series: Any) -> dict[str, np.ndarray]:
    """Row positions of each slice of ``series``, by the slice's label."""
    import pandas as pd

    values = series
    many = series.nunique(dropna=True) > MAX_VALUES
    if many and not _is_categorical(series):
        values = pd.qcut(series, _BINS, duplicates="drop")
    elif many:  # the most frequent values keep their slices, the rest share one
        top = series.value_counts(dropna=True).index[: MAX_VALUES - 1]
        values = series.astype(object).where(series.isin(top) | series.isna(), OTHER)
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(-1, len(uniques) + 1))
    out: dict[str, np.ndarray] = {}
    for code in range(-1, len(uniques)):
        rows = order[bounds[code + 1] : bounds[code + 2]]
        if len(rows):
            label = MISSING if code == -1 else _label(uniques[code])
            out[label] = rows
    return out


def _label(value: Any) -> str:
    if hasattr(value, "left") and hasattr(value, "right"):  # a quantile bin
        return f"[{value.left:.4g}, {value.right:.4g})"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def slice_metrics(
    frame: Any,
    columns: list[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    task: str,
    positive: Any,
    binary: bool,
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, list[dict[str, Any]]]]:
    """``(slices, worst_slices)`` for ``columns`` of ``frame`` (see the module docstring)."""
    main, higher = ("f1", True) if task == "classification" else ("rmse", False)
    min_count = max(10, int(0.01 * len(y_true)))
    slices: dict[str, dict[str, dict[str, float]]] = {}
    worst: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        table: dict[str, dict[str, float]] = {}
        for label, rows in groups(frame[column]).items():
            truth, pred = y_true[rows], y_pred[rows]
            if task == "classification":
                values = small_classification(truth, pred, positive, binary)
            else:
                values = regression(truth, pred)
            table[label] = {"count": len(rows), **values}
        slices[column] = table
        ranked = [(label, v) for label, v in table.items() if v["count"] >= min_count and main in v]
        ranked.sort(key=lambda item: item[1][main], reverse=not higher)
        worst[column] = [
            {"value": label, "count": int(v["count"]), "metric": main, "score": v[main]}
            for label, v in ranked[:_WORST]
        ]
    return slices, worst


def fairness(
    frame: Any,
    columns: list[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    labels: list[Any],
    positive: Any,
) -> dict[str, dict[str, Any]]:
    """The fairness figures of each sensitive column (see the module docstring)."""
    out: dict[str, dict[str, Any]] = {}
    for column in columns:
        parts = groups(frame[column])
        if len(labels) == 2:
            out[column] = _binary_fairness(parts, y_true, y_pred, positive)
            continue
        per_class = {str(label): _binary_fairness(parts, y_true, y_pred, label) for label in labels}
        result: dict[str, Any] = {
            key: max(
                (v[key] for v in per_class.values() if math.isfinite(v[key])), default=math.nan
            )
            for key in ("demographic_parity_difference", "equal_opportunity_difference")
        }
        result["demographic_parity_ratio"] = min(
            (
                v["demographic_parity_ratio"]
                for v in per_class.values()
                if math.isfinite(v["demographic_parity_ratio"])
            ),
            default=math.nan,
        )
        result["groups"] = {
            label: {
                "count": len(rows),
                "accuracy": float(np.mean(y_true[rows] == y_pred[rows])),
            }
            for label, rows in parts.items()
        }
        result["per_class"] = {
            k: {kk: vv for kk, vv in v.items() if kk != "groups"} for k, v in per_class.items()
        }
        out[column] = result
    return out


def _binary_fairness(
    parts: dict[str, np.ndarray], y_true: np.ndarray, y_pred: np.ndarray, positive: Any
) -> dict[str, Any]:
    table: dict[str, dict[str, float]] = {}
    for label, rows in parts.items():
        truth = y_true[rows] == positive
        chosen = y_pred[rows] == positive
        n_pos, n_neg = int(truth.sum()), int((~truth).sum())
        table[label] = {
            "count": len(rows),
            "selection_rate": float(chosen.mean()),
            "true_positive_rate": float((chosen & truth).sum() / n_pos) if n_pos else math.nan,
            "false_positive_rate": float((chosen & ~truth).sum() / n_neg) if n_neg else math.nan,
            "accuracy": float((chosen == truth).mean()),
        }
    rates = [g["selection_rate"] for g in table.values()]
    tprs = [
        g["true_positive_rate"] for g in table.values() if math.isfinite(g["true_positive_rate"])
    ]
    return {
        "demographic_parity_difference": max(rates) - min(rates),
        "demographic_parity_ratio": (min(rates) / max(rates)) if max(rates) > 0 else math.nan,
        "equal_opportunity_difference": (max(tprs) - min(tprs)) if tprs else math.nan,
        "groups": table,
    }


def check_columns(frame: Any, columns: list[str], what: str) -> list[str]:
    """``columns`` if every one is in ``frame``; else InvalidInput naming the missing one."""
    have = [str(c) for c in frame.columns]
    for column in columns:
        if not isinstance(column, str) or column not in have:
            raise InvalidInput(
                f"{what} column {column!r} is not in the evaluation data; it has "
                f"{', '.join(have[:20])}{', ...' if len(have) > 20 else ''}."
            )
    return list(dict.fromkeys(columns))
