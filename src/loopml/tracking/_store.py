"""Reads and writes of runs, params, tags and metric history in the metadata store.

Runs are read from their ``runs`` rows alone: params, tags and latest
metrics come from the row's JSON summaries (see ``_summary``), and only the
rare run without one (too many keys) has them read from the tables. The
query runs on the connection's DBAPI cursor, and a :class:`Run` is built
from each plain tuple with positional arguments: for the thousands of runs
a search can return, per-row result processing and keyword calls would
cost more than the query.

While it builds them, :func:`fetch_runs` pauses Python's cyclic garbage
collector (when it is on; it is turned back on right after). Each run is
a handful of new containers, so a search returning 5,000 runs would
otherwise set off dozens of collections that walk objects which cannot be
garbage yet, and now and then a full one over the whole heap: about 30 ms
of such a search, against 7 ms with the pause. The runs hold no reference
cycles, and what the collector still has to do afterwards it does once.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Connection, Text, and_, bindparam, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.sql.compiler import SQLCompiler

from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.store import schema
from loopml.store.metadata import MetadataStore, get_metadata_store
from loopml.tracking import _state, _summary
from loopml.tracking._records import Metric, Run, from_epoch
from loopml.tracking._validate import check_run_id

__all__ = [
    "RUN_COLUMNS",
    "all_experiment_names",
    "experiment_id",
    "experiment_of",
    "fetch_runs",
    "finish_run",
    "get_metric_history",
    "get_run",
    "known_experiments",
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

#: The columns a :class:`Run` is built from, in the order of its fields.
RUN_COLUMNS = (
    _r.c.id,
    _r.c.name,
    _e.c.name.label("experiment"),
    _r.c.status,
    _r.c.start_time,
    _r.c.end_time,
    _r.c.params_json.label("params"),
    _r.c.metrics_json.label("metrics"),
    _r.c.tags_json.label("tags"),
    _r.c.parent_id,
    _r.c.kind,
    _r.c.user,
    _r.c.git_commit,
    _r.c.git_branch,
    _r.c.git_dirty,
    _r.c.git_diff_digest,
    _r.c.entry_point,
    _r.c.command,
    sql_cast(_r.c.environment, Text).label("environment"),
    _r.c.error,
    _r.c.pid,
    _r.c.host,
)
_CHUNK = 2000
_EXPERIMENT_ID = select(_e.c.id).where(_e.c.name == bindparam("name"))
_FINISH_RUN = (
    update(_r)
    .where(_r.c.id == bindparam("run"))
    .values(status=bindparam("status"), end_time=bindparam("end_time"), error=bindparam("error"))
)


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
    value = conn.execute(_EXPERIMENT_ID, {"name": name}).scalar()
    if value is None:
        store.upsert(conn, _e, [{"name": name, "created_at": time.time()}], keys=("name",))
        value = conn.execute(_EXPERIMENT_ID, {"name": name}).scalar_one()
    return int(value)


def log_params(store: MetadataStore, run_id: str, values: Mapping[str, str]) -> None:
    """Store params; a key already stored with another value is a :class:`Conflict`."""
    if not values:
        return
    p = schema.params
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]

    def tx(conn: Connection) -> None:
        _summary.lock(conn, [run_id])
        store.upsert(conn, p, rows, keys=("run_id", "key"))
        stored = _key_values(conn, p, run_id, list(values))
        clashes = [(k, stored[k], v) for k, v in values.items() if stored.get(k, v) != v]
        if clashes:
            raise Conflict(_param_conflict(run_id, clashes))
        _summary.refresh(conn, [run_id], ("params",))

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

    def tx(conn: Connection) -> None:
        _summary.lock(conn, [run_id])
        store.upsert(conn, schema.tags, rows, keys=("run_id", "key"), update=("value",))
        _summary.refresh(conn, [run_id], ("tags",))

    write(store, tx)


def finish_run(
    store: MetadataStore, run_id: str, status: str, end_time: float, error: str | None
) -> None:
    """Record the end of a run."""
    values = {"run": run_id, "status": status, "end_time": end_time, "error": error}
    write(store, lambda conn: conn.execute(_FINISH_RUN, values))


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


def fetch_runs(conn: Connection, query: Any) -> list[Run]:
    """The :class:`Run` records of a query on :data:`RUN_COLUMNS` (see :func:`run_query`)."""
    with _gc_paused():
        out, partial = _build_runs(_fetch_all(conn, query))
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


def _build_runs(rows: list[tuple[Any, ...]]) -> tuple[list[Run], list[Run]]:
    """Runs from rows of :data:`RUN_COLUMNS`, and those of them lacking a summary."""
    loads = orjson.loads
    metrics_from = _summary.metrics_from
    stamp = _dt.datetime.fromtimestamp
    utc = _dt.timezone.utc
    # runs of one project mostly share their environment, and often their tags:
    # each distinct text is parsed once, and every run gets its own copy
    seen: dict[Any, dict[str, Any]] = {}
    out = []
    partial = []
    for (rid, name, experiment, status, start, end, params, metrics, tags, parent, kind, user,
         commit, branch, dirty, digest, entry, command, env, error, pid, host) in rows:  # fmt: skip
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
            status,
            stamp(start, utc),
            None if end is None else stamp(end, utc),
            {} if params is None else loads(params),
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
        )
        out.append(run)
        if params is None or metrics is None or tags is None:
            partial.append(run)
    return out, partial


def _fetch_all(conn: Connection, query: Any) -> list[tuple[Any, ...]]:
    """Rows of ``query`` as the DBAPI gives them, in the connection's transaction.

    The parameters go to the driver as they are: the filter language only
    binds floats, strings and integers, which SQLAlchemy's bind processors
    for these columns would leave as they are.
    """
    compiled = cast(
        SQLCompiler,
        query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True}),
    )
    params = compiled.params
    args: Any = params
    if compiled.positional:
        args = tuple(params[name] for name in compiled.positiontup or ())
    if not conn.in_transaction():
        conn.begin()  # one snapshot for this query and any that follow on the connection
    raw: Any = conn.connection.dbapi_connection
    # psycopg's binary format skips parsing numbers from text
    cursor = raw.cursor(binary=True) if conn.dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(compiled.string, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _json_object(value: Any) -> dict[str, Any]:
    if not value:
        return {}
    parsed = orjson.loads(value)
    return parsed if type(parsed) is dict else {}


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
    """``{run_id: (params, metrics, tags)}`` for ``ids``, read from the tables: one query each.

    For runs without summaries. Each query returns one row per run (its
    keys and values aggregated into JSON by the database), with the ids
    bound as one array parameter, and runs on the connection's DBAPI cursor
    inside its transaction.
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
        return fetch_runs(conn, run_query().where(_r.c.id == full))[0]


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
