"""The analysis of a rollout against shapes of the prediction log a new user or a bad
candidate produces: each test states what analyze() must say."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from loopml.deployments import Verdict, analyze


def _log(
    predictions: Any,
    variant: str,
    *,
    truth: Any = None,
    latency: Any = None,
) -> pd.DataFrame:
    """Rows of the prediction log as read_predictions gives them: one row per request."""
    n = len(predictions)
    frame = pd.DataFrame(
        {
            "request_id": [f"{variant}-{i}" for i in range(n)],
            "row": np.zeros(n, dtype="int32"),
            "variant": variant,
            "status": "ok",
            "latency_ms": np.full(n, 10.0) if latency is None else latency,
            "prediction": predictions,
        }
    )
    if truth is not None:
        frame["ground_truth"] = truth
    return frame


def test_a_candidate_answering_null_for_every_request_is_not_promoted() -> None:
    """A candidate whose every answer is null (a model returning None per row: the
    server answers 200 and logs the rows as ok) must not PASS: it gives no prediction at
    all, so the distribution check cannot hold; expected FAIL (or at least not PASS)."""
    rng = np.random.default_rng(0)
    primary = _log(rng.normal(100.0, 10.0, 500), "primary")
    candidate = _log(pd.Series([None] * 500, dtype=object), "candidate")
    result = analyze(primary, candidate)
    assert result.verdict is not Verdict.PASS, [c.detail for c in result.checks]


def test_a_candidate_answering_null_for_half_the_rows_is_not_promoted() -> None:
    """Half of the candidate's answers are null where the primary always answers a
    number (as the log reads them back: a float column with NaN where the model answered
    null): a regression that must not PASS."""
    rng = np.random.default_rng(1)
    primary = _log(rng.normal(100.0, 10.0, 1000), "primary")
    values = rng.normal(100.0, 10.0, 1000)
    values[::2] = np.nan
    candidate = _log(values, "candidate")
    result = analyze(primary, candidate)
    assert result.verdict is not Verdict.PASS, [c.detail for c in result.checks]


def test_rare_large_errors_that_triple_the_mean_absolute_error_fail_the_quality_check() -> None:
    """With 10,000 labelled rows each, a regression candidate whose mean absolute error
    is three times the primary's (its typical error is slightly smaller, but one row in
    twenty is wildly off) must FAIL the quality check: the threshold (MAE up by 5 %) is
    crossed by 200 % and the difference of the means is far beyond chance."""
    rng = np.random.default_rng(2)
    n = 10_000
    truth_p, truth_c = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    primary = _log(truth_p + rng.normal(0, 10, n), "primary", truth=truth_p)
    wild = rng.random(n) < 0.05
    guessed = np.where(wild, rng.uniform(0, 1000, n), truth_c + rng.normal(0, 9, n))
    candidate = _log(guessed, "candidate", truth=truth_c)
    mae_p = float(np.abs(primary["prediction"] - truth_p).mean())
    mae_c = float(np.abs(guessed - truth_c).mean())
    assert mae_c > 2.5 * mae_p  # the scenario: a much worse candidate
    result = analyze(primary, candidate)
    quality = next(c for c in result.checks if c.name == "quality")
    assert quality.verdict is Verdict.FAIL, quality.detail
    assert result.verdict is Verdict.FAIL


def test_an_identical_candidate_with_many_text_classes_is_not_held_forever() -> None:
    """A classifier with 500 text classes (product ids, intents) and a candidate drawn
    exactly like its primary: with 2,000 requests each the window must PASS."""
    rng = np.random.default_rng(3)
    classes = np.array([f"sku-{i}" for i in range(500)])
    primary = _log(rng.choice(classes, 2000), "primary")
    candidate = _log(rng.choice(classes, 2000), "candidate")
    result = analyze(primary, candidate)
    assert result.verdict is Verdict.PASS, [c.detail for c in result.checks]


def test_an_identical_candidate_with_numbers_in_an_object_column_passes() -> None:
    """Regression predictions that arrive as an object column (log files whose
    prediction columns pyarrow cannot concatenate are joined by pandas, which gives
    object dtype) must be compared as numbers: an identical candidate must PASS."""
    rng = np.random.default_rng(4)
    primary = _log(pd.Series(rng.normal(50, 5, 1000), dtype=object), "primary")
    candidate = _log(pd.Series(rng.normal(50, 5, 1000), dtype=object), "candidate")
    result = analyze(primary, candidate)
    assert result.verdict is Verdict.PASS, [c.detail for c in result.checks]
