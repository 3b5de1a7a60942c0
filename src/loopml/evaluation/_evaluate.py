"""``loopml.evaluate``: a model on labelled data → metrics, slices, fairness, latency.

The model predicts once on all rows (and gives class probabilities once, where
its flavor has them); every figure is computed from those predictions, so an
evaluation costs the model's own predictions plus vectorised arithmetic.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from loopml import _validate
from loopml.errors import InvalidInput, LoopmlError
from loopml.evaluation import _importance, _latency, _metrics, _slices
from loopml.evaluation._records import Evaluation
from loopml.evaluation._repository import store_evaluation

__all__ = ["evaluate", "frame_digest", "load_frame", "request_options"]


def load_frame(data: Any) -> tuple[Any, str | None]:
    """``(DataFrame, dataset URI or None)`` of evaluation data: a ``data:/`` reference
    (resolved as every reader of data resolves it, and named by its version), a pandas,
    polars or pyarrow table, or a list of records."""
    if isinstance(data, str):
        from loopml.data import get_dataset, resolve_dataset

        resolution = resolve_dataset(data)
        return _named(get_dataset(resolution.uri).to_pandas()), resolution.uri
    from loopml.models import to_frame

    if type(data).__module__.split(".", 1)[0] == "numpy":
        raise InvalidInput(
            "evaluation data must name its columns (the target among them): pass a "
            "DataFrame, an Arrow table, a list of records or a data:/ URI, not a NumPy array."
        )
    return _named(to_frame(data)), None


def _named(frame: Any) -> Any:
    """``frame`` with its column names as text, each once (a target, slice or input is
    named by text; a name twice is ambiguous)."""
    names = [str(c) for c in frame.columns]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(
                f"the evaluation data has the column {_validate.shown(name)} more than once: "
                "rename or drop the copies, so each column (the target, slices, inputs) is "
                "named once."
            )
        seen.add(name)
    if any(not isinstance(c, str) for c in frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def frame_digest(frame: Any) -> str:
    """A BLAKE3 digest of a frame's column names, dtypes and values (row order counts)."""
    import blake3
    import pandas as pd

    h = blake3.blake3()
    h.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _model(model: Any) -> tuple[Any, str, str | None, int | None]:
    """``(Model, uri, registered name, version)``."""
    from loopml.models import Model, load_model

    if isinstance(model, Model):
        loaded, uri = model, model.uri
    else:
        uri = _validate.text(str(model) if hasattr(model, "__fspath__") else model, "model")
        loaded = load_model(uri)
    name = version = None
    if loaded.version is not None and str(uri).startswith("models:/"):
        from loopml.uri import parse_model_uri

        name, version = parse_model_uri(str(uri)).name, int(loaded.version)
    return loaded, str(uri), name, version


class _Checked:
    """A loaded model whose every predict is checked, so evaluation, latency and importance
    see the same thing: an exception the model raises becomes an InvalidInput naming the
    model and the rows, and predictions that are not one finite value per row are refused
    (``check=False`` leaves the values alone, for timing)."""

    def __init__(self, model: Any, uri: str, *, check: bool = True) -> None:
        self._model, self._uri, self._check = model, uri, check

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _call(self, what: str, frame: Any) -> Any:
        try:
            return getattr(self._model, what)(frame)
        except LoopmlError:
            raise
        except Exception as exc:  # the model's own code: any error it raises
            raise InvalidInput(
                f"{self._uri} failed to {what} {len(frame):,} rows of the evaluation data: "
                f"{type(exc).__name__}: {str(exc)[:300].rstrip('.')}. Fix the data or the model, then "
                "evaluate again."
            ) from exc

    def predict(self, frame: Any) -> Any:
        out = self._call("predict", frame)
        if not self._check:
            return out
        return _one_per_row(out, len(frame), f"{self._uri} predicted")

    def predict_proba(self, frame: Any) -> Any:
        out = self._call("predict_proba", frame)
        try:
            proba = np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            proba = np.asarray([])
        if proba.ndim not in (1, 2) or len(proba) != len(frame) or not np.isfinite(proba).all():
            raise InvalidInput(
                f"{self._uri} gave class probabilities that are not one finite row per input "
                f"row (shape {getattr(proba, 'shape', None)} for {len(frame):,} rows): its "
                "probability metrics are left out."
            )
        return proba


def _one_per_row(out: Any, rows: int, who: str) -> np.ndarray:
    """``out`` as a 1-D array of ``rows`` values, none missing and none infinite."""
    import pandas as pd

    pred = np.asarray(out)
    if pred.ndim == 2 and pred.shape[1] == 1:
        pred = pred[:, 0]
    if pred.ndim != 1 or len(pred) != rows:
        raise InvalidInput(
            f"{who} an array of shape {pred.shape} for {rows:,} rows: evaluation needs one "
            "prediction per row (a list, a 1-D array or a one-column frame)."
        )
    missing = pd.isna(pred)
    bad = missing if pred.dtype.kind not in "fc" else missing | ~np.isfinite(pred)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = pred[row].item() if hasattr(pred[row], "item") else pred[row]
        raise InvalidInput(
            f"{who} {value!r} for row {row}: every row needs a prediction that is a "
            "class or a finite number; fix the model or drop the rows it cannot predict."
        )
    return pred


def _target(frame: Any, target: str | None, model: Any, named: list[str]) -> str:
    columns = [str(c) for c in frame.columns]
    if target is not None:
        _validate.text(target, "target")
        if target not in columns:
            raise InvalidInput(
                f"the target column {target!r} is not in the evaluation data; it has "
                f"{', '.join(columns[:20])}{', ...' if len(columns) > 20 else ''}."
            )
        return target
    sig = model.signature
    if sig is None:
        raise InvalidInput(
            "the model has no signature to tell its inputs from the target: pass target='<column>'."
        )
    rest = [c for c in columns if c not in set(sig.names) and c not in named]
    if len(rest) != 1:
        listed = ", ".join(rest) if rest else "none"
        raise InvalidInput(
            f"cannot tell the target column: the columns that are not model inputs are "
            f"{listed}; pass target='<column>' (--target COLUMN)."
        )
    return rest[0]


def _declared_task(native: Any) -> str | None:
    """``classification`` or ``regression`` as the model itself says (scikit-learn's
    estimator type, which XGBoost's and LightGBM's estimators declare too), else None."""
    kind = None
    try:
        import warnings

        from sklearn.base import is_classifier, is_regressor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if is_regressor(native):
                return "regression"
            if is_classifier(native):
                return "classification"
    except Exception:  # not an estimator scikit-learn can read the tags of
        kind = getattr(native, "_estimator_type", None)
    return {"regressor": "regression", "classifier": "classification"}.get(str(kind))


def _task(task: str | None, truth: Any, proba: Any, native: Any = None, y_pred: Any = None) -> str:
    import pandas as pd

    if task is not None:
        if task not in ("classification", "regression"):
            raise InvalidInput(f"task {task!r} is not known: use 'classification' or 'regression'.")
        return task
    if proba is not None:
        return "classification"
    declared = _declared_task(native)
    if declared is not None:
        return declared
    if y_pred is not None and y_pred.dtype.kind == "f" and not np.all(np.mod(y_pred, 1) == 0):
        return "regression"  # fractional predictions are no class labels
    dtype = truth.dtype
    if pd.api.types.is_float_dtype(dtype):
        return "regression"
    if pd.api.types.is_integer_dtype(dtype) and truth.nunique() > _slices.MAX_VALUES:
        return "regression"
    return "classification"


def _classes(model: Any) -> Any:
    native = model.native
    for attr in ("classes_", "classes"):
        value = getattr(native, attr, None)
        if value is not None and not callable(value):
            return list(np.asarray(value).tolist())
    return None


def _positive(labels: list[Any], positive_label: Any) -> Any:
    if positive_label is not None:
        if positive_label not in labels:
            raise InvalidInput(
                f"positive_label {positive_label!r} is not one of the classes "
                f"{', '.join(map(repr, labels[:20]))}."
            )
        return positive_label
    for candidate in (1, True, "1", "yes", "true"):
        if candidate in labels and len(labels) == 2:
            return candidate
    return labels[-1]


def evaluate(
    model: Any,
    data: Any,
    target: str | None = None,
    *,
    slices: list[str] | None = None,
    sensitive_features: list[str] | None = None,
    positive_label: Any = None,
    task: str | None = None,
    auto_slices: bool = True,
    latency: bool = True,
    importance: bool = True,
    explain: bool = False,
    seed: int = 0,
    store: bool = True,
) -> Evaluation:
    """Evaluate ``model`` on labelled ``data`` and store the result.

    ``model`` is a URI (``models:/churn/3``, ``models:/churn@prod``,
    ``runs:/<id>/model``, a package folder) or a loaded :class:`loopml.Model`;
    ``data`` a ``data:/`` reference, a pandas, polars or pyarrow table or a
    list of records holding the model's inputs and the ``target`` column
    (found by itself when it is the one column that neither the signature nor
    ``slices`` nor ``sensitive_features`` names).

    Classification or regression is read from the model (class
    probabilities) and the target's type; ``task`` overrides it. The positive
    label of two classes is ``positive_label``, else 1/True when they are
    the classes, else the model's last class. ``slices`` names columns to
    slice by (every categorical column is sliced too unless
    ``auto_slices=False``); ``sensitive_features`` names the columns whose
    groups are compared for fairness (classification only). ``latency``
    times one-row and 1,000-row predictions. ``importance`` computes each
    input's permutation importance (the drop of F1, or the rise of RMSE, when
    its values are shuffled; on a sample of the rows, seeded by ``seed``);
    ``explain`` adds each input's mean absolute SHAP value for a tree model
    (the ``explain`` extra for scikit-learn trees; any other model is refused
    before anything is computed). With ``store`` the result is recorded and
    linked to the model version and dataset version.

    Example::

        ev = loopml.evaluate("models:/churn@staging", "data:/churn-holdout", target="churned",
                             slices=["region"], sensitive_features=["sex"])
        ev.metrics["f1"], ev.slices["region"], ev.fairness["sex"]["demographic_parity_difference"]
    """
    loaded, uri, name, version = _model(model)
    _validate.count(seed, "seed", low=0, high=2**32 - 1)
    if explain:
        _importance.check_explainable(loaded)
    frame, dataset = load_frame(data)
    if len(frame) == 0:
        raise InvalidInput("the evaluation data has no rows: pass at least one labelled row.")
    named = _slices.check_columns(frame, list(_validate.texts(slices, "slices")), "slice")
    sensitive = _slices.check_columns(
        frame, list(_validate.texts(sensitive_features, "sensitive_features")), "sensitive"
    )
    column = _target(frame, target, loaded, [*named, *sensitive])
    truth_series = frame[column]
    if truth_series.isna().any():
        row = int(np.flatnonzero(truth_series.isna().to_numpy())[0])
        raise InvalidInput(
            f"the target column {column!r} is missing in row {row}: drop the unlabelled rows "
            "before evaluating."
        )
    sig = loaded.signature
    if sig is not None:
        missing = [n for n in sig.names if n not in frame.columns]
        if missing:
            raise InvalidInput(
                f"the evaluation data lacks the model input column {missing[0]!r}: it needs "
                f"{', '.join(sig.names)} and the target."
            )
    features = frame[list(sig.names)] if sig is not None else frame.drop(columns=[column])
    checked = _Checked(loaded, uri)
    y_pred = checked.predict(features)
    proba = None
    try:
        proba = checked.predict_proba(features)
    except (InvalidInput, AttributeError, NotImplementedError):
        proba = None
    kind = _task(task, truth_series, proba, loaded.native, y_pred)
    if kind == "regression" and truth_series.dtype.kind not in "iufb":
        raise InvalidInput(
            f"the target {column!r} holds {truth_series.dtype} values, not numbers, and "
            f"{uri} is a regressor: evaluate it on a numeric target, or pass "
            "task='classification'."
        )
    truth = truth_series.to_numpy()
    result: dict[str, Any] = {}
    labels: list[Any] = []
    positive = None
    if kind == "classification":
        labels = _metrics.labels_of(truth, y_pred, _classes(loaded), target=column)
        if len(labels) < 2:
            raise InvalidInput(
                f"the target {column!r} holds one class only ({labels[0]!r}) and the model "
                "predicts no other: evaluate a classifier on data with at least two classes."
            )
        positive = _positive(labels, positive_label)
        result = _metrics.classification(truth, y_pred, proba, labels, positive)
    else:
        if sensitive:
            raise InvalidInput(
                "fairness compares a classifier's outcomes across groups; this is a "
                f"regression on {column!r}: drop sensitive_features, or evaluate a classifier."
            )
        result = {"metrics": _metrics.regression(truth, y_pred)}
    columns = list(named)
    if auto_slices:
        exclude = {column, *columns}
        columns += _slices.automatic_columns(frame, exclude)
    slice_table, worst = _slices.slice_metrics(
        frame,
        columns,
        truth,
        y_pred,
        task=kind,
        positive=positive,
        binary=len(labels) == 2,
    )
    fairness = (
        _slices.fairness(frame, sensitive, truth, y_pred, labels, positive) if sensitive else {}
    )
    importances = (
        _importance.permutation_importance(
            checked,
            features,
            truth,
            y_pred,
            task=kind,
            positive=positive,
            binary=len(labels) == 2,
            seed=seed,
        )
        if importance
        else {}
    )
    shap = (
        _importance.shap_importance(loaded, features, labels, positive, seed) if explain else None
    )
    evaluation = Evaluation(
        model_uri=uri,
        manifest_digest=loaded.info.manifest_digest,
        target=column,
        task=kind,
        rows=len(frame),
        data_digest=frame_digest(frame),
        metrics=result["metrics"],
        name=name,
        version=version,
        dataset=dataset,
        per_class=result.get("per_class", {}),
        confusion_matrix=result.get("confusion_matrix"),
        calibration=result.get("calibration"),
        curves=result.get("curves", {}),
        slices=slice_table,
        worst_slices=worst,
        fairness=fairness,
        latency=_latency.measure(_Checked(loaded, uri, check=False), features) if latency else {},
        importance=importances,
        shap=shap,
        options=request_options(
            target,
            positive_label=positive_label,
            task=task,
            slices=named,
            sensitive_features=sensitive,
            auto_slices=auto_slices,
            latency=latency,
            importance=importance,
            seed=seed,
        ),
        created_at=time.time(),
    )
    return store_evaluation(evaluation) if store else evaluation


def request_options(
    target: str | None,
    *,
    positive_label: Any = None,
    task: str | None = None,
    slices: list[str] | None = None,
    sensitive_features: list[str] | None = None,
    auto_slices: bool = True,
    latency: bool = True,
    importance: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """The arguments of :func:`evaluate` that shape its figures, as JSON values: what an
    :class:`Evaluation` records as ``options``, so a stored one is reused only for the
    same request (the promotion gates compare them)."""
    label = positive_label.item() if hasattr(positive_label, "item") else positive_label
    return {
        "target": target,
        "positive_label": label,
        "task": task,
        "slices": list(slices or []),
        "sensitive_features": list(sensitive_features or []),
        "auto_slices": bool(auto_slices),
        "latency": bool(latency),
        "importance": bool(importance),
        "seed": int(seed),
    }
