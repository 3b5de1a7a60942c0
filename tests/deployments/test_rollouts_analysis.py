"""analyze: the candidate's rows of the prediction log against the primary's."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.deployments import RolloutPolicy, Verdict, analyze
from loopml.errors import InvalidInput


def _rows(
    n: int,
    *,
    errors: float = 0.0,
    latency: float = 2.0,
    predictions: Any = None,
    truth: Any = None,
    prefix: str = "r",
) -> pd.DataFrame:
    """``n`` rows shaped as read_predictions returns them."""
    bad = round(n * errors)
    preds = [i % 2 for i in range(n)] if predictions is None else list(predictions)
    frame = pd.DataFrame(
        {
            "request_id": [f"{prefix}{i}" for i in range(n)],
            "row": 0,
            "status": ["model_error" if i < bad else "ok" for i in range(n)],
            "latency_ms": latency,
            "prediction": [None if i < bad else preds[i] for i in range(n)],
        }
    )
    if truth is not None:
        frame["ground_truth"] = list(truth)
    return frame


def _check(analysis: Any, name: str) -> Any:
    return {c.name: c for c in analysis.checks}[name]


def test_too_few_requests_is_not_yet_never_pass() -> None:
    a = analyze(_rows(10), _rows(10), RolloutPolicy(min_requests=50))
    assert a.verdict is Verdict.NOT_YET and a.counts == {"primary": 10, "candidate": 10}
    assert {c.verdict for c in a.checks} == {Verdict.NOT_YET}
    assert "each variant needs 50" in _check(a, "requests").detail
    assert analyze(None, pd.DataFrame()).verdict is Verdict.NOT_YET


def test_equal_variants_pass() -> None:
    a = analyze(_rows(200), _rows(200, prefix="c"))
    assert a.verdict is Verdict.PASS and not a.failures
    assert {c.name for c in a.checks} >= {"error_rate", "latency_p99", "distribution"}


def test_a_candidate_failing_20_percent_of_requests_fails() -> None:
    a = analyze(_rows(200), _rows(200, errors=0.2, prefix="c"))
    assert a.verdict is Verdict.FAIL
    check = _check(a, "error_rate")
    assert check.verdict is Verdict.FAIL and check.candidate == pytest.approx(0.2)
    assert check.threshold == pytest.approx(0.05)
    # judged early: the candidate has enough requests though the primary has not
    early = analyze(_rows(5), _rows(60, errors=0.2, prefix="c"))
    assert early.verdict is Verdict.FAIL and _check(early, "error_rate").verdict is Verdict.FAIL


def test_a_bad_primary_raises_the_error_ceiling() -> None:
    a = analyze(_rows(200, errors=0.1), _rows(200, errors=0.11, prefix="c"))
    assert _check(a, "error_rate").verdict is Verdict.PASS  # 0.11 <= 0.10 + 0.02


def test_latency_p99_fails_above_the_ratio_but_not_on_noise() -> None:
    slow = analyze(_rows(200, latency=10.0), _rows(200, latency=40.0, prefix="c"))
    assert slow.verdict is Verdict.FAIL
    assert _check(slow, "latency_p99").threshold == pytest.approx(15.0)
    noise = analyze(_rows(200, latency=0.01), _rows(200, latency=0.05, prefix="c"))
    assert _check(noise, "latency_p99").verdict is Verdict.PASS  # 5x, but under the floor


def test_a_shifted_class_distribution_fails() -> None:
    a = analyze(_rows(200), _rows(200, predictions=[1] * 200, prefix="c"))
    check = _check(a, "distribution")
    assert check.verdict is Verdict.FAIL and check.candidate > 0.2
    assert "Jensen" in check.detail


def test_a_shifted_number_distribution_fails() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(100, 10, 300)
    same = analyze(_rows(300, predictions=base), _rows(300, predictions=base + 0.5, prefix="c"))
    assert _check(same, "distribution").verdict is Verdict.PASS
    moved = analyze(_rows(300, predictions=base), _rows(300, predictions=base + 8, prefix="c"))
    check = _check(moved, "distribution")
    assert check.verdict is Verdict.FAIL and "Wasserstein" in check.detail


def test_live_quality_fails_once_feedback_arrives() -> None:
    truth = [i % 2 for i in range(200)]
    wrong = [(i + 1) % 2 if i % 3 == 0 else i % 2 for i in range(200)]
    a = analyze(
        _rows(200, truth=truth),
        _rows(200, predictions=wrong, truth=truth, prefix="c"),
        RolloutPolicy(max_distribution_distance=1.0),
    )
    check = _check(a, "quality")
    assert check.verdict is Verdict.FAIL and a.verdict is Verdict.FAIL
    assert check.primary == 1.0 and check.candidate == pytest.approx(2 / 3, abs=0.01)
    # too little feedback: no quality check yet
    few = analyze(_rows(200, truth=[1] * 10 + [None] * 190), _rows(200, prefix="c"))
    assert "quality" not in {c.name for c in few.checks}


def test_regression_quality_is_mean_absolute_error() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(50, 5, 200)
    a = analyze(
        _rows(200, predictions=truth + 1.0, truth=truth),
        _rows(200, predictions=truth + 3.0, truth=truth, prefix="c"),
        RolloutPolicy(max_distribution_distance=10.0),
    )
    check = _check(a, "quality")
    assert check.verdict is Verdict.FAIL and check.candidate == pytest.approx(3.0)


def test_ab_adds_a_significance_test_with_its_sample_size() -> None:
    truth = [i % 2 for i in range(400)]
    worse = [(i + 1) % 2 if i % 4 == 0 else i % 2 for i in range(400)]
    a = analyze(
        _rows(400, truth=truth),
        _rows(400, predictions=worse, truth=truth, prefix="c"),
        RolloutPolicy(max_quality_drop=1.0, max_distribution_distance=1.0),
        ab=True,
    )
    check = _check(a, "significance")
    assert check.verdict is Verdict.FAIL and "n=400+400" in check.detail
    assert "significantly worse" in check.detail
    even = analyze(_rows(400), _rows(400, prefix="c"), ab=True)
    assert _check(even, "significance").verdict is Verdict.PASS
    assert "no significant difference" in _check(even, "significance").detail


def test_shadow_rows_report_disagreement() -> None:
    primary = _rows(100)
    shadow = _rows(100, predictions=[0] * 100)  # same request ids: mirrored
    check = _check(analyze(primary, shadow), "disagreement")
    assert check.candidate == pytest.approx(0.5) and check.threshold is None


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="primary_rows must be a pandas DataFrame"):
        analyze([1, 2], _rows(3))
    with pytest.raises(InvalidInput, match="unknown rollout policy key 'nope'"):
        analyze(_rows(3), _rows(3), {"nope": 1})  # type: ignore[arg-type]


def test_analyze_reads_the_prediction_log_as_written(project: Path) -> None:
    import loopml
    from loopml.predictions import PredictionLogger, PredictionRecord

    when = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    with PredictionLogger("churn") as logger:
        for i in range(120):
            variant = "primary" if i % 2 else "candidate"
            logger.log(
                PredictionRecord(
                    f"q{i}",
                    inputs={"x": float(i)},
                    prediction=None if variant == "candidate" and i % 10 == 0 else i % 3,
                    model_name="churn",
                    model_version=1 if variant == "primary" else 2,
                    variant=variant,
                    latency_ms=1.0,
                    status="model_error" if variant == "candidate" and i % 10 == 0 else "ok",
                    timestamp=when,
                )
            )
    log = loopml.read_predictions("churn")
    a = analyze(
        log[log.variant == "primary"],
        log[log.variant == "candidate"],
        RolloutPolicy(min_requests=50),
    )
    assert a.counts == {"primary": 60, "candidate": 60}
    assert _check(a, "error_rate").candidate == pytest.approx(12 / 60)
    assert a.verdict is Verdict.FAIL


def _requests(n: int, prefix: str, status: str = "ok") -> pd.DataFrame:
    """``n`` one-row requests."""
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}{i}" for i in range(n)],
            "row": 0,
            "status": status,
            "latency_ms": 2.0,
            "prediction": [None if status != "ok" else i % 2 for i in range(n)],
        }
    )


def _one_request(request_id: str, rows: int, status: str) -> pd.DataFrame:
    """One request of ``rows`` rows."""
    return pd.DataFrame(
        {
            "request_id": request_id,
            "row": range(rows),
            "status": status,
            "latency_ms": 2.0,
            "prediction": [None if status != "ok" else i % 2 for i in range(rows)],
        }
    )


def test_the_error_rate_counts_requests_not_rows() -> None:
    """A caller's one large failing request sank a good candidate (83 % of its rows), and
    one large good request hid a candidate failing half its requests."""
    primary = _requests(100, "p")
    sunk = pd.concat([_requests(99, "c"), _one_request("big", 500, "model_error")])
    a = analyze(primary, sunk, RolloutPolicy())
    check = {c.name: c for c in a.checks}["error_rate"]
    assert a.counts["candidate"] == 100 and check.verdict is Verdict.PASS, check.detail
    assert check.candidate == pytest.approx(0.01)
    hidden = pd.concat(
        [_requests(50, "c"), _requests(50, "f", "model_error"), _one_request("big", 2000, "ok")]
    )
    b = analyze(primary, hidden, RolloutPolicy())
    check = {c.name: c for c in b.checks}["error_rate"]
    assert b.verdict is Verdict.FAIL and check.verdict is Verdict.FAIL
    assert check.candidate == pytest.approx(50 / 101)


# -- sampling noise: a candidate no worse than its primary is never failed by chance ----


def _sampled(
    rng: np.random.Generator,
    n: int,
    prefix: str,
    *,
    classes: int = 10,
    weights: Any = None,
    errors: float = 0.0,
    latency_scale: float = 1.0,
) -> pd.DataFrame:
    """``n`` requests drawn at random: classes with ``weights``, a model error with
    probability ``errors``, a latency from a long-tailed distribution."""
    failed = rng.random(n) < errors
    predictions = rng.choice(classes, size=n, p=weights)
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}{i}" for i in range(n)],
            "row": 0,
            "status": np.where(failed, "model_error", "ok"),
            "latency_ms": (2.0 + rng.lognormal(0.0, 0.8, n)) * latency_scale,
            "prediction": pd.array(np.where(failed, -1, predictions)).astype(object),
        }
    ).assign(prediction=lambda f: f["prediction"].where(~failed, None))


@pytest.mark.parametrize("n", [60, 100, 400])
def test_a_candidate_drawn_like_its_primary_is_not_failed_by_noise(n: int) -> None:
    """The same model on both variants: 10 classes, 2 % model errors, long-tailed latency.
    With thresholds alone, 20 to 50 % of such windows failed; each judged check now fails
    only at p < 0.01, so a rollback on noise is rare."""
    rng = np.random.default_rng(n)
    windows = 150
    failed = 0
    for _ in range(windows):
        a = analyze(_sampled(rng, n, "p", errors=0.02), _sampled(rng, n, "c", errors=0.02))
        failed += a.verdict is Verdict.FAIL
    assert failed / windows <= 0.04, f"{failed} of {windows} windows of {n} requests failed"


def test_a_crossed_threshold_that_chance_explains_waits_for_more_requests() -> None:
    # one request of 60 is slow: the p99 is that request, far above the limit
    primary = _rows(60, latency=2.0)
    candidate = _rows(60, latency=2.0, prefix="c")
    candidate.loc[0, "latency_ms"] = 500.0
    a = analyze(primary, candidate)
    check = _check(a, "latency_p99")
    assert check.candidate > check.threshold
    assert check.verdict is Verdict.NOT_YET and "not yet significant" in check.detail
    assert a.verdict is Verdict.NOT_YET  # never PASS while a threshold is crossed
    # with more requests the one slow request is no longer the p99: PASS
    more = analyze(_rows(400, latency=2.0), pd.concat([candidate, _rows(340, prefix="d")]))
    assert _check(more, "latency_p99").verdict is Verdict.PASS


def test_real_differences_still_fail_at_the_minimum_window() -> None:
    rng = np.random.default_rng(7)
    n = 60
    slow = analyze(_sampled(rng, n, "p"), _sampled(rng, n, "c", latency_scale=4.0))
    assert _check(slow, "latency_p99").verdict is Verdict.FAIL and slow.verdict is Verdict.FAIL
    skewed = [0.55] + [0.05] * 9
    shifted = analyze(_sampled(rng, 200, "p"), _sampled(rng, 200, "c", weights=skewed))
    assert _check(shifted, "distribution").verdict is Verdict.FAIL
    failing = analyze(_sampled(rng, n, "p"), _sampled(rng, n, "c", errors=0.25))
    assert _check(failing, "error_rate").verdict is Verdict.FAIL


def test_a_slightly_higher_error_rate_waits_for_evidence() -> None:
    # 4 failures in 50 is 8 % > 5 %, but a true 5 % gives 4 or more in 24 % of windows
    a = analyze(_rows(400), _rows(50, errors=0.08, prefix="c"))
    check = _check(a, "error_rate")
    assert check.candidate == pytest.approx(0.08)
    assert check.verdict is Verdict.NOT_YET and a.verdict is Verdict.NOT_YET
    # the same rate over 1,000 requests is significant
    b = analyze(_rows(1000), _rows(1000, errors=0.08, prefix="c"))
    assert _check(b, "error_rate").verdict is Verdict.FAIL


def test_identical_numbers_are_not_failed_by_noise_and_a_shift_is() -> None:
    rng = np.random.default_rng(3)
    windows, failed = 100, 0
    for _ in range(windows):
        p = _rows(80, predictions=rng.normal(10.0, 2.0, 80))
        c = _rows(80, predictions=rng.normal(10.0, 2.0, 80), prefix="c")
        failed += _check(analyze(p, c), "distribution").verdict is Verdict.FAIL
    assert failed <= 3
    p = _rows(300, predictions=rng.normal(10.0, 2.0, 300))
    c = _rows(300, predictions=rng.normal(11.0, 2.0, 300), prefix="c")
    assert _check(analyze(p, c), "distribution").verdict is Verdict.FAIL


def test_requests_the_candidate_refused_count_as_failures() -> None:
    candidate = _rows(100, prefix="c")
    candidate.loc[:19, "status"] = "refused"
    candidate.loc[:19, "prediction"] = None
    a = analyze(_rows(100), candidate)
    check = _check(a, "error_rate")
    assert check.verdict is Verdict.FAIL and check.candidate == pytest.approx(0.2)
    assert "20 refused requests the primary took" in check.detail


def test_check_significance_is_a_policy_key() -> None:
    assert RolloutPolicy().check_significance == 0.01
    assert RolloutPolicy.from_dict({"check_significance": 0.05}).check_significance == 0.05
    with pytest.raises(InvalidInput, match="check_significance"):
        RolloutPolicy(check_significance=0.9)


def test_an_early_look_from_counts_says_what_analyze_says_of_the_rows() -> None:
    from loopml.deployments import early_look

    primary, failing = _rows(5), _rows(60, errors=0.2, prefix="c")
    rows = analyze(primary, failing)
    counts = early_look((0, 0, 5), (12, 0, 60))
    assert rows.verdict is counts.verdict is Verdict.FAIL
    assert _check(rows, "error_rate").detail == _check(counts, "error_rate").detail
    # a passing error rate never ends a window early, nor do too few requests
    assert early_look((0, 0, 500), (1, 0, 500)).verdict is Verdict.NOT_YET
    assert early_look((0, 0, 500), (12, 0, 40)).verdict is Verdict.NOT_YET
