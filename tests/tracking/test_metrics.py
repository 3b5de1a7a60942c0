from __future__ import annotations

import math
import time
from decimal import Decimal

import numpy as np
import pytest

import loopml
from loopml.context import current
from loopml.errors import InvalidInput
from loopml.tracking import Metric, _buffer, get_metric_history, get_run, start_run


def _stored_rows(run_id: str) -> int:
    with current().metadata.read() as conn:
        return int(conn.scalar("SELECT count(*) FROM metrics WHERE run_id = ?", (run_id,)))


def test_steps_default_to_one_past_the_highest_step_of_the_key(backend: str) -> None:
    with start_run("exp") as run:
        for value in (0.9, 0.8, 0.7):
            loopml.log_metric("loss", value)
        loopml.log_metric("acc", 0.5)
        loopml.log_metric("loss", 0.6, step=10)
        loopml.log_metric("loss", 0.55, step=4)
        loopml.log_metric("loss", 0.5)
    history = get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [
        (0, 0.9),
        (1, 0.8),
        (2, 0.7),
        (4, 0.55),
        (10, 0.6),
        (11, 0.5),
    ]
    assert [m.step for m in get_metric_history(run.id, "acc")] == [0]
    assert all(isinstance(m, Metric) and m.timestamp.tzinfo is not None for m in history)


def test_history_is_ordered_by_step_then_time(backend: str) -> None:
    with start_run("exp") as run:
        loopml.log_metric("m", 3.0, step=2)
        loopml.log_metric("m", 1.0, step=0)
        loopml.log_metric("m", 2.0, step=1)
        loopml.log_metric("m", 2.5, step=1)
    history = get_metric_history(run, "m")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 2.0), (1, 2.5), (2, 3.0)]
    assert history[1].timestamp <= history[2].timestamp


def test_history_includes_buffered_values_of_a_live_run(backend: str) -> None:
    with start_run("exp") as run:
        for i in range(5):
            loopml.log_metric("m", float(i))
        assert _stored_rows(run.id) == 0  # still buffered (interval is 1 s)
        assert [m.value for m in get_metric_history(run.id, "m")] == [0, 1, 2, 3, 4]
        assert get_run(run.id).metrics == {"m": 4.0}


def test_unknown_key_has_empty_history_and_unknown_run_is_not_found(backend: str) -> None:
    with start_run("exp") as run:
        pass
    assert get_metric_history(run.id, "never") == []
    with pytest.raises(loopml.NotFound):
        get_metric_history("0" * 32, "m")


def test_latest_metric_is_highest_step_then_newest(backend: str) -> None:
    with start_run("exp") as run:
        loopml.log_metric("m", 5.0, step=5)
        loopml.log_metric("m", 1.0, step=1)  # older step: not the latest
        assert run.metrics["m"] == 5.0
        run.flush()
        loopml.log_metric("m", 0.5, step=3)  # written in a later flush, still older
        run.flush()
        assert get_run(run.id).metrics["m"] == 5.0
        loopml.log_metric("m", 7.0, step=5)  # same step, newer
    assert get_run(run.id).metrics["m"] == 7.0
    assert run.metrics["m"] == 7.0


def test_live_run_metrics_reflect_buffered_values(backend: str) -> None:
    with start_run("exp") as run:
        run.log_metrics({"a": 1, "b": np.float32(0.5)})
        loopml.log_metric("a", 2)
        assert run.metrics == {"a": 2.0, "b": 0.5}


def test_nan_and_infinity_round_trip(backend: str) -> None:
    with start_run("exp") as run:
        loopml.log_metric("nan", float("nan"))
        loopml.log_metric("inf", float("inf"))
        loopml.log_metric("ninf", -math.inf)
        loopml.log_metric("nan", np.nan)
    stored = get_run(run.id).metrics
    assert math.isnan(stored["nan"])
    assert stored["inf"] == math.inf and stored["ninf"] == -math.inf
    values = [m.value for m in get_metric_history(run.id, "nan")]
    assert len(values) == 2 and all(math.isnan(v) for v in values)
    found = loopml.search_runs("metrics.inf > 1e308 and metrics.ninf < 0")
    assert [r.id for r in found] == [run.id]


def test_metric_values_round_trip_exactly(backend: str) -> None:
    values = {
        "a": 0.1 + 0.2,
        "b": 1 / 3,
        "c": 1e-300,
        "d": 123456789.12345679,
        "e": 1.7976931348623157e308,
        "f": 5e-324,
    }
    with start_run("exp") as run:
        run.log_metrics(values)
    assert get_run(run.id).metrics == values
    assert [m.value for m in get_metric_history(run.id, "a")] == [0.1 + 0.2]
    assert [r.id for r in loopml.search_runs(f"metrics.b = {1 / 3!r}")] == [run.id]


@pytest.mark.parametrize(
    "value",
    [1, 2.5, np.float64(0.1), np.int64(3), np.float32(0.5), np.array(2.0), Decimal("1.5")],
    ids=["int", "float", "np.float64", "np.int64", "np.float32", "0-d array", "Decimal"],
)
def test_numeric_values_are_accepted(project: object, value: object) -> None:
    from loopml.tracking._validate import coerce_value

    assert coerce_value("m", value) == float(value)  # type: ignore[arg-type]


NOT_NUMBERS = [
    (True, "must be a number, got bool"),
    (None, "must be a number, got NoneType"),
    ("0.5", "must be a number, got str"),
    (np.array([1.0, 2.0]), "single real number"),
    (1 + 2j, "single real number"),
    (10**400, "single real number"),
]


def test_non_numeric_values_are_refused(backend: str) -> None:
    with start_run("exp") as run:
        for value, message in NOT_NUMBERS:
            with pytest.raises(InvalidInput, match=message):
                loopml.log_metric("m", value)  # type: ignore[arg-type]
            with pytest.raises(InvalidInput, match=message):
                run.log_metrics({"m": value})
    assert get_run(run.id).metrics == {}


def test_invalid_steps_are_refused(backend: str) -> None:
    bad = [(1.5, "got float 1.5"), ("3", "got str"), (True, "got bool"), (2**64, "64 bits")]
    with start_run("exp") as run:
        for step, message in bad:
            with pytest.raises(InvalidInput, match=message):
                loopml.log_metric("m", 1.0, step=step)  # type: ignore[arg-type]
        loopml.log_metric("m", 1.0, step=np.int64(4))  # type: ignore[arg-type]
        loopml.log_metric("m", 1.0, step=5.0)  # type: ignore[arg-type]
    assert [m.step for m in get_metric_history(run.id, "m")] == [4, 5]


def test_log_metrics_batch_shares_step_and_timestamp(backend: str) -> None:
    with start_run("exp") as run:
        loopml.log_metrics({"a": 1.0, "b": 2.0}, step=7)
        loopml.log_metrics({"a": 3.0})
    a = get_metric_history(run.id, "a")
    b = get_metric_history(run.id, "b")
    assert [(m.step, m.value) for m in a] == [(7, 1.0), (8, 3.0)]
    assert a[0].timestamp == b[0].timestamp and b[0].step == 7


def test_background_flusher_writes_within_the_interval(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "0.05")
    with start_run("exp") as run:
        loopml.log_metric("m", 1.0)
        deadline = time.monotonic() + 5
        while _stored_rows(run.id) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _stored_rows(run.id) == 1


def test_full_buffer_is_flushed_before_the_interval(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "600")
    monkeypatch.setattr(_buffer, "FLUSH_AT", 500)
    with start_run("exp") as run:
        run.log_metrics({f"k{i}": float(i) for i in range(500)})
        deadline = time.monotonic() + 10
        while _stored_rows(run.id) < 500 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _stored_rows(run.id) == 500
    assert len(get_run(run.id).metrics) == 500


def test_many_values_are_all_written_once(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_buffer, "FLUSH_AT", 1000)
    n = 5 * 1000 + 7
    with start_run("exp") as run:
        for i in range(n):
            run.log_metric("m", float(i))
    history = get_metric_history(run.id, "m")
    assert [m.step for m in history] == list(range(n))
    assert [m.value for m in history] == [float(i) for i in range(n)]
    assert get_run(run.id).metrics == {"m": float(n - 1)}


def test_failed_flush_keeps_rows_for_the_next_attempt(backend: str) -> None:
    from loopml.tracking import _flusher

    with start_run("exp") as run:
        loopml.log_metric("m", 1.0)
        original = _flusher.write_batches

        def broken(store: object, batches: object) -> None:
            raise RuntimeError("database went away")

        _flusher.write_batches = broken  # type: ignore[assignment]
        try:
            with pytest.raises(RuntimeError, match="went away"):
                run.flush()
        finally:
            _flusher.write_batches = original
        loopml.log_metric("m", 2.0)
    assert [m.value for m in get_metric_history(run.id, "m")] == [1.0, 2.0]
    assert get_run(run.id).metrics == {"m": 2.0}
