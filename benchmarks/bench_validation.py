"""Benchmark: infer a suite from 1M × 25 rows, then validate another 1M × 25 rows.

The reference and current frames (20 numeric, 5 string categorical columns)
are drawn from the same distributions with a seeded RNG; the current frame
has two planted problems: 200 values beyond the reference range in ``num_7``
and 300 rows of an unseen category in ``cat_2``. Both must be found and
nothing else flagged. ``--peers`` also times pandera (infer_schema +
validate of a clean sample of the same distributions, lazy) in its own
virtualenv, and lists the columns its inferred schema flags there.

    python benchmarks/bench_validation.py [--rows N] [--peers]
"""

from __future__ import annotations

import argparse
import sys

from _common import best_of, figure, peer_python, run_peer

N_NUMERIC, N_CATEGORICAL = 20, 5
CATEGORIES = [f"cat{i:02d}" for i in range(12)]


def make_frame(rows: int, seed: int) -> object:
    """A frame of 20 numeric columns (normal, uniform, exponential, integer) and 5 string ones."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(N_NUMERIC):
        family = i % 4
        if family == 0:
            data[f"num_{i}"] = rng.normal(10 * i, 1 + i, rows)
        elif family == 1:
            data[f"num_{i}"] = rng.uniform(-i, i + 1, rows)
        elif family == 2:
            data[f"num_{i}"] = rng.exponential(1 + i, rows)
        else:
            data[f"num_{i}"] = rng.integers(0, 100 * i, rows)
    weights = np.linspace(1, 3, len(CATEGORIES))
    weights /= weights.sum()
    for j in range(N_CATEGORICAL):
        codes = rng.choice(len(CATEGORIES), size=rows, p=weights)
        data[f"cat_{j}"] = pd.array(np.asarray(CATEGORIES, dtype=object)[codes], dtype="str")
    return pd.DataFrame(data)


def plant_problems(frame: object, seed: int) -> object:
    """200 out-of-range values in num_7 and 300 rows of an unseen category in cat_2."""
    import numpy as np

    rng = np.random.default_rng(seed)
    df = frame.copy()  # type: ignore[attr-defined]
    n = len(df)
    rows = rng.choice(n, 200, replace=False)
    df.loc[rows, "num_7"] = df["num_7"].max() * 3 + 1000
    rows = rng.choice(n, 300, replace=False)
    df.loc[rows, "cat_2"] = "never-seen"
    return df


PANDERA = """
import json, time
import numpy as np, pandas as pd, pandera.pandas as pa
N = {rows}
rng = np.random.default_rng(0)
def make(seed):
    rng = np.random.default_rng(seed)
    data = {{}}
    for i in range(20):
        f = i % 4
        if f == 0: data[f"num_{{i}}"] = rng.normal(10 * i, 1 + i, N)
        elif f == 1: data[f"num_{{i}}"] = rng.uniform(-i, i + 1, N)
        elif f == 2: data[f"num_{{i}}"] = rng.exponential(1 + i, N)
        else: data[f"num_{{i}}"] = rng.integers(0, 100 * i, N)
    cats = np.asarray([f"cat{{i:02d}}" for i in range(12)], dtype=object)
    w = np.linspace(1, 3, 12); w /= w.sum()
    for j in range(5):
        data[f"cat_{{j}}"] = cats[rng.choice(12, size=N, p=w)]
    return pd.DataFrame(data)
ref, cur = make(1), make(4)  # a clean sample of the same distributions
def best(fn):
    out = []
    for _ in range(3):
        t = time.perf_counter(); fn(); out.append(time.perf_counter() - t)
    return min(out)
schema = pa.infer_schema(ref)
infer = best(lambda: pa.infer_schema(ref))
flagged = []
def check():
    flagged.clear()
    try:
        schema.validate(cur, lazy=True)
    except pa.errors.SchemaErrors as exc:
        flagged.extend(sorted(set(exc.failure_cases["column"].astype(str))))
validate = best(check)
print(json.dumps({{"infer": infer, "validate": validate, "flagged": flagged}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--peers", action="store_true", help="also time pandera")
    args = parser.parse_args()

    import loopml

    reference = make_frame(args.rows, seed=1)
    current = plant_problems(make_frame(args.rows, seed=2), seed=3)
    clean = make_frame(args.rows, seed=4)

    suite = loopml.infer_suite(reference)
    t_infer = best_of(lambda: loopml.infer_suite(reference))
    result = loopml.validate(current, suite)
    t_validate = best_of(lambda: loopml.validate(current, suite))
    clean_result = loopml.validate(clean, suite)

    flagged = sorted(r.check.name for r in result.failures + result.warnings)
    print(f"checks in suite: {len(suite.checks)}; run: {result.checks_run}")
    for r in result.failures + result.warnings:
        print(
            f"  flagged {r.check.name} [{r.check.severity}]: {r.failed_count} rows, "
            f"samples {r.sample_values[:3]}"
        )
    clean_flagged = [r.check.name for r in clean_result.failures + clean_result.warnings]
    print(f"clean resample flagged: {clean_flagged or 'nothing'}")
    expected = ["between(num_7)", "in_set(cat_2)"]
    ok = flagged == expected and not clean_flagged
    print(f"planted problems found, nothing else flagged: {ok}")

    if args.peers:
        py = peer_python("pandera", "pandera", "pandas", "numpy")
        if py is not None:
            peer = run_peer(py, PANDERA.format(rows=args.rows))
            print(f"pandera columns flagged on a clean resample: {peer['flagged'] or 'none'}")
            figure("pandera infer_schema (best of 3)", peer["infer"], "s")
            figure("pandera validate (best of 3)", peer["validate"], "s")

    figure(f"infer_suite {args.rows:,} x 25 (best of 3)", t_infer, "s", "<= 1 s")
    figure(f"validate {args.rows:,} x 25 (best of 3)", t_validate, "s", "<= 1 s")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
