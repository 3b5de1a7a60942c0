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
   For the same inputs as a peer has, ``detect_drift`` of the reference frame
   itself (profiled on the fly) is timed too (best of 3).
2. False alarms: windows drawn from the reference's distributions at 1,000,
   10,000, 100,000 and 1,000,000 rows, 20 seeds each: the share of columns
   flagged and of windows with dataset drift (target 0).
3. The cold first call: a fresh interpreter with bytecode caching on (its
   cache filled by one run first) that already holds the current window as a
   pandas frame, read from Parquet, imports loopml, loads the stored profile
   (JSON) and calls ``detect_drift``; printed are the import, that first call
   and a second one, medians of 3, beside the warm figure of part 1. And the
   whole ``loopml drift REF.parquet CUR.parquet --json OUT`` command, from
   spawn to exit, median of 3 (after one run that fills the cache).
4. With ``--peers``: Evidently's data-drift preset (``DataDriftPreset``, its
   own defaults, the 20 numeric and 5 categorical columns declared) in its own
   virtualenv, reading the same reference and windows from Parquet. Printed:
   its version, the wall time of its drift computation alone (the
   ``Dataset`` wrappers and ``Report.run``), the whole process (spawn, imports,
   reading the Parquet files, the drift, exit), its peak extra memory (peak RSS
   over the RSS before, as for loopml), and the columns it flags on the
   shifted window and on a window drawn from the reference at full size
   (seed 1000, the first false-alarm window of part 2, whose loopml verdict is
   printed beside). A run over 15 minutes is stopped, and Evidently is
   measured on the first 100,000 rows instead, as the output then says.

    python benchmarks/bench_drift.py [--quick] [--peers]

Run it with bytecode caching on (``env -u PYTHONDONTWRITEBYTECODE``) for
figures comparable with an installed environment.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from _common import best_of, figure, median, peer_python, run_peer, scratch

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


COLD = """
import json, sys, time
import pandas as pd
current = pd.read_parquet(sys.argv[2])  # the caller's own frame, held before loopml is used
start = time.perf_counter()
import loopml
imported = time.perf_counter()
with open(sys.argv[1]) as f:
    profile = loopml.monitoring.ReferenceProfile.from_dict(json.load(f))
report = loopml.detect_drift(profile, current)
first = time.perf_counter()
loopml.detect_drift(profile, current)
second = time.perf_counter()
print(json.dumps({"import": imported - start, "first": first - imported,
                  "second": second - first, "drifted": sorted(report.drifted_columns)}))
"""

# Evidently 0.7.23 imports a name pandas 3 removed; its metadata does not say so.
EVIDENTLY_REQUIREMENTS = ("evidently>=0.7,<0.8", "pandas<3", "pyarrow")

EVIDENTLY = """
import json, time
start = time.perf_counter()
import pandas as pd
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
imported = time.perf_counter() - start
reference = pd.read_parquet(REFERENCE)
current = pd.read_parquet(CURRENT)
if ROWS:
    reference, current = reference.iloc[:ROWS], current.iloc[:ROWS]
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
try:  # reset the peak RSS (VmHWM) to the RSS now, so the peak below is the drift's
    open("/proc/self/clear_refs", "w").write("5")
    before = status("VmRSS")
except OSError:
    before = None
start = time.perf_counter()
definition = DataDefinition(
    numerical_columns=[c for c in reference.columns if c.startswith("num_")],
    categorical_columns=[c for c in reference.columns if c.startswith("cat_")],
)
report = Report([DataDriftPreset()], include_tests=True)
snapshot = report.run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
seconds = time.perf_counter() - start
rss = status("VmHWM") - before if before is not None else -1
flagged, methods = [], set()
for test in snapshot.dict()["tests"]:
    params = test["metric_config"]["params"]
    if params.get("type", "").endswith(":ValueDrift"):
        methods.add(f"{params.get('method')} > {params.get('threshold')}")
        if str(getattr(test["status"], "value", test["status"])) == "FAIL":
            flagged.append(params["column"])
print(json.dumps({"version": evidently.__version__, "imports": imported, "seconds": seconds,
                  "rss": rss, "rows": len(current), "flagged": sorted(flagged),
                  "methods": sorted(methods)}))
"""


def child_env(pycache: Path) -> dict[str, str]:
    """The environment for a fresh loopml process: bytecode caching on (in ``pycache``),
    no LOOPML_* settings of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOOPML_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@dataclass
class Cold:
    """Medians over fresh processes, in seconds, and the columns found."""

    imports: float
    first: float
    second: float
    drifted: list[str]


@dataclass
class PeerRun:
    """One run of Evidently's preset: what its process printed, and its wall time."""

    version: str
    imports: float
    seconds: float  # the drift computation alone
    rss: int  # bytes of peak RSS over the RSS before; -1 when unknown
    rows: int
    flagged: list[str]
    methods: list[str]
    process: float  # spawn to exit


def cold_first_call(tmp: Path, profile: Path, current: Path) -> Cold:
    """Medians of 3 fresh processes (after one that fills the bytecode cache): ``import
    loopml``, the first ``detect_drift`` against the stored profile, and a second one."""
    env = child_env(tmp / "pycache")
    runs = []
    for _ in range(4):
        out = subprocess.run(
            [sys.executable, "-c", COLD, str(profile), str(current)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp,
            env=env,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    measured = runs[1:]
    return Cold(
        *(median([r[key] for r in measured]) for key in ("import", "first", "second")),
        drifted=measured[-1]["drifted"],
    )


def cli_drift(tmp: Path, reference: Path, current: Path) -> tuple[float, list[str]]:
    """Median of 3 (after one that fills the bytecode cache): ``loopml drift REF CUR --json``
    from spawn to exit, and the columns its JSON report says drifted."""
    script = Path(sys.executable).parent / "loopml"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "loopml"]
    out = tmp / "drift.json"
    env = child_env(tmp / "pycache")
    times = []
    for _ in range(4):
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(
            [*command, "drift", str(reference), str(current), "--json", str(out)],
            capture_output=True,
            check=True,
            cwd=tmp,
            env=env,
        )
        times.append(time.perf_counter() - start)
    drifted = json.loads(out.read_text())["drifted_columns"]
    return median(times[1:]), sorted(drifted)


def evidently_peer(
    tmp: Path, reference: Path, windows: dict[str, Path]
) -> dict[str, PeerRun] | None:
    """Evidently's DataDriftPreset on ``reference`` against each window, one process each:
    what the peer printed plus ``process``, its wall time from spawn to exit. A run over 15
    minutes is stopped and all are measured again on the first 100,000 rows."""
    py = peer_python("evidently", *EVIDENTLY_REQUIREMENTS)
    if py is None:
        return None

    def run(current: Path, rows: int) -> PeerRun:
        code = f"REFERENCE = {str(reference)!r}\nCURRENT = {str(current)!r}\nROWS = {rows}\n"
        start = time.perf_counter()
        result = run_peer(py, code + EVIDENTLY, cwd=tmp, timeout=15 * 60)
        return PeerRun(**result, process=time.perf_counter() - start)

    for rows in (0, 100_000):  # 0: all of them
        try:
            return {name: run(current, rows) for name, current in windows.items()}
        except subprocess.TimeoutExpired:
            print(
                f"[peers] Evidently took over 15 minutes (rows: {rows or 'all'})", file=sys.stderr
            )
        except RuntimeError as exc:
            print(f"[peers] Evidently failed: {exc}", file=sys.stderr)
            return None
    return None


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
    parser.add_argument(
        "--peers", action="store_true", help="Time Evidently too (minutes at 1M rows)."
    )
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
    t_frames = best_of(lambda: loopml.detect_drift(reference, current))
    start = time.perf_counter()
    scipy_flagged = scipy_loop(reference, current)
    t_scipy = time.perf_counter() - start

    peer: dict[str, PeerRun] | None = None
    with scratch() as tmp:
        path = Path(tmp) / "profile.json"
        path.write_text(json.dumps(profile.to_dict()))
        code = MEMORY.format(bench=str(Path(__file__).parent), profile=str(path), rows=rows)
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        memory = json.loads(out.stdout.strip().splitlines()[-1])

        ref_file, cur_file = tmp / "reference.parquet", tmp / "current.parquet"
        reference.to_parquet(ref_file)  # type: ignore[attr-defined]
        current.to_parquet(cur_file)  # type: ignore[attr-defined]
        cold = cold_first_call(tmp, path, cur_file)
        t_cli, cli_found = cli_drift(tmp, ref_file, cur_file)

        if args.peers:
            window = make_frame(rows, seed=1000)  # the first false-alarm window at this size
            same_found = sorted(loopml.detect_drift(profile, window).drifted_columns)
            same_file = tmp / "same.parquet"
            window.to_parquet(same_file)  # type: ignore[attr-defined]
            del window
            peer = evidently_peer(tmp, ref_file, {"shifted": cur_file, "same": same_file})

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
    print(f"cold first call found: {cold.drifted}; loopml drift --json found: {cli_found}")
    if args.peers and peer is None:
        print("Evidently: not measured (see the [peers] message above)")
    elif peer is not None:
        shifted, same = peer["shifted"], peer["same"]
        note = "" if shifted.rows == rows else " (the first 100,000: the full size took > 15 min)"
        print(f"Evidently {shifted.version} DataDriftPreset on {shifted.rows:,} rows{note}")
        print(f"  methods: {', '.join(shifted.methods)}")
        print(f"  flags on the shifted window: {shifted.flagged}; shifted: {SHIFTED}")
        print(
            f"  flags on a window drawn from the reference ({same.rows:,} rows, seed 1000): "
            f"{same.flagged}; loopml flags on it: {same_found}"
        )
        print(
            f"  its imports {shifted.imports:.2f} s; on the same-distribution window: drift "
            f"{same.seconds:.1f} s, whole process {same.process:.1f} s, "
            f"peak extra memory {same.rss / 2**30:.2f} GB"
        )
    ok = sorted(found) == SHIFTED and alarms_ok and cold.drifted == SHIFTED == cli_found
    print(f"shifted columns found exactly and no false alarm: {ok}")
    figure(f"profile_reference {rows:,} x 25 (once)", t_profile, "s")
    figure(f"scipy per-column loop {rows:,} x 25", t_scipy, "s")
    figure(
        f"detect_drift of the two frames, the reference profiled anew, {rows:,} x 25 (best of 3)",
        t_frames,
        "s",
    )
    if peer is not None:
        shifted = peer["shifted"]
        figure(
            f"Evidently DataDriftPreset {shifted.rows:,} x 25, its drift computation alone",
            shifted.seconds,
            "s",
        )
        figure("Evidently, whole process (imports, Parquet, drift, exit)", shifted.process, "s")
        if shifted.rss >= 0:
            figure(
                "Evidently peak extra memory (peak RSS over RSS before)", shifted.rss / 2**30, "GB"
            )
        if shifted.rows == rows:
            figure(
                "Evidently's drift / loopml's of the same two frames",
                shifted.seconds / t_frames,
                "x",
            )
            figure(
                "Evidently's drift / loopml's against the profile", shifted.seconds / t_detect, "x"
            )
    traced = (memory["traced"] + memory["arrow"]) / 2**30
    figure("peak extra memory (tracemalloc + Arrow pool)", traced, "GB", "<= 0.5 GB")
    if memory["rss"] >= 0:
        figure("peak extra memory (peak RSS over RSS before)", memory["rss"] / 2**30, "GB")
    figure(
        f"loopml drift REF CUR --json, Parquet {rows:,} x 25 each, spawn to exit (median of 3)",
        t_cli,
        "s",
    )
    figure(
        "cold: import loopml, fresh process, bytecode cached (median of 3)",
        cold.imports * 1000,
        "ms",
    )
    figure("cold: first detect_drift, its profile read from JSON (median of 3)", cold.first, "s")
    figure("cold: the second detect_drift of that process (median of 3)", cold.second, "s")
    figure(f"detect_drift {rows:,} x 25 against the profile (best of 3)", t_detect, "s", "<= 2 s")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
