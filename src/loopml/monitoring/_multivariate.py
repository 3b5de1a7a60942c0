"""The multivariate check: can a classifier tell reference rows from current ones?

A small scikit-learn ``HistGradientBoostingClassifier`` is trained on a sample of
at most ``multivariate_sample`` rows of each side (numeric columns as they are,
categorical ones as category codes) and scored by 3-fold cross-validated ROC
AUC. With no drift the AUC stays near 0.5; drift in how columns move together,
which no single column shows, lifts it. The threshold is
``multivariate_threshold`` (0.55), raised to 0.5 + 4 standard errors of the AUC
of a chance classifier at the sample size when samples are so small that noise
could reach 0.55 (about 600 rows a side).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from loopml.errors import MissingExtra
from loopml.monitoring._config import DriftConfig
from loopml.monitoring._report import MultivariateDrift

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa

__all__ = ["auc_threshold", "domain_classifier"]

_FOLDS = 3


def auc_threshold(n_reference: int, n_current: int, floor: float) -> float:
    """``floor``, or 0.5 + 4 standard errors of a chance AUC (Hanley-McNeil under the
    null: sqrt((n1 + n2 + 1) / (12 n1 n2))) when that is higher."""
    se = math.sqrt((n_reference + n_current + 1) / (12 * n_reference * n_current))
    return max(floor, 0.5 + 4 * se)


def domain_classifier(
    reference: pa.Table, current: pa.Table, columns: Sequence[str], cfg: DriftConfig
) -> MultivariateDrift:
    """The cross-validated ROC AUC of a classifier telling ``reference`` rows from
    ``current`` ones on ``columns``."""
    import numpy as np

    try:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
    except ImportError:
        raise MissingExtra("the multivariate drift check", "sklearn", "scikit-learn") from None

    rng = np.random.default_rng(cfg.seed)
    ref = _sample(reference, cfg.multivariate_sample, rng)
    cur = _sample(current, cfg.multivariate_sample, rng)
    x_ref, x_cur, categorical = _features(ref, cur, columns)
    x = np.vstack([x_ref, x_cur])
    y = np.concatenate([np.zeros(len(x_ref)), np.ones(len(x_cur))])
    model = HistGradientBoostingClassifier(
        max_iter=100,
        learning_rate=0.1,
        max_leaf_nodes=15,
        early_stopping=False,
        categorical_features=categorical if any(categorical) else None,
        random_state=cfg.seed,
    )
    folds = StratifiedKFold(n_splits=_FOLDS, shuffle=True, random_state=cfg.seed)
    proba = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, proba))
    threshold = auc_threshold(len(x_ref), len(x_cur), cfg.multivariate_threshold)
    return MultivariateDrift(
        auc=auc,
        threshold=threshold,
        drifted=auc > threshold,
        n_reference=len(x_ref),
        n_current=len(x_cur),
        model="HistGradientBoostingClassifier",
    )


def _sample(table: pa.Table, limit: int, rng: np.random.Generator) -> pa.Table:
    import numpy as np

    if table.num_rows <= limit:
        return table
    rows = np.sort(rng.choice(table.num_rows, size=limit, replace=False))
    return table.take(rows)


def _features(
    ref: pa.Table, cur: pa.Table, columns: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Both sides as float matrices: numeric columns as floats (missing as NaN),
    categorical ones as codes of the categories both sides share (at most 250, the
    rest as one code; missing as NaN)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from loopml.monitoring._frames import column_kind

    out_ref: list[np.ndarray] = []
    out_cur: list[np.ndarray] = []
    categorical: list[bool] = []
    for name in columns:
        a, b = ref.column(name), cur.column(name)
        if column_kind(a.type) == "numeric":
            for col, out in ((a, out_ref), (b, out_cur)):
                if pa.types.is_dictionary(col.type):
                    col = col.cast(col.type.value_type)
                out.append(pc.cast(col, pa.float64()).to_numpy())
            categorical.append(False)
            continue
        a_text = pc.cast(_plain(a), pa.string())
        b_text = pc.cast(_plain(b), pa.string())
        counted = pc.value_counts(pa.chunked_array(a_text.chunks + b_text.chunks, pa.string()))
        order = np.argsort(-counted.field("counts").to_numpy())
        values = counted.field("values").take(pa.array(order[:250]))
        values = values.filter(values.is_valid())
        for col, out in ((a_text, out_ref), (b_text, out_cur)):
            codes = pc.index_in(col, value_set=values).to_numpy(zero_copy_only=False)
            codes = np.where(np.isnan(codes.astype(np.float64)), len(values), codes)
            codes = codes.astype(np.float64)
            codes[col.is_null().to_numpy(zero_copy_only=False)] = np.nan
            out.append(codes)
        categorical.append(True)
    return np.column_stack(out_ref), np.column_stack(out_cur), categorical


def _plain(col: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col
