"""The record of one evaluation, and the names of what it measures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.errors import Conflict, CorruptObject
from loopml.uri import EvaluationURI

__all__ = ["FAIRNESS_METRICS", "LATENCY_KEYS", "METRICS", "Evaluation", "check_shape"]

#: every metric an evaluation may compute -> "higher" or "lower" (which is better)
METRICS: dict[str, str] = {
    # classification (precision/recall/f1 are of the positive label for two classes and the
    # macro averages for more; roc_auc, log_loss and brier need predict_proba)
    "accuracy": "higher",
    "precision": "higher",
    "recall": "higher",
    "f1": "higher",
    "precision_macro": "higher",
    "recall_macro": "higher",
    "f1_macro": "higher",
    "precision_weighted": "higher",
    "recall_weighted": "higher",
    "f1_weighted": "higher",
    "roc_auc": "higher",
    "log_loss": "lower",
    "brier": "lower",
    # regression
    "rmse": "lower",
    "mae": "lower",
    "r2": "higher",
    "mape": "lower",
}

#: what ``fairness.<column>`` holds for each sensitive feature (all differences: lower is fairer)
FAIRNESS_METRICS: dict[str, str] = {
    "demographic_parity_difference": "lower",
    "equal_opportunity_difference": "lower",
    "demographic_parity_ratio": "higher",
}

#: what ``latency`` holds
LATENCY_KEYS: dict[str, str] = {
    "p50_ms": "lower",
    "p99_ms": "lower",
    "batch_1000_p50_ms": "lower",
    "batch_1000_p99_ms": "lower",
    "package_bytes": "lower",
}


# the shape of each stored field, as check_shape reads it: a type (or tuple of types), or
# ("dict", shape of values), ("list", shape of items), ("keys", {key: shape}) (each key
# present), ("some", {key: shape}) (the keys that are present); "num" is a
# number or null (a NaN or infinity is stored as null), "opt" wraps a shape that may be null
_NUM = "num"
_SHAPES: dict[str, Any] = {
    "model_uri": str,
    "manifest_digest": str,
    "target": str,
    "task": str,
    "rows": int,
    "data_digest": str,
    "metrics": ("dict", _NUM),
    "name": ("opt", str),
    "version": ("opt", int),
    "dataset": ("opt", str),
    "per_class": ("dict", ("dict", _NUM)),
    "confusion_matrix": (
        "opt",
        ("keys", {"labels": ("list", str), "matrix": ("list", ("list", _NUM))}),
    ),
    "calibration": ("opt", ("keys", {"bins": ("list", ("dict", _NUM))})),
    "curves": ("dict", ("dict", ("list", _NUM))),
    "slices": ("dict", ("dict", ("dict", _NUM))),
    "worst_slices": (
        "dict",
        ("list", ("keys", {"value": str, "count": int, "metric": str, "score": _NUM})),
    ),
    "fairness": (
        "dict",
        (
            "some",
            {
                **{
                    key: _NUM
                    for key in (
                        "demographic_parity_difference",
                        "equal_opportunity_difference",
                        "demographic_parity_ratio",
                    )
                },
                "groups": ("dict", ("dict", _NUM)),
                "per_class": ("dict", ("dict", _NUM)),
            },
        ),
    ),
    "latency": ("dict", _NUM),
    "importance": ("dict", ("keys", {"mean": _NUM, "std": _NUM})),
    "shap": ("opt", ("dict", _NUM)),
    "created_at": _NUM,
}


def check_shape(value: Any, shape: Any, where: str) -> None:
    """Raise ValueError naming ``where`` when ``value`` does not have ``shape`` (see
    ``_SHAPES``)."""
    if shape == _NUM:
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return
        raise ValueError(f"{where} is {type(value).__name__} {value!r:.40}, not a number")
    if isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[0], str):
        kind, inner = shape
        if kind == "opt":
            if value is not None:
                check_shape(value, inner, where)
            return
        if kind == "list":
            if not isinstance(value, list):
                raise ValueError(f"{where} is {type(value).__name__}, not a list")
            for i, item in enumerate(value):
                check_shape(item, inner, f"{where}[{i}]")
            return
        if not isinstance(value, dict):
            raise ValueError(f"{where} is {type(value).__name__}, not an object")
        if kind == "dict":
            for key, item in value.items():
                check_shape(item, inner, f"{where}.{key}")
            return
        for key, item_shape in inner.items():  # "keys" and "some"
            if key not in value:
                if kind == "some":
                    continue
                raise ValueError(f"{where} has no {key!r}")
            check_shape(value[key], item_shape, f"{where}.{key}")
        return
    if (isinstance(value, bool) and shape is int) or not isinstance(value, shape):
        raise ValueError(f"{where} is {type(value).__name__} {value!r:.40}, not {shape.__name__}")


@dataclass
class Evaluation:
    """One model evaluated on one frame (see :func:`loopml.evaluate`).

    ``metrics`` maps names of :data:`METRICS` to values; ``slices`` maps a
    column to its values (as text) to ``{"count": n, <metric>: value}``;
    ``worst_slices`` the worst values of each sliced column by the task's main
    metric; ``fairness`` maps a sensitive feature to its differences and
    per-group rates; ``latency`` holds the keys of :data:`LATENCY_KEYS`;
    ``importance`` maps a feature to its permutation importance (``mean``,
    ``std``); ``shap`` a feature to its mean absolute SHAP value, for tree
    models. ``options`` are the arguments that shaped these figures (the
    ``target`` and ``positive_label`` as given, ``task``, ``slices``,
    ``sensitive_features``, ``auto_slices``, ``latency``, ``importance``,
    ``seed``): a stored evaluation answers another request only when they
    match. ``id`` is set once the evaluation is stored (``uri`` is then
    ``evaluation:/<id>``).
    """

    model_uri: str
    manifest_digest: str
    target: str
    task: str
    rows: int
    data_digest: str
    metrics: dict[str, float]
    name: str | None = None
    version: int | None = None
    dataset: str | None = None
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion_matrix: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    curves: dict[str, Any] = field(default_factory=dict)
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    worst_slices: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fairness: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    importance: dict[str, dict[str, float]] = field(default_factory=dict)
    shap: dict[str, float] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    id: int | None = None

    @property
    def uri(self) -> str | None:
        """``evaluation:/<id>`` once stored, else None."""
        return None if self.id is None else str(EvaluationURI(self.id))

    def to_dict(self) -> dict[str, Any]:
        """Everything, as JSON values (the form that is stored)."""
        return {
            "id": self.id,
            "model_uri": self.model_uri,
            "name": self.name,
            "version": self.version,
            "manifest_digest": self.manifest_digest,
            "dataset": self.dataset,
            "data_digest": self.data_digest,
            "target": self.target,
            "rows": self.rows,
            "task": self.task,
            "metrics": dict(self.metrics),
            "per_class": self.per_class,
            "confusion_matrix": self.confusion_matrix,
            "calibration": self.calibration,
            "curves": self.curves,
            "slices": self.slices,
            "worst_slices": self.worst_slices,
            "fairness": self.fairness,
            "latency": dict(self.latency),
            "importance": self.importance,
            "shap": self.shap,
            "options": dict(self.options),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        """The evaluation :meth:`to_dict` described; CorruptObject naming the first field
        that is missing or of the wrong type (a record changed outside loopml)."""
        if not isinstance(data, dict):
            raise CorruptObject(
                f"an evaluation record is a JSON object, got {type(data).__name__}."
            )
        required = {"model_uri", "manifest_digest", "target", "task", "rows", "data_digest"}
        try:
            for key in sorted(required | {"metrics"}):
                if key not in data:
                    raise ValueError(f"{key!r} is missing")
            for key, shape in _SHAPES.items():
                if key in data:
                    check_shape(data[key], shape, key)
        except ValueError as exc:
            raise CorruptObject(f"an evaluation record does not read back: {exc}.") from None
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    def store(self) -> Evaluation:
        """Record an evaluation made with ``store=False`` and link it to its model version
        and dataset version, as ``loopml.evaluate`` does; sets ``id`` and returns it.
        Conflict when it is stored already.

        Example::

            cand = loopml.evaluate("models:/churn/4", "data:/holdout", store=False)
            champ = loopml.evaluate("models:/churn/3", "data:/holdout", store=False)
            loopml.evaluation.compare(cand, champ)  # both evaluated: keep both
            cand.store(), champ.store()
        """
        from loopml.evaluation._repository import store_evaluation

        if self.id is not None:
            raise Conflict(f"{self.uri} is stored already: an evaluation is stored once.")
        return store_evaluation(self)

    def to_html(self, path: Any, champion: Evaluation | None = None) -> Path:
        """Write the evaluation report to ``path``: one self-contained HTML file (plotly,
        inlined) with the metrics, ROC curve, confusion matrix, reliability curve, slice
        bars (worst values highlighted), fairness rates per group, importance and
        latency; with ``champion`` (evaluated on the same data) the metrics table shows
        its values and the deltas. Needs the ``report`` extra (plotly). Returns the path.

        Example::

            ev = loopml.evaluate("models:/churn/4", "data:/holdout", target="churned")
            ev.to_html("churn-4.html")
        """
        from loopml.evaluation._report import render_report, writable, write_html

        target = writable(path)
        return write_html(target, render_report(self, champion))

    def __repr__(self) -> str:
        main = ("f1", "accuracy", "roc_auc", "rmse", "mae", "r2")
        head = ", ".join(f"{k}={self.metrics[k]:.4g}" for k in main if k in self.metrics)
        where = self.uri or "not stored"
        return f"Evaluation({self.model_uri!r} on {self.dataset or 'a frame'}, {head}; {where})"
