"""The writer: round trip, hour partitions, a bounded queue that never blocks, flush on
close, unique file names across workers, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.predictions.conftest import parquet_files

import loopml
from loopml.errors import CorruptObject, InvalidInput
from loopml.predictions import PredictionLogger, PredictionRecord, PredictionStatus
from loopml.store.artifacts import LocalArtifactStore

UTC = timezone.utc


def record(i: int, **kw: object) -> PredictionRecord:
    base: dict[str, object] = {
        "inputs": {"age": 20 + i, "plan": f"plan-{i % 3}"},
        "prediction": i % 2,
        "probabilities": {"0": 0.25, "1": 0.75},
        "model_name": "churn",
        "model_version": 3,
        "latency_ms": 1.5 + i,
    }
    base.update(kw)
    return PredictionRecord(f"req-{i}", **base)  # type: ignore[arg-type]


def test_records_round_trip_with_their_columns_and_types(project: Path) -> None:
    when = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)
    with PredictionLogger("churn", flush_seconds=0.05) as logger:
        for i in range(5):
            assert logger.log(record(i, timestamp=when + timedelta(seconds=i)))
        assert logger.log(
            PredictionRecord(
                "req-err",
                inputs={"age": 99, "extra": True},
                status="model_error",
                model_name="churn",
                model_version=3,
                variant="canary",
                latency_ms=7.0,
                timestamp=when + timedelta(seconds=9),
            )
        )
        assert logger.log(
            record(6, probabilities=[0.9, 0.1], row=2, timestamp=when + timedelta(seconds=10))
        )
    assert (logger.written, logger.dropped, logger.queued) == (7, 0, 0)

    frame = loopml.read_predictions("churn")
    assert list(frame["request_id"]) == [*(f"req-{i}" for i in range(5)), "req-err", "req-6"]
    assert list(frame.columns[:10]) == [
        "request_id", "row", "timestamp", "deployment", "model_name", "model_version",
        "variant", "status", "latency_ms", "prediction",
    ]  # fmt: skip
    assert frame["in.age"].tolist() == [20, 21, 22, 23, 24, 99, 26]
    assert frame["in.plan"].tolist()[:5] == ["plan-0", "plan-1", "plan-2", "plan-0", "plan-1"]
    assert frame["in.extra"].tolist()[5] is True
    assert frame["timestamp"].iloc[0] == when
    err = frame.iloc[5]
    assert err["status"] == PredictionStatus.MODEL_ERROR == "model_error"
    assert err["variant"] == "canary" and err["latency_ms"] == 7.0
    assert err["prediction"] != err["prediction"] or err["prediction"] is None  # null
    last = frame.iloc[6]
    assert (last["row"], last["proba.0"], last["proba.1"]) == (2, 0.9, pytest.approx(0.1))
    assert set(frame["deployment"]) == {"churn"} and set(frame["model_version"]) == {3}


def test_each_hour_goes_to_its_partition_and_a_range_reads_only_its_hours(
    project: Path,
) -> None:
    base = datetime(2026, 11, 30, 8, 30, tzinfo=UTC)
    with PredictionLogger("churn") as logger:
        for h in range(3):
            for i in range(4):
                logger.log(record(10 * h + i, timestamp=base + timedelta(hours=h, minutes=i)))
    hours = sorted({p.parent.name for p in parquet_files(project)})
    assert hours == ["hour=2026113008", "hour=2026113009", "hour=2026113010"]

    # a file of the 08:00 hour made unreadable: a range that excludes the hour never opens it
    bad = next(p for p in parquet_files(project) if p.parent.name == "hour=2026113008")
    bad.write_bytes(b"not parquet")
    middle = loopml.read_predictions(
        "churn", start=base + timedelta(minutes=30), end=base + timedelta(hours=1, minutes=2)
    )
    assert middle["request_id"].tolist() == ["req-10", "req-11"]  # [start, end) by timestamp
    with pytest.raises(CorruptObject, match="hour=2026113008"):
        loopml.read_predictions("churn")


def test_a_full_queue_drops_and_counts_and_log_never_waits_for_a_stalled_writer(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real = LocalArtifactStore.write_path

    def stalled(self: LocalArtifactStore, path: str, data: bytes) -> None:
        entered.set()
        release.wait(30)
        real(self, path, data)

    monkeypatch.setattr(LocalArtifactStore, "write_path", stalled)
    logger = PredictionLogger("churn", flush_rows=1, flush_seconds=0.01, max_queue=10)
    assert logger.log(record(0))
    assert entered.wait(5)  # the writer holds record 0 and is stuck in the store
    slowest = 0.0
    results = []
    for i in range(1, 31):
        t0 = time.perf_counter()
        results.append(logger.log(record(i)))
        slowest = max(slowest, time.perf_counter() - t0)
    assert slowest < 0.05, slowest
    assert results == [True] * 10 + [False] * 20
    assert (logger.queued, logger.dropped, logger.written) == (11, 20, 0)
    release.set()
    logger.close()
    assert (logger.queued, logger.dropped, logger.written) == (0, 20, 11)
    assert len(loopml.read_predictions("churn")) == 11
    assert logger.log(record(99)) is False and logger.dropped == 21  # closed: counted


def test_close_writes_everything_queued_and_flush_makes_it_readable(project: Path) -> None:
    logger = PredictionLogger("churn", flush_rows=1_000_000, flush_seconds=60)
    for i in range(500):
        logger.log(record(i))
    assert logger.flush(timeout=10) is True
    assert len(loopml.read_predictions("churn")) == 500
    for i in range(500, 1500):
        logger.log(record(i))
    assert logger.written == 500
    logger.close()
    assert (logger.written, logger.dropped, logger.queued) == (1500, 0, 0)
    assert len(loopml.read_predictions("churn")) == 1500


def test_a_failing_store_counts_the_records_as_dropped(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: LocalArtifactStore, path: str, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalArtifactStore, "write_path", broken)
    monkeypatch.setattr("loopml.predictions._writer._ATTEMPTS", 1)
    with PredictionLogger("churn") as logger:
        for i in range(3):
            logger.log(record(i))
    assert (logger.written, logger.dropped, logger.errors) == (0, 3, 1)


_WORKER = """
import sys, loopml
from loopml.predictions import PredictionLogger, PredictionRecord
with PredictionLogger("churn", flush_rows=7, flush_seconds=0.01) as logger:
    for i in range(int(sys.argv[1])):
        logger.log(PredictionRecord(f"{sys.argv[2]}-{i}", inputs={"x": i}, prediction=i))
print(logger.written, logger.dropped)
"""


def test_loggers_of_two_workers_never_write_the_same_file(project: Path) -> None:
    script = project / "worker.py"
    script.write_text(_WORKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), "300", f"w{n}"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    with (
        PredictionLogger("churn", flush_rows=5, flush_seconds=0.01) as a,
        PredictionLogger("churn", flush_rows=5, flush_seconds=0.01) as b,
    ):
        for i in range(200):
            a.log(PredictionRecord(f"a-{i}", inputs={"x": i}, prediction=i))
            b.log(PredictionRecord(f"b-{i}", inputs={"x": i}, prediction=i))
    assert a.worker_id != b.worker_id
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert out.split() == ["300", "0"]
    frame = loopml.read_predictions("churn")
    assert len(frame) == 1000 and frame["request_id"].is_unique
    names = [p.name for p in parquet_files(project)]
    assert len(names) == len(set(names)) >= 4


_KILLED = """
import loopml
from loopml.predictions import PredictionLogger, PredictionRecord
big = "v" * 2000
logger = PredictionLogger("churn", flush_rows=2000, flush_seconds=0.01)
i = 0
while True:
    logger.log(PredictionRecord(f"k-{i}", inputs={"x": i, "blob": big}, prediction=i))
    i += 1
"""


def test_a_writer_killed_mid_write_leaves_nothing_the_reader_chokes_on(project: Path) -> None:
    script = project / "killed.py"
    script.write_text(_KILLED)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(parquet_files(project)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    files = parquet_files(project)
    assert len(files) >= 3
    # what a write cut short leaves: a temporary file beside the partition's files
    half = files[0].parent / f".{files[0].name[:-8]}-999999.parquet.0123456789ab.tmp"
    half.write_bytes(files[0].read_bytes()[:100])
    frame = loopml.read_predictions("churn")
    visible = [p for p in parquet_files(project) if not p.name.startswith(".")]
    assert len(frame) == sum(pq.read_metadata(p).num_rows for p in visible) > 0
    assert frame["request_id"].is_unique


@pytest.mark.parametrize(
    "name",
    [
        "../escape",
        "..",
        ".",
        "a/b",
        "a\\b",
        "",
        " ",
        ".hidden",
        "x" * 256,
        "a\x00b",
        "é",
        3,
        b"churn",
    ],
)
def test_a_hostile_deployment_name_is_refused_everywhere_and_writes_nothing(
    project: Path, name: object
) -> None:
    for call in (
        lambda: PredictionLogger(name),  # type: ignore[arg-type]
        lambda: loopml.read_predictions(name),  # type: ignore[arg-type]
        lambda: loopml.predictions.log_feedback(name, {"request_id": "r", "ground_truth": 1}),  # type: ignore[arg-type]
        lambda: loopml.predictions.prune(name, older_than=timedelta(days=1)),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidInput, match="deployment name"):
            call()
    assert not (project / ".loopml" / "artifacts" / "predictions").exists()
    assert sorted(p.name for p in project.parent.iterdir()) == ["proj"]


def test_a_record_of_another_deployment_or_not_a_record_is_refused(project: Path) -> None:
    with PredictionLogger("churn") as logger:
        with pytest.raises(InvalidInput, match="logger of 'churn'"):
            logger.log(record(1, deployment="fraud"))
        with pytest.raises(InvalidInput, match="PredictionRecord"):
            logger.log({"request_id": "x"})  # type: ignore[arg-type]
    assert logger.written == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"request_id": ""}, "request_id must not be empty"),
        ({"request_id": 5}, "request_id must be text"),
        ({"inputs": [1, 2]}, "inputs must be a mapping"),
        ({"status": "weird"}, "status must be one of"),
        ({"latency_ms": float("nan")}, "latency_ms must be a finite number"),
        ({"latency_ms": "1"}, "latency_ms must be a finite number"),
        ({"row": -1}, "row must be a whole number"),
        ({"row": 2**31}, "row must be a whole number from 0 to 2147483647"),
        ({"model_version": "3"}, "model_version must be a whole number"),
        ({"model_version": 2**63}, "model_version must be a whole number"),
        ({"variant": None}, "variant must be text"),
        ({"timestamp": "2026-01-01"}, "timestamp must be a datetime"),
    ],
)
def test_a_malformed_record_is_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"request_id": "r", "inputs": {"a": 1}, **kwargs}
    with pytest.raises(InvalidInput, match=message):
        PredictionRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"flush_rows": 0}, "flush_rows"),
        ({"max_queue": -1}, "max_queue"),
        ({"flush_seconds": 0}, "flush_seconds"),
        ({"flush_seconds": "1"}, "flush_seconds"),
        ({"flush_seconds": float("inf")}, "flush_seconds must be above 0 and at most 3600"),
    ],
)
def test_bad_logger_settings_are_refused(
    project: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        PredictionLogger("churn", **kwargs)  # type: ignore[arg-type]


def test_the_log_goes_to_a_remote_store_through_fsspec(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"memory://predlog-{os.getpid()}-{time.time_ns()}"
    monkeypatch.setenv("LOOPML_ARTIFACT_URI", url)
    client = loopml.Client(project)
    with client.prediction_logger("churn", flush_rows=3) as logger:
        for i in range(10):
            logger.log(record(i))
    client.log_feedback("churn", {"request_id": "req-4", "ground_truth": 1})
    frame = client.read_predictions("churn", with_feedback=True)
    assert len(frame) == 10
    assert frame.set_index("request_id")["ground_truth"]["req-4"] == 1
    assert not (project / ".loopml" / "artifacts" / "predictions").exists()


def test_many_threads_log_at_once_and_each_record_is_written_once(project: Path) -> None:
    inputs = {"x": 0}
    with PredictionLogger("churn", flush_rows=500, flush_seconds=0.01) as logger:

        def serve(t: int) -> None:
            for i in range(2000):
                logger.log(PredictionRecord(f"t{t}-{i}", inputs=inputs, prediction=i))

        threads = [threading.Thread(target=serve, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert (logger.written, logger.dropped) == (16_000, 0)
    frame = loopml.read_predictions("churn")
    assert len(frame) == 16_000 and frame["request_id"].is_unique


def test_the_callers_inputs_changing_after_log_do_not_change_the_log(project: Path) -> None:
    inputs = {"x": 1}
    with PredictionLogger("churn", flush_seconds=60) as logger:
        logger.log(PredictionRecord("r", inputs=inputs, prediction=0))
        inputs["x"] = 2
        inputs["y"] = 3
    frame = loopml.read_predictions("churn")
    assert frame["in.x"].tolist() == [1] and "in.y" not in frame.columns


def test_records_from_far_in_the_past_or_future_are_written_in_their_hour(project: Path) -> None:
    times = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]
    with PredictionLogger("churn") as logger:
        for i, when in enumerate(times):
            logger.log(record(i, timestamp=when))
    assert (logger.written, logger.dropped) == (2, 0)
    hours = sorted(p.parent.name for p in parquet_files(project))
    assert hours == ["hour=0001010100", "hour=9999123123"]
    assert loopml.read_predictions("churn")["timestamp"].tolist() == times


def test_a_record_the_log_cannot_hold_is_refused_and_never_costs_the_others(
    project: Path,
) -> None:
    with PredictionLogger("churn") as logger:
        logger.log(PredictionRecord("kept", inputs={"a": 1}, prediction=1))
        with pytest.raises(InvalidInput, match="row must be"):
            logger.log(PredictionRecord("too-far", inputs={"a": 1}, prediction=1, row=2**40))
        logger.log(PredictionRecord("kept-too", inputs={"a": 1}, prediction=1, row=2**31 - 1))
    assert (logger.written, logger.dropped, logger.errors) == (2, 0, 0)
    frame = loopml.read_predictions("churn")
    assert frame["request_id"].tolist() == ["kept", "kept-too"]
    assert frame["row"].tolist() == [0, 2**31 - 1]


def test_log_served_writes_what_log_request_writes_and_refuses_a_bad_status(
    project: Path,
) -> None:
    template = PredictionRecord(
        "req-a", inputs={}, model_name="churn", model_version=4, variant="primary", latency_ms=2.5
    )
    before = time.time()
    with PredictionLogger("churn", flush_seconds=0.05) as logger:
        assert logger.log_request(template, {"age": [41, 23]}, 2, predictions=[1, 0]) == 2
        served = logger.log_served(
            "req-b", "churn", 4, "primary", PredictionStatus.OK, 2.5, {"age": [41, 23]}, 2,
            predictions=[1, 0],
        )  # fmt: skip
        assert served == 2
        with pytest.raises(InvalidInput, match="PredictionStatus"):
            logger.log_served("req-c", "churn", 4, "primary", "ok", 1.0, {"age": [1]}, 1)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="holds 1 items for 2 rows"):
            logger.log_served(
                "req-c", "churn", 4, "primary", PredictionStatus.OK, 1.0, {"age": [1, 2]}, 2,
                predictions=[1],
            )  # fmt: skip
    frame = loopml.read_predictions("churn")
    a = frame[frame["request_id"] == "req-a"].drop(columns=["request_id", "timestamp"])
    b = frame[frame["request_id"] == "req-b"].drop(columns=["request_id", "timestamp"])
    assert len(frame) == 4 and a.reset_index(drop=True).equals(b.reset_index(drop=True))
    stamped = frame[frame["request_id"] == "req-b"]["timestamp"].iloc[0]
    assert stamped.timestamp() >= before - 1
