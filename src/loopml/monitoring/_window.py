"""The checks of one window of the prediction log: system health, data quality, data and
prediction drift, live performance from feedback (overall and per slice), and
performance estimated before labels arrive.

Every check reads the window as one pandas frame (``read_predictions(...,
with_feedback=True)``: ``in.<column>`` inputs, ``prediction``, ``proba.<class>``,
``status``, ``latency_ms``, ``ground_truth``) and adds flat metrics::

    rows                      the window's rows (predicted or failed)
    system.requests, system.request_rate (per second), system.error_rate,
    system.refused_rate, system.p50_latency_ms, system.p95_latency_ms, system.p99_latency_ms
    data.missing_rate         the share of missing input cells (and .<column>)
    data.out_of_range_rate    numeric inputs outside the reference's [min, max]
    data.unseen_rate          categorical inputs never seen in the reference
    data.type_error_rate      inputs that are not of the reference's kind
    data.missing_columns      reference columns the log does not have
    drift_share, dataset_drift (0/1), drifted_columns, drift.<column> (score)
    prediction_drift (score), prediction_drifted (0/1)
    live.labelled, live.labelled_share, live.label_delay_p50_s
    live.accuracy, live.precision, live.recall, live.f1, live.roc_auc  (classification)
    live.mae, live.rmse, live.r2                                        (regression)
    live.<metric>.<slice>=<value>                                     per slice
    estimated.roc_auc, estimated.accuracy, estimated.precision, estimated.recall,
    estimated.f1 (classification), estimated.mae, estimated.rmse (regression),
    estimated.<metric>.lower / .upper (the range over reference-like windows of this
    size, bootstrap), estimated.degraded (1 when an estimate is on the bad side of it)

A window with fewer than ``min_rows`` rows computes the system and volume figures only:
drift and performance on a handful of rows would be noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from loopml.errors import LoopmlError
from loopml.predictions import INPUT_PREFIX, PROBA_PREFIX

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from loopml.monitoring._records import MonitorSettings
    from loopml.monitoring._reference import Reference

__all__ = [
    "MAX_SLICE_VALUES",
    "MIN_LABELLED",
    "Labels",
    "WindowResult",
    "compute_window",
    "live_metrics",
]

#: live performance needs at least this many labelled rows (a slice too)
MIN_LABELLED = 30
#: slices beyond this many distinct values are left out (the most frequent are kept)
MAX_SLICE_VALUES = 20


class Labels(Protocol):
    """What live performance needs of a reference: the task and the positive class."""

    task: str | None
    positive: Any


class WindowResult:
    """Metrics and details of one window, and whether it had enough rows."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.details: dict[str, Any] = {"notes": []}
        self.enough = True

    def note(self, text: str) -> None:
        self.details["notes"].append(text)


def compute_window(
    frame: pd.DataFrame,
    seconds: float,
    settings: MonitorSettings,
    reference: Reference | None,
) -> WindowResult:
    """Every check of one window (``seconds`` long) against ``reference``."""
    out = WindowResult()
    out.metrics["rows"] = float(len(frame))
    _system(frame, seconds, out)
    if reference is not None:
        out.details["notes"].extend(reference.notes)
    if len(frame) < settings.min_rows:
        out.enough = False
        out.note(
            f"{len(frame)} rows: fewer than min_rows = {settings.min_rows}, so drift, quality "
            "and performance were not computed and no rule fires"
        )
        return out
    ok = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    inputs = _inputs(ok)
    if reference is None:
        out.note("no reference: drift and quality were not computed")
    else:
        _quality(inputs, reference, out)
        _drift(inputs, ok, settings, reference, out)
    live_metrics(ok, settings, reference, out)
    if reference is not None:
        _estimated(ok, inputs, reference, out)
    return out


def _inputs(frame: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in frame.columns if c.startswith(INPUT_PREFIX)]
    inputs = frame[cols]
    return inputs.set_axis([c[len(INPUT_PREFIX) :] for c in cols], axis=1)


def _system(frame: pd.DataFrame, seconds: float, out: WindowResult) -> None:
    import numpy as np

    m = out.metrics
    if frame.empty:
        m["system.requests"] = 0.0
        m["system.request_rate"] = 0.0
        return
    requests = frame.drop_duplicates("request_id") if "request_id" in frame else frame
    m["system.requests"] = float(len(requests))
    m["system.request_rate"] = float(len(requests)) / seconds if seconds > 0 else 0.0
    status = requests["status"].astype(str)
    m["system.error_rate"] = float((status == "model_error").mean())
    m["system.refused_rate"] = float((status == "refused").mean())
    latency = requests["latency_ms"].to_numpy(dtype=float, na_value=np.nan)
    latency = latency[np.isfinite(latency)]
    if latency.size:
        p50, p95, p99 = np.percentile(latency, [50, 95, 99])
        m["system.p50_latency_ms"] = float(p50)
        m["system.p95_latency_ms"] = float(p95)
        m["system.p99_latency_ms"] = float(p99)


def _quality(inputs: pd.DataFrame, ref: Reference, out: WindowResult) -> None:
    import numpy as np
    import pandas as pd

    m = out.metrics
    missing_columns = [c for c in ref.profile.columns if c not in inputs.columns]
    m["data.missing_columns"] = float(len(missing_columns))
    if missing_columns:
        out.details["missing_columns"] = missing_columns
    cells = missing = out_of_range = numeric_cells = 0
    unseen = categorical_cells = type_errors = 0
    per_column: dict[str, dict[str, float]] = {}
    for name, feature in ref.profile.columns.items():
        if name not in inputs.columns:
            continue
        col = inputs[name]
        n = len(col)
        if feature.kind == "numeric":
            values = pd.to_numeric(col, errors="coerce")
            raw_missing = col.isna()
            bad_type = int((values.isna() & ~raw_missing).sum())
            arr = values.to_numpy(dtype=float, na_value=np.nan)
            finite = np.isfinite(arr)
            n_missing = int(n - finite.sum()) - bad_type
            outside = int(((arr < feature.min) | (arr > feature.max))[finite].sum())
            out_of_range += outside
            numeric_cells += int(finite.sum())
            stats = {"missing_rate": n_missing / n if n else 0.0, "out_of_range": outside}
        else:
            n_missing = int(col.isna().sum())
            known = set(feature.categories)
            present = col.dropna()
            bad_type = 0
            if feature.other_count == 0 and known:
                as_text = {str(k) for k in known}
                news = int((~present.astype(str).isin(as_text)).sum())
                unseen += news
                categorical_cells += len(present)
            else:
                news = 0
            stats = {"missing_rate": n_missing / n if n else 0.0, "unseen": news}
        type_errors += bad_type
        cells += n
        missing += n_missing
        stats["type_errors"] = bad_type
        per_column[name] = stats
        m[f"data.missing_rate.{name}"] = stats["missing_rate"]
    m["data.missing_rate"] = missing / cells if cells else 0.0
    m["data.out_of_range_rate"] = out_of_range / numeric_cells if numeric_cells else 0.0
    m["data.unseen_rate"] = unseen / categorical_cells if categorical_cells else 0.0
    m["data.type_error_rate"] = type_errors / cells if cells else 0.0
    out.details["quality"] = per_column


def _drift(
    inputs: pd.DataFrame,
    frame: pd.DataFrame,
    settings: MonitorSettings,
    ref: Reference,
    out: WindowResult,
) -> None:
    import pyarrow as pa

    from loopml.monitoring._detect import detect_drift

    m = out.metrics
    columns = [c for c in ref.profile.columns if c in inputs.columns]
    if not columns:
        out.note("the log has none of the reference's input columns: no drift computed")
        return
    config = dict(settings.drift)
    config.pop("multivariate", None)  # needs the reference's rows, not its profile
    window = inputs[columns]
    for name in columns:
        cast = _as_kind(window[name], ref.profile.columns[name].kind)
        if cast is not None:
            window = window.assign(**{name: cast})
    try:
        report = detect_drift(ref.profile, window, columns=columns, config=config)
    except LoopmlError as exc:
        out.note(f"drift could not be computed: {exc}")
        return
    m["drift_share"] = float(report.drift_share)
    m["dataset_drift"] = float(report.dataset_drift)
    m["drifted_columns"] = float(len(report.drifted_columns))
    for name, col in report.columns.items():
        if col.score is not None:
            m[f"drift.{name}"] = float(col.score)
    out.details["drift"] = report.to_dict()
    if ref.predictions is not None and "prediction" in frame.columns:
        predicted = frame["prediction"].dropna()
        expected = ref.predictions.columns.get("prediction")
        cast = None if expected is None else _as_kind(predicted, expected.kind)
        if cast is not None:
            predicted = cast
        if len(predicted):
            try:
                table = pa.table({"prediction": pa.array(predicted.to_numpy())})
                pred = detect_drift(ref.predictions, table, config=config)
            except (LoopmlError, pa.ArrowException) as exc:
                out.note(f"prediction drift could not be computed: {exc}")
            else:
                col = pred.columns["prediction"]
                if col.score is not None:
                    m["prediction_drift"] = float(col.score)
                m["prediction_drifted"] = float(col.drifted)
                out.details["prediction_drift"] = pred.to_dict()


def _as_kind(values: pd.Series, kind: str) -> pd.Series | None:
    """``values`` as the reference's kind of column when the log holds another (None when
    it holds that kind already): one mistyped cell (text in a numeric input, numbers in a
    categorical one) must not stop drift of every column. A value that is not a number
    becomes missing, so it shows in the column's missing rate and ``data.type_error_rate``
    rather than vanishing."""
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if kind == "numeric" and not numeric:
        return pd.to_numeric(values.astype(object), errors="coerce").astype(float)
    if kind == "categorical" and numeric:
        return values.astype(object).where(values.isna(), values.astype(str))
    return None


def _positive(frame: pd.DataFrame, ref: Labels | None) -> tuple[Any, str | None]:
    proba = sorted(c for c in frame.columns if c.startswith(PROBA_PREFIX))
    if ref is not None and ref.positive is not None:
        column = f"{PROBA_PREFIX}{ref.positive}"
        return ref.positive, column if column in frame.columns else None
    if len(proba) == 2:
        return proba[1][len(PROBA_PREFIX) :], proba[1]
    return None, None


def _labels(values: Any) -> np.ndarray:
    """Class labels made comparable: numbers as floats (a label column with gaps comes
    back as floats, ``1.0``; feedback as JSON numbers), anything else as text."""
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=float, na_value=np.nan)
    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy(dtype=float)
    return series.astype(str).to_numpy()


def _comparable(truth: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(truth), _labels(predicted)
    if t.dtype.kind != p.dtype.kind:  # one side text: compare both as text
        t, p = _as_text(t), _as_text(p)
    return t, p


def _as_text(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        whole = np.isfinite(values) & (np.mod(values, 1) == 0)
        return np.where(whole, values.astype(np.int64, copy=False).astype(str), values.astype(str))
    return values.astype(str)


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from ranks (the Mann-Whitney U statistic), ties averaged; NumPy only, so a
    fresh process does not import scipy.stats for it."""
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]
    n_pos = float(np.count_nonzero(positive))
    n_neg = float(len(positive)) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary(yt: np.ndarray, yp: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of boolean truth and predictions (0 where undefined)."""
    tp = float(np.count_nonzero(yt & yp))
    fp = float(np.count_nonzero(~yt & yp))
    fn = float(np.count_nonzero(yt & ~yp))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _classification(
    truth: pd.Series,
    predicted: pd.Series,
    score: np.ndarray | None,
    positive: Any,
) -> dict[str, float]:
    """Accuracy, precision, recall, F1 (of the positive class; macro-averaged beyond two
    classes) and, with scores, ROC AUC: counted with NumPy, not per-call validation."""
    import numpy as np

    t, p = _comparable(truth, predicted)
    out = {"accuracy": float(np.mean(t == p))}
    labels = np.union1d(t, p)
    if positive is not None and len(labels) <= 2:
        pos = _labels([positive])
        pos = _as_text(pos) if t.dtype.kind != pos.dtype.kind else pos
        yt, yp = t == pos[0], p == pos[0]
        out.update(_binary(yt, yp))
        if score is not None and 0 < yt.sum() < len(yt):
            out["roc_auc"] = _auc(yt, score)
    else:
        per_class = [_binary(t == label, p == label) for label in labels]
        for key in ("precision", "recall", "f1"):
            out[key] = float(np.mean([c[key] for c in per_class]))
    return out


def _regression(truth: pd.Series, predicted: pd.Series) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    t = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    p = pd.to_numeric(predicted, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    if not t.size:
        return {}
    err = p - t
    out = {"mae": float(np.mean(np.abs(err))), "rmse": float(math.sqrt(np.mean(err**2)))}
    var = float(np.var(t))
    if var > 0:
        out["r2"] = 1.0 - float(np.mean(err**2)) / var
    return out


def _task(settings: MonitorSettings, ref: Labels | None, predicted: pd.Series) -> str:
    import pandas as pd

    if settings.task is not None:
        return settings.task
    if ref is not None and ref.task is not None:
        return ref.task
    numeric = pd.to_numeric(predicted, errors="coerce")
    if numeric.notna().all() and numeric.nunique() > 20:
        return "regression"
    return "classification"


def live_metrics(
    frame: pd.DataFrame, settings: MonitorSettings, ref: Labels | None, out: WindowResult
) -> None:
    """Live performance from the feedback joined to ``frame`` (overall and per slice)."""
    import numpy as np

    m = out.metrics
    if "ground_truth" not in frame.columns:
        m["live.labelled"] = 0.0
        m["live.labelled_share"] = 0.0
        return
    labelled = frame[frame["ground_truth"].notna() & frame["prediction"].notna()]
    m["live.labelled"] = float(len(labelled))
    m["live.labelled_share"] = len(labelled) / len(frame) if len(frame) else 0.0
    if len(labelled) and "feedback_timestamp" in labelled.columns:
        delay = (labelled["feedback_timestamp"] - labelled["timestamp"]).dt.total_seconds()
        m["live.label_delay_p50_s"] = float(np.nanmedian(delay.to_numpy(dtype=float)))
    if len(labelled) < MIN_LABELLED:
        if len(frame):
            out.note(
                f"{len(labelled)} labelled rows (fewer than {MIN_LABELLED}): live performance "
                "waits for more feedback"
            )
        return
    task = _task(settings, ref, labelled["prediction"])
    positive, score_column = _positive(labelled, ref)

    def measure(part: pd.DataFrame) -> dict[str, float]:
        if task == "regression":
            return _regression(part["ground_truth"], part["prediction"])
        score = None
        if score_column is not None:
            score = part[score_column].to_numpy(dtype=float, na_value=np.nan)
            if not np.isfinite(score).all():
                score = None
        return _classification(part["ground_truth"], part["prediction"], score, positive)

    for key, value in measure(labelled).items():
        m[f"live.{key}"] = value
    _slices(labelled, settings, measure, out)


def _slices(
    labelled: pd.DataFrame,
    settings: MonitorSettings,
    measure: Callable[[pd.DataFrame], dict[str, float]],
    out: WindowResult,
) -> None:
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for name in settings.slices:
        column = f"{INPUT_PREFIX}{name}"
        if column not in labelled.columns:
            out.note(f"slice column {name!r} is not in the log")
            continue
        counts = labelled[column].astype(str).value_counts()
        groups = labelled.groupby(labelled[column].astype(str), sort=False)
        kept = [v for v in counts.index[:MAX_SLICE_VALUES] if counts[v] >= MIN_LABELLED]
        if len(counts) > MAX_SLICE_VALUES:
            out.note(
                f"slice {name!r} has {len(counts)} values: the {MAX_SLICE_VALUES} most "
                "frequent are measured"
            )
        per_value: dict[str, dict[str, float]] = {}
        for value in kept:
            part = groups.get_group(value)
            found = measure(part)
            found["labelled"] = float(len(part))
            per_value[str(value)] = found
            for key, number in found.items():
                if key != "labelled":
                    out.metrics[f"live.{key}.{name}={value}"] = number
        slices[name] = per_value
    if slices:
        out.details["slices"] = slices


def _estimated(
    frame: pd.DataFrame, inputs: pd.DataFrame, ref: Reference, out: WindowResult
) -> None:
    import numpy as np

    if not len(frame):
        return
    m = out.metrics
    if ref.confidence is not None:
        column = f"{PROBA_PREFIX}{ref.positive}"
        score = None
        if column in frame.columns:
            score = frame[column].to_numpy(dtype=float, na_value=np.nan)
            if not np.isfinite(score).all():
                score = None
        if score is None and ref.served_model() is not None:
            score = _score_again(inputs, ref, out)
        if score is not None:
            found = ref.confidence.estimate(score)
            for key, value in found.items():
                m[f"estimated.{key}"] = float(value)
            _band(ref.confidence, found, len(score), higher_is_better=True, out=out)
    elif ref.loss is not None and "prediction" in frame.columns:
        features = inputs[[c for c in ref.profile.columns if c in inputs.columns]]
        predicted = frame["prediction"].to_numpy(dtype=float, na_value=np.nan)
        try:
            found = ref.loss.estimate(features, predicted)
        except (LoopmlError, ValueError) as exc:
            out.note(f"the loss could not be estimated: {exc}")
            return
        for key, value in found.items():
            m[f"estimated.{key}"] = float(value)
        _band(ref.loss, found, len(frame), higher_is_better=False, out=out)


def _bucket(size: int) -> int:
    """``size`` to two significant digits: windows of about the same size share one
    bootstrap of the reference."""
    digits = max(len(str(size)) - 2, 0)
    return max(int(round(size, -digits)), 1)


def _band(
    estimator: Any, found: dict[str, float], size: int, *, higher_is_better: bool, out: WindowResult
) -> None:
    """``estimated.<metric>.lower`` / ``.upper``: the range the metric takes over windows
    of this size drawn from the reference (bootstrap); ``estimated.degraded`` is 1 when an
    estimate is on the bad side of its range, so a rule ``estimated.degraded > 0`` needs
    no threshold chosen by hand, however small the reference."""
    worse = 0.0
    for key, value in found.items():
        try:
            low, high = estimator.bounds(key, _bucket(size))
        except (LoopmlError, ValueError):
            continue
        out.metrics[f"estimated.{key}.lower"] = float(low)
        out.metrics[f"estimated.{key}.upper"] = float(high)
        if (value < low) if higher_is_better else (value > high):
            worse = 1.0
    out.metrics["estimated.degraded"] = worse


def _score_again(inputs: pd.DataFrame, ref: Reference, out: WindowResult) -> np.ndarray | None:
    """The positive class's probability for rows the log holds none for (callers that
    asked for predictions only), by the served model itself."""
    import numpy as np

    model = ref.served_model()
    assert model is not None
    try:
        conformed = model.conform(inputs)
        proba = np.asarray(model.predict_proba(conformed, conformed=True), dtype=float)
    except (LoopmlError, ValueError, TypeError, KeyError) as exc:
        out.note(f"the model could not score the window again to estimate performance ({exc})")
        return None
    return proba[:, 1]
