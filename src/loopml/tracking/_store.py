"""Reads and writes of runs, params, tags and metric history in the metadata store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Text, and_, cast, select, update

from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.store import schema
from loopml.store.metadata import MetadataStore, get_metadata_store
from loopml.tracking import _state
from loopml.tracking._records import Metric, Run, from_epoch
from loopml.tracking._validate import check_run_id

__all__ = [
    "RUN_COLUMNS",
    "all_experiment_names",
    "experiment_id",
    "experiment_of",
    "finish_run",
    "get_metric_history",
    "get_run",
    "known_experiments",
    "load_runs",
    "log_params",
    "resolve_run_id",
    "run_query",
    "set_tags",
    "store_for",
    "write",
]

T = TypeVar("T")

_r = schema.runs
_e = schema.experiments

#: The columns a :class:`Run` is built from, in order (the experiment name last).
RUN_COLUMNS = (
    _r.c.id,
    _r.c.name,
    _r.c.status,
    _r.c.start_time,
    _r.c.end_time,
    _r.c.parent_id,
    _r.c.kind,
    _r.c.user,
    _r.c.git_commit,
    _r.c.git_branch,
    _r.c.git_dirty,
    _r.c.git_diff_digest,
    _r.c.entry_point,
    _r.c.command,
    cast(_r.c.environment, Text).label("environment"),
    _r.c.error,
    _r.c.pid,
    _r.c.host,
    _e.c.name.label("experiment"),
)
_CHUNK = 2000


def store_for(tracking_uri: str | None) -> MetadataStore:
    """The metadata store at ``tracking_uri`` (default: the configured one)."""
    if tracking_uri is None:
        return get_metadata_store()
    from loopml.config import get_settings

    return get_metadata_store(get_settings(tracking_uri=tracking_uri).tracking_uri)


def write(store: MetadataStore, fn: Callable[[Connection], T]) -> T:
    """``store.write(fn)``, with the thread marked as writing (see the SIGTERM handler)."""
    with _state.get().marking_write():
        return store.write(fn)


def experiment_id(conn: Connection, store: MetadataStore, name: str) -> int:
    """The id of the experiment ``name``, created if it does not exist (in a write transaction)."""
    store.upsert(conn, _e, [{"name": name, "created_at": time.time()}], keys=("name",))
    value = conn.execute(select(_e.c.id).where(_e.c.name == name)).scalar_one()
    return int(value)


def log_params(store: MetadataStore, run_id: str, values: Mapping[str, str]) -> None:
    """Store params; a key already stored with another value is a :class:`Conflict`."""
    if not values:
        return
    p = schema.params
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]

    def tx(conn: Connection) -> None:
        store.upsert(conn, p, rows, keys=("run_id", "key"))
        stored = _key_values(conn, p, run_id, list(values))
        clashes = [(k, stored[k], v) for k, v in values.items() if stored.get(k, v) != v]
        if clashes:
            raise Conflict(_param_conflict(run_id, clashes))

    write(store, tx)


def _param_conflict(run_id: str, clashes: list[tuple[str, str, str]]) -> str:
    parts = "; ".join(f"{k!r} is {old!r}, not {new!r}" for k, old, new in clashes[:5])
    more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
    return (
        f"run {run_id} already has different values for params: {parts}{more}. "
        "A param is fixed once logged: start a new run to try another value, or log a "
        "value that changes as a metric or a tag."
    )


def _key_values(conn: Connection, table: Any, run_id: str, keys: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i in range(0, len(keys), _CHUNK):
        q = select(table.c.key, table.c.value).where(
            table.c.run_id == run_id, table.c.key.in_(keys[i : i + _CHUNK])
        )
        out.update(conn.execute(q).all())
    return out


def set_tags(store: MetadataStore, run_id: str, values: Mapping[str, str]) -> None:
    """Store tags, replacing the values of keys already set."""
    if not values:
        return
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
    write(
        store,
        lambda conn: store.upsert(
            conn, schema.tags, rows, keys=("run_id", "key"), update=("value",)
        ),
    )


def finish_run(
    store: MetadataStore, run_id: str, status: str, end_time: float, error: str | None
) -> None:
    """Record the end of a run."""
    stmt = update(_r).where(_r.c.id == run_id).values(status=status, end_time=end_time, error=error)
    write(store, lambda conn: conn.execute(stmt))


def resolve_run_id(conn: Connection, run_id: str) -> str:
    """The full id of the run ``run_id`` names (a full id or a unique prefix of ≥ 6 chars)."""
    text = check_run_id(run_id)
    if len(text) == 32:
        found = conn.execute(select(_r.c.id).where(_r.c.id == text)).scalar()
        if found is None:
            raise NotFound(_no_run(text))
        return str(found)
    upper = text + "g"  # every hex continuation of the prefix sorts before it
    ids = (
        conn.execute(
            select(_r.c.id).where(_r.c.id >= text, _r.c.id < upper).order_by(_r.c.id).limit(6)
        )
        .scalars()
        .all()
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


def load_runs(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Build :class:`Run` records from rows of :data:`RUN_COLUMNS`, with params, metrics, tags.

    The params, latest metrics and tags of all the runs come from one more
    query, aggregated per run into JSON by the database (see :func:`_extras`).
    """
    if not rows:
        return []
    extras = _extras(conn, [row[0] for row in rows])
    out = []
    for row in rows:
        (rid, name, status, start, end, parent, kind, user, commit, branch, dirty, digest,
         entry, command, env, error, pid, host, experiment) = row  # fmt: skip
        params, metrics, tags = extras.get(rid) or ({}, {}, {})
        out.append(
            Run(
                id=rid,
                name=name,
                experiment=experiment,
                status=status,
                start_time=from_epoch(start),
                end_time=from_epoch(end) if end is not None else None,
                params=params,
                metrics=metrics,
                tags=tags,
                parent_id=parent,
                kind=kind,
                user=user,
                git_commit=commit,
                git_branch=branch,
                git_dirty=bool(dirty) if dirty is not None else None,
                git_diff_digest=digest,
                entry_point=entry,
                command=command,
                environment=_json_object(env),
                error=error,
                pid=pid,
                host=host,
            )
        )
    return out


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    if not value:
        return {}
    parsed = orjson.loads(value)
    return parsed if isinstance(parsed, dict) else {}


# Per run, the key/value rows of one table as one JSON object. Metric values
# travel as text: SQLite's JSON keeps only 15 digits and writes infinity as
# "Inf", while '%!.17e' round-trips every double (NaN is stored as 'NaN').
_AGGREGATE = {
    ("sqlite", False): "SELECT run_id, json_group_object(key, value) FROM {table} "
    "WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id",
    ("sqlite", True): "SELECT run_id, json_group_object(key, CASE WHEN typeof(value) = 'real' "
    "THEN printf('%!.17e', value) ELSE value END) FROM {table} "
    "WHERE run_id IN (SELECT value FROM json_each(?)) GROUP BY run_id",
    ("postgresql", False): "SELECT run_id, json_object_agg(key, value)::text FROM {table} "
    "WHERE run_id = ANY(%s) GROUP BY run_id",
    ("postgresql", True): "SELECT run_id, json_object_agg(key, value)::text FROM {table} "
    "WHERE run_id = ANY(%s) GROUP BY run_id",
}


def _extras(
    conn: Connection, ids: list[str]
) -> dict[str, tuple[dict[str, str], dict[str, float], dict[str, str]]]:
    """``{run_id: (params, metrics, tags)}`` for ``ids``: one query per table.

    Each query returns one row per run (its keys and values aggregated into
    JSON by the database), with the ids bound as one array parameter, and
    runs on the connection's DBAPI cursor inside its transaction: making
    Python objects per row is what costs, so there are few rows and no
    per-row processing.
    """
    dialect = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    arg: Any = ids if dialect == "postgresql" else orjson.dumps(ids).decode()
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    found: list[dict[str, Any]] = []
    try:
        for table in ("params", "latest_metrics", "tags"):
            numeric = table == "latest_metrics"
            cursor.execute(_AGGREGATE[dialect, numeric].format(table=table), (arg,))
            found.append(dict(cursor.fetchall()))
    finally:
        cursor.close()
    params, metrics, tags = found
    loads = orjson.loads
    out = {}
    for rid in ids:
        p, m, t = params.get(rid), metrics.get(rid), tags.get(rid)
        out[rid] = (
            loads(p) if p else {},
            {k: float(v) for k, v in loads(m).items()} if m else {},
            loads(t) if t else {},
        )
    return out


def run_query() -> Any:
    """``SELECT <RUN_COLUMNS> FROM runs JOIN experiments``, to be filtered and ordered."""
    return select(*RUN_COLUMNS).select_from(_r.join(_e, _e.c.id == _r.c.experiment_id))


def get_run(run_id: str, *, tracking_uri: str | None = None) -> Run:
    """The run with id ``run_id`` (or a unique prefix of ≥ 6 characters), read from the store.

    Metrics still buffered by a live run of this process are flushed first.

    Raises :class:`~loopml.errors.NotFound` when there is no such run and
    :class:`~loopml.errors.InvalidInput` for a malformed id.
    """
    check_run_id(run_id)
    _state.flush_all()
    store = store_for(tracking_uri)
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        rows = conn.execute(run_query().where(_r.c.id == full)).all()
        return load_runs(conn, rows)[0]


def get_metric_history(
    run_id: str | Run, key: str, *, tracking_uri: str | None = None
) -> list[Metric]:
    """Every value logged for metric ``key`` of a run, ordered by step, then time.

    Values a live run of this process has buffered are flushed first, so they
    are included. A key never logged gives an empty list; an unknown run is
    :class:`~loopml.errors.NotFound`.
    """
    rid = run_id.id if isinstance(run_id, Run) else run_id
    check_run_id(rid)
    _state.flush_all()
    store = store_for(tracking_uri)
    m = schema.metrics
    with store.read() as conn:
        full = resolve_run_id(conn, rid)
        rows = conn.execute(
            select(m.c.value, m.c.step, m.c.timestamp)
            .where(and_(m.c.run_id == full, m.c.key == key))
            .order_by(m.c.step, m.c.timestamp, m.c.id)
        )
        return [Metric(key, float(v), s, from_epoch(t)) for v, s, t in rows]


def experiment_of(conn: Connection, run_id: str) -> str:
    """The experiment name of the run ``run_id``."""
    q = select(_e.c.name).join(_r, _r.c.experiment_id == _e.c.id).where(_r.c.id == run_id)
    return str(conn.execute(q).scalar_one())


def known_experiments(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Ids of those of ``names`` that are experiments."""
    wanted = list(names)
    rows = conn.execute(select(_e.c.name, _e.c.id).where(_e.c.name.in_(wanted)))
    return {name: int(i) for name, i in rows}


def all_experiment_names(conn: Connection) -> list[str]:
    """Names of every experiment, sorted."""
    return list(conn.execute(select(_e.c.name).order_by(_e.c.name)).scalars())
