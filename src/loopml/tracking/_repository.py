"""Every SQL statement of run tracking: runs, params, tags, metrics, artifacts and search.

Nothing else in the package talks to the database; the rest of tracking
hands records in and gets records back.

**Run summaries.** Each run's params, tags and latest metric values are
repeated as JSON on its ``runs`` row (``params_json``, ``tags_json``,
``metrics_json``), so a search that returns thousands of full runs reads one
row per run instead of three more tables grouped per run. The tables stay
the source of truth: filters and sorts use them and their indexes, and a
summary is a copy of what they hold for one run. It stays equal to them so:

- every write to ``params``, ``tags`` or ``latest_metrics`` recomputes the
  summaries of the runs it touched, in SQL, from the table, in the same
  transaction, after the rows are written (:func:`_refresh`);
- writers of one run go one at a time: SQLite write transactions begin with
  ``BEGIN IMMEDIATE`` (one writer per database), and on PostgreSQL
  :func:`_lock` takes the runs' rows ``FOR NO KEY UPDATE`` (in id order, so
  two writers cannot deadlock) before anything is written, so the
  recomputation, a later statement under READ COMMITTED, sees every earlier
  writer's rows (that lock does not conflict with the key-share locks
  foreign keys take, so logging an artifact is not held up);
- a summary is kept while the run has at most :data:`MAX_KEYS` rows in that
  table; past that the column is NULL, which readers take as "read the
  table instead": a summary is absent or right, never stale;
- metric values are written as JSON numbers with enough digits to give back
  the same double; NaN and ±infinity, which JSON numbers cannot hold, are
  strings, turned back into floats by :func:`_metrics_from`.

**Reading runs.** A :class:`Run` is built from each plain row tuple with
positional arguments, with Python's cyclic garbage collector paused while
thousands are built (each run is a handful of new containers, none in a
cycle; collections set off by them would cost more than the building).

**Metric batches** (from the flusher): one multi-row ``INSERT`` per 999 rows
on SQLite, one ``INSERT ... SELECT FROM unnest(arrays)`` on PostgreSQL, into
``metrics`` and, keeping per run and key the highest step then the newest
row, into ``latest_metrics``; rows sorted by run and key so each index
receives neighbouring entries.

**Search.** Each comparison on a metric, param or tag becomes ``runs.id IN
(SELECT run_id FROM <table> WHERE key = ? AND value <op> ?)`` (metrics read
``latest_metrics`` through its ``(key, value)`` index); sorting by one is a
LEFT JOIN, runs lacking the key last. A top-N by a metric first finds the
N-th best value walking that index (stopping after N matching runs), then
sorts only the runs at or above it, so its cost follows N, not the table.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import itertools
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar

import orjson

from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.store.refs import add_refs, release_refs
from loopml.tracking import _params, _state
from loopml.tracking._filter import ATTRIBUTES, And, Comparison, Field, Node, Not, Or, OrderKey
from loopml.tracking._records import ArtifactEntry, Metric, Run, RunStatus, from_epoch
from loopml.tracking._validate import check_run_id
from loopml.uri import RunURI

__all__ = [
    "MAX_KEYS",
    "Search",
    "add_edge",
    "artifact_entries",
    "describe_runs",
    "experiment_names",
    "finish_run",
    "get_run",
    "insert_run",
    "known_experiments",
    "list_artifacts",
    "log_params",
    "metric_history",
    "record_artifacts",
    "runs_by_ids",
    "search",
    "set_tags",
    "write",
    "write_metric_batches",
]

T = TypeVar("T")

#: Runs with more keys than this in a table have no summary of it (NULL).
MAX_KEYS = 1000

_CHUNK = 2000
_RUN_COLUMNS = (
    "r.id, r.name, e.name, r.status, r.start_time, r.end_time, r.params_json, "
    'r.metrics_json, r.tags_json, r.parent_id, r.kind, r."user", r.git_commit, '
    "r.git_branch, r.git_dirty, r.git_diff_digest, r.entry_point, r.command, "
    "CAST(r.environment AS TEXT), r.error, r.pid, r.host, "
    # a run is deleted when it is, or when its experiment is
    "CASE WHEN r.deleted_at IS NULL THEN e.deleted_at ELSE r.deleted_at END AS deleted_at"
)
_RUNS_FROM = f"SELECT {_RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id"
_RUN_FIELDS = (
    'id, experiment_id, name, kind, status, start_time, "user", parent_id, git_commit, '
    "git_branch, git_dirty, git_diff_digest, entry_point, command, environment, pid, host, "
    "params_json, tags_json, metrics_json"
)
_INSERT_RUN = f"INSERT INTO runs ({_RUN_FIELDS}) VALUES ({', '.join('?' * 20)})"
_SUMMARY_COLUMNS = {"params": "params_json", "tags": "tags_json", "latest_metrics": "metrics_json"}


def write(store: MetadataStore, fn: Callable[[Connection], T]) -> T:
    """``store.write(fn)``, with the thread marked as writing (see the SIGTERM handler)."""
    with _state.get().marking_write():
        return store.write(fn)


# -- runs -----------------------------------------------------------------------------


def _experiment_id(conn: Connection, name: str) -> int:
    """The id of the experiment ``name``, created if it does not exist; a deleted
    experiment takes no new runs (a :class:`Conflict`)."""
    sql = "SELECT id, deleted_at FROM experiments WHERE name = ?"
    row = conn.first(sql, (name,))
    if row is None:
        conn.upsert("experiments", [{"name": name, "created_at": time.time()}], ("name",))
        row = conn.first(sql, (name,))
        assert row is not None
    if row[1] is not None:
        raise Conflict(
            f"experiment {name!r} is deleted, so it takes no new runs. Restore it with "
            f"'loopml experiments restore {name}' (loopml.tracking.restore_experiment), or "
            "use another experiment name."
        )
    return int(row[0])


def insert_run(store: MetadataStore, run: Run, now: float, params: Mapping[str, str]) -> None:
    """Insert a new run with its experiment, params (``params``: their stored JSON texts),
    tags, git-diff reference and parent edge."""

    def tx(conn: Connection) -> None:
        row = (
            run.id,
            _experiment_id(conn, run.experiment),
            run.name,
            run.kind,
            run.status.value,
            now,
            run.user,
            run.parent_id,
            run.git_commit,
            run.git_branch,
            run.git_dirty,
            run.git_diff_digest,
            run.entry_point,
            run.command,
            orjson.dumps(run.environment).decode(),
            run.pid,
            run.host,
            _encode(params),
            _encode(run.tags),
            "{}",
        )
        conn.execute(_INSERT_RUN, row)
        for table, values in (("params", params), ("tags", run.tags)):
            if values:
                conn.executemany(
                    f"INSERT INTO {table} (run_id, key, value) VALUES (?, ?, ?)",
                    [(run.id, k, v) for k, v in values.items()],
                )
        if run.git_diff_digest:
            add_refs(conn, run.uri, [run.git_diff_digest])
        if run.parent_id:
            lineage_edges.add_edges(conn, [(str(RunURI(run.parent_id)), run.uri, "parent")])

    write(store, tx)


def add_edge(store: MetadataStore, src: str, dst: str, relation: str) -> None:
    """Record one lineage edge (idempotent)."""
    write(store, lambda conn: lineage_edges.add_edges(conn, [(src, dst, relation)]))


def finish_run(
    store: MetadataStore, run_id: str, status: RunStatus, end_time: float, error: str | None
) -> None:
    """Record the end of a run."""
    write(
        store,
        lambda conn: conn.execute(
            "UPDATE runs SET status = ?, end_time = ?, error = ? WHERE id = ?",
            (status.value, end_time, error, run_id),
        ),
    )


def resolve_run_id(conn: Connection, run_id: str) -> str:
    """The full id of the run ``run_id`` names (a full id or a unique prefix of ≥ 6 chars)."""
    text = check_run_id(run_id)
    if len(text) == 32:
        if conn.scalar("SELECT id FROM runs WHERE id = ?", (text,)) is None:
            raise NotFound(_no_run(text))
        return text
    upper = text + "g"  # every hex continuation of the prefix sorts before it
    ids = conn.column(
        "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 6", (text, upper)
    )
    if not ids:
        raise NotFound(_no_run(text))
    if len(ids) > 1:
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        raise InvalidInput(
            f"run id prefix {text!r} is ambiguous: it matches {shown}. Give more characters."
        )
    return str(ids[0])


def _no_run(run_id: str) -> str:
    return (
        f"no run with id {run_id!r} in this tracking store. "
        "List runs with 'loopml runs list' (or loopml.search_runs()) and check the tracking URI."
    )


def get_run(store: MetadataStore, run_id: str) -> Run:
    """The run ``run_id`` (or a unique prefix) names."""
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        return _fetch(conn, f"{_RUNS_FROM} WHERE r.id = ?", (full,))[0]


def experiment_of(store: MetadataStore, run_id: str) -> tuple[str, str]:
    """The full id and the experiment name of the run ``run_id`` (or a unique prefix) names."""
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        name = conn.scalar(
            "SELECT e.name FROM experiments e JOIN runs r ON r.experiment_id = e.id WHERE r.id = ?",
            (full,),
        )
        return full, str(name)


def child_runs(store: MetadataStore, run_id: str, kind: str | None = None) -> list[Run]:
    """The runs whose parent is ``run_id`` (a full id), oldest first."""
    sql = f"{_RUNS_FROM} WHERE r.parent_id = ?"
    params: list[Any] = [run_id]
    if kind is not None:
        sql += " AND r.kind = ?"
        params.append(kind)
    with store.read() as conn:
        return _fetch(conn, sql + " ORDER BY r.start_time, r.id", params)


def datasets_read(store: MetadataStore, run_id: str) -> list[str]:
    """The dataset versions (``data:/name@N``) that the run ``run_id`` (a full id) and its
    child runs read: the sources of their ``input`` lineage edges, by name then version."""
    with store.read() as conn:
        ids = [run_id, *conn.column("SELECT id FROM runs WHERE parent_id = ?", (run_id,))]
    edges = lineage_edges.edges_touching(store, [str(RunURI(i)) for i in ids], "up")
    found = {src for src, _, rel, _ in edges if rel == "input" and src.startswith("data:/")}

    def order(uri: str) -> tuple[str, int]:
        name, _, version = uri[len("data:/") :].rpartition("@")
        return (name, int(version)) if version.isdigit() else (uri, 0)

    return sorted(found, key=order)


def runs_by_ids(store: MetadataStore, ids: Sequence[str]) -> list[Run]:
    """The runs with these full ids that exist (in no particular order)."""
    out: list[Run] = []
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            test, param = conn.in_list(list(ids[i : i + _CHUNK]))
            out += _fetch(conn, f"{_RUNS_FROM} WHERE r.id {test}", (param,))
    return out


def describe_runs(store: MetadataStore, ids: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """``{id: (name, experiment, status)}`` for the runs with these full ids that exist."""
    out: dict[str, tuple[str, str, str]] = {}
    with store.read() as conn:
        for i in range(0, len(ids), _CHUNK):
            test, param = conn.in_list(list(ids[i : i + _CHUNK]))
            for rid, name, exp, status in conn.all(
                "SELECT r.id, r.name, e.name, r.status FROM runs r JOIN experiments e "
                f"ON e.id = r.experiment_id WHERE r.id {test}",
                (param,),
            ):
                out[rid] = (name, exp, status)
    return out


def metric_history(store: MetadataStore, run_id: str, key: str) -> list[Metric]:
    """Every value logged for ``key`` by the run, by step, then time."""
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        rows = conn.all(
            "SELECT value, step, timestamp FROM metrics WHERE run_id = ? AND key = ? "
            "ORDER BY step, timestamp, id",
            (full, key),
        )
    return [Metric(key, float(v), int(s), from_epoch(t)) for v, s, t in rows]


def known_experiments(
    store: MetadataStore, names: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    """Ids of those of ``names`` that are experiments, and every experiment's name."""
    with store.read() as conn:
        test, param = conn.in_list(list(names))
        found = {
            n: int(i)
            for n, i in conn.all(f"SELECT name, id FROM experiments WHERE name {test}", (param,))
        }
        every = (
            conn.column("SELECT name FROM experiments ORDER BY name")
            if len(found) < len(set(names))
            else []
        )
    return found, every


def experiment_names(store: MetadataStore) -> list[str]:
    """Names of every experiment, sorted."""
    with store.read() as conn:
        return conn.column("SELECT name FROM experiments ORDER BY name")


# -- deleting and restoring ----------------------------------------------------------------

_TREE = (
    "WITH RECURSIVE tree(id) AS (SELECT id FROM runs WHERE id = ? "
    "UNION SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id) "
)


def run_tree(store: MetadataStore, run_id: str) -> list[Run]:
    """The run ``run_id`` (a full id or a unique prefix) and every run below it."""
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        return _fetch(conn, f"{_TREE}{_RUNS_FROM} WHERE r.id IN (SELECT id FROM tree)", (full,))


def set_runs_deleted(store: MetadataStore, root: str, when: float | None) -> int:
    """Mark the run ``root`` (a full id) and every run below it deleted at ``when`` (runs
    deleted already keep their time), or restore them all (``when`` None); returns how
    many runs changed."""

    def tx(conn: Connection) -> int:
        if when is None:
            sql = f"{_TREE}UPDATE runs SET deleted_at = NULL WHERE id IN (SELECT id FROM tree) "
            sql += "AND deleted_at IS NOT NULL"
            return int(conn.execute(sql, (root,)).rowcount)
        sql = f"{_TREE}UPDATE runs SET deleted_at = ? WHERE id IN (SELECT id FROM tree) "
        sql += "AND deleted_at IS NULL"
        return int(conn.execute(sql, (root, when)).rowcount)

    return write(store, tx)


def run_deleted_at(store: MetadataStore, run_id: str) -> float | None:
    """When the run ``run_id`` (a full id) itself was deleted, or None."""
    with store.read() as conn:
        value = conn.scalar("SELECT deleted_at FROM runs WHERE id = ?", (run_id,))
    return None if value is None else float(value)


@dataclass(frozen=True)
class ExperimentRow:
    """An experiment as :func:`experiments` reads it."""

    id: int
    name: str
    created_at: float
    deleted_at: float | None
    runs: int
    last_run: float | None


def experiments(store: MetadataStore, include_deleted: bool) -> list[ExperimentRow]:
    """Every experiment (deleted ones too when asked) with its number of runs (those not
    deleted) and the start of its newest run, by name."""
    sql = (
        "SELECT e.id, e.name, e.created_at, e.deleted_at, COUNT(r.id), MAX(r.start_time) "
        "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id AND r.deleted_at IS NULL"
    )
    if not include_deleted:
        sql += " WHERE e.deleted_at IS NULL"
    sql += " GROUP BY e.id, e.name, e.created_at, e.deleted_at ORDER BY e.name"
    with store.read() as conn:
        return [
            ExperimentRow(int(i), n, float(c), d, int(k), last)
            for i, n, c, d, k, last in conn.all(sql)
        ]


def experiment_row(store: MetadataStore, name: str) -> ExperimentRow | None:
    """The experiment ``name`` (deleted or not), or None."""
    for row in experiments(store, include_deleted=True):
        if row.name == name:
            return row
    return None


def rename_experiment(store: MetadataStore, old: str, new: str) -> None:
    """Rename ``old`` to ``new``; InvalidInput when ``new`` is taken, NotFound without ``old``."""

    def tx(conn: Connection) -> None:
        taken = conn.first("SELECT deleted_at FROM experiments WHERE name = ?", (new,))
        if taken is not None:
            deleted = " (deleted; 'loopml gc --force' removes it for good)" if taken[0] else ""
            raise InvalidInput(
                f"cannot rename experiment {old!r} to {new!r}: an experiment named {new!r} "
                f"exists already{deleted}. Pick another name."
            )
        changed = conn.execute("UPDATE experiments SET name = ? WHERE name = ?", (new, old))
        if changed.rowcount == 0:
            raise NotFound(_no_experiment(conn, old))

    write(store, tx)


def set_experiment_deleted(store: MetadataStore, name: str, when: float | None) -> None:
    """Mark the experiment ``name`` deleted at ``when`` (kept when it is deleted already),
    or restore it (``when`` None)."""

    def tx(conn: Connection) -> None:
        found = conn.first("SELECT id, deleted_at FROM experiments WHERE name = ?", (name,))
        if found is None:
            raise NotFound(_no_experiment(conn, name))
        if (when is None) != (found[1] is None):
            conn.execute("UPDATE experiments SET deleted_at = ? WHERE id = ?", (when, found[0]))

    write(store, tx)


def _no_experiment(conn: Connection, name: str) -> str:
    known = conn.column("SELECT name FROM experiments ORDER BY name LIMIT 21")
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return (
        f"no experiment named {name!r}; known experiments: {shown or '(none yet)'}. "
        "List them with 'loopml experiments list --all'."
    )


def purge_deleted(store: MetadataStore, dry_run: bool) -> tuple[list[str], list[str]]:
    """Remove for good the deleted runs, the runs of deleted experiments, every run below
    them, and the deleted experiments: their params, tags, metrics, artifact rows, lineage
    edges and object references. Returns (run ids, experiment names) removed, or with
    ``dry_run`` those that would be, changing nothing."""

    def find(conn: Connection) -> tuple[list[str], list[str]]:
        ids = conn.column(
            "WITH RECURSIVE tree(id) AS (SELECT r.id FROM runs r JOIN experiments e "
            "ON e.id = r.experiment_id WHERE r.deleted_at IS NOT NULL OR e.deleted_at IS NOT "
            "NULL UNION SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id) "
            "SELECT id FROM tree ORDER BY id"
        )
        names = conn.column(
            "SELECT name FROM experiments WHERE deleted_at IS NOT NULL ORDER BY name"
        )
        return [str(i) for i in ids], [str(n) for n in names]

    if dry_run:
        with store.read() as conn:
            return find(conn)

    def tx(conn: Connection) -> tuple[list[str], list[str]]:
        ids, names = find(conn)
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            uris = [str(RunURI(rid)) for rid in chunk]
            test, param = conn.in_list(chunk)
            utest, uparam = conn.in_list(uris)
            conn.execute(f"DELETE FROM object_refs WHERE owner {utest}", (uparam,)).close()
            for table in ("params", "tags", "metrics", "latest_metrics", "run_artifacts"):
                conn.execute(f"DELETE FROM {table} WHERE run_id {test}", (param,)).close()
            # edges of the runs and of their artifacts (runs:/<id>/<path>): 38 characters
            conn.execute(
                f"DELETE FROM lineage WHERE substr(src, 1, 38) {utest} "
                f"OR substr(dst, 1, 38) {utest}",
                (uparam, uparam),
            ).close()
            conn.execute(f"UPDATE runs SET parent_id = NULL WHERE id {test}", (param,)).close()
        for i in range(0, len(ids), _CHUNK):
            test, param = conn.in_list(ids[i : i + _CHUNK])
            conn.execute(f"DELETE FROM runs WHERE id {test}", (param,)).close()
        if names:
            test, param = conn.in_list(names)
            conn.execute(f"DELETE FROM experiments WHERE name {test}", (param,)).close()
        return ids, names

    return write(store, tx)


# -- params and tags ---------------------------------------------------------------------


def log_params(store: MetadataStore, run_id: str, values: Mapping[str, str]) -> None:
    """Store params; a key already stored with another value is a :class:`Conflict`."""
    if not values:
        return
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
    keys = list(values)

    def tx(conn: Connection) -> None:
        _lock(conn, [run_id])
        conn.upsert("params", rows, keys=("run_id", "key"))
        stored: dict[str, str] = {}
        for i in range(0, len(keys), _CHUNK):
            test, param = conn.in_list(keys[i : i + _CHUNK])
            stored.update(
                conn.all(
                    f"SELECT key, value FROM params WHERE run_id = ? AND key {test}",
                    (run_id, param),
                )
            )
        clashes = [
            (k, _params.decode(stored[k]), _params.decode(v))
            for k, v in values.items()
            if k in stored and not _params.same(stored[k], v)
        ]
        if clashes:
            raise Conflict(param_conflict(run_id, clashes))
        _refresh(conn, [run_id], ("params",))

    write(store, tx)


def param_conflict(run_id: str, clashes: list[tuple[str, Any, Any]]) -> str:
    """The message for params logged again with other values."""
    parts = "; ".join(f"{k!r} is {old!r}, not {new!r}" for k, old, new in clashes[:5])
    more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
    return (
        f"run {run_id} already has different values for params: {parts}{more}. "
        "A param is fixed once logged: start a new run to try another value, or log a "
        "value that changes as a metric or a tag."
    )


def set_tags(store: MetadataStore, run_id: str, values: Mapping[str, str]) -> None:
    """Store tags, replacing the values of keys already set."""
    if not values:
        return
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]

    def tx(conn: Connection) -> None:
        _lock(conn, [run_id])
        conn.upsert("tags", rows, keys=("run_id", "key"), update=("value",))
        _refresh(conn, [run_id], ("tags",))

    write(store, tx)


# -- metrics (written by the flusher) ----------------------------------------------------

# (run_id, key, value as stored, step, timestamp)
MetricRow = tuple[str, str, Any, int, float]

_METRIC_COLUMNS = "run_id, key, value, step, timestamp"
_LATEST_WINS = (
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
    "timestamp = excluded.timestamp WHERE excluded.step > latest_metrics.step OR "
    "(excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)"
)
# rows per multi-row INSERT on SQLite, 5 parameters each: bigger statements mean fewer VM
# steps; SQLite before 3.32 allows only 999 parameters per statement
_SQLITE_ROWS_PER_STATEMENT = 999 if sqlite3.sqlite_version_info >= (3, 32) else 199
_PG_UNNEST = (
    "SELECT * FROM unnest(?::varchar[], ?::varchar[], ?::float8[], ?::bigint[], ?::float8[])"
)


@dataclass
class MetricBatch:
    """Rows of one run for one flush, and the latest row per key among them."""

    run_id: str
    rows: list[MetricRow]
    latest: dict[str, MetricRow]


def write_metric_batches(store: MetadataStore, batches: Sequence[MetricBatch]) -> None:
    """Write metric rows of several runs into one metadata store in one transaction."""
    by_key = itemgetter(1)
    rows: list[MetricRow] = []
    latest: list[MetricRow] = []
    run_ids: list[str] = []
    every_row_latest = True
    for batch in sorted(batches, key=lambda b: b.run_id):
        batch.rows.sort(key=by_key)
        rows += batch.rows
        if batch.latest:
            latest += sorted(batch.latest.values(), key=by_key)
            run_ids.append(batch.run_id)
        # the latest rows are some of the rows: as many means the same rows, in the same order
        every_row_latest = every_row_latest and len(batch.latest) == len(batch.rows)
    if not rows and not latest:
        return
    if every_row_latest:
        latest = rows  # (each key logged once): both tables get the same parameters
    insert = _insert_postgres if store.dialect == "postgresql" else _insert_sqlite

    def tx(conn: Connection) -> None:
        _lock(conn, run_ids)
        insert(conn, rows, latest)
        _refresh(conn, run_ids, ("latest_metrics",))

    write(store, tx)


def _insert_sqlite(conn: Connection, rows: list[MetricRow], latest: list[MetricRow]) -> None:
    chunks = _chunks(rows)
    _insert_values(conn, f"INSERT INTO metrics ({_METRIC_COLUMNS}) VALUES ", chunks, "")
    if latest is not rows:
        chunks = _chunks(latest)
    _insert_values(
        conn, f"INSERT INTO latest_metrics ({_METRIC_COLUMNS}) VALUES ", chunks, _LATEST_WINS
    )


def _chunks(rows: list[MetricRow]) -> list[tuple[Any, ...]]:
    """The rows' values, flattened into one tuple per statement."""
    values = list(itertools.chain.from_iterable(rows))
    width = 5 * _SQLITE_ROWS_PER_STATEMENT
    return [tuple(values[i : i + width]) for i in range(0, len(values), width)]


def _insert_values(conn: Connection, head: str, chunks: list[tuple[Any, ...]], tail: str) -> None:
    """Multi-row ``INSERT ... VALUES (...), (...)``: far fewer statement steps than one per row."""
    if not chunks:
        return
    width = 5 * _SQLITE_ROWS_PER_STATEMENT
    full = chunks if len(chunks[-1]) == width else chunks[:-1]
    if full:
        sql = head + ",".join(["(?, ?, ?, ?, ?)"] * _SQLITE_ROWS_PER_STATEMENT) + " " + tail
        conn.executemany(sql, full)
    rest = chunks[-1]
    if len(rest) != width:
        sql = head + ",".join(["(?, ?, ?, ?, ?)"] * (len(rest) // 5)) + " " + tail
        conn.execute(sql, rest).close()


def _insert_postgres(conn: Connection, rows: list[MetricRow], latest: list[MetricRow]) -> None:
    """One ``INSERT ... SELECT FROM unnest(arrays)`` per table: five parameters, any row count."""
    columns = _columns(rows)
    if rows:
        conn.execute(f"INSERT INTO metrics ({_METRIC_COLUMNS}) {_PG_UNNEST}", columns).close()
    if latest:
        if latest is not rows:
            columns = _columns(latest)
        conn.execute(
            f"INSERT INTO latest_metrics ({_METRIC_COLUMNS}) {_PG_UNNEST} {_LATEST_WINS}", columns
        ).close()


def _columns(rows: list[MetricRow]) -> tuple[list[Any], ...]:
    return tuple(list(col) for col in zip(*rows, strict=True))


# -- artifacts ---------------------------------------------------------------------------


def record_artifacts(conn: Connection, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
    """Insert or replace artifact rows and the run's object references, inside a write
    transaction. A replaced object that no other path of the run (nor its git diff) uses
    loses the run's reference, so ``gc`` can collect it."""
    if not entries:
        return
    owner = str(RunURI(run_id))
    paths = sorted({e.path for e in entries})
    test, param = conn.in_list(paths)
    old = dict(
        conn.all(
            f"SELECT path, digest FROM run_artifacts WHERE run_id = ? AND path {test}",
            (run_id, param),
        )
    )
    rows = [{"run_id": run_id, "path": e.path, "digest": e.digest, "size": e.size} for e in entries]
    conn.upsert("run_artifacts", rows, keys=("run_id", "path"), update=("digest", "size"))
    add_refs(conn, owner, [e.digest for e in entries])
    replaced = set(old.values()) - {e.digest for e in entries}
    if replaced:
        test, param = conn.in_list(sorted(replaced))
        used = set(
            conn.column(
                f"SELECT digest FROM run_artifacts WHERE run_id = ? AND digest {test}",
                (run_id, param),
            )
        )
        diff = conn.scalar("SELECT git_diff_digest FROM runs WHERE id = ?", (run_id,))
        if diff:
            used.add(diff)
        release_refs(conn, owner, replaced - used)


def log_artifacts(
    store: MetadataStore,
    run_id: str,
    entries: Sequence[ArtifactEntry],
    edges: Sequence[tuple[str, str, str]] = (),
) -> None:
    """:func:`record_artifacts` and lineage ``edges`` in one transaction of their own."""

    def tx(conn: Connection) -> None:
        record_artifacts(conn, run_id, entries)
        if edges:
            lineage_edges.add_edges(conn, edges)

    write(store, tx)


def list_artifacts(store: MetadataStore, run_id: str) -> list[ArtifactEntry]:
    """The files logged with a run (``run_id`` may be a unique prefix), sorted by path."""
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        rows = conn.all(
            "SELECT path, digest, size FROM run_artifacts WHERE run_id = ? ORDER BY path",
            (full,),
        )
    return [ArtifactEntry(full, p, d, int(s)) for p, d, s in rows]


def artifact_entries(store: MetadataStore, pairs: Sequence[tuple[str, str]]) -> list[ArtifactEntry]:
    """The artifacts stored at these ``(full run id, path)`` pairs (those that exist)."""
    out: list[ArtifactEntry] = []
    with store.read() as conn:
        for run_id, path in pairs:
            row = conn.first(
                "SELECT digest, size FROM run_artifacts WHERE run_id = ? AND path = ?",
                (run_id, path),
            )
            if row is not None:
                out.append(ArtifactEntry(run_id, path, row[0], int(row[1])))
    return out


# -- search -----------------------------------------------------------------------------

_TABLES = {"metric": "latest_metrics", "param": "params", "tag": "tags"}
_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Search:
    """A parsed search: the filter's tree, the sort keys, experiment ids and a row limit."""

    node: Node | None
    orders: Sequence[OrderKey]
    experiment_ids: Sequence[int]
    limit: int | None
    include_deleted: bool = False
    top_level_only: bool = False


def search(store: MetadataStore, query: Search) -> list[Run]:
    """The runs matching ``query``, in its order (newest first after the given keys)."""
    dialect = store.dialect
    where: list[str] = []
    params: list[Any] = []
    with store.read() as conn:
        if query.experiment_ids:
            test, param = conn.in_list(list(query.experiment_ids))
            where.append(f"r.experiment_id {test}")
            params.append(param)
        if not query.include_deleted:
            where.append("r.deleted_at IS NULL AND e.deleted_at IS NULL")
        if query.top_level_only:
            where.append("r.parent_id IS NULL")
        if query.node is not None:
            where.append(_compile(query.node, dialect, params))
        joins, join_params, order_sql = _order(query.orders, dialect)
        if query.limit is not None and query.orders and query.orders[0].field.kind == "metric":
            threshold = _nth_value(conn, query, where, params)
            if threshold is not _NONE:
                where.append("o0.value >= ?" if query.orders[0].descending else "o0.value <= ?")
                params.append(threshold)
        sql = f"{_RUNS_FROM} {joins}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order_sql}"
        args = [*join_params, *params]
        if query.limit is not None:
            sql += " LIMIT ?"
            args.append(query.limit)
        return _fetch(conn, sql, args)


_NONE = object()


def _nth_value(conn: Connection, query: Search, where: list[str], params: list[Any]) -> Any:
    """The N-th best value of the first sort metric among the matching runs (N = the limit),
    read walking the ``(key, value)`` index; ``_NONE`` when fewer runs have it."""
    first = query.orders[0]
    direction = "DESC" if first.descending else "ASC"
    # the metric's index drives the scan (CROSS JOIN keeps SQLite from reordering it)
    join = "CROSS JOIN" if conn.dialect == "sqlite" else "JOIN"
    sql = (
        f"SELECT o0.value FROM latest_metrics o0 {join} runs r ON r.id = o0.run_id "
        "JOIN experiments e ON e.id = r.experiment_id WHERE o0.key = ?"
    )
    if where:
        sql += " AND " + " AND ".join(where)
    sql += f" ORDER BY o0.value {direction} LIMIT 1 OFFSET ?"
    assert query.limit is not None
    row = conn.first(sql, [first.field.key, *params, query.limit - 1])
    return _NONE if row is None else row[0]


def _compile(node: Node, dialect: str, params: list[Any]) -> str:
    """SQL for a parsed filter; its values are appended to ``params`` in order."""
    if isinstance(node, And):
        return "(" + " AND ".join(_compile(n, dialect, params) for n in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_compile(n, dialect, params) for n in node.items) + ")"
    if isinstance(node, Not):
        return f"NOT ({_compile(node.item, dialect, params)})"
    return _comparison(node, dialect, params)


_POSITIVE = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "NOT ILIKE": "ILIKE"}


def _read_dataset(c: Comparison[Field], dialect: str, params: list[Any]) -> str:
    """``dataset <op> value``: whether the run has an ``input`` edge from a matching
    dataset version (a negated operator: from none of them)."""
    base = "SELECT dst FROM lineage WHERE relation = 'input' AND src LIKE 'data:/%'"
    run = "('runs:/' || r.id)"
    if c.op == "IS NULL":
        return f"{run} NOT IN ({base})"
    if c.op == "IS NOT NULL":
        return f"{run} IN ({base})"
    op = _POSITIVE.get(c.op, c.op)
    cond = _condition("src", Comparison(c.field, op, c.value), dialect, params)
    return f"{run} {'IN' if op == c.op else 'NOT IN'} ({base} AND {cond})"


def _comparison(c: Comparison[Field], dialect: str, params: list[Any]) -> str:
    field = c.field
    if field.kind == "dataset":
        return _read_dataset(c, dialect, params)
    table = _TABLES.get(field.kind)
    if table is not None:
        params.append(field.key)
        base = f"SELECT run_id FROM {table} WHERE key = ?"
        if c.op == "IS NULL":
            return f"r.id NOT IN ({base})"
        if c.op == "IS NOT NULL":
            return f"r.id IN ({base})"
        if field.kind == "param":
            return f"r.id IN ({base} AND {_param_condition(c, dialect, params)})"
        return f"r.id IN ({base} AND {_condition('value', c, dialect, params)})"
    if field.key == "experiment":
        if c.op in ("IS NULL", "IS NOT NULL"):
            return "1 = 0" if c.op == "IS NULL" else "1 = 1"
        cond = _condition("name", c, dialect, params)
        return f"r.experiment_id IN (SELECT id FROM experiments WHERE {cond})"
    return _condition(_attribute(field), c, dialect, params)


# A param's value is JSON text (or, in rows written before params kept their type, plain
# text). Filters and sorts see it two ways: as a number when it is a JSON number, and as
# text (a JSON string's content; any other value's text as stored).
_PG_JSON_STRING = '\'^"([^"\\\\[:cntrl:]]|\\\\(["\\\\/bfnrt]|u[0-9a-fA-F]{4}))*"$\''
_PG_JSON_NUMBER = "'^-{0,1}(0|[1-9][0-9]*)(\\.[0-9]+){0,1}([eE][-+]{0,1}[0-9]+){0,1}$'"


def param_text(col: str, dialect: str) -> str:
    """SQL for the text of the param value in ``col``."""
    if dialect == "postgresql":
        return f"(CASE WHEN {col} ~ {_PG_JSON_STRING} THEN ({col}::json #>> '{{}}') ELSE {col} END)"
    return (
        f"(CASE WHEN substr({col}, 1, 1) = '\"' AND json_valid({col}) "
        f"THEN json_extract({col}, '$') ELSE {col} END)"
    )


def param_number(col: str, dialect: str) -> str:
    """SQL for the number the param value in ``col`` holds (NULL when it is no number)."""
    if dialect == "postgresql":
        return f"(CASE WHEN {col} ~ {_PG_JSON_NUMBER} THEN {col}::numeric END)"
    return (
        f"(CASE WHEN json_valid({col}) AND json_type({col}) IN ('integer', 'real') "
        f"THEN CAST({col} AS REAL) END)"
    )


def _param_condition(c: Comparison[Field], dialect: str, params: list[Any]) -> str:
    """A comparison on a param: numbers numerically, quoted values as text."""
    values = c.value if isinstance(c.value, tuple) else (c.value,)
    numbers = [v for v in values if isinstance(v, float)]
    texts = [v for v in values if isinstance(v, str)]
    if not numbers:
        return _condition(param_text("value", dialect), c, dialect, params)
    num = param_number("value", dialect)
    slot = "CAST(? AS numeric)" if dialect == "postgresql" else "?"
    op = c.op
    if op in ("IN", "NOT IN", "=", "!="):
        parts = [f"{num} IN ({', '.join([slot] * len(numbers))})"]
        params.extend(numbers)
        if texts:
            parts.append(f"{param_text('value', dialect)} IN ({', '.join('?' * len(texts))})")
            params.extend(texts)
        found = "(" + " OR ".join(parts) + ")"
        if op in ("NOT IN", "!="):
            return f"NOT {found}" if texts else f"({num} IS NULL OR NOT {found})"
        return found
    params.append(numbers[0])
    return f"{num} {_OPS[op]} {slot}"


def _attribute(field: Field) -> str:
    if field.key == "duration":
        return "(r.end_time - r.start_time)"
    return 'r."user"' if field.key == "user" else f"r.{field.key}"


def _condition(col: str, c: Comparison[Field], dialect: str, params: list[Any]) -> str:
    op, value = c.op, c.value
    if op in ("IS NULL", "IS NOT NULL"):
        return f"{col} {op}"
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        params.extend(value)
        return f"{col} {op} ({', '.join('?' * len(value))})"
    if op.endswith("LIKE"):
        assert isinstance(value, str)
        clause = _like(col, value, dialect, params, insensitive=op.endswith("ILIKE"))
        return f"NOT ({clause})" if op.startswith("NOT") else clause
    if op in ("<", "<=", ">", ">=") and _is_text(c.field):
        col = _bytewise(col, dialect)
    params.append(value)
    return f"{col} {_OPS[op]} ?"


def _is_text(field: Field) -> bool:
    if field.kind == "attr":
        return ATTRIBUTES[field.key] == "str"
    return field.kind in ("param", "tag")


def _bytewise(col: str, dialect: str) -> str:
    """Text compared and sorted by code point, as SQLite does, whatever the database collation."""
    return f'{col} COLLATE "C"' if dialect == "postgresql" else col


def _like(col: str, pattern: str, dialect: str, params: list[Any], *, insensitive: bool) -> str:
    """LIKE that is case-sensitive on every backend (SQLite's LIKE is not: GLOB there)."""
    if insensitive:
        params.append(pattern)
        if dialect == "postgresql":
            return f"{col} ILIKE ? ESCAPE '\\'"
        return f"lower({col}) LIKE lower(?) ESCAPE '\\'"
    if dialect == "sqlite":
        params.append(_like_to_glob(pattern))
        return f"{col} GLOB ?"
    params.append(pattern)
    return f"{col} LIKE ? ESCAPE '\\'"


def _like_to_glob(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(_glob_literal(pattern[i + 1]))
            i += 2
            continue
        out.append("*" if c == "%" else "?" if c == "_" else _glob_literal(c))
        i += 1
    return "".join(out)


def _glob_literal(c: str) -> str:
    return f"[{c}]" if c in "*?[" else c


def _order(orders: Sequence[OrderKey], dialect: str) -> tuple[str, list[Any], str]:
    """The joins, their parameters and the ORDER BY list for the sort keys."""
    joins: list[str] = []
    join_params: list[Any] = []
    clauses: list[str] = []
    for n, key in enumerate(orders):
        field = key.field
        table = _TABLES.get(field.kind)
        if table is not None:
            joins.append(f"LEFT OUTER JOIN {table} o{n} ON o{n}.run_id = r.id AND o{n}.key = ?")
            join_params.append(field.key)
            col = f"o{n}.value"
            if field.kind == "param":  # numbers in numeric order first, then text
                direction = "DESC" if key.descending else "ASC"
                clauses.append(f"{param_number(col, dialect)} {direction} NULLS LAST")
                col = param_text(col, dialect)
        elif field.key == "experiment":
            col = "e.name"
        else:
            col = _attribute(field)
        if _is_text(field):
            col = _bytewise(col, dialect)
        clauses.append(f"{col} {'DESC' if key.descending else 'ASC'} NULLS LAST")
    clauses += ["r.start_time DESC", "r.id"]
    return " ".join(joins), join_params, ", ".join(clauses)


# -- reading runs ---------------------------------------------------------------------------


def _fetch(conn: Connection, sql: str, params: Sequence[Any]) -> list[Run]:
    """The :class:`Run` records of a query selecting :data:`_RUN_COLUMNS`."""
    rows = conn.all(sql, params, binary=True)
    with _gc_paused():
        out, partial = _build_runs(rows)
    if partial:
        extras = _extras(conn, [run.id for run in partial])
        for run in partial:
            run.params, run.metrics, run.tags = extras[run.id]
    return out


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection inside the block (unless it was off already)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_STATUS = {s.value: s for s in RunStatus}


def _build_runs(rows: list[tuple[Any, ...]]) -> tuple[list[Run], list[Run]]:
    """Runs from rows of :data:`_RUN_COLUMNS`, and those of them lacking a summary."""
    loads = orjson.loads
    decode_params = _params.decode_all
    metrics_from = _metrics_from
    stamp = _dt.datetime.fromtimestamp
    utc = _dt.timezone.utc
    status_of = _STATUS.__getitem__
    # runs of one project mostly share their environment, and often their tags:
    # each distinct text is parsed once, and every run gets its own copy
    seen: dict[Any, dict[str, Any]] = {}
    out = []
    partial = []
    for (rid, name, experiment, status, start, end, params, metrics, tags, parent, kind, user,
         commit, branch, dirty, digest, entry, command, env, error, pid, host, deleted) in rows:  # fmt: skip
        environment = seen.get(env)
        if environment is None:
            environment = seen[env] = _json_object(env)
        tag_values = seen.get(tags) if tags is not None else {}
        if tag_values is None:
            tag_values = seen[tags] = loads(tags)
        run = Run(
            rid,
            name,
            experiment,
            status_of(status),
            stamp(start, utc),
            None if end is None else stamp(end, utc),
            {} if params is None else decode_params(loads(params)),
            {} if metrics is None else metrics_from(metrics),
            tag_values.copy(),
            parent,
            kind,
            user,
            commit,
            branch,
            None if dirty is None else bool(dirty),
            digest,
            entry,
            command,
            environment.copy(),
            error,
            pid,
            host,
            None if deleted is None else stamp(deleted, utc),
        )
        out.append(run)
        if params is None or metrics is None or tags is None:
            partial.append(run)
    return out, partial


def _json_object(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    parsed = orjson.loads(value)
    return parsed if type(parsed) is dict else {}


# Per run, the key/value rows of one table as one JSON object. Metric values travel as
# text: SQLite's JSON keeps only 15 digits and writes infinity as "Inf", while '%!.17e'
# round-trips every double (NaN is stored as 'NaN').
_AGGREGATE = {
    ("sqlite", False): "SELECT run_id, json_group_object(key, value) FROM {table} "
    "WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id",
    ("sqlite", True): "SELECT run_id, json_group_object(key, CASE WHEN typeof(value) = 'real' "
    "THEN printf('%!.17e', value) ELSE value END) FROM {table} "
    "WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id",
    ("postgresql", False): "SELECT run_id, json_object_agg(key, value)::text FROM {table} "
    "WHERE run_id = ANY(?) GROUP BY run_id",
    ("postgresql", True): "SELECT run_id, json_object_agg(key, value)::text FROM {table} "
    "WHERE run_id = ANY(?) GROUP BY run_id",
}


def _extras(
    conn: Connection, ids: list[str]
) -> dict[str, tuple[dict[str, Any], dict[str, float], dict[str, str]]]:
    """``{run_id: (params, metrics, tags)}`` for runs without summaries: one query each."""
    arg: Any = ids if conn.dialect == "postgresql" else orjson.dumps(ids).decode()
    found: list[dict[str, Any]] = []
    for table in ("params", "latest_metrics", "tags"):
        sql = _AGGREGATE[conn.dialect, table == "latest_metrics"].format(table=table)
        found.append(dict(conn.all(sql, (arg,))))
    params, metrics, tags = found
    loads = orjson.loads
    out = {}
    for rid in ids:
        p, m, t = params.get(rid), metrics.get(rid), tags.get(rid)
        out[rid] = (
            _params.decode_all(loads(p)) if p else {},
            {k: float(v) for k, v in loads(m).items()} if m else {},
            loads(t) if t else {},
        )
    return out


# -- summaries ---------------------------------------------------------------------------

# SQLite's JSON functions write reals with 15 digits and infinity as a bare Inf.
# printf('%!.18g') writes 18 significant digits, which read back as the same double
# (SQLite's printing is not always exact in the 17th digit, so 17 are not enough); NaN is
# stored as the text 'NaN' already (see _buffer).
_SQLITE_VALUE = {
    "latest_metrics": "CASE WHEN typeof(value) = 'real' AND abs(value) <= 1.7976931348623157e308 "
    "THEN json(printf('%!.18g', value)) ELSE CAST(value AS TEXT) END",
}


def _encode(values: Mapping[str, str]) -> str | None:
    """The summary of a new run's params or tags, as :func:`_refresh` would compute it."""
    if len(values) > MAX_KEYS:
        return None
    return orjson.dumps(dict(values), option=orjson.OPT_SORT_KEYS).decode()


def _lock(conn: Connection, run_ids: Sequence[str]) -> None:
    """Serialize writers of ``run_ids`` until the end of the transaction (PostgreSQL only;
    SQLite write transactions already exclude each other)."""
    if run_ids and conn.dialect == "postgresql":
        conn.execute(
            "SELECT id FROM runs WHERE id = ANY(?) ORDER BY id FOR NO KEY UPDATE",
            (sorted(run_ids),),
        ).close()


def _refresh(
    conn: Connection,
    run_ids: Sequence[str] | None,
    tables: Iterable[str] = tuple(_SUMMARY_COLUMNS),
    *,
    rebuild: bool = False,
) -> None:
    """Recompute the summaries of ``run_ids`` (all runs for None) from ``tables``, after
    their rows are written, in the same transaction. A NULL summary stays NULL unless
    ``rebuild`` (for rows written by other means, e.g. bulk loads)."""
    if run_ids is not None and not run_ids:
        return
    postgres = conn.dialect == "postgresql"
    for table in tables:
        if postgres and table == "latest_metrics":
            # float8 is printed with every digit it needs only when this is positive
            conn.execute("SET LOCAL extra_float_digits = 3").close()
        sql = _update_sql(table, postgres, run_ids is not None, rebuild)
        if run_ids is None:
            conn.execute(sql).close()
        elif postgres:
            conn.execute(sql, (list(run_ids),)).close()
        else:
            conn.execute(sql, (orjson.dumps(list(run_ids)).decode(),)).close()


def rebuild_summaries(store: MetadataStore, run_ids: Sequence[str] | None = None) -> None:
    """Recompute the summaries of ``run_ids`` (every run for None) from the tables, NULL
    ones included: after rows were written by other means (bulk loads, benchmarks)."""
    write(store, lambda conn: _refresh(conn, run_ids, rebuild=True))


def _update_sql(table: str, postgres: bool, some: bool, rebuild: bool) -> str:
    column = _SUMMARY_COLUMNS[table]
    # the (MAX_KEYS + 1)-th row of the run: NULL when the run has at most MAX_KEYS
    over = f"(SELECT 1 FROM {table} WHERE run_id = runs.id LIMIT 1 OFFSET {MAX_KEYS})"
    if postgres:
        aggregate = (
            f'coalesce((SELECT json_object_agg(key, value ORDER BY key COLLATE "C")::text '
            f"FROM {table} WHERE run_id = runs.id), '{{}}')"
        )
        where = ["id = ANY(?)"] if some else []
    else:
        value = _SQLITE_VALUE.get(table, "value")
        aggregate = f"(SELECT json_group_object(key, {value}) FROM {table} WHERE run_id = runs.id)"
        where = ["id IN (SELECT value FROM json_each(?))"] if some else []
    if not rebuild:
        where.append(f"{column} IS NOT NULL")
    tail = f" WHERE {' AND '.join(where)}" if where else ""
    return f"UPDATE runs SET {column} = CASE WHEN {over} IS NULL THEN {aggregate} END{tail}"


def _metrics_from(text: str) -> dict[str, float]:
    """The latest metric values from a ``metrics_json`` summary."""
    values: dict[str, Any] = orjson.loads(text)
    for key, value in values.items():
        if type(value) is not float:  # NaN and infinities (strings), or an integer on PostgreSQL
            values[key] = float(value)
    return values
