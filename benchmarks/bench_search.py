"""``search_runs`` over 10,000 runs: a metric filter returning about half, and a top-100 sort.

Each run has 5 params, 3 metrics (with one history row each) and 2 tags, as
a hyper-parameter sweep would leave them; they are seeded with bulk inserts,
then the runs' summaries of them are computed from the tables by the same
SQL that tracking runs after each write, and on PostgreSQL the tables are
analyzed as autovacuum would soon do (seeding is not timed). Timed, best of
3, each returning full runs with their params, metrics and tags:

- ``search_runs("metrics.f1 > 0.5")`` — about 5,000 runs;
- ``search_runs(order_by=["metrics.f1 DESC"], max_results=100)``;
- ``search_runs("params.model = 'rf' and metrics.f1 > 0.9")``.

On SQLite always, and on PostgreSQL with ``--postgres URL`` or when
``LOOPML_TEST_POSTGRES_URL`` is set (a scratch schema, dropped afterwards).
``--peers`` also times MLflow's ``MlflowClient.search_runs`` on SQLite over
the same number of runs: one run is logged through MLflow's API, then its
rows are copied 10,000 times with SQL into MLflow's own tables (logging
10,000 runs through its API would take many minutes).

Usage: python benchmarks/bench_search.py [--runs N] [--postgres URL] [--peers]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import best_of, figure, peer_python, scratch

MLFLOW = ("mlflow-skinny==3.17.2", "sqlalchemy", "alembic")
FILTER = "metrics.f1 > 0.5"
COMPOUND = "params.model = 'rf' and metrics.f1 > 0.9"


def seed(uri: str, n: int) -> None:
    """Insert ``n`` finished runs of experiment 'sweep' straight into the tables."""
    from sqlalchemy import insert

    from loopml.store import schema
    from loopml.store.metadata import get_metadata_store
    from loopml.tracking import _store, _summary

    rng = random.Random(7)
    store = get_metadata_store(uri)
    now = time.time() - n
    env = {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "numpy": "2.1.0", "loopml": "0.1"}
    runs, params, tags, metrics, latest = [], [], [], [], []
    for i in range(n):
        rid = uuid.uuid4().hex
        start = now + i
        runs.append(
            {
                "id": rid,
                "name": f"trial-{i}",
                "kind": "trial",
                "status": "FINISHED" if i % 20 else "FAILED",
                "start_time": start,
                "end_time": start + rng.uniform(1, 100),
                "user": "bench",
                "git_commit": "0" * 40,
                "git_branch": "main",
                "git_dirty": False,
                "entry_point": "train.py",
                "command": "python train.py",
                "environment": env,
                "pid": 1000 + i,
                "host": "bench-host",
            }
        )
        for key, value in (
            ("model", rng.choice(["rf", "gbm", "logreg", "svm"])),
            ("max_depth", str(rng.randint(2, 12))),
            ("lr", f"{10 ** rng.uniform(-4, -1):.5f}"),
            ("n_estimators", str(rng.choice([50, 100, 200, 400]))),
            ("seed", str(i)),
        ):
            params.append({"run_id": rid, "key": key, "value": value})
        tags.append({"run_id": rid, "key": "stage", "value": rng.choice(["dev", "prod"])})
        tags.append({"run_id": rid, "key": "team", "value": rng.choice(["search", "ads", "ml"])})
        f1 = rng.random()
        for key, value in (("f1", f1), ("loss", 1 - f1 + rng.random() * 0.1), ("accuracy", f1)):
            row = {"run_id": rid, "key": key, "value": value, "step": 0, "timestamp": start}
            metrics.append(row)
            latest.append(row)

    def tx(conn):  # type: ignore[no-untyped-def]
        exp_id = _store.experiment_id(conn, store, "sweep")
        for row in runs:
            row["experiment_id"] = exp_id
        for table, rows in (
            (schema.runs, runs),
            (schema.params, params),
            (schema.tags, tags),
            (schema.metrics, metrics),
            (schema.latest_metrics, latest),
        ):
            for i in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[i : i + 5000])
        _summary.refresh(conn, [row["id"] for row in runs], rebuild=True)

    store.write(tx)
    if store.dialect == "postgresql":
        # planner statistics, which autovacuum gathers within a minute of a bulk load;
        # without them PostgreSQL guesses a handful of matching rows and loops over indexes
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


def time_searches(uri: str, n: int, label: str) -> None:
    from loopml.tracking import search_runs

    seed(uri, n)
    search_runs(FILTER, tracking_uri=uri)  # warm caches and compiled statements
    found = search_runs(FILTER, tracking_uri=uri)
    half = best_of(lambda: search_runs(FILTER, tracking_uri=uri))
    top = best_of(
        lambda: search_runs(order_by=["metrics.f1 DESC"], max_results=100, tracking_uri=uri)
    )
    compound = best_of(lambda: search_runs(COMPOUND, tracking_uri=uri))
    figure(f"[{label}] top 100 by metrics.f1 DESC of {n:,} runs", top * 1000, "ms", "<= 100 ms")
    figure(f"[{label}] {COMPOUND!r}", compound * 1000, "ms")
    figure(f"[{label}] {FILTER!r}: {len(found):,} of {n:,} runs", half * 1000, "ms", "<= 100 ms")


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    import sqlalchemy

    name = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        from loopml.store.metadata import reset_stores

        reset_stores()
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        engine.dispose()


MLFLOW_CODE = """
import json, logging, sqlite3, sys, time, uuid
logging.disable(logging.WARNING)
import mlflow
from mlflow.tracking import MlflowClient

folder, n = sys.argv[1], int(sys.argv[2])
db = f"{folder}/mlflow.db"
mlflow.set_tracking_uri(f"sqlite:///{db}")
client = MlflowClient()
exp = client.create_experiment("sweep")
with mlflow.start_run(experiment_id=exp) as run:
    mlflow.log_params({"model": "rf", "max_depth": 4, "lr": 0.01, "n_estimators": 100, "seed": 0})
    mlflow.log_metrics({"f1": 0.5, "loss": 0.5, "accuracy": 0.5})
    mlflow.set_tags({"stage": "dev", "team": "search"})
template = run.info.run_id

import random
rng = random.Random(7)
con = sqlite3.connect(db)
def rows(table):
    cur = con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (template,))
    return [d[0] for d in cur.description], cur.fetchall()
tables = {t: rows(t) for t in ("runs", "params", "tags", "metrics", "latest_metrics")}
con.execute("BEGIN")
for i in range(n):
    rid = uuid.uuid4().hex
    f1 = rng.random()
    for table, (cols, found) in tables.items():
        for row in found:
            row = dict(zip(cols, row))
            row["run_uuid"] = rid
            if table == "runs":
                row["name"] = f"trial-{i}"
                row["start_time"] = row["start_time"] + i
            if table in ("metrics", "latest_metrics") and row["key"] == "f1":
                row["value"] = f1
            if table == "params" and row["key"] == "model":
                row["value"] = rng.choice(["rf", "gbm", "logreg", "svm"])
            con.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in cols],
            )
con.execute("COMMIT")
con.close()

def best(fn):
    times = []
    for _ in range(3):
        t = time.perf_counter(); out = fn(); times.append(time.perf_counter() - t)
    return min(times), out
half, found = best(lambda: client.search_runs([exp], "metrics.f1 > 0.5", max_results=50000))
top, _ = best(lambda: client.search_runs([exp], "", order_by=["metrics.f1 DESC"], max_results=100))
compound, _ = best(lambda: client.search_runs(
    [exp], "params.model = 'rf' and metrics.f1 > 0.9", max_results=50000))
print(json.dumps({"half": half, "found": len(found), "top": top, "compound": compound}))
"""


def mlflow_searches(n: int) -> None:
    import json

    py = peer_python("mlflow", *MLFLOW)
    if py is None:
        return
    with scratch() as folder:
        result = subprocess.run(
            [str(py), "-c", MLFLOW_CODE, str(folder), str(n)],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=3600,
            env={k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")},
        )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    got = json.loads(result.stdout.strip().splitlines()[-1])
    figure(f"[MLflow sqlite] top 100 by metrics.f1 DESC of {n:,} runs", got["top"] * 1000, "ms")
    figure(f"[MLflow sqlite] {COMPOUND!r}", got["compound"] * 1000, "ms")
    figure(f"[MLflow sqlite] {FILTER!r}: {got['found']:,} of {n:,} runs", got["half"] * 1000, "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="Number of runs to seed.")
    parser.add_argument("--postgres", default=os.environ.get("LOOPML_TEST_POSTGRES_URL"))
    parser.add_argument("--peers", action="store_true", help="Also time MLflow on SQLite.")
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    args = parser.parse_args()

    if args.peers:
        mlflow_searches(args.runs)
    if args.postgres:
        with postgres_schema(args.postgres) as uri:
            time_searches(uri, args.runs, "postgresql")
    with scratch() as folder:
        time_searches(f"sqlite:///{Path(folder) / 'loopml.db'}", args.runs, "sqlite")


if __name__ == "__main__":
    main()
