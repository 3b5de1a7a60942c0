"""Benchmark: one monitor window over 100,000 logged predictions, every check on.

A binary classifier (scikit-learn's logistic regression on 12 numeric and 3 categorical
inputs, one-hot encoded in a pipeline) is trained on a 50,000-row dataset version,
registered and deployed. Its prediction log gets two hours of 100,000 predictions each
(with class probabilities, half of them with feedback; the second hour's inputs
shifted). One monitor of hourly windows, sliced by a categorical input, with alert
rules, computes both windows.

Printed:
- the first window in a fresh monitor (the reference prepared: its profile computed and
  stored, the model loaded and run on the reference, the estimator fitted), and the
  second window once the reference is prepared (the steady state of a monitor that runs
  every hour), each including the read of 100,000 rows with their feedback from the log;
- ``loopml monitor run --once`` as a whole command on the third hour (a fresh process,
  bytecode cached: what cron pays each hour; one run, since a window is computed once),
  and the same command with nothing due, the median of 3.

Target (the issue's): a window over 100,000 logged predictions, all checks on, ≤ 1 s.

    python benchmarks/bench_monitor.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import figure, scratch

NUMERIC, CATEGORICAL = 12, 3
#: three hours before the current hour: two windows computed in-process, the third by
#: the command (it is due, the current hour is not)
START = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def frame(rows: int, seed: int, shift: float = 0.0) -> object:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {f"x{i}": rng.normal(shift if i < 3 else 0.0, 1.0, rows) for i in range(NUMERIC)}
    for j in range(CATEGORICAL):
        data[f"c{j}"] = rng.choice(["a", "b", "c", "d"], size=rows, p=[0.4, 0.3, 0.2, 0.1])
    logit = data["x0"] - 0.5 * data["x1"] + 0.3 * data["x2"] + (data["c0"] == "a") * 0.8
    data["label"] = (logit + rng.logistic(size=rows) > 0).astype("int64")
    return pd.DataFrame(data)


def setup(folder: Path, rows: int) -> object:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import loopml

    train = frame(50_000, seed=1)
    train.to_parquet(folder / "train.parquet")
    loopml.add_dataset(folder / "train.parquet", "bench")
    features = [c for c in train.columns if c != "label"]
    model = make_pipeline(
        ColumnTransformer(
            [
                (
                    "cat",
                    OneHotEncoder(handle_unknown="ignore"),
                    [f"c{j}" for j in range(CATEGORICAL)],
                )
            ],
            remainder="passthrough",
        ),
        LogisticRegression(max_iter=500),
    ).fit(train[features], train["label"])
    with loopml.start_run() as run:
        run.use_dataset("data:/bench@1")
        info = loopml.log_model(model, input_example=train[features].head())
    loopml.register_model(info.uri, "bench")
    loopml.deploy("bench", "models:/bench/1")
    return model


def log_hour(model: object, hour: int, rows: int, shift: float) -> None:
    """``rows`` predictions of the served model in hour ``hour`` after START, written with
    the prediction log's own writer; half of them get feedback."""
    import loopml
    from loopml.predictions import PredictionLogger, PredictionRecord

    data = frame(rows, seed=10 + hour, shift=shift)
    features = data.drop(columns="label")
    proba = model.predict_proba(features)  # type: ignore[attr-defined]
    predicted = (proba[:, 1] >= 0.5).astype(int)
    records = features.to_dict("records")
    base = START + timedelta(hours=hour)
    step = 3500.0 / rows
    with PredictionLogger("bench", max_queue=rows + 10) as logger:
        for i, inputs in enumerate(records):
            logger.log(
                PredictionRecord(
                    f"h{hour}-{i}",
                    inputs=inputs,
                    prediction=int(predicted[i]),
                    probabilities={"0": float(proba[i, 0]), "1": float(proba[i, 1])},
                    model_name="bench",
                    model_version=1,
                    latency_ms=3.0 + (i % 7),
                    timestamp=base + timedelta(seconds=i * step),
                )
            )
    labels = data["label"].to_numpy()
    loopml.predictions.log_feedback(
        "bench",
        [{"request_id": f"h{hour}-{i}", "ground_truth": int(labels[i])} for i in range(0, rows, 2)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows an hour")
    args = parser.parse_args()
    rows = 20_000 if args.quick else 100_000
    with scratch() as folder:
        os.chdir(folder)
        (folder / "loopml.toml").write_text(
            "[monitors.bench]\n"
            'deployment = "bench"\n'
            'window = "1h"\n'
            'slices = ["c0"]\n'
            'alerts = ["drift_share > 0.3", "live.f1 < 0.5", "system.error_rate > 0.02"]\n'
            'sinks = ["file:alerts.jsonl"]\n'
        )
        import loopml

        loopml.configure(project_root=folder)
        t = time.perf_counter()
        model = setup(folder, rows)
        for hour, shift in ((0, 0.0), (1, 0.5)):
            log_hour(model, hour, rows, shift)
        print(f"setup: {time.perf_counter() - t:.1f} s ({rows:,} predictions an hour)")

        t = time.perf_counter()
        first = loopml.monitoring.run_monitors(now=START + timedelta(hours=1, minutes=1))
        cold = time.perf_counter() - t
        t = time.perf_counter()
        second = loopml.monitoring.run_monitors(now=START + timedelta(hours=2, minutes=1))
        warm = time.perf_counter() - t
        assert [w.rows for w in first.windows + second.windows] == [rows, rows], first
        w1, w2 = first.windows[0], second.windows[0]
        checks = sorted({k.split(".")[0] for k in w2.metrics})
        print(
            f"window 1: drift_share {w1.metrics['drift_share']:.2f}, live.f1 "
            f"{w1.metrics.get('live.f1', float('nan')):.3f}, estimated.f1 "
            f"{w1.metrics.get('estimated.f1', float('nan')):.3f}"
        )
        print(
            f"window 2: drift_share {w2.metrics['drift_share']:.2f}, live.f1 "
            f"{w2.metrics.get('live.f1', float('nan')):.3f}, estimated.f1 "
            f"{w2.metrics.get('estimated.f1', float('nan')):.3f}, status {w2.status}"
        )
        print(f"metric groups: {', '.join(checks)}; {len(w2.metrics)} metrics")

        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cmd = [str(Path(sys.executable).with_name("loopml")), "monitor", "run", "--once", "-q"]
        log_hour(model, 2, rows, 0.0)
        t = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
        whole = time.perf_counter() - t
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        assert loopml.get_monitor_results("bench")["rows"].tolist() == [rows] * 3
        idle = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder, check=True)
            idle.append(time.perf_counter() - t)
        label = f"{rows // 1000}k rows"
        figure(f"first window of a new monitor (reference prepared), {label}", cold, "s")
        figure(f"next window, reference prepared, {label}", warm, "s", target="<= 1 s")
        figure(f"loopml monitor run --once, whole command, one window of {label}", whole, "s")
        figure("loopml monitor run --once, nothing due, median of 3", statistics.median(idle), "s")


if __name__ == "__main__":
    main()
