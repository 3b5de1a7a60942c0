"""Eight processes logging metrics into one store at once: throughput, flush latency, errors.

Each process (forked, all released together) starts its own run and logs
5,000 metrics with ``log_metric``, flushing every 500 (so 10 write
transactions per process, 80 in all, contending for the database). Figures:
metrics written per second over the whole wall time (first start to last
run ended), the 50th and 99th percentile of one flush (the write
transaction, including any wait for the database lock), and the number of
errors any process saw (must be 0). Afterwards every row is counted.

On SQLite always, and on PostgreSQL with ``--postgres URL`` or when
``LOOPML_TEST_POSTGRES_URL`` is set (a scratch schema, dropped afterwards).

Usage: python benchmarks/bench_concurrency.py [--workers 8] [--metrics 5000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
import traceback
from pathlib import Path
from typing import Any

from _common import figure, scratch
from bench_search import postgres_schema

BATCH = 500


def _child(index: int, n: int, barrier: Any, results: Any) -> None:
    import loopml
    from loopml.tracking import _flusher

    durations: list[float] = []
    write = _flusher.write_batches

    def timed(store: Any, batches: Any) -> None:
        t = time.perf_counter()
        write(store, batches)
        durations.append(time.perf_counter() - t)

    _flusher.write_batches = timed
    errors: list[str] = []
    barrier.wait()
    started = time.time()
    try:
        with loopml.start_run("concurrency", run_name=f"worker-{index}") as run:
            for i in range(n):
                run.log_metric("loss", 1.0 / (i + 1), step=i)
                if (i + 1) % BATCH == 0:
                    run.flush()
    except Exception:
        errors.append(traceback.format_exc())
    results.put((started, time.time(), durations, errors))


def measure(uri: str, workers: int, n: int, label: str) -> None:
    from loopml.context import reset
    from loopml.store.metadata import MetadataStore

    os.environ["LOOPML_TRACKING_URI"] = uri
    os.environ["LOOPML_FLUSH_INTERVAL"] = "600"  # only the explicit flushes write
    MetadataStore(uri).dispose()  # migrate before the clock starts
    reset()
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(workers)
    results = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(i, n, barrier, results)) for i in range(workers)]
    for p in procs:
        p.start()
    got = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    starts, ends, durations, errors = zip(*got, strict=True)
    wall = max(ends) - min(starts)
    flushes = sorted(d for ds in durations for d in ds)
    n_errors = sum(len(e) for e in errors) + sum(1 for p in procs if p.exitcode != 0)
    for e in errors:
        for tb in e:
            print(tb)
    store = MetadataStore(uri)
    with store.read() as conn:
        rows = conn.scalar("SELECT count(*) FROM metrics")
    store.dispose()
    reset()
    total = workers * n
    print(f"[{label}] rows present: {rows:,} of {total:,}", flush=True)
    print(f"[{label}] errors: {n_errors}   (target 0)", flush=True)
    figure(
        f"[{label}] flush p50 ({len(flushes)} flushes of {BATCH})",
        statistics.median(flushes) * 1000,
        "ms",
    )
    figure(f"[{label}] flush p99", _percentile(flushes, 0.99) * 1000, "ms")
    figure(f"[{label}] {workers} processes x {n:,} metrics", total / wall, "metrics/s")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--metrics", type=int, default=5000, help="Metrics per process.")
    parser.add_argument("--postgres", default=os.environ.get("LOOPML_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    for var in ("LOOPML_TRACKING_URI", "LOOPML_ARTIFACT_URI", "LOOPML_PROJECT_DIR"):
        os.environ.pop(var, None)
    with scratch() as folder:
        os.chdir(folder)
        Path("loopml.toml").write_text("")
        if args.postgres:
            with postgres_schema(args.postgres) as uri:
                measure(uri, args.workers, args.metrics, "postgresql")
        measure(f"sqlite:///{folder / 'loopml.db'}", args.workers, args.metrics, "sqlite")


if __name__ == "__main__":
    main()
