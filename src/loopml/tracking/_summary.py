"""Run summaries: each run's params, tags and latest metric values as JSON on its ``runs`` row.

Why they exist: a search that returns thousands of full runs would
otherwise read three more tables and group their rows per run, which costs
more than finding the runs. With the summaries (``runs.params_json``,
``runs.tags_json``, ``runs.metrics_json``), a run is read from one row. The
tables stay the source of truth: filters and sorts use them and their
indexes, and a summary is a copy of what they hold for one run.

How a summary stays equal to its table:

- Every write to ``params``, ``tags`` or ``latest_metrics`` recomputes the
  summaries of the runs it touched, in SQL, from the table, in the same
  transaction, after the rows are written (:func:`refresh`). The summary is
  therefore what the table holds once the write is done, whichever row the
  "highest step, then newest" upsert of ``latest_metrics`` kept.
- Writers of one run go one at a time. SQLite write transactions begin
  with ``BEGIN IMMEDIATE``, so there is one writer per database. On
  PostgreSQL, :func:`lock` takes the runs' rows ``FOR NO KEY UPDATE`` (in id
  order, so two writers cannot deadlock) before anything is written: an
  earlier writer of the run has committed by the time the lock is granted,
  and the recomputation, a later statement and so a later snapshot under
  READ COMMITTED, sees its rows. (That lock does not conflict with the key
  share locks that foreign keys take, so writes that only refer to the run,
  such as logging an artifact, are not held up.)
- A summary is kept while the run has at most :data:`MAX_KEYS` rows in that
  table. Past that, and for rows written without summaries, the column is
  NULL, which readers take as "read the table instead" (the fallback in
  ``_store``): a summary is absent or right, never stale. Rows are never
  removed from these tables, so a NULL summary stays NULL and a run that
  logs 100,000 metric keys does not rewrite them all at every flush.
- Metric values are written as JSON numbers with enough digits to give
  back the same double; NaN and ±infinity, which JSON numbers cannot hold,
  are written as strings (``"NaN"``, ``"Inf"`` or ``"Infinity"``) and
  turned back into floats by :func:`metrics_from`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

__all__ = ["COLUMNS", "MAX_KEYS", "encode", "lock", "metrics_from", "refresh"]

#: Runs with more keys than this in a table have no summary of it (NULL).
MAX_KEYS = 1000

#: The summary column of each summarized table.
COLUMNS = {"params": "params_json", "tags": "tags_json", "latest_metrics": "metrics_json"}

# SQLite's JSON functions write reals with 15 digits and infinity as a bare
# Inf. printf('%!.18g') writes 18 significant digits, which read back as the
# same double (SQLite's printing is not always exact in the 17th digit, so
# 17 are not enough); NaN is stored as the text 'NaN' already (see _buffer).
_SQLITE_VALUE = {
    "latest_metrics": "CASE WHEN typeof(value) = 'real' AND abs(value) <= 1.7976931348623157e308 "
    "THEN json(printf('%!.18g', value)) ELSE CAST(value AS TEXT) END",
}


def encode(values: Mapping[str, str]) -> str | None:
    """The summary of a new run's params or tags, as :func:`refresh` would compute it."""
    if len(values) > MAX_KEYS:
        return None
    return orjson.dumps(dict(values), option=orjson.OPT_SORT_KEYS).decode()


def lock(conn: Connection, run_ids: Sequence[str]) -> None:
    """Serialize writers of ``run_ids`` until the end of the transaction (PostgreSQL only).

    Call it first in the transaction, before writing rows of these runs.
    SQLite needs nothing: its write transactions already exclude each other.
    """
    if run_ids and conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "SELECT id FROM runs WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE",
            (sorted(run_ids),),
        )


def refresh(
    conn: Connection,
    run_ids: Sequence[str] | None,
    tables: Iterable[str] = tuple(COLUMNS),
    *,
    rebuild: bool = False,
) -> None:
    """Recompute the summaries of ``run_ids`` (all runs for None) from ``tables``.

    Writers call it after writing rows, in the same transaction. A NULL
    summary is left NULL unless ``rebuild`` is set (for rows written by other
    means, e.g. bulk loads).
    """
    if run_ids is not None and not run_ids:
        return
    postgres = conn.dialect.name == "postgresql"
    for table in tables:
        if postgres and table == "latest_metrics":
            # float8 is printed with every digit it needs only when this is positive
            conn.exec_driver_sql("SET LOCAL extra_float_digits = 3")
        sql = _update_sql(table, postgres, run_ids is not None, rebuild)
        if run_ids is None:
            conn.exec_driver_sql(sql)
        elif postgres:
            conn.exec_driver_sql(sql, (list(run_ids),))
        else:
            conn.exec_driver_sql(sql, (orjson.dumps(list(run_ids)).decode(),))


def _update_sql(table: str, postgres: bool, some: bool, rebuild: bool) -> str:
    column = COLUMNS[table]
    # the (MAX_KEYS + 1)-th row of the run: NULL when the run has at most MAX_KEYS
    over = f"(SELECT 1 FROM {table} WHERE run_id = runs.id LIMIT 1 OFFSET {MAX_KEYS})"
    if postgres:
        aggregate = (
            f'coalesce((SELECT json_object_agg(key, value ORDER BY key COLLATE "C")::text '
            f"FROM {table} WHERE run_id = runs.id), '{{}}')"
        )
        where = ["id = ANY(%s)"] if some else []
    else:
        value = _SQLITE_VALUE.get(table, "value")
        aggregate = f"(SELECT json_group_object(key, {value}) FROM {table} WHERE run_id = runs.id)"
        where = ["id IN (SELECT value FROM json_each(?))"] if some else []
    if not rebuild:
        where.append(f"{column} IS NOT NULL")
    tail = f" WHERE {' AND '.join(where)}" if where else ""
    return f"UPDATE runs SET {column} = CASE WHEN {over} IS NULL THEN {aggregate} END{tail}"


def metrics_from(text: str) -> dict[str, float]:
    """The latest metric values from a ``metrics_json`` summary."""
    values: dict[str, Any] = orjson.loads(text)
    for key, value in values.items():
        if type(value) is not float:  # NaN and infinities (strings), or an integer on PostgreSQL
            values[key] = float(value)
    return values
