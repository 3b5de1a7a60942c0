"""Benchmark: ``loopml automate --once`` with nothing to do, as a whole command.

A scratch project like one that retrains continuously: a dataset version, ``churn`` v1
registered, promoted to prod and deployed, a monitor of the deployment, and triggers
on a new version of the dataset (gates of prod, canary on the deployment) and on the
monitor's alerts. ``loopml automate --once`` runs once to see the triggers (their
baselines are stored), then five more times with nothing new: each checks every
trigger, finds nothing due and exits. That is what cron pays every few minutes.

Printed: the median of 5 (a fresh process each, bytecode cached: PYTHONDONTWRITEBYTECODE
unset), with a schedule trigger added (croniter is imported for it), and whether the
command imported pandas, scikit-learn or croniter without needing them.

Target (the issue's): ≤ 0.5 s.

    python benchmarks/bench_automate.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, scratch

PIPE = """
import loopml

@loopml.step
def load(data: str):
    return loopml.get_dataset(data).to_pandas()

@loopml.step(name="train")
def fit(frame, c: float = 1.0):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(C=c).fit(frame[["tenure", "charges"]], frame["churned"])

@loopml.pipeline
def retrain(data: str = "data:/churn"):
    return fit(load(data))
"""

TOML = """
[pipeline]
entry = "retrain_pipe:retrain"

[model]
name = "churn"

[triggers.fresh]
dataset = "churn"
param = "data"
environment = "prod"
deployment = "churn"

[triggers.on-drift]
alert = "watch"
dataset = "churn"
param = "data"
"""

SCHEDULE = """
[triggers.nightly]
schedule = "0 3 * * *"
dataset = "churn"
param = "data"
"""


def setup(folder: Path) -> None:
    import numpy as np
    import pandas as pd

    import loopml
    import loopml.context

    (folder / "retrain_pipe.py").write_text(PIPE)
    (folder / "loopml.toml").write_text(TOML)
    os.chdir(folder)
    sys.path.insert(0, str(folder))
    loopml.context.reset()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"tenure": rng.uniform(0, 60, 200), "charges": rng.uniform(20, 120, 200)})
    frame["churned"] = (frame["charges"] / 2 > frame["tenure"]).astype("int64")
    frame.to_csv(folder / "churn.csv", index=False)
    version = loopml.add_dataset(folder / "churn.csv", "churn")
    loopml.run_and_register(params={"data": version.uri}, promote="prod")
    loopml.deploy("churn", "models:/churn@prod")
    loopml.monitoring.add_monitor("watch", "churn", alerts=["drift_share > 0.3"])


def idle_runs(folder: Path, env: dict[str, str], runs: int = 5) -> list[float]:
    cmd = [str(Path(sys.executable).with_name("loopml")), "automate", "--once", "-q"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
    if first.returncode != 0:
        raise RuntimeError(first.stderr[-2000:])
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
        times.append(time.perf_counter() - t)
        if done.returncode != 0 or done.stdout.strip():
            raise RuntimeError(f"not idle: {done.stdout[-500:]} {done.stderr[-2000:]}")
    return times


def heavy_imports(folder: Path, env: dict[str, str]) -> list[str]:
    """The heavy modules ``loopml automate --once`` imported."""
    code = (
        "import sys; from loopml.cli import main\n"
        "try:\n    main(['automate', '--once', '-q'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in ('pandas', 'sklearn', 'croniter', 'scipy', 'pyarrow') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=folder
    )
    return done.stdout.split()


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with scratch() as base:
        folder = base / "project"
        folder.mkdir()
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        setup(folder)
        plain = idle_runs(folder, env)
        light = heavy_imports(folder, env)
        (folder / "loopml.toml").write_text(TOML + SCHEDULE)
        cron = idle_runs(folder, env)
        print(f"heavy modules imported with dataset and alert triggers: {light or 'none'}")
        figure(
            "loopml automate --once, dataset + schedule + alert triggers, nothing to do, "
            "median of 5",
            statistics.median(cron),
            "s",
        )
        figure(
            "loopml automate --once, dataset + alert triggers, nothing to do, median of 5",
            statistics.median(plain),
            "s",
            target="<= 0.5 s",
        )


if __name__ == "__main__":
    main()
