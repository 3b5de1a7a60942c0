"""Benchmark: drift of 1M × 25 rows against a stored reference profile, and false alarms.

1. A reference of 1,000,000 rows × 25 columns (20 numeric: normal, uniform,
   exponential, integer; 5 categorical of 12 values) is profiled once (timed
   apart); a current window of 1,000,000 rows with 5 columns shifted (num_0 mean
   +0.3 sd, num_5 +0.5, num_10 scale ×1.25, cat_1 ten points of share moved
   from the most to the least frequent value, cat_3 5 % of rows of an unseen
   value) is checked against the profile. Printed: the wall time of
   ``detect_drift`` (best of 3), its peak extra memory (tracemalloc plus Arrow's
   pool, and the growth of max RSS, in a fresh subprocess), the per-column scipy
   loop on the raw data (``ks_2samp`` / ``chi2_contingency``) in the same run,
   and the columns found (must be exactly the shifted ones).
2. False alarms: windows drawn from the reference's distributions at 1,000,
   10,000, 100,000 and 1,000,000 rows, 20 seeds each: the share of columns
   flagged and of windows with dataset drift (target 0).

    python benchmarks/bench_drift.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import best_of, figure, scratch

N_NUMERIC, N_CATEGORICAL = 20, 5
CATEGORIES = [f"cat{i:02d}" for i in range(12)]
SHIFTED = ["cat_1", "cat_3", "num_0", "num_10", "num_5"]


def make_frame(rows: int, seed: int, shifted: bool = False) -> object:
    """A pandas frame of the 25 columns; ``shifted`` moves the five SHIFTED columns."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i in range(N_NUMERIC):
        family = i % 4
        if family == 0:
            shift = 0.3 * (1 + i) if shifted and i == 0 else 0.0
            data[f"num_{i}"] = rng.normal(10 * i + shift, 1 + i, rows)
        elif family == 1:
            shift = 0.5 if shifted and i == 5 else 0.0
            data[f"num_{i}"] = rng.uniform(-i, i + 1, rows) + shift
        elif family == 2:
            scale = 1.25 if shifted and i == 10 else 1.0
            data[f"num_{i}"] = rng.exponential((1 + i) * scale, rows)
        else:
            data[f"num_{i}"] = rng.integers(0, 100 * i, rows)
    weights = np.linspace(1, 3, len(CATEGORIES))
    weights /= weights.sum()
    values = pa.array([*CATEGORIES, "never-seen"])
    for j in range(N_CATEGORICAL):
        p = weights.copy()
        if shifted and j == 1:
            p[-1] -= 0.10
            p[0] += 0.10
        codes = rng.choice(len(CATEGORIES), size=rows, p=p)
        if shifted and j == 3:
            codes[rng.random(rows) < 0.05] = len(CATEGORIES)
        data[f"cat_{j}"] = values.take(pa.array(codes))
    return pa.table(data).to_pandas()


MEMORY = """
import json, sys, tracemalloc
sys.path.insert(0, {bench!r})
import pyarrow as pa
import loopml
from bench_drift import make_frame
profile = loopml.monitoring.ReferenceProfile.from_dict(json.load(open({profile!r})))
current = make_frame({rows}, seed=2, shifted=True)
loopml.detect_drift(profile, make_frame(1000, seed=3))  # imports done before measuring
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
pool = pa.default_memory_pool()
try:  # reset the peak RSS (VmHWM) to the RSS now, so the peak below is detect_drift's
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS")
except OSError:
    before = None
arrow_before = pool.bytes_allocated()
tracemalloc.start()
loopml.detect_drift(profile, current)
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
rss = status("VmHWM") - before if before is not None else -1
print(json.dumps({{"traced": traced, "arrow": pool.max_memory() - arrow_before, "rss": rss}}))
"""


def scipy_loop(reference: object, current: object) -> list[str]:
    """The columns a per-column scipy test flags at p < 0.05 / 25 on the raw data."""
    import numpy as np
    from scipy.stats import chi2_contingency, ks_2samp

    flagged = []
    for name in reference.columns:  # type: ignore[attr-defined]
        a, b = reference[name], current[name]  # type: ignore[index]
        if name.startswith("num_"):
            p = ks_2samp(a.to_numpy(), b.to_numpy()).pvalue
        else:
            ca, cb = a.value_counts(), b.value_counts()
            keys = sorted(set(ca.index) | set(cb.index))
            table = np.array([[ca.get(k, 0) for k in keys], [cb.get(k, 0) for k in keys]])
            p = chi2_contingency(table).pvalue
        if p < 0.05 / 25:
            flagged.append(name)
    return sorted(flagged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, 5 seeds")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    seeds = 5 if args.quick else 20
    sizes = [1_000, 10_000, 100_000] + ([] if args.quick else [1_000_000])

    import loopml

    reference = make_frame(rows, seed=1)
    current = make_frame(rows, seed=2, shifted=True)
    start = time.perf_counter()
    profile = loopml.monitoring.profile_reference(reference)
    t_profile = time.perf_counter() - start
    report = loopml.detect_drift(profile, current)
    t_detect = best_of(lambda: loopml.detect_drift(profile, current))
    start = time.perf_counter()
    scipy_flagged = scipy_loop(reference, current)
    t_scipy = time.perf_counter() - start

    with scratch() as tmp:
        path = Path(tmp) / "profile.json"
        path.write_text(json.dumps(profile.to_dict()))
        code = MEMORY.format(bench=str(Path(__file__).parent), profile=str(path), rows=rows)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        memory = json.loads(out.stdout.strip().splitlines()[-1])

    found = report.drifted_columns
    print(f"profile size: {len(json.dumps(profile.to_dict())):,} bytes of JSON")
    for name in sorted(found):
        col = report.columns[name]
        print(f"  drifted {name}: {col.method} {col.score:.4f} > {col.threshold}")
    print(f"columns found: {sorted(found)}; shifted: {SHIFTED}")
    print(f"scipy per-column tests (p < 0.05/25) flag: {scipy_flagged}")

    alarms_ok = True
    loose_flagged, loose_worst = 0, 0.0
    for size in sizes:
        flagged = datasets = 0
        worst = 0.0
        for seed in range(seeds):
            window = make_frame(size, seed=1000 + seed)
            r = loopml.detect_drift(profile, window)
            flagged += len(r.drifted_columns)
            datasets += r.dataset_drift
            worst = max(worst, max((c.score or 0) / c.threshold for c in r.columns.values()))
            if size == 1_000:  # the same window decided by the distance alone
                loose = loopml.detect_drift(profile, window, config={"small_sample": 1_000})
                loose_flagged += len(loose.drifted_columns)
                loose_worst = max(
                    loose_worst, max((c.score or 0) / c.threshold for c in loose.columns.values())
                )
        rate = flagged / (seeds * len(profile.columns))
        alarms_ok = alarms_ok and flagged == 0 and datasets == 0
        print(
            f"same-distribution windows of {size:,} rows, {seeds} seeds: "
            f"{flagged} columns flagged ({rate:.2%}), {datasets} with dataset drift; "
            f"highest score / threshold {worst:.2f}"
            + (" (p-values decide too)" if size < 5000 else "")
        )

    print(
        f"  the 1,000-row windows by the distance alone (small_sample=1000): {loose_flagged} "
        f"columns flagged; highest score / threshold {loose_worst:.2f}"
    )
    ok = sorted(found) == SHIFTED and alarms_ok
    print(f"shifted columns found exactly and no false alarm: {ok}")
    figure(f"profile_reference {rows:,} x 25 (once)", t_profile, "s")
    figure(f"scipy per-column loop {rows:,} x 25", t_scipy, "s")
    traced = (memory["traced"] + memory["arrow"]) / 2**30
    figure("peak extra memory (tracemalloc + Arrow pool)", traced, "GB", "<= 0.5 GB")
    if memory["rss"] >= 0:
        figure("peak extra memory (peak RSS over RSS before)", memory["rss"] / 2**30, "GB")
    figure(f"detect_drift {rows:,} x 25 against the profile (best of 3)", t_detect, "s", "<= 2 s")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
