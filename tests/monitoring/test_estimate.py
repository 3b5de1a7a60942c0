"""Performance estimated without labels: close to the truth, JSON-able, honest bounds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from loopml.errors import InvalidInput
from loopml.monitoring import ConfidenceEstimator, LossEstimator


def features(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Four features and a binary outcome; ``shift`` moves the covariates only (the
    outcome given the features stays the same), so a calibrated model stays calibrated."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, 4))
    x[:, 0] += shift
    x[:, 1] *= 1.0 + shift
    logit = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] + 0.3 * x[:, 3] ** 2 - 0.6
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return x, y


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    x, y = features(20_000, seed=0)
    return LogisticRegression().fit(x, y)


@pytest.fixture(scope="module")
def reference(model: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    x, y = features(50_000, seed=1)
    return y, model.predict_proba(x)[:, 1]


@pytest.fixture(scope="module")
def estimator(reference: tuple[np.ndarray, np.ndarray]) -> ConfidenceEstimator:
    return ConfidenceEstimator.fit(*reference)


def truth(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    predicted = score >= 0.5
    return {
        "roc_auc": roc_auc_score(y, score),
        "accuracy": accuracy_score(y, predicted),
        "precision": precision_score(y, predicted),
        "recall": recall_score(y, predicted),
        "f1": f1_score(y, predicted),
    }


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0])
def test_binary_estimates_match_the_truth_under_covariate_shift(
    model: LogisticRegression, estimator: ConfidenceEstimator, shift: float
) -> None:
    x, y = features(50_000, seed=10, shift=shift)
    score = model.predict_proba(x)[:, 1]
    estimated, real = estimator.estimate(score), truth(y, score)
    assert set(estimated) == set(real)
    for metric, value in real.items():
        assert estimated[metric] == pytest.approx(value, abs=0.01), metric


def test_a_shift_that_moves_the_auc_out_of_its_band_is_seen_without_labels(
    model: LogisticRegression, estimator: ConfidenceEstimator
) -> None:
    x, y = features(50_000, seed=11, shift=1.0)
    score = model.predict_proba(x)[:, 1]
    low, high = estimator.bounds("roc_auc", len(score))
    real = roc_auc_score(y, score)
    assert not low <= real <= high  # the shift did move the AUC
    estimated = estimator.estimate(score)["roc_auc"]
    assert estimated == pytest.approx(real, abs=0.01)
    assert not low <= estimated <= high


def test_pandas_and_arrow_columns_are_accepted(
    reference: tuple[np.ndarray, np.ndarray], estimator: ConfidenceEstimator
) -> None:
    y, score = reference
    frame = pd.DataFrame({"y": y, "score": score})
    from_pandas = ConfidenceEstimator.fit(frame["y"], frame["score"])
    from_arrow = ConfidenceEstimator.fit(pa.array(y), pa.chunked_array([score[:10], score[10:]]))
    expected = estimator.estimate(score)
    assert from_pandas.estimate(frame["score"]) == expected
    assert from_arrow.estimate(pa.array(score)) == expected


def test_the_estimator_round_trips_through_json(
    model: LogisticRegression, estimator: ConfidenceEstimator
) -> None:
    x, _ = features(5_000, seed=12, shift=0.5)
    score = model.predict_proba(x)[:, 1]
    again = ConfidenceEstimator.from_dict(json.loads(json.dumps(estimator.to_dict())))
    assert again == estimator
    assert again.estimate(score) == estimator.estimate(score)
    assert again.bounds("f1", 5_000) == estimator.bounds("f1", 5_000)


def test_histogram_calibration_also_estimates_close_to_the_truth(
    model: LogisticRegression, reference: tuple[np.ndarray, np.ndarray]
) -> None:
    estimator = ConfidenceEstimator.fit(*reference, calibration="histogram")
    x, y = features(50_000, seed=13, shift=0.5)
    score = model.predict_proba(x)[:, 1]
    assert estimator.estimate(score)["roc_auc"] == pytest.approx(roc_auc_score(y, score), abs=0.01)


def test_bounds_widen_for_small_windows_and_hold_the_truth_of_reference_like_windows(
    model: LogisticRegression, estimator: ConfidenceEstimator
) -> None:
    widths = {}
    for size in (500, 5_000, 50_000):
        low, high = estimator.bounds("roc_auc", size)
        assert low < estimator.reference["roc_auc"] < high
        widths[size] = high - low
    assert widths[500] > 2.5 * widths[5_000] > 2.5 * 2.5 * widths[50_000]
    x, y = features(100 * 1_000, seed=14)
    score = model.predict_proba(x)[:, 1]
    inside = {"roc_auc": 0, "accuracy": 0, "f1": 0}
    for i in range(100):
        part = slice(i * 1_000, (i + 1) * 1_000)
        real = truth(y[part], score[part])
        for metric in inside:
            low, high = estimator.bounds(metric, 1_000)
            inside[metric] += low <= real[metric] <= high
    assert all(count >= 95 for count in inside.values()), inside


def test_one_reference_chunk_gives_a_band_not_a_point(model: LogisticRegression) -> None:
    x, y = features(2_000, seed=15)
    estimator = ConfidenceEstimator.fit(y, model.predict_proba(x)[:, 1])
    low, high = estimator.bounds("accuracy", 2_000)
    assert high - low > 0.03
    assert low < estimator.reference["accuracy"] < high


def test_multiclass_accuracy_and_macro_f1_are_estimated_under_shift() -> None:
    def data(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = rng.normal(0.0, 1.0, (n, 2)) + shift
        logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - 0.5 * x[:, 1]]) * 1.5
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > p.cumsum(axis=1)).sum(axis=1)
        return x, y

    x, y = data(20_000, seed=0)
    model = LogisticRegression().fit(x, y)
    xr, yr = data(30_000, seed=1)
    estimator = ConfidenceEstimator.fit(yr, model.predict_proba(xr))
    assert estimator.classes == 3 and estimator.metrics == ("accuracy", "f1")
    xs, ys = data(30_000, seed=2, shift=0.7)
    scores = model.predict_proba(xs)
    estimated = estimator.estimate(scores)
    predicted = scores.argmax(axis=1)
    assert estimated["accuracy"] == pytest.approx(accuracy_score(ys, predicted), abs=0.01)
    assert estimated["f1"] == pytest.approx(f1_score(ys, predicted, average="macro"), abs=0.01)
    low, high = estimator.bounds("accuracy", 1_000)
    assert low < estimator.reference["accuracy"] < high
    again = ConfidenceEstimator.from_dict(json.loads(json.dumps(estimator.to_dict())))
    assert again.estimate(scores) == estimated
    with pytest.raises(InvalidInput, match="3 columns"):
        estimator.estimate(scores[:, :2])


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([0, 1, 2] * 100, [0.5] * 300, "got 2"),
        ([0, 1] * 100, [0.5] * 199 + [1.5], "got 1.5"),
        ([0, 1] * 100, [0.5] * 199 + [float("nan")], "missing values"),
        ([0, 1] * 100, [0.5] * 150, "same length"),
        ([1] * 200, [0.7] * 200, "0 of class 0"),
        ([0, 1] * 10, [0.5] * 20, "at least 100"),
        ([0, 1] * 100, ["a"] * 200, "as numbers"),
    ],
)
def test_bad_reference_is_refused_with_what_to_do(
    labels: list[object], scores: list[object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ConfidenceEstimator.fit(labels, scores)


def test_bad_windows_and_questions_are_refused(estimator: ConfidenceEstimator) -> None:
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        estimator.estimate([0.2, -0.1])
    with pytest.raises(InvalidInput, match="missing values"):
        estimator.estimate(pd.Series([0.2, None], dtype="Float64"))
    with pytest.raises(InvalidInput, match="at least one row"):
        estimator.estimate([])
    with pytest.raises(InvalidInput, match="one column"):
        estimator.estimate(np.full((4, 2), 0.5))
    with pytest.raises(InvalidInput, match="roc_auc"):
        estimator.bounds("auc", 100)
    with pytest.raises(InvalidInput, match="positive whole number"):
        estimator.bounds("roc_auc", 0)
    with pytest.raises(InvalidInput, match="kind 'confidence'"):
        ConfidenceEstimator.from_dict({"kind": "loss"})


def regression(
    n: int, seed: int, shift: float = 0.0
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Features (a number and a text column), a model's predictions and the targets;
    the error grows with |x| and in city 'c', so moving x or the city mix moves the loss."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    p = [0.5, 0.3, 0.2] if not shift else [0.3, 0.3, 0.4]
    city = rng.choice(np.array(["a", "b", "c"]), n, p=p)
    noise_sd = 0.3 + np.abs(x) + np.where(city == "c", 1.0, 0.0)
    y_pred = 2.0 * x + (city == "b")
    y_true = y_pred + rng.normal(0.0, 1.0, n) * noise_sd
    return pd.DataFrame({"x": x, "city": city}), y_pred, y_true


def test_loss_estimator_follows_the_loss_under_shift_on_pandas_frames() -> None:
    frame, y_pred, y_true = regression(20_000, seed=1)
    assert str(frame["city"].dtype) in ("str", "object", "string")
    estimator = LossEstimator.fit(frame, y_pred, y_true)
    assert estimator.categories["city"] == ["a", "b", "c"]
    for shift, seed in ((0.0, 2), (1.0, 3)):
        window, pred, true = regression(20_000, seed=seed, shift=shift)
        estimated = estimator.estimate(window, pred)
        mae = float(np.abs(true - pred).mean())
        rmse = float(np.sqrt(((true - pred) ** 2).mean()))
        assert estimated["mae"] == pytest.approx(mae, rel=0.05)
        assert estimated["rmse"] == pytest.approx(rmse, rel=0.08)
    assert estimator.estimate(window, pred)["mae"] > estimator.bounds("mae", 20_000)[1]


def test_loss_estimator_reads_arrow_and_unseen_categories() -> None:
    frame, y_pred, y_true = regression(5_000, seed=4)
    estimator = LossEstimator.fit(pa.Table.from_pandas(frame), y_pred, y_true)
    window = frame.head(100).assign(city="never seen")
    assert estimator.estimate(pa.Table.from_pandas(window), y_pred[:100])["mae"] > 0
    low, high = estimator.bounds("rmse", 100)
    assert low < estimator.reference["rmse"] < high
    assert estimator.bounds("rmse", 10_000)[1] < high  # larger windows, narrower band
    with pytest.raises(InvalidInput, match="lack the reference column"):
        estimator.estimate(frame[["x"]], y_pred)
    with pytest.raises(InvalidInput, match="same length"):
        estimator.estimate(frame, y_pred[:10])
    with pytest.raises(InvalidInput, match="missing values"):
        LossEstimator.fit(frame, np.full(len(frame), np.nan), y_true)
