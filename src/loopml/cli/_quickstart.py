"""The quickstart behind ``loopml demo``: real data, real training, real lineage.

It makes a scratch project, versions scikit-learn's breast-cancer data set
(it ships with the library), trains a few classifiers on it as tracked runs,
ranks them with ``search_runs`` and prints the lineage of the data.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.markup import escape

from loopml.cli._output import console
from loopml.cli._table import Column, emit, fmt_number

_TOP = 3  # runs the Compare table shows

COMPARE_COLUMNS = [
    Column("name", header="run", required=True),
    Column("params.model", header="model", max_width=20),
    Column("metrics.f1", header="f1", kind="number", required=True),
    Column("metrics.roc_auc", header="roc_auc", kind="number"),
    Column("metrics.accuracy", header="accuracy", kind="number"),
    Column("id", kind="id"),
]

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
        console.print(
            f"run {run.name:<15} f1={fmt_number(run.metrics['f1'])}  ({run.id[:8]})",
            highlight=False,
        )

    console.rule("[bold]3. Compare")
    wanted = "metrics.f1 > 0.9 and tags.stage = 'quickstart'"
    matching = loopml.search_runs(wanted, experiment="quickstart", order_by=["metrics.f1 DESC"])
    best = matching[:_TOP]
    emit(
        [
            {
                "name": r.name,
                "params.model": r.params.get("model"),
                "metrics.f1": r.metrics.get("f1"),
                "metrics.roc_auc": r.metrics.get("roc_auc"),
                "metrics.accuracy": r.metrics.get("accuracy"),
                "id": r.id,
            }
            for r in best
        ],
        COMPARE_COLUMNS,
        empty="No run reached f1 > 0.9.",
        footer=f"the top {len(best)} of {len(matching)} runs with f1 > 0.9, best first",
    )

    console.rule("[bold]4. Lineage")
    from loopml.cli.lineage import lineage

    lineage(ds.uri, depth=3, tracking_uri=None, artifact_uri=None)
    cli = loopml_command()
    console.print(
        f"\nDone in {time.perf_counter() - started:.1f} s. Project: {directory}\nTry:",
        highlight=False,
    )
    for hint in (
        f"cd {shlex.quote(str(directory))}",
        f"{cli} runs list -e quickstart",
        f"{cli} data show breast-cancer",
    ):
        console.print(f"  {escape(hint)}", highlight=False, soft_wrap=True)


def loopml_command() -> str:
    """How to start this loopml from a new shell, as the user would type it: ``loopml``
    when that is on PATH (and is this one), else the path of this interpreter's
    ``loopml`` script, else ``python -m loopml`` with this interpreter."""
    script = Path(sys.executable).parent / "loopml"
    found = shutil.which("loopml")
    if found and (not script.exists() or Path(found).resolve() == script.resolve()):
        return "loopml"
    if script.exists():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m loopml"
