"""``loopml.predict_batch`` on 1,000,000 rows against the model's own predict on the whole frame.

A scratch project holds a Parquet file of 1,000,000 rows (an id and 8 numeric
inputs, ``data:/bench@1``) and a registered scikit-learn LogisticRegression
on the inputs. Each figure comes from its own child interpreter, so one peak
of memory never hides another:

1. whole frame: read the file into one DataFrame, ``Model.predict`` on it,
   write the predictions to Parquet (what a hand-written script does);
2. ``loopml.predict_batch("models:/bench/1", "data:/bench@1", "preds.parquet",
   keep=["id"])`` with its default chunk of 100,000 rows, recorded as a run
   with its output stored as an artifact;
3. the same with ``record=False`` (no run, no artifact copy).

Each reports rows per second (the whole call, reading and writing included)
and the peak resident memory of its process above what the imports and the
loaded model took (``ru_maxrss``). Batch scoring's peak is a few chunks'
worth whatever the rows (on 200,000 rows in chunks of 20,000 it was 76 MiB,
on 1,000,000 in chunks of 100,000 160 MiB, against 269 MiB for the whole
frame). Target: peak memory below the whole frame's, at >= 0.7x its rows/s.

Usage: python benchmarks/bench_predict_batch.py [--rows N] [--chunk-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, scratch

SETUP = r"""
import sys
import numpy as np, pandas as pd
import loopml
from sklearn.linear_model import LogisticRegression

rows = int(sys.argv[1])
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
y = (X["x0"] - 0.5 * X["x1"] + rng.normal(0, 1, rows) > 0).astype("int64")
X.insert(0, "id", np.arange(rows, dtype="int64"))
X.to_parquet("bench.parquet", row_group_size=100_000)
loopml.add_dataset("bench.parquet", name="bench")
inputs = [f"x{i}" for i in range(8)]
fit = LogisticRegression(max_iter=200).fit(X[inputs].head(50_000), y.head(50_000))
with loopml.start_run():
    info = loopml.log_model(fit, input_example=X[inputs].head())
loopml.register_model(info.uri, "bench")
"""

MEASURE = r"""
import json, resource, sys, time
import numpy as np, pandas as pd, pyarrow, pyarrow.parquet
import loopml

how, chunk_rows = sys.argv[1], int(sys.argv[2])
model = loopml.load_model("models:/bench/1")
model.predict(pd.DataFrame({f"x{i}": [0.0] for i in range(8)}))  # warm
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if how == "whole":
    frame = pd.read_parquet(loopml.get_dataset("data:/bench@1").path)
    out = pd.DataFrame({"id": frame["id"], "prediction": model.predict(frame[model.signature.names])})
    out.to_parquet("whole.parquet")
    rows = len(out)
else:
    done = loopml.predict_batch(
        "models:/bench/1", "data:/bench@1", f"{how}.parquet", keep=["id"],
        chunk_rows=chunk_rows, record=how == "batch", progress=False,
    )
    rows = done.rows
took = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": rows, "seconds": took, "peak_mib": (peak - base) / 1024,
                  "base_mib": base / 1024}))
"""


def _child(code: str, args: list[str], work: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=work, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"bench_predict_batch failed:\n{result.stderr[-3000:]}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    found: dict[str, dict[str, float]] = {}
    with scratch() as work:
        subprocess.run(
            [sys.executable, "-m", "loopml", "init"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        _child(SETUP, [str(args.rows)], work, env)
        for how in ("whole", "batch", "unrecorded"):
            out = _child(MEASURE, [how, str(args.chunk_rows)], work, env)
            found[how] = json.loads(out.strip().splitlines()[-1])
    whole = found["whole"]
    for how, label in (
        ("whole", "whole frame: read + Model.predict + write"),
        ("batch", f"predict_batch, chunks of {args.chunk_rows:,}, recorded"),
        ("unrecorded", f"predict_batch, chunks of {args.chunk_rows:,}, record=False"),
    ):
        r = found[how]
        figure(f"{label}: rows/s ({args.rows:,} rows)", r["rows"] / r["seconds"], "rows/s")
        figure(f"{label}: peak memory above the loaded model", r["peak_mib"], "MiB")
    speed = (found["batch"]["rows"] / found["batch"]["seconds"]) / (
        whole["rows"] / whole["seconds"]
    )
    ratio = found["batch"]["peak_mib"] / max(whole["peak_mib"], 1.0)
    figure("predict_batch peak memory / whole frame's", ratio, "x", target="< 1")
    figure("predict_batch rows/s / whole frame's", speed, "x", target=">= 0.7")


if __name__ == "__main__":
    main()
