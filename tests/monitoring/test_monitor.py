"""Monitors over the prediction log: windows by time and count, every check, stored
results, and the bad inputs that must not corrupt anything."""

from __future__ import annotations

from datetime import timedelta

import pytest

import loopml
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.monitoring import WindowStatus

from .conftest import START, Served, log_window


def test_hourly_windows_compute_every_check_against_the_training_data(served: Served) -> None:
    log_window(served, START, 600, seed=2, feedback=0.5)
    log_window(served, START + timedelta(hours=1), 600, seed=3, shift=1.0)
    monitor = loopml.monitoring.add_monitor("churn", slices=["plan"])
    assert monitor.settings.window_seconds == 3600 and monitor.cursor is None

    report = loopml.monitoring.run_monitors(now=START + timedelta(hours=2, minutes=5))
    assert report.failures == {}
    assert [w.rows for w in report.windows] == [600, 600]
    first, second = report.windows
    assert first.reference == "data:/churn@1" and first.status == WindowStatus.OK
    m = first.metrics
    assert m["drift_share"] == 0.0 and m["dataset_drift"] == 0.0
    assert m["system.error_rate"] == 0.0 and 5 <= m["system.p50_latency_ms"] <= 14
    assert m["live.labelled"] == 300 and m["live.labelled_share"] == 0.5
    assert 0.6 < m["live.accuracy"] <= 1.0 and "live.f1" in m and "live.roc_auc" in m
    assert any(k.startswith("live.accuracy.plan=") for k in m)
    assert "estimated.accuracy" in m, first.details["notes"]
    assert 0.6 < m["estimated.accuracy"] <= 1.0 and 0.6 < m["estimated.roc_auc"] <= 1.0
    assert m["estimated.f1.lower"] <= m["estimated.f1"] <= m["estimated.f1.upper"]
    assert m["estimated.degraded"] == 0.0  # a window like the reference is in its band
    assert m["data.missing_rate"] == 0.0 and m["data.out_of_range_rate"] < 0.01
    # the second hour's tenure moved by half its range: drift, inputs out of range
    assert second.metrics["drift.tenure"] > 0.1 and second.metrics["drift_share"] == 0.5
    assert second.metrics["data.out_of_range_rate"] > 0.1
    assert "live.accuracy" not in second.metrics  # no feedback yet

    results = loopml.get_monitor_results("churn")
    assert list(results["rows"]) == [600, 600]
    assert list(results["status"]) == ["OK", "OK"]
    assert results["drift_share"].tolist() == [0.0, 0.5]

    again = loopml.monitoring.run_monitors(now=START + timedelta(hours=2, minutes=30))
    assert again.windows == []  # nothing new is due
    assert loopml.monitoring.get_monitor("churn").cursor == START + timedelta(hours=2)


def test_late_feedback_updates_live_performance_of_recent_windows(served: Served) -> None:
    frame = log_window(served, START, 400, seed=4)
    loopml.monitoring.add_monitor("churn")
    loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=1))
    assert "live.accuracy" not in loopml.get_monitor_results("churn").columns
    loopml.predictions.log_feedback(
        "churn",
        [
            {"request_id": f"r-4-{i}", "ground_truth": int(frame["churned"].iloc[i])}
            for i in range(200)
        ],
    )
    report = loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=2))
    assert report.refreshed == 1
    results = loopml.get_monitor_results("churn")
    assert results["live.labelled"].tolist() == [200.0]
    assert 0.6 < results["live.accuracy"].iloc[0] <= 1.0


def test_count_windows_and_too_few_rows(served: Served) -> None:
    log_window(served, START, 250, seed=5)
    loopml.monitoring.add_monitor("churn", window="100 rows", min_rows=50)
    report = loopml.monitoring.run_monitors()
    assert [w.rows for w in report.windows] == [100, 100]  # the last 50 wait for more
    log_window(served, START + timedelta(hours=1), 60, seed=6)
    report = loopml.monitoring.run_monitors()
    assert [w.rows for w in report.windows] == [100]
    assert report.windows[0].start == loopml.get_monitor_results("churn")["end"].iloc[1]

    loopml.monitoring.add_monitor("small", deployment="churn", min_rows=1000)
    report = loopml.monitoring.run_monitors(["small"], now=START + timedelta(hours=3))
    assert {w.status for w in report.windows} == {WindowStatus.TOO_FEW_ROWS}
    assert all("drift_share" not in w.metrics for w in report.windows)
    assert "fewer than min_rows" in report.windows[0].details["notes"][-1]


def test_bad_monitors_are_refused_with_what_to_do(served: Served) -> None:
    with pytest.raises(NotFound, match="no deployment 'nope'"):
        loopml.monitoring.add_monitor("nope")
    with pytest.raises(InvalidInput, match="window"):
        loopml.monitoring.add_monitor("churn", window="soon")
    with pytest.raises(InvalidInput, match="alert rule"):
        loopml.monitoring.add_monitor("churn", alerts=["drift_share >>> 1"])
    with pytest.raises(InvalidInput, match="sink"):
        loopml.monitoring.add_monitor("churn", sinks=["smtp://x"])
    with pytest.raises(InvalidInput, match="does not exist"):
        loopml.monitoring.add_monitor("churn", reference="data:/churn@9")
    with pytest.raises(InvalidInput, match="monitor name"):
        loopml.monitoring.add_monitor("../etc")
    loopml.monitoring.add_monitor("churn")
    with pytest.raises(Conflict, match="exists already"):
        loopml.monitoring.add_monitor("churn")
    with pytest.raises(NotFound, match="no monitor 'other'"):
        loopml.get_monitor_results("other")


def test_a_deleted_deployment_is_a_recorded_failure_not_a_crash(served: Served) -> None:
    log_window(served, START, 200, seed=7)
    loopml.monitoring.add_monitor("churn")
    loopml.deployments.delete_deployment("churn")
    report = loopml.monitoring.run_monitors(now=START + timedelta(hours=2))
    assert "no deployment 'churn'" in report.failures["churn"]
    assert report.windows == []


def test_a_new_process_reads_the_prepared_reference_without_loading_the_model(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.monitoring import _reference

    log_window(served, START, 400, seed=8)
    log_window(served, START + timedelta(hours=1), 400, seed=9)
    loopml.monitoring.add_monitor("churn")
    first = loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=1))
    _reference._cache.clear()  # what a new `loopml monitor run --once` starts with

    def no_model(uri: str, notes: list[str]) -> None:
        raise AssertionError(f"{uri} was loaded: the logged probabilities were enough")

    monkeypatch.setattr(_reference, "_load", no_model)
    second = loopml.monitoring.run_monitors(now=START + timedelta(hours=2, minutes=1))
    a, b = first.windows[0].metrics, second.windows[0].metrics
    assert "prediction_drift" in b and 0.6 < b["estimated.roc_auc"] <= 1.0
    assert set(a) == set(b)


def test_live_class_metrics_equal_scikit_learns() -> None:
    import numpy as np
    import pandas as pd
    from sklearn import metrics

    from loopml.monitoring._window import _classification

    rng = np.random.default_rng(0)
    truth = pd.Series(rng.integers(0, 2, 3000)).astype(float)  # labels with gaps come as floats
    predicted = pd.Series(rng.integers(0, 2, 3000))
    score = np.round(rng.random(3000) * 0.5 + truth.to_numpy() * 0.3, 2)  # ties on purpose
    got = _classification(truth, predicted, score, positive="1")
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert got["f1"] == pytest.approx(metrics.f1_score(truth, predicted))
    assert got["precision"] == pytest.approx(metrics.precision_score(truth, predicted))
    assert got["recall"] == pytest.approx(metrics.recall_score(truth, predicted))
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(truth, score))
    three = pd.Series(rng.choice(["a", "b", "c"], 3000))
    guess = pd.Series(rng.choice(["a", "b", "c"], 3000))
    macro = _classification(three, guess, None, positive=None)
    assert macro["f1"] == pytest.approx(metrics.f1_score(three, guess, average="macro"))


def test_a_damaged_reference_profile_leaves_windows_waiting_not_lost(served: Served) -> None:
    from loopml.context import current
    from loopml.monitoring import _reference

    log_window(served, START, 300, seed=15)
    loopml.monitoring.add_monitor("churn")
    loopml.monitoring.profile_reference("data:/churn@1")
    store = current().artifacts
    (path,) = [p for p in store.list_paths("profiles") if p.endswith("/1.json")]
    store.write_path(path, b"{not json")
    _reference._cache.clear()  # a new process

    broken = loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=1))
    assert broken.windows == [] and "damaged" in broken.failures["churn"]
    assert loopml.monitoring.get_monitor("churn").cursor is None  # nothing was used up

    local = store.path_file(path)
    assert local is not None
    local.unlink()  # the fix the message names: remove the file
    fixed = loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=1))
    assert fixed.failures == {} and [w.rows for w in fixed.windows] == [300]
