"""Tracking write speed: ``log_metric`` per call, a batch of 100,000 metrics, import time.

Figures (SQLite metadata store in a scratch folder, best of 3):

- ``log_metric``: 10,000 calls in one run, microseconds per call amortized
  *including* the final flush and the end of the run.
- a batch of 100,000 metrics, two shapes: one ``log_metrics`` call with
  100,000 distinct keys, and 10 keys x 10,000 steps (10,000 ``log_metrics``
  calls of 10 keys); each timed from the first call until the rows are
  committed (flush).
- ``import loopml`` and ``import loopml.tracking`` (what a run needs) in a
  fresh interpreter.
- a whole tracked script as a user runs it: a fresh interpreter (bytecode
  caching on) that imports loopml, starts a run, logs 100 metric values and
  ends the run (durable: committed), with the in-process split (import,
  start, log, end) beside the whole process's wall time; best of 5, on an
  existing store.
- artifacts: ``log_artifact`` of a new 4 KiB file (each call stores a new
  object, flushed to the disk before its row commits), of the same 4 KiB
  again (the stored object is checked and re-used), and of a new 64 MiB
  file; ``log_dict``; ``get_artifact`` of a file already fetched (re-verified).

With peers (the default; ``--no-peers`` skips them) the same is timed for
MLflow (``mlflow-skinny`` with its SQLAlchemy store on SQLite, in its own
virtualenv): ``mlflow.log_metric`` per call (over 1,000 calls: each is a
synchronous database write) and ``MlflowClient().log_batch`` for the two
batch shapes, chunked at 1,000 metrics per call as its API requires.

Usage: python benchmarks/bench_tracking.py [--no-peers]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import figure, peer_python, scratch

CALLS = 10_000
BATCH = 100_000
MLFLOW_CALLS = 1_000
MLFLOW = ("mlflow-skinny==3.17.2", "sqlalchemy", "alembic")


def _configure(folder: Path) -> None:
    import loopml
    import loopml.context

    loopml.context.reset()
    loopml.configure(
        tracking_uri=f"sqlite:///{folder / 'loopml.db'}",
        artifact_uri=str(folder / "artifacts"),
        project_root=folder,
    )
    with loopml.start_run("warm-up"):  # creates the database and loads the code paths
        loopml.log_metric("x", 1.0)


def loopml_per_call(folder: Path) -> float:
    """Seconds per ``log_metric`` call over CALLS calls, including the final flush."""
    import loopml

    def one() -> None:
        run = loopml.start_run("bench")
        t = time.perf_counter()
        for i in range(CALLS):
            loopml.log_metric("loss", 0.5, step=i)
        run.end()
        one.elapsed = time.perf_counter() - t  # type: ignore[attr-defined]

    times = []
    for _ in range(3):
        one()
        times.append(one.elapsed)  # type: ignore[attr-defined]
    return min(times) / CALLS


def loopml_batch_distinct() -> float:
    """Seconds to log and commit one ``log_metrics`` call of BATCH distinct keys."""
    import loopml

    values = {f"metric_{i}": i * 1e-3 for i in range(BATCH)}

    def one() -> None:
        with loopml.start_run("bench") as run:
            t = time.perf_counter()
            run.log_metrics(values)
            run.flush()
            one.elapsed = time.perf_counter() - t  # type: ignore[attr-defined]

    times = []
    for _ in range(3):
        one()
        times.append(one.elapsed)  # type: ignore[attr-defined]
    return min(times)


def loopml_batch_steps() -> float:
    """Seconds to log and commit 10 keys x BATCH/10 steps."""
    import loopml

    keys = [f"metric_{k}" for k in range(10)]
    steps = BATCH // len(keys)

    def one() -> None:
        with loopml.start_run("bench") as run:
            t = time.perf_counter()
            for step in range(steps):
                run.log_metrics(dict.fromkeys(keys, step * 1e-3), step=step)
            run.flush()
            one.elapsed = time.perf_counter() - t  # type: ignore[attr-defined]

    times = []
    for _ in range(3):
        one()
        times.append(one.elapsed)  # type: ignore[attr-defined]
    return min(times)


ARTIFACT_CALLS = 200


def loopml_artifacts(folder: Path) -> dict[str, float]:
    """Seconds per call of the artifact paths (best of 3 rounds)."""
    import loopml

    src = folder / "art"
    src.mkdir(exist_ok=True)
    small = [src / f"s{i}.bin" for i in range(ARTIFACT_CALLS * 3)]
    for path in small:
        path.write_bytes(os.urandom(4096))
    big = [src / f"b{i}.bin" for i in range(3)]
    for path in big:
        path.write_bytes(os.urandom(64 << 20))
    out: dict[str, list[float]] = {"new": [], "again": [], "big": [], "dict": [], "get": []}
    with loopml.start_run("artifacts") as run:
        for r in range(3):
            files = small[r * ARTIFACT_CALLS : (r + 1) * ARTIFACT_CALLS]
            os.sync()
            t = time.perf_counter()
            for i, path in enumerate(files):
                run.log_artifact(path, f"new{r}/{i}")
            out["new"].append((time.perf_counter() - t) / len(files))
            t = time.perf_counter()
            for i, path in enumerate(files):
                run.log_artifact(path, f"again{r}/{i}")
            out["again"].append((time.perf_counter() - t) / len(files))
            os.sync()
            t = time.perf_counter()
            run.log_artifact(big[r], f"big{r}")
            out["big"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for i in range(ARTIFACT_CALLS):
                run.log_dict({"round": r, "i": i, "values": list(range(20))}, f"d{r}/{i}.json")
            out["dict"].append((time.perf_counter() - t) / ARTIFACT_CALLS)
        uri = f"runs:/{run.id}/new0/0/s0.bin"
        loopml.tracking.get_artifact(uri)
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(ARTIFACT_CALLS):
                loopml.tracking.get_artifact(uri)
            out["get"].append((time.perf_counter() - t) / ARTIFACT_CALLS)
    return {k: min(v) for k, v in out.items()}


def import_seconds(python: str, module: str, env: dict[str, str] | None = None) -> float:
    """Best of 5 wall times of ``import module`` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    best = float("inf")
    for _ in range(5):
        out = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        best = min(best, float(out.stdout.strip().splitlines()[-1]))
    return best


SCRIPT = """
import time
t0 = time.perf_counter()
import loopml
t1 = time.perf_counter()
run = loopml.start_run("script", params={"lr": 0.1})
t2 = time.perf_counter()
for i in range(100):
    loopml.log_metric("loss", 1 / (i + 1), step=i)
t3 = time.perf_counter()
run.end()
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""

MLFLOW_SCRIPT = """
import time
t0 = time.perf_counter()
import mlflow
t1 = time.perf_counter()
mlflow.set_tracking_uri("sqlite:///mlflow.db")
run = mlflow.start_run(run_name="script")
mlflow.log_params({"lr": 0.1})
t2 = time.perf_counter()
for i in range(100):
    mlflow.log_metric("loss", 1 / (i + 1), step=i)
t3 = time.perf_counter()
mlflow.end_run()
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def whole_script(python: str, code: str, folder: Path, env: dict[str, str]) -> list[float]:
    """``[import, start, log, end, whole process]`` seconds of a fresh interpreter running
    ``code`` in ``folder``: the run with the fastest whole process of 5 (after a warm-up
    that creates the store and the bytecode caches)."""
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([python, "-c", code], cwd=folder, env=env, check=True, capture_output=True)
    best: list[float] | None = None
    for _ in range(5):
        t = time.perf_counter()
        out = subprocess.run(
            [python, "-c", code], cwd=folder, env=env, check=True, capture_output=True, text=True
        )
        whole = time.perf_counter() - t
        parts = [float(x) for x in out.stdout.split()] + [whole]
        if best is None or whole < best[-1]:
            best = parts
    assert best is not None
    return best


def _print_script(label: str, parts: list[float]) -> None:
    imp, start, log, end, whole = parts
    figure(
        f"{label} script (import {imp * 1000:.0f} + start {start * 1000:.0f} + 100 metrics "
        f"{log * 1000:.1f} + end {end * 1000:.1f} ms), whole process",
        whole * 1000,
        "ms",
    )


MLFLOW_CODE = """
import json, logging, os, sys, time
logging.disable(logging.WARNING)
import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

folder, calls, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
client = MlflowClient()
with mlflow.start_run():
    mlflow.log_metric("x", 1.0)

def per_call():
    with mlflow.start_run():
        t = time.perf_counter()
        for i in range(calls):
            mlflow.log_metric("loss", 0.5, step=i)
    return (time.perf_counter() - t) / calls

def log_batch(metrics):
    exp = client.get_experiment_by_name("Default").experiment_id
    run = client.create_run(exp)
    t = time.perf_counter()
    for i in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[i:i + 1000])
    elapsed = time.perf_counter() - t
    client.set_terminated(run.info.run_id)
    return elapsed

ts = int(time.time() * 1000)
distinct = [Metric(f"metric_{i}", i * 1e-3, ts, 0) for i in range(batch)]
steps = [Metric(f"metric_{i % 10}", i * 1e-3, ts, i // 10) for i in range(batch)]
print(json.dumps({
    "per_call": min(per_call() for _ in range(3)),
    "batch_distinct": log_batch(distinct),
    "batch_steps": log_batch(steps),
}))
"""


def mlflow_figures(py: Path, folder: Path) -> dict[str, float]:
    import json as _json

    code = MLFLOW_CODE
    result = subprocess.run(
        [str(py), "-c", code, str(folder), str(MLFLOW_CALLS), str(BATCH)],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=3600,
        env={k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "PYTHONPATH"))},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return dict(_json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-peers", action="store_true", help="Do not time MLflow.")
    args = parser.parse_args()

    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    with scratch() as folder:
        os.chdir(folder)
        _configure(folder)
        per_call = loopml_per_call(folder)
        distinct = loopml_batch_distinct()
        steps = loopml_batch_steps()
        artifacts = loopml_artifacts(folder)
        os.chdir(Path(__file__).parent)
    import_loopml = import_seconds(sys.executable, "loopml", clean_env)
    import_tracking = import_seconds(sys.executable, "loopml.tracking", clean_env)
    with scratch() as folder:
        (folder / "loopml.toml").write_text("")
        script = whole_script(sys.executable, SCRIPT, folder, clean_env)

    peers: dict[str, float] = {}
    mlflow_import = None
    mlflow_script: list[float] | None = None
    if not args.no_peers:
        py = peer_python("mlflow", *MLFLOW)
        if py is not None:
            with scratch() as folder:
                peers = mlflow_figures(py, folder)
            mlflow_import = import_seconds(str(py), "mlflow", clean_env)
            with scratch() as folder:
                mlflow_script = whole_script(str(py), MLFLOW_SCRIPT, folder, clean_env)

    figure("import loopml", import_loopml * 1000, "ms")
    figure("import loopml.tracking", import_tracking * 1000, "ms")
    if mlflow_import is not None:
        figure("import mlflow (skinny)", mlflow_import * 1000, "ms")
        figure("  ratio mlflow / loopml.tracking", mlflow_import / import_tracking, "x")
    _print_script("loopml", script)
    if mlflow_script is not None:
        _print_script("MLflow", mlflow_script)
        figure("  ratio mlflow / loopml, whole process", mlflow_script[-1] / script[-1], "x")
    figure("log_metrics 100,000 distinct keys, one call, until committed", distinct, "s", "<= 1 s")
    figure("log_metrics 10 keys x 10,000 steps, until committed", steps, "s", "<= 1 s")
    figure("log_artifact, a new 4 KiB file, per call", artifacts["new"] * 1000, "ms")
    figure("log_artifact, the same 4 KiB again, per call", artifacts["again"] * 1000, "ms")
    figure("log_artifact, a new 64 MiB file", artifacts["big"] * 1000, "ms")
    figure("log_dict, per call", artifacts["dict"] * 1000, "ms")
    figure("get_artifact of a fetched 4 KiB file, per call", artifacts["get"] * 1000, "ms")
    if peers:
        figure("MLflow log_batch 100,000 distinct keys (100 x 1,000)", peers["batch_distinct"], "s")
        figure("  ratio mlflow / loopml", peers["batch_distinct"] / distinct, "x")
        figure("MLflow log_batch 10 keys x 10,000 steps (100 x 1,000)", peers["batch_steps"], "s")
        figure("  ratio mlflow / loopml", peers["batch_steps"] / steps, "x")
        figure("MLflow log_metric per call (sqlite, synchronous)", peers["per_call"] * 1e6, "us")
        figure("  ratio mlflow / loopml", peers["per_call"] / per_call, "x")
    figure(
        f"log_metric, {CALLS:,} calls, amortized incl. final flush",
        per_call * 1e6,
        "us/call",
        "<= 20 us",
    )


if __name__ == "__main__":
    main()
