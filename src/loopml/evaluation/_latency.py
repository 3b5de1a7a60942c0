"""How long a model takes to predict, through ``Model.predict`` as a server calls it.

One row: up to :data:`ONE_ROW_CALLS` calls on rows of the data, or fewer when
they take more than :data:`BUDGET_S`; 1,000 rows: up to
:data:`BATCH_CALLS` calls, within the same budget. Both report p50 and p99
in milliseconds; the package's size on disk is reported beside them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["BATCH_CALLS", "BUDGET_S", "ONE_ROW_CALLS", "measure"]

ONE_ROW_CALLS = 200
BATCH_CALLS = 20
BUDGET_S = 0.5


def _timed(call: Any, inputs: list[Any], budget: float) -> list[float]:
    call(inputs[0])  # a first call warms caches nobody pays twice
    times = []
    deadline = time.perf_counter() + budget
    for data in inputs:
        t = time.perf_counter()
        call(data)
        times.append((time.perf_counter() - t) * 1e3)
        if time.perf_counter() > deadline and len(times) >= 5:
            break
    return times


def measure(model: Any, features: Any) -> dict[str, float]:
    """``p50_ms``/``p99_ms`` of one-row predictions and ``batch_1000_p50_ms``/``..._p99_ms``
    of 1,000-row ones, on rows of ``features`` (a DataFrame), plus ``package_bytes``."""
    n = len(features)
    rng = np.random.default_rng(0)
    picks = rng.integers(0, n, size=ONE_ROW_CALLS)
    rows = [features.iloc[[i]] for i in picks]
    single = _timed(model.predict, rows, BUDGET_S / 2)
    size = min(1000, n)
    starts = rng.integers(0, max(1, n - size + 1), size=BATCH_CALLS)
    batches = [features.iloc[s : s + size] for s in starts]
    batch = _timed(model.predict, batches, BUDGET_S / 2)
    files = (getattr(model, "metadata", None) or {}).get("files") or {}
    package = sum(int(v.get("size", 0)) for v in files.values() if isinstance(v, dict))
    return {
        "p50_ms": float(np.percentile(single, 50)),
        "p99_ms": float(np.percentile(single, 99)),
        "batch_1000_p50_ms": float(np.percentile(batch, 50)),
        "batch_1000_p99_ms": float(np.percentile(batch, 99)),
        "package_bytes": float(package),
    }
