"""``loopml.evaluate`` on 100,000 rows against the cost of the model's own predictions.

A scratch project holds a synthetic churn-like dataset (``data:/bench@1``, a
CSV of 100,000 rows: 8 numeric inputs, three categorical columns ``region``,
``plan`` and ``channel`` and a sensitive column ``sex``) and a registered
scikit-learn classifier on the numeric inputs. For each model
(HistGradientBoostingClassifier and LogisticRegression):

1. the model's own predictions: ``Model.predict`` and ``Model.predict_proba``
   on the same 100,000 rows, best of 3;
2. ``loopml.evaluate("models:/<name>/1", "data:/bench@1", target="churned",
   slices=["region", "plan", "channel"], sensitive_features=["sex"])`` with
   its defaults (permutation importance, latency, stored), best of 3;
3. where one evaluation's time goes: load (the model and the data),
   predict (the predictions every figure is computed from), metrics,
   slices, fairness, latency, importance, digest (of the data), store, and
   the rest, timed by wrapping the functions ``evaluate`` calls in one more
   run.

Target: evaluate <= 2 x the predictions + 1 s. The script runs in a child
interpreter with PYTHONDONTWRITEBYTECODE unset, so imports are timed as
users get them.

Usage: python benchmarks/bench_evaluate.py [--rows N]
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

CHILD = r"""
import json, sys, time
from collections import defaultdict
import numpy as np, pandas as pd
import loopml
from loopml.models import Model
from loopml.evaluation import _evaluate

rows = int(sys.argv[1])
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(rows, 8)), columns=[f"x{i}" for i in range(8)])
frame = X.assign(
    region=rng.choice(["north", "south", "east", "west", "centre"], rows),
    plan=rng.choice(["basic", "plus", "pro"], rows),
    channel=rng.choice(["web", "shop", "phone", "partner"], rows),
    sex=rng.choice(["f", "m"], rows),
)
score = X["x0"] - 0.5 * X["x1"] + 0.25 * X["x2"] + rng.normal(0, 1, rows)
frame["churned"] = (score > 0).astype("int64")
frame.to_csv("bench.csv", index=False)
loopml.add_dataset("bench.csv", name="bench")

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

inputs = list(X.columns)
out = {}
for name, est in (
    ("hgb", HistGradientBoostingClassifier(max_iter=100, random_state=0)),
    ("logreg", LogisticRegression(max_iter=200)),
):
    est.fit(frame[inputs], frame["churned"])
    with loopml.start_run():
        info = loopml.log_model(est, input_example=frame[inputs].head())
    uri = loopml.register_model(info.uri, name).uri
    model = loopml.load_model(uri)
    features = frame[inputs]

    def predictions():
        model.predict(features)
        model.predict_proba(features)

    def evaluation():
        return loopml.evaluate(
            uri, "data:/bench@1", target="churned",
            slices=["region", "plan", "channel"], sensitive_features=["sex"],
        )

    evaluation()  # warm: imports and caches every later call shares
    predictions()
    times = []
    for _ in range(3):
        t = time.perf_counter(); predictions(); times.append(time.perf_counter() - t)
    t_pred = min(times)
    times = []
    for _ in range(3):
        t = time.perf_counter(); ev = evaluation(); times.append(time.perf_counter() - t)
    t_eval = min(times)

    # the breakdown: wrap what evaluate calls, in one more run
    spent = defaultdict(float)
    stack = []

    def wrap(owner, attr, stage):
        original = getattr(owner, attr)
        def timed(*a, **k):
            stack.append(stage)
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                took = time.perf_counter() - t
                stack.pop()
                if not stack:
                    spent[stage] += took
        setattr(owner, attr, timed)
        return owner, attr, original

    def wrap_predict(attr):
        original = getattr(Model, attr)
        def timed(self, *a, **k):
            if stack:
                return original(self, *a, **k)
            t = time.perf_counter()
            try:
                return original(self, *a, **k)
            finally:
                spent["predict"] += time.perf_counter() - t
        setattr(Model, attr, timed)
        return Model, attr, original

    patched = [
        wrap(_evaluate, "_model", "load"),
        wrap(_evaluate, "load_frame", "load"),
        wrap(_evaluate._metrics, "classification", "metrics"),
        wrap(_evaluate._slices, "slice_metrics", "slices"),
        wrap(_evaluate._slices, "fairness", "fairness"),
        wrap(_evaluate._latency, "measure", "latency"),
        wrap(_evaluate._importance, "permutation_importance", "importance"),
        wrap(_evaluate, "frame_digest", "digest"),
        wrap(_evaluate, "store_evaluation", "store"),
        wrap_predict("predict"),
        wrap_predict("predict_proba"),
    ]
    t = time.perf_counter(); evaluation(); total = time.perf_counter() - t
    for owner, attr, original in patched:
        setattr(owner, attr, original)
    spent["rest"] = total - sum(spent.values())
    out[name] = {"predictions": t_pred, "evaluate": t_eval, "breakdown": dict(spent),
                 "f1": ev.metrics["f1"], "importance": ev.importance}
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOOPML_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    with scratch() as work:
        subprocess.run(
            [sys.executable, "-m", "loopml", "init"],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(args.rows)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        sys.exit(f"bench_evaluate failed:\n{result.stderr[-3000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    ok = True
    for name, r in found.items():
        print(f"\n== {name}: f1 {r['f1']:.4f}; where one evaluate goes (s):")
        for stage, seconds in sorted(r["breakdown"].items(), key=lambda kv: -kv[1]):
            print(f"  {stage:<11} {seconds:8.3f}")
        top = sorted(r["importance"].items(), key=lambda kv: -kv[1]["mean"])[:3]
        print("  most important: " + ", ".join(f"{k} {v['mean']:.3f}" for k, v in top))
    print()
    for name, r in found.items():
        budget = 2 * r["predictions"] + 1.0
        ok = ok and r["evaluate"] <= budget
        figure(
            f"{name}: predict + predict_proba, {args.rows:,} rows (best of 3)",
            r["predictions"],
            "s",
        )
        figure(f"{name}: evaluate / (predictions)", r["evaluate"] / r["predictions"], "x")
        figure(
            f"{name}: evaluate, 3 slices + 1 sensitive, {args.rows:,} rows (best of 3)",
            r["evaluate"],
            "s",
            f"<= 2 x predictions + 1 s = {budget:.3f} s",
        )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
