"""Train a digit classifier: load → validate → split → train → evaluate.

``loopml run`` runs :func:`train` (``[pipeline] entry`` in loopml.toml) with
the parameters of params.yaml; ``loopml tune`` searches ``[tune.space]``.

pandas and scikit-learn are imported inside the steps that use them: the
pipeline starts at once, and a fully cached run never imports them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import loopml

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator

HERE = Path(__file__).resolve().parent
TARGET = "target"
STAGES = 4  # forests grow in this many chunks, each scored for the tuner's pruner


@loopml.step
def load(dataset: str) -> pd.DataFrame:
    """The dataset version named by ``dataset`` (a ``data:/`` URI) as a frame."""
    return loopml.get_dataset(dataset).to_pandas()


@loopml.step
def validate(frame: pd.DataFrame, suite: dict[str, Any]) -> pd.DataFrame:
    """The frame, once it passes the suite's checks (a failed check stops the pipeline)."""
    loopml.validate(frame, loopml.Suite.from_dict(suite)).raise_for_errors()
    return frame


@loopml.step(outputs=("train", "test"))
def split(frame: pd.DataFrame, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A stratified train/test split."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[TARGET]
    )
    return train, test


@loopml.step(name="train")
def fit(train: pd.DataFrame, model: dict[str, Any], seed: int) -> BaseEstimator:
    """Fit the estimator ``model`` names, reporting ``val_accuracy`` as it trains.

    A fifth of the training rows is held out for validation. Forests grow in
    stages, scored after each one, so a tuner can stop an unpromising trial
    early; a logistic regression is scored once, at the last stage.
    """
    from sklearn.model_selection import train_test_split

    from models import FORESTS, make_estimator

    X, y = train.drop(columns=TARGET), train[TARGET]
    X_fit, X_val, y_fit, y_val = train_test_split(
        X, y, test_size=0.2, random_state=seed, stratify=y
    )
    estimator = make_estimator(model, seed)
    if model["estimator"] in FORESTS:
        for stage in range(1, STAGES + 1):
            estimator.set_params(n_estimators=round(model["n_estimators"] * stage / STAGES))
            estimator.fit(X_fit, y_fit)
            loopml.log_metric("val_accuracy", estimator.score(X_val, y_val), step=stage)
    else:
        estimator.fit(X_fit, y_fit)
        loopml.log_metric("val_accuracy", estimator.score(X_val, y_val), step=STAGES)
    return estimator


@loopml.step
def evaluate(estimator: BaseEstimator, test: pd.DataFrame) -> dict[str, float]:
    """Accuracy and macro F1 on the test set."""
    from sklearn.metrics import accuracy_score, f1_score

    X, y = test.drop(columns=TARGET), test[TARGET]
    predicted = estimator.predict(X)
    metrics = {
        "test_accuracy": float(accuracy_score(y, predicted)),
        "test_f1": float(f1_score(y, predicted, average="macro")),
    }
    loopml.log_metrics(metrics)
    return metrics


@loopml.pipeline
def train(
    dataset: str = "data:/digits",  # the version loopml.lock pins
    test_size: float = 0.25,
    seed: int = 0,
    model: dict[str, Any] = {  # noqa: B006 (loopml copies defaults)
        "estimator": "random_forest",
        "n_estimators": 60,
        "max_depth": 8,
        "C": 1.0,
    },
):
    suite = json.loads((HERE / "suite.json").read_text())
    frame = validate(load(dataset), suite)
    train_df, test_df = split(frame, test_size, seed)
    estimator = fit(train_df, model, seed)
    return evaluate(estimator, test_df)
