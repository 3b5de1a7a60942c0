"""A project whose pipeline trains ``churn`` on the dataset version it is given, with
``churn`` v1 trained on ``data:/churn@1`` serving as deployment ``churn`` from prod."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RETRAIN = """
import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def load(data: str) -> pd.DataFrame:
    return loopml.get_dataset(data).to_pandas()

@loopml.step(name="train")
def fit(frame: pd.DataFrame, c: float) -> LogisticRegression:
    if c < 0:
        raise ValueError("c must be positive")
    return LogisticRegression(C=c).fit(frame[["tenure", "charges"]], frame["churned"])

@loopml.pipeline
def retrain(data: str = "data:/churn", c: float = 1.0):
    return fit(load(data), c)
"""

BASE_TOML = """
[pipeline]
entry = "retrain_pipe:retrain"

[model]
name = "churn"
"""


def write_data(project: Path, seed: int, rows: int = 80) -> str:
    """A new version of dataset ``churn`` (rows drawn from ``seed``); its URI."""
    import numpy as np
    import pandas as pd

    import loopml

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"tenure": rng.uniform(0, 60, rows), "charges": rng.uniform(20, 120, rows)}
    )
    frame["churned"] = (frame["charges"] / 2 > frame["tenure"]).astype("int64")
    path = project / "churn.csv"
    frame.to_csv(path, index=False)
    return loopml.add_dataset(path, "churn").uri


@pytest.fixture
def retrain_project(backend: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pipeline, ``data:/churn@1``, ``churn`` v1 trained on it in prod, deployed as
    ``churn``."""
    pytest.importorskip("sklearn")
    import loopml

    (project / "retrain_pipe.py").write_text(RETRAIN)
    (project / "loopml.toml").write_text(BASE_TOML)
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    loopml.context.reset()
    first = write_data(project, seed=1)
    loopml.run_and_register(params={"data": first}, promote="prod")
    loopml.deploy("churn", "models:/churn@prod")
    return project


def with_triggers(project: Path, text: str) -> None:
    """loopml.toml: the base sections and ``text`` (trigger tables), settings reloaded."""
    import loopml

    (project / "loopml.toml").write_text(BASE_TOML + text)
    loopml.context.reset()


def automate_process(project: Path, *args: str) -> subprocess.Popen[str]:
    """``loopml automate *args`` started in ``project`` as a separate process of this
    Python, importing this loopml; its output is captured as text."""
    import loopml

    src = str(Path(loopml.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "loopml", "automate", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
