"""A served classifier with lineage to its training data, and a prediction log to fill.

``served(project)``: dataset ``churn`` (``tenure``, ``charges``, ``plan``, ``churned``)
version 1, a logistic regression on ``tenure`` and ``charges`` trained in a run that read
it, registered as ``models:/churn/1`` and deployed as ``churn``. ``log_window(...)``
writes predictions of that model (with probabilities, optionally shifted inputs and
feedback) into the deployment's log at given times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from loopml.monitoring import _sinks

from ._webhook import Webhook, serve_webhook


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A local HTTP server that records what alert sinks POST to it."""
    with serve_webhook() as hook:
        yield hook


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Webhook retries without waiting, in every monitoring test."""
    monkeypatch.setattr(_sinks, "RETRY_DELAYS", (0.0, 0.0, 0.0))


START = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)


@dataclass
class Served:
    model: Any
    frame: Any


def churn_frame(rows: int, seed: int, shift: float = 0.0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 60, rows) + shift * 30
    charges = rng.uniform(20, 120, rows)
    plan = rng.choice(["basic", "plus", "pro"], size=rows, p=[0.5, 0.3, 0.2])
    churned = (charges / 2 + rng.normal(0, 8, rows) > tenure).astype("int64")
    return pd.DataFrame({"tenure": tenure, "charges": charges, "plan": plan, "churned": churned})


def make_served(root: Path, rows: int = 2000) -> Served:
    from sklearn.linear_model import LogisticRegression

    import loopml

    frame = churn_frame(rows, seed=1)
    path = root / "churn.parquet"
    frame.to_parquet(path)
    loopml.add_dataset(path, "churn")
    with loopml.start_run() as run:
        run.use_dataset("data:/churn@1")
        model = LogisticRegression().fit(frame[["tenure", "charges"]], frame["churned"])
        info = loopml.log_model(model, input_example=frame[["tenure", "charges"]].head())
    loopml.register_model(info.uri, "churn")
    loopml.deploy("churn", "models:/churn/1")
    return Served(model, frame)


@pytest.fixture
def served(project: Path) -> Served:
    return make_served(project)


def log_window(
    served: Served,
    start: datetime,
    rows: int,
    *,
    seed: int,
    shift: float = 0.0,
    feedback: float = 0.0,
    seconds: float = 3000.0,
    status: str = "ok",
    deployment: str = "churn",
) -> Any:
    """Log ``rows`` predictions spread over ``seconds`` from ``start``; give feedback for
    the first ``feedback`` share of them. Returns the logged frame."""
    import loopml
    from loopml.predictions import PredictionLogger, PredictionRecord, PredictionStatus

    frame = churn_frame(rows, seed, shift)
    features = frame[["tenure", "charges"]]
    predicted = served.model.predict(features)
    proba = served.model.predict_proba(features)
    step = seconds / max(rows, 1)
    with PredictionLogger(deployment) as logger:
        for i, row in enumerate(frame.itertuples(index=False)):
            logger.log(
                PredictionRecord(
                    f"r-{seed}-{i}",
                    inputs={"tenure": row.tenure, "charges": row.charges, "plan": row.plan},
                    prediction=int(predicted[i]),
                    probabilities={"0": float(proba[i, 0]), "1": float(proba[i, 1])},
                    model_name="churn",
                    model_version=1,
                    latency_ms=5.0 + (i % 10),
                    status=PredictionStatus(status),
                    timestamp=start + timedelta(seconds=i * step),
                    deployment=deployment,
                )
            )
    labelled = int(rows * feedback)
    if labelled:
        loopml.predictions.log_feedback(
            deployment,
            [
                {"request_id": f"r-{seed}-{i}", "ground_truth": int(frame["churned"].iloc[i])}
                for i in range(labelled)
            ],
        )
    return frame
