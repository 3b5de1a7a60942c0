"""``search_runs`` over 10,000 runs: a metric filter returning about half, and a top-100 sort.

Each run has 5 params, 3 metrics (with one history row each) and 2 tags, as
a hyper-parameter sweep would leave them; they are seeded with bulk inserts
(COPY on PostgreSQL), then the runs' summaries of them are computed from
the tables by the same SQL that tracking runs after each write, and on
PostgreSQL the tables are analyzed as autovacuum would soon do (seeding is
not timed). Timed, best of 3, each returning full runs with their params,
metrics and tags:

- ``search_runs("metrics.f1 > 0.5")`` — about 5,000 runs;
- ``search_runs(order_by=["metrics.f1 DESC"], max_results=100)``, at 10,000
  runs and again at 100,000 (``--top-runs``);
- ``search_runs("params.model = 'rf' and metrics.f1 > 0.9")``.

Beside the warm figures, the *cold* first call: a fresh interpreter (bytecode
caching on, as installed) that imports loopml and runs the metric filter
once, reported as import + first call inside the process and as the whole
process's wall time.

On SQLite always, and on PostgreSQL with ``--postgres URL`` or when
``LOOPML_TEST_POSTGRES_URL`` is set (a scratch schema, dropped afterwards).
``--peers`` also times MLflow's ``MlflowClient.search_runs`` on SQLite over
the same number of runs: one run is logged through MLflow's API, then its
rows are copied 10,000 times with SQL into MLflow's own tables (logging
10,000 runs through its API would take many minutes).

Usage: python benchmarks/bench_search.py [--runs N] [--top-runs N] [--postgres URL] [--peers]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import best_of, figure, peer_python, scratch

MLFLOW = ("mlflow-skinny==3.17.2", "sqlalchemy", "alembic")
FILTER = "metrics.f1 > 0.5"
COMPOUND = "params.model = 'rf' and metrics.f1 > 0.9"
_RUN_COLUMNS = (
    "id", "experiment_id", "name", "kind", "status", "start_time", "end_time", "user",
    "git_commit", "git_branch", "git_dirty", "entry_point", "command", "environment", "pid",
    "host",
)  # fmt: skip


def seed(uri: str, n: int) -> None:
    """Insert ``n`` finished runs of experiment 'sweep' straight into the tables."""
    import orjson

    from loopml.context import current
    from loopml.tracking import _repository

    rng = random.Random(7)
    store = current().metadata_at(uri)
    now = time.time() - n
    env = orjson.dumps(
        {"python": "3.11.7", "platform": "Linux-6.1-x86_64", "numpy": "2.1.0", "loopml": "0.1"}
    ).decode()
    runs, params, tags, metrics = [], [], [], []
    for i in range(n):
        rid = uuid.uuid4().hex
        start = now + i
        runs.append(
            [
                rid,
                0,
                f"trial-{i}",
                "trial",
                "FINISHED" if i % 20 else "FAILED",
                start,
                start + rng.uniform(1, 100),
                "bench",
                "0" * 40,
                "main",
                False,
                "train.py",
                "python train.py",
                env,
                1000 + i,
                "bench-host",
            ]
        )
        for key, value in (
            ("model", rng.choice(["rf", "gbm", "logreg", "svm"])),
            ("max_depth", str(rng.randint(2, 12))),
            ("lr", f"{10 ** rng.uniform(-4, -1):.5f}"),
            ("n_estimators", str(rng.choice([50, 100, 200, 400]))),
            ("seed", str(i)),
        ):
            params.append((rid, key, value))
        tags.append((rid, "stage", rng.choice(["dev", "prod"])))
        tags.append((rid, "team", rng.choice(["search", "ads", "ml"])))
        f1 = rng.random()
        for key, value in (("f1", f1), ("loss", 1 - f1 + rng.random() * 0.1), ("accuracy", f1)):
            metrics.append((rid, key, value, 0, start))

    def tx(conn: Any) -> None:
        conn.execute(
            "INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("sweep", now)
        ).close()
        exp_id = conn.scalar("SELECT id FROM experiments WHERE name = ?", ("sweep",))
        for row in runs:
            row[1] = exp_id
        tables = (
            ("runs", _RUN_COLUMNS, runs),
            ("params", ("run_id", "key", "value"), params),
            ("tags", ("run_id", "key", "value"), tags),
            ("metrics", ("run_id", "key", "value", "step", "timestamp"), metrics),
            ("latest_metrics", ("run_id", "key", "value", "step", "timestamp"), metrics),
        )
        for table, columns, rows in tables:
            names = ", ".join(f'"{c}"' for c in columns)
            if conn.dialect == "postgresql":
                with conn.raw.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    store.write(tx)
    _repository.rebuild_summaries(store)
    if store.dialect == "postgresql":
        # planner statistics, which autovacuum gathers within a minute of a bulk load;
        # without them PostgreSQL guesses a handful of matching rows and loops over indexes
        store.write(lambda conn: conn.execute("ANALYZE").close())


COLD = """
import time
t0 = time.perf_counter()
import loopml
t1 = time.perf_counter()
found = loopml.search_runs({filter!r}, tracking_uri={uri!r})
t2 = time.perf_counter()
print(len(found), t1 - t0, t2 - t1)
"""


def cold_first_call(uri: str) -> tuple[float, float, float]:
    """(import, first call, whole process) seconds of a fresh interpreter, best of 3."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = COLD.format(filter=FILTER, uri=uri)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    best: tuple[float, float, float] | None = None
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True
        )
        whole = time.perf_counter() - t
        _, imp, call = out.stdout.split()
        got = (float(imp), float(call), whole)
        if best is None or got[2] < best[2]:
            best = got
    assert best is not None
    return best


def time_searches(uri: str, n: int, label: str) -> None:
    from loopml.tracking import search_runs

    seed(uri, n)
    imp, call, whole = cold_first_call(uri)
    search_runs(FILTER, tracking_uri=uri)  # warm caches
    found = search_runs(FILTER, tracking_uri=uri)
    half = best_of(lambda: search_runs(FILTER, tracking_uri=uri))
    top = best_of(
        lambda: search_runs(order_by=["metrics.f1 DESC"], max_results=100, tracking_uri=uri)
    )
    compound = best_of(lambda: search_runs(COMPOUND, tracking_uri=uri))
    figure(f"[{label}] top 100 by metrics.f1 DESC of {n:,} runs", top * 1000, "ms", "<= 50 ms")
    figure(f"[{label}] {COMPOUND!r}", compound * 1000, "ms")
    figure(f"[{label}] {FILTER!r}: {len(found):,} of {n:,} runs, warm", half * 1000, "ms")
    figure(
        f"[{label}] {FILTER!r}, cold: import {imp * 1000:.0f} ms + first call {call * 1000:.0f} ms",
        (imp + call) * 1000,
        "ms",
        "<= 150 ms",
    )
    figure(f"[{label}] {FILTER!r}, cold, whole process", whole * 1000, "ms")


def time_top(uri: str, n: int, label: str) -> None:
    from loopml.tracking import search_runs

    seed(uri, n)
    search_runs(order_by=["metrics.f1 DESC"], max_results=100, tracking_uri=uri)
    top = best_of(
        lambda: search_runs(order_by=["metrics.f1 DESC"], max_results=100, tracking_uri=uri)
    )
    asc = best_of(lambda: search_runs(order_by=["metrics.loss"], max_results=100, tracking_uri=uri))
    filtered = best_of(
        lambda: search_runs(
            "params.model = 'rf'",
            order_by=["metrics.f1 DESC"],
            max_results=100,
            tracking_uri=uri,
        )
    )
    figure(f"[{label}] top 100 by metrics.f1 DESC of {n:,} runs", top * 1000, "ms", "<= 50 ms")
    figure(f"[{label}] top 100 by metrics.loss ASC of {n:,} runs", asc * 1000, "ms")
    figure(f"[{label}] top 100 rf runs by metrics.f1 DESC of {n:,} runs", filtered * 1000, "ms")


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{name}"
    finally:
        from loopml.context import reset

        reset()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


MLFLOW = ("mlflow-skinny==3.17.2", "sqlalchemy", "alembic")


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
    parser.add_argument(
        "--top-runs", type=int, default=100_000, help="Runs for the large top-100 (0: skip)."
    )
    parser.add_argument("--postgres", default=os.environ.get("LOOPML_TEST_POSTGRES_URL"))
    parser.add_argument("--peers", action="store_true", help="Also time MLflow on SQLite.")
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    args = parser.parse_args()

    if args.peers:
        mlflow_searches(args.runs)
    if args.postgres:
        with postgres_schema(args.postgres) as uri:
            time_searches(uri, args.runs, "postgresql")
        if args.top_runs:
            with postgres_schema(args.postgres) as uri:
                time_top(uri, args.top_runs, "postgresql")
    with scratch() as folder:
        time_searches(f"sqlite:///{Path(folder) / 'loopml.db'}", args.runs, "sqlite")
    if args.top_runs:
        with scratch() as folder:
            time_top(f"sqlite:///{Path(folder) / 'loopml.db'}", args.top_runs, "sqlite")


if __name__ == "__main__":
    main()
