"""The prediction log: records/s through ``log()`` and to disk, bytes per record, and
0 dropped at a realistic serving rate.

Figures (a local artifact store in a scratch folder; records of 12 input columns,
a prediction and two class probabilities, like the single-row churn model):

- ``log()``: microseconds per call on the caller's thread (mask of one column on),
  200,000 calls as fast as one thread can make them, with a queue large enough
  to hold them all; the median of 3.
- to disk: records per second from the first ``log()`` until ``close()`` has
  written everything (the writer thread's throughput, Parquet + zstd + rename).
- bytes per record on disk.
- paced: log() p50 and p99 on the caller's thread, and 2,000 records per second for 5 seconds (over twice the serving
  benchmark's bare FastAPI floor of 892 req/s) with the default queue and
  flush settings: records written must equal records logged, 0 dropped.

Usage: python benchmarks/bench_prediction_log.py
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from _common import figure, scratch

CALLS = 200_000
RATE = 2_000
SECONDS = 5.0


def _records(n: int) -> list[object]:
    from loopml.predictions import PredictionRecord

    out = []
    for i in range(n):
        inputs = {f"f{c}": (i * 7 + c) % 1000 / 10 for c in range(10)}
        inputs["plan"] = ("basic", "pro", "team")[i % 3]
        inputs["email"] = f"user{i % 5000}@example.org"
        out.append(
            PredictionRecord(
                f"req-{i}",
                inputs=inputs,
                prediction=i % 2,
                probabilities={"0": 0.3, "1": 0.7},
                model_name="churn",
                model_version=3,
                latency_ms=1.2,
            )
        )
    return out


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in (folder / "predictions").rglob("*.parquet"))


def main() -> None:
    import loopml

    records = _records(CALLS)
    per_call, to_disk, per_record = [], [], []
    for _ in range(3):
        with scratch() as folder:
            (folder / "loopml.toml").write_text('[privacy]\nmask = ["email"]\n')
            os.environ["LOOPML_PRIVACY_KEY"] = "bench"
            client = loopml.Client(folder)
            logger = client.prediction_logger("churn", max_queue=CALLS)
            t0 = time.perf_counter()
            for r in records:
                logger.log(r)  # type: ignore[arg-type]
            t1 = time.perf_counter()
            logger.close()
            t2 = time.perf_counter()
            assert logger.written == CALLS and logger.dropped == 0, logger
            per_call.append((t1 - t0) / CALLS * 1e6)
            to_disk.append(CALLS / (t2 - t0))
            per_record.append(_size(folder / ".loopml" / "artifacts") / CALLS)

    with scratch() as folder:
        client = loopml.Client(folder)
        logger = client.prediction_logger("churn")
        paced = records[: int(RATE * SECONDS)]
        calls = []
        start = time.perf_counter()
        for i, r in enumerate(paced):
            due = start + i / RATE
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t = time.perf_counter()
            logger.log(r)  # type: ignore[arg-type]
            calls.append(time.perf_counter() - t)
        logger.close()
        written, dropped = logger.written, logger.dropped
        read = len(client.read_predictions("churn"))

    figure("log() per call (caller's thread)", statistics.median(per_call), "µs")
    figure("log() calls per second", 1e6 / statistics.median(per_call), "records/s")
    figure("logged to disk (log() to close())", statistics.median(to_disk), "records/s")
    figure("bytes per record on disk", statistics.median(per_record), "B")
    calls.sort()
    figure(f"paced {RATE}/s: log() p50", calls[len(calls) // 2] * 1e6, "µs")
    figure(f"paced {RATE}/s: log() p99", calls[int(len(calls) * 0.99)] * 1e6, "µs")
    figure(f"paced {RATE}/s for {SECONDS:.0f}s: written", written, f"of {len(paced)}")
    figure(f"paced {RATE}/s for {SECONDS:.0f}s: read back", read, f"of {len(paced)}")
    figure(f"paced {RATE}/s for {SECONDS:.0f}s: dropped", dropped, "records", "0")


if __name__ == "__main__":
    main()
