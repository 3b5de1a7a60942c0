"""The quickstart behind ``loopml demo``: real data, real training, real lineage.

It makes a scratch project, versions scikit-learn's breast-cancer data set
(it ships with the library), trains a few classifiers on it as tracked runs,
ranks them with ``search_runs`` and prints the lineage of the data.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from loopml.cli._output import console

MODELS: list[tuple[str, str, dict[str, float]]] = [
    ("logreg-C0.1", "logistic_regression", {"C": 0.1}),
    ("logreg-C1", "logistic_regression", {"C": 1.0}),
    ("forest-depth3", "random_forest", {"max_depth": 3, "n_estimators": 100}),
    ("forest-depth8", "random_forest", {"max_depth": 8, "n_estimators": 100}),
]


def _make_model(kind: str, params: dict[str, float]) -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic_regression":
        return make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=2000))
    return RandomForestClassifier(
        max_depth=int(params["max_depth"]),
        n_estimators=int(params["n_estimators"]),
        random_state=0,
        n_jobs=1,
    )


def run_quickstart(directory: Path) -> None:
    """Run the quickstart in ``directory`` (made if missing; re-running adds runs)."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError as exc:
        from loopml.errors import MissingExtra

        raise MissingExtra("the demo", "sklearn", "scikit-learn") from exc
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    import loopml

    started = time.perf_counter()
    directory = directory.resolve()
    (directory / "data").mkdir(parents=True, exist_ok=True)
    if not (directory / "loopml.toml").exists():
        (directory / "loopml.toml").write_text("# loopml demo project\n")
    os.chdir(directory)  # the default context follows the working directory

    console.rule("[bold]1. Version the data")
    frame = load_breast_cancer(as_frame=True).frame
    csv = directory / "data" / "breast_cancer.csv"
    frame.to_csv(csv, index=False)
    ds = loopml.add_dataset(csv, name="breast-cancer", message="scikit-learn breast cancer data")
    console.print(
        f"{ds.uri}: {ds.n_files} file, {ds.total_bytes:,} bytes, "
        f"manifest {ds.manifest_digest[:12]}…"
    )

    console.rule("[bold]2. Train and track")
    data = loopml.get_dataset(ds.uri).to_pandas()
    features = data.drop(columns=["target"])
    target = data["target"]
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=0.25, random_state=0, stratify=target
    )
    for run_name, kind, params in MODELS:
        with loopml.start_run(
            experiment="quickstart", run_name=run_name, params={"model": kind, **params}
        ) as run:
            run.use_dataset(ds.uri)
            folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
            for step, (fit_idx, val_idx) in enumerate(folds.split(x_train, y_train)):
                model = _make_model(kind, params)
                model.fit(x_train.iloc[fit_idx], y_train.iloc[fit_idx])
                pred = model.predict(x_train.iloc[val_idx])
                loopml.log_metric("cv_f1", f1_score(y_train.iloc[val_idx], pred), step=step)
            model = _make_model(kind, params)
            model.fit(x_train, y_train)
            pred = model.predict(x_test)
            proba = model.predict_proba(x_test)[:, 1]
            loopml.log_metrics(
                {
                    "accuracy": accuracy_score(y_test, pred),
                    "f1": f1_score(y_test, pred),
                    "roc_auc": roc_auc_score(y_test, proba),
                }
            )
            loopml.set_tag("stage", "quickstart")
        console.print(f"run {run.name:<15} f1={run.metrics['f1']:.4f}  ({run.id[:8]})")

    console.rule("[bold]3. Compare")
    best = loopml.search_runs(
        "metrics.f1 > 0.9 and tags.stage = 'quickstart'",
        experiment="quickstart",
        order_by=["metrics.f1 DESC"],
        max_results=3,
    )
    from rich.table import Table

    table = Table("run", "model", "f1", "roc_auc", "accuracy")
    for r in best:
        table.add_row(
            r.name,
            r.params.get("model", ""),
            f"{r.metrics['f1']:.4f}",
            f"{r.metrics['roc_auc']:.4f}",
            f"{r.metrics['accuracy']:.4f}",
        )
    console.print(table)

    console.rule("[bold]4. Lineage")
    from loopml.cli.lineage import lineage

    lineage(ds.uri, depth=3)
    console.print(
        f"\nDone in {time.perf_counter() - started:.1f} s. Project: {directory}\n"
        f"Try: cd {directory} && loopml runs list && loopml data show breast-cancer"
    )
