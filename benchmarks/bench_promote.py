"""Promotion through gates: ``loopml.promote`` with five gates, champion comparison
included, on 100,000 rows, and where the time goes.

A scratch project holds a synthetic churn dataset of 100,000 rows (two
numeric features, a region and a sensitive column, the label) registered with
``loopml.add_dataset``, and three versions of a scikit-learn
LogisticRegression fitted on other rows. ``[gates.staging]`` declares five
checks: ``metrics.f1``, ``metrics.f1 - champion.metrics.f1``,
``slices.region.f1``, ``fairness.sex.demographic_parity_difference`` and
``latency.p99_ms``.

1. **cold**: staging holds v1 (moved with ``promote_model``, never
   evaluated); ``promote("churn/2", to="staging")`` evaluates both v2 and v1
   on the data.
2. **warm champion**: staging now holds v2, whose evaluation on this data is
   stored; ``promote("churn/3", to="staging")`` evaluates v3 only.

Each is split into its phases, measured inside ``promote`` itself: read
gates, resolve model (the version and the champion), resolve data (the
``data:/`` reference to its version), load data (read it once and hash it),
evaluate candidate, evaluate champion, checks, record (the promotion row and
the move, in one transaction). For scale, the model's own prediction of the
100,000 rows is timed too, and one evaluation with and without its latency
timing and permutation importance.

Usage: python benchmarks/bench_promote.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, figure, scratch

GATES = """
[gates.staging]
"metrics.f1" = ">= 0.8"
"metrics.f1 - champion.metrics.f1" = ">= -0.05"
"slices.region.f1" = ">= 0.7"
"fairness.sex.demographic_parity_difference" = "<= 0.1"
"latency.p99_ms" = "<= 100"

[gates.staging.options]
data = "data:/churn-holdout"
target = "churned"
"""

PHASES = (
    "read gates",
    "resolve model",
    "resolve data",
    "load data",
    "evaluate candidate",
    "evaluate champion",
    "checks",
    "record",
)


def frame(n: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, n),
            "charges": rng.uniform(20, 120, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    score = 0.05 * out["charges"] - 0.08 * out["tenure"] + rng.normal(0, 0.5, n)
    out["churned"] = (score > 0).astype("int64")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    from sklearn.linear_model import LogisticRegression

    import loopml
    from loopml.evaluation._promote import _promote

    with scratch("loopml-bench-promote-") as root:
        (root / "loopml.toml").write_text(GATES)
        os.chdir(root)
        loopml.context.reset()
        holdout = frame(args.rows, 1)
        holdout.to_csv(root / "holdout.csv", index=False)
        loopml.add_dataset(root / "holdout.csv", name="churn-holdout")
        train = frame(20_000, 0)
        features = train[["tenure", "charges"]]
        for c in (1.0, 0.5, 2.0):
            clf = LogisticRegression(C=c).fit(features, train["churned"])
            with loopml.start_run(experiment="bench"):
                info = loopml.log_model(clf, input_example=features.head())
            loopml.register_model(info.uri, "churn")
        loopml.promote_model("churn", 1, to="staging", reason="the champion")

        model = loopml.load_model("models:/churn/2")
        inputs = holdout[["tenure", "charges"]]
        predict = best_of(lambda: model.predict(inputs), repeat=3)

        # what an evaluation's time is made of: the same evaluation without its latency
        # timing, then without permutation importance too (nothing stored)
        from loopml.evaluation._evaluate import evaluate

        parts = {}
        for label, options in (
            ("full", {}),
            ("no latency", {"latency": False}),
            ("no latency, no importance", {"latency": False, "importance": False}),
        ):
            parts[label] = best_of(
                lambda o=options: evaluate(  # type: ignore[misc]
                    "models:/churn/2",
                    holdout,
                    "churned",
                    slices=["region"],
                    sensitive_features=["sex"],
                    store=False,
                    **o,
                ),
                repeat=3,
            )

        results = {}
        for label, version in (("cold", 2), ("warm champion", 3)):
            timings: dict[str, float] = {}
            started = time.perf_counter()
            done = _promote(f"churn/{version}", "staging", None, False, None, timings)
            total = time.perf_counter() - started
            assert done.status == "PROMOTED", done.message
            assert len(done.checks) == 5 and done.champion_version is not None
            results[label] = (total, timings)

        print(f"promote with 5 gates on {args.rows:,} rows (phases measured inside promote)")
        print(f"  the model's own predict of the {args.rows:,} rows: {predict * 1e3:,.0f} ms")
        print(
            "  one evaluation (best of 3): "
            + ", ".join(f"{k} {v * 1e3:,.0f} ms" for k, v in parts.items())
        )
        for label, (total, timings) in results.items():
            print(f"  {label}: {total:,.3f} s")
            for phase in PHASES:
                spent = timings.get(phase, 0.0)
                print(f"    {phase:<20} {spent * 1e3:>9,.1f} ms  {spent / total:>6.1%}")
        figure("promote, cold (candidate and champion evaluated)", results["cold"][0], "s")
        figure("promote, champion's evaluation reused", results["warm champion"][0], "s")


if __name__ == "__main__":
    main()
