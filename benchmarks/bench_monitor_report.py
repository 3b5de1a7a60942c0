"""Benchmark: the HTML report of a monitor with 1,000 stored windows.

A monitor of hourly windows gets 1,000 stored windows, each with the metrics a real
window holds (system health, data quality, drift share and 25 per-column scores, live
and estimated performance) and its drift details: a drift report of 25 columns (20
numeric with their 100-bin histograms, 5 categorical) against a 20,000-row reference,
as the monitor stores it. Every tenth window has too few rows, every fiftieth failed.

Printed, the median of 3 each: reading the 1,000 windows with all their details (what
the report avoids: it reads every window's metrics, but the details only of the last 50
and of the newest with drift details), drawing the page from records already read, and
``write_monitor_report`` as a whole (the windows read, the page drawn, the file
written); then the size of the file.

Target (the issue's): 1,000 windows render in a few seconds.

    python benchmarks/bench_monitor_report.py [--windows N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime, timedelta, timezone

from _common import figure, scratch

NUMERIC, CATEGORICAL = 20, 5
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def frame(rows: int, seed: int, shift: float = 0.0) -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(shift if i < 3 else 0.0, 1.0, rows) for i in range(NUMERIC)}
    for j in range(CATEGORICAL):
        data[f"c{j}"] = rng.choice(["a", "b", "c", "d"], size=rows, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(data)


def store(count: int) -> None:
    import random

    import loopml
    from loopml.context import current
    from loopml.monitoring import MonitorSettings, MonitorWindow, WindowStatus
    from loopml.monitoring import _repository as repo

    meta = current().metadata
    settings = MonitorSettings(deployment="bench", alerts=("drift_share > 0.3", "live.f1 < 0.8"))
    repo.save_monitor(meta, "bench", settings)
    profile = loopml.monitoring.profile_reference(frame(20_000, seed=1))
    reports = [
        loopml.detect_drift(profile, frame(5_000, seed=2 + k, shift=0.1 * k)).to_dict()
        for k in range(4)
    ]
    rng = random.Random(0)
    cursor = None
    for i in range(count):
        start = START + timedelta(hours=i)
        if i % 50 == 49:
            status, metrics, details, error = (
                WindowStatus.FAILED,
                {"rows": 0.0},
                {},
                "KeyError: 'x0'",
            )
        elif i % 10 == 9:
            status, metrics = WindowStatus.TOO_FEW_ROWS, {"rows": 20.0, "system.requests": 20.0}
            details, error = {"notes": ["20 rows: fewer than min_rows = 100"]}, None
        else:
            drift = reports[(i // 100) % len(reports)]
            status, error = WindowStatus.OK, None
            metrics = {
                "rows": 5000.0,
                "system.requests": 5000.0,
                "system.request_rate": 5000 / 3600,
                "system.error_rate": rng.random() * 0.01,
                "system.refused_rate": 0.0,
                "system.p50_latency_ms": 5 + rng.random(),
                "system.p95_latency_ms": 9 + rng.random(),
                "system.p99_latency_ms": 14 + 3 * rng.random(),
                "data.missing_rate": 0.0,
                "data.out_of_range_rate": rng.random() * 0.02,
                "data.unseen_rate": 0.0,
                "data.type_error_rate": 0.0,
                "drift_share": drift["drift_share"],
                "dataset_drift": float(drift["dataset_drift"]),
                "drifted_columns": float(len(drift["drifted_columns"])),
                **{f"drift.{n}": c["score"] for n, c in drift["columns"].items()},
                "live.labelled": 2500.0,
                "live.labelled_share": 0.5,
                "live.f1": 0.85 + rng.random() * 0.05,
                "live.roc_auc": 0.9 + rng.random() * 0.05,
                "live.accuracy": 0.86 + rng.random() * 0.05,
                "estimated.f1": 0.85 + rng.random() * 0.05,
                "estimated.roc_auc": 0.9 + rng.random() * 0.05,
                "estimated.accuracy": 0.86 + rng.random() * 0.05,
            }
            details = {"drift": drift, "notes": [], "quality": {}}
        record = MonitorWindow(
            0,
            "bench",
            start,
            start + timedelta(hours=1),
            int(metrics["rows"]),
            status,
            "data:/bench@1",
            metrics,
            details,
            error,
            time.time(),
        )
        stored = repo.store_window(meta, "bench", cursor, record)
        assert stored is not None
        cursor = stored.end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1000)
    args = parser.parse_args()

    import loopml
    from loopml.context import current
    from loopml.monitoring import _repository as repo
    from loopml.monitoring._dashboard import render_monitor_report
    from loopml.monitoring._records import AlertStatus

    with scratch() as folder:
        loopml.configure(project_root=folder)
        store(args.windows)
        meta = current().metadata
        path = folder / "bench.html"
        whole, read, draw = [], [], []
        for _ in range(3):
            t = time.perf_counter()
            loopml.monitoring.write_monitor_report("bench", path)
            whole.append(time.perf_counter() - t)
            t = time.perf_counter()
            windows = repo.windows_of(meta, "bench")
            read.append(time.perf_counter() - t)
            monitor = loopml.monitoring.get_monitor("bench")
            alerts = repo.alerts_of(meta, "bench", AlertStatus.FIRING)
            t = time.perf_counter()
            render_monitor_report(monitor, windows, alerts)
            draw.append(time.perf_counter() - t)
        size = path.stat().st_size
        n = len(windows)
        figure(
            f"read {n:,} windows with all their details, median of 3", statistics.median(read), "s"
        )
        figure(f"draw the page of {n:,} windows, median of 3", statistics.median(draw), "s")
        figure("size of the HTML file (plotly.js inlined)", size / 2**20, "MiB")
        figure(
            f"write_monitor_report of {n:,} windows, median of 3",
            statistics.median(whole),
            "s",
            target="a few seconds",
        )


if __name__ == "__main__":
    main()
