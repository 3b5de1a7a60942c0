"""The project ``loopml demo`` plays the closed loop in: its customers, its pipeline and
its loopml.toml.

The customers of a subscription business are simulated from a fixed seed (no
download): tenure, monthly charges, support calls, data usage and contract length, and
whether each one churned. :func:`customers` draws them from one of two worlds:

- before: churn falls with tenure and contract length, rises with charges and support
  calls, and heavy users stay;
- after: prices rose, support got busier and newer customers arrived (the same features,
  shifted), and a competitor's unlimited plan now takes the heavy users (the same
  concept, changed: usage now raises churn). A model trained before is right about half
  the time after; one retrained on the new data recovers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TARGET = "churned"
FEATURES = ("tenure_months", "monthly_charges", "support_calls", "usage_gb", "contract_months")


def customers(rows: int, *, changed: bool, seed: int) -> pd.DataFrame:
    """``rows`` customers of the world before (or, ``changed``, after) the change, with
    whether each churned."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    shift = 1.0 if changed else 0.0
    tenure = rng.uniform(1, 72 - 30 * shift, rows).round()
    charges = rng.normal(65 + 15 * shift, 18, rows).clip(15, 150).round(2)
    calls = rng.poisson(1.2 + 1.3 * shift, rows)
    usage = rng.lognormal(2.5 + 0.5 * shift, 0.5, rows).round(1)
    contract = rng.choice([1, 12, 24], rows, p=[0.5, 0.3, 0.2])
    heavy = (np.log(np.maximum(usage, 0.1)) - 2.75) / 0.5
    base = 1.4 - 0.06 * tenure + 0.7 * (calls - 1.2) - 0.09 * contract
    if changed:
        logit = base + 0.02 * (charges - 65) + 1.6 * heavy - 1.0
    else:
        logit = base + 0.045 * (charges - 65) - 0.9 * heavy
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls.astype("int64"),
            "usage_gb": usage,
            "contract_months": contract.astype("int64"),
            TARGET: churned.astype("int64"),
        }
    )


PIPELINE = '''"""Train the churn model: load -> validate -> split -> train -> evaluate.

`loopml run` runs `train` with the parameters of params.yaml; `loopml tune` searches
[tune.space]; `loopml automate` runs it with the dataset version that fired a trigger
(`data = "data:/churn@2"`).
"""

from __future__ import annotations

from typing import Any

import loopml

TARGET = "churned"
SUITE = {
    "name": "customers",
    "checks": [
        {"kind": "columns", "columns": [
            "tenure_months", "monthly_charges", "support_calls", "usage_gb",
            "contract_months", TARGET,
        ]},
        {"kind": "row_count", "min": 500},
        {"kind": "not_null", "column": "monthly_charges"},
        {"kind": "between", "column": "tenure_months", "min": 0, "max": 120},
        {"kind": "between", "column": "monthly_charges", "min": 0, "max": 500},
        {"kind": "between", "column": "support_calls", "min": 0, "max": 50},
        {"kind": "in_set", "column": "contract_months", "values": [1, 12, 24]},
        {"kind": "in_set", "column": TARGET, "values": [0, 1]},
    ],
}


@loopml.step
def load(data: str) -> Any:
    """The dataset version `data` names, as a frame."""
    return loopml.get_dataset(data).to_pandas()


@loopml.step
def validate(frame: Any) -> Any:
    """The frame, once it passes the suite (a failed check stops the pipeline)."""
    loopml.validate(frame, loopml.Suite.from_dict(SUITE)).raise_for_errors()
    return frame


@loopml.step(outputs=("train", "test"))
def split(frame: Any, seed: int) -> Any:
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        frame, test_size=0.25, random_state=seed, stratify=frame[TARGET]
    )
    return train, test


@loopml.step(name="train")
def fit(train: Any, model: dict[str, Any], seed: int) -> Any:
    """A logistic regression (or, `model.kind = "random_forest"`, a forest)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = train.drop(columns=TARGET), train[TARGET]
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.2, random_state=seed)
    if model["kind"] == "random_forest":
        estimator = RandomForestClassifier(
            n_estimators=model["n_estimators"], min_samples_leaf=10, n_jobs=1, random_state=seed
        )
    else:
        estimator = make_pipeline(StandardScaler(), LogisticRegression(C=model["C"]))
    estimator.fit(X_fit, y_fit)
    loopml.log_metric("val_accuracy", estimator.score(X_val, y_val))
    return estimator.fit(X, y)


@loopml.step
def evaluate(estimator: Any, test: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = estimator.predict(test.drop(columns=TARGET))
    metrics = {
        "test_accuracy": float(accuracy_score(test[TARGET], predicted)),
        "test_f1": float(f1_score(test[TARGET], predicted)),
    }
    loopml.log_metrics(metrics)
    return metrics


@loopml.pipeline
def train(
    data: str = "data:/churn",
    seed: int = 0,
    model: dict[str, Any] = {"kind": "logistic_regression", "C": 1.0, "n_estimators": 300},  # noqa: B006
):
    train_df, test_df = split(validate(load(data)), seed)
    return evaluate(fit(train_df, model, seed), test_df)
'''

LOOPML_TOML = """# The closed loop `loopml demo` plays: train -> gate -> serve -> monitor -> retrain.

[pipeline]
entry = "pipeline:train"

[model]
name = "churn"      # a run registers the model the train step returns
step = "train"

[tune]
metric = "val_accuracy"
direction = "maximize"

[tune.space]
"model.C" = { low = 0.001, high = 10.0, log = true }

# prod takes a version only through these checks, on the newest holdout
[gates.prod]
"metrics.accuracy" = ">= 0.7"
"metrics.accuracy - champion.metrics.accuracy" = ">= -0.02"   # no worse than the champion
"latency.p99_ms" = "<= 250"

[gates.prod.options]
data = "data:/churn-holdout"
target = "churned"

# every 250 predictions: drift against the training data, data quality, live accuracy
# from feedback, accuracy estimated before labels arrive
[monitors.churn]
deployment = "churn"
window = "250 rows"
alerts = ["drift_share > 0.3", "live.accuracy < 0.7"]
sinks = ["file:alerts.jsonl"]

# when live accuracy falls: retrain on the newest data, gate, roll out as a canary
[triggers.decay]
alert = "churn"
rule = "live.accuracy < 0.7"
dataset = "churn"
param = "data"
environment = "prod"
deployment = "churn"
strategy = "canary"
steps = "50,100"
interval = "3s"
"""
