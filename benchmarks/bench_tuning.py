"""Tuning on Ray against tuning in-process: examples/quickstart's search, 20 trials each.

Both studies run the quickstart's ``[tune]`` section (metric ``val_accuracy``,
pruning on the staged forests) with the same seed, each in its own scratch
copy of the example whose data is versioned and whose first steps (load,
validate, split) are already cached by one plain run, so both start from the
same state. Each study runs in a fresh interpreter; the timings start after
that warm-up run.

Figures:

- wall time of 20 trials with ``executor="local"`` (one trial after another
  in the driver process, whose libraries the warm-up run imported);
- wall time of 20 trials with ``executor="ray"`` on a local Ray with as many
  CPUs as the machine has; Ray is initialised, and one worker per CPU has
  imported the same libraries, before the clock starts;
- the time ``ray.init`` took and the time the workers took to import
  scikit-learn, skops and pandas, as their own figures (a first tuning on a
  fresh Ray pays both);
- the speed-up (local / ray) and the best value each study found (the
  samplers see different histories once trials run side by side, so the
  two agree within the noise of the search, not exactly).

Usage: python benchmarks/bench_tuning.py [--trials N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, scratch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart"
SEED = 0

STUDY = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
import loopml
from pipeline import train

executor, n_trials, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
warm = train()
assert warm.status == "FINISHED", warm
ray_init = warm_workers = None
if executor == "ray":
    import ray
    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    ray_init = time.perf_counter() - t

    @ray.remote(num_cpus=1)
    def warm():
        # what the warm-up run already imported in this driver: the trial's libraries
        import pandas, pyarrow, sklearn.ensemble, sklearn.linear_model, skops.io
        import loopml.pipelines._runner  # noqa: F401
        time.sleep(0.5)  # hold the CPU so each worker gets one
        return os.getpid()

    t = time.perf_counter()
    ray.get([warm.remote() for _ in range(os.cpu_count() or 1)])
    warm_workers = time.perf_counter() - t
t = time.perf_counter()
study = loopml.tune(train, n_trials=n_trials, executor=executor, seed=seed)
wall = time.perf_counter() - t
states = [str(getattr(trial.state, "name", trial.state)) for trial in study.trials]
print(json.dumps({
    "wall": wall,
    "ray_init": ray_init,
    "warm_workers": warm_workers,
    "best_value": study.best_value,
    "best_params": study.best_params,
    "trials": len(study.trials),
    "pruned": sum(s.upper() == "PRUNED" for s in states),
}))
"""


def prepare(root: Path, env: dict[str, str]) -> None:
    """A copy of the example in ``root`` with its data written and versioned."""
    shutil.copytree(
        EXAMPLE,
        root,
        ignore=shutil.ignore_patterns("data", ".loopml", "loopml.lock", "__pycache__"),
    )
    loopml_bin = str(Path(sys.executable).parent / "loopml")
    for args in (
        [sys.executable, "prepare.py"],
        [loopml_bin, "data", "add", "data/digits.csv", "--name", "digits"],
    ):
        subprocess.run(args, cwd=root, env=env, check=True, capture_output=True)


def study(root: Path, executor: str, n_trials: int, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", STUDY, executor, str(n_trials), str(SEED)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{executor} study failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "RAY_ADDRESS"))}
    results = {}
    with scratch() as base:
        prepare(base / "prepared", env)
        for executor in ("local", "ray"):
            root = base / executor
            shutil.copytree(base / "prepared", root)
            results[executor] = study(root, executor, args.trials, env)

    local, ray = results["local"], results["ray"]
    for name, r in results.items():
        print(
            f"{name}: {r['trials']} trials, {r['pruned']} pruned, best {r['best_params']}",
            flush=True,
        )
    cores = os.cpu_count()
    figure(f"best of {args.trials} trials, local", local["best_value"], "val_accuracy")
    figure(f"best of {args.trials} trials, ray", ray["best_value"], "val_accuracy")
    figure(f"ray.init on {cores} cores (not in the ray time)", ray["ray_init"], "s")
    figure("ray workers importing the libraries (not in the ray time)", ray["warm_workers"], "s")
    figure(f"{args.trials} trials, local executor", local["wall"], "s")
    figure(f"{args.trials} trials, ray executor on {cores} cores", ray["wall"], "s")
    figure("speed-up of ray over local", local["wall"] / ray["wall"], "x")


if __name__ == "__main__":
    main()
