"""The background flusher: one daemon thread per process writes every run's buffered metrics.

Every ``flush_interval`` seconds (``LOOPML_FLUSH_INTERVAL``, default 1.0),
and as soon as a buffer holds :data:`~loopml.tracking._buffer.FLUSH_AT`
rows, the flusher takes all buffers and writes them in one transaction per
metadata store: one statement batch into ``metrics``, one upsert into
``latest_metrics`` (keeping, per run and key, the row with the highest step,
then the newest timestamp), and one update of the runs' metric summaries
from ``latest_metrics`` (see ``_summary``). Runs also flush when they end,
at interpreter exit and on SIGTERM, so the only metrics a process can lose
are those of its last interval when it is killed with SIGKILL.

Rows are sorted by run and key before they are written (a stable sort, so
the rows of one key keep their order): each index then receives runs of
neighbouring entries, so most inserts land on the page the previous one
left in cache instead of seeking through the b-tree to a random page, which
takes a third off the insert time of a large batch.

A write that fails puts its rows back into their buffers; the background
thread retries at its next interval, a flush called directly raises.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from loopml.tracking import _summary
from loopml.tracking._buffer import Batch, MetricBuffer, Row

__all__ = ["Flusher", "write_batches"]

log = logging.getLogger("loopml.tracking")

_COLUMNS = "run_id, key, value, step, timestamp"
_LATEST_WINS = (
    "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, step = excluded.step, "
    "timestamp = excluded.timestamp WHERE excluded.step > latest_metrics.step OR "
    "(excluded.step = latest_metrics.step AND excluded.timestamp >= latest_metrics.timestamp)"
)
# rows per multi-row INSERT on SQLite, 5 parameters each: bigger statements mean fewer VM
# steps; SQLite before 3.32 allows only 999 parameters per statement
_SQLITE_ROWS_PER_STATEMENT = 999 if sqlite3.sqlite_version_info >= (3, 32) else 199
_PG_UNNEST = (
    "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::float8[], %s::bigint[], %s::float8[])"
)


class Flusher:
    """Writes the buffers of all live runs, from a daemon thread and on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None
        self._buffers: dict[str, MetricBuffer] = {}
        self._registry = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._intervals: dict[str, float] = {}
        self._failing = False

    @property
    def interval(self) -> float:
        """Seconds between background flushes: the shortest any live run asked for."""
        with self._registry:
            return min(self._intervals.values(), default=1.0)

    def add(self, buffer: MetricBuffer, interval: float) -> None:
        """Start flushing ``buffer`` (and start the thread if this is the first)."""
        with self._registry:
            self._buffers[buffer.run_id] = buffer
            self._intervals[buffer.run_id] = interval
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._loop, name="loopml-flusher", daemon=True
                )
                self._thread.start()

    def remove(self, run_id: str) -> None:
        """Stop flushing the buffer of ``run_id`` (after its final flush)."""
        with self._registry:
            self._buffers.pop(run_id, None)
            self._intervals.pop(run_id, None)

    def wake(self) -> None:
        """Flush now rather than at the end of the interval."""
        self._wake.set()

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        with self._lock:
            self.owner = threading.get_ident()
            try:
                yield
            finally:
                self.owner = None

    def flush(self) -> int:
        """Write everything buffered by every live run; returns the number of rows written.

        Waits for a flush in progress on another thread, so when this
        returns, every value logged before the call is in the store.
        """
        with self._held():
            with self._registry:
                buffers = list(self._buffers.values())
            groups: dict[int, tuple[Any, list[Batch]]] = {}
            for buffer in buffers:
                batch = buffer.take()
                if batch is not None:
                    groups.setdefault(id(buffer.store), (buffer.store, []))[1].append(batch)
            written = 0
            error: BaseException | None = None
            for store, batches in groups.values():
                try:
                    write_batches(store, batches)
                except BaseException as exc:
                    for batch in batches:
                        batch.buffer.restore(batch)
                    error = error or exc
                else:
                    written += sum(len(b.rows) for b in batches)
            if error is not None:
                raise error
            return written

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background thread (without a final flush)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except Exception as exc:
                if not self._failing:
                    log.warning(
                        "loopml could not write buffered metrics (will retry every %.1f s; "
                        "nothing is dropped): %s",
                        self.interval,
                        exc,
                    )
                self._failing = True
                self._stop.wait(self.interval)
            else:
                if self._failing:
                    log.warning("loopml wrote the buffered metrics after earlier failures.")
                self._failing = False


def write_batches(store: Any, batches: list[Batch]) -> None:
    """Write ``batches`` into one metadata store in one transaction."""
    by_key = itemgetter(1)
    rows: list[Row] = []
    latest: list[Row] = []
    run_ids: list[str] = []
    every_row_latest = True
    for batch in sorted(batches, key=lambda b: b.buffer.run_id):
        batch.rows.sort(key=by_key)
        rows += batch.rows
        if batch.latest:
            latest += sorted(batch.latest.values(), key=by_key)
            run_ids.append(batch.buffer.run_id)
        # the latest rows are some of the rows: as many means the same rows, in the same order
        every_row_latest = every_row_latest and len(batch.latest) == len(batch.rows)
    if not rows and not latest:
        return
    if every_row_latest:
        latest = rows  # (each key logged once): both tables get the same parameters
    insert = _insert_postgres if store.dialect == "postgresql" else _insert_sqlite

    def tx(conn: Connection) -> None:
        _summary.lock(conn, run_ids)
        insert(conn, rows, latest)
        _summary.refresh(conn, run_ids, ("latest_metrics",))

    from loopml.tracking._store import write

    write(store, tx)


def _insert_sqlite(conn: Connection, rows: list[Row], latest: list[Row]) -> None:
    chunks = _chunks(rows)
    _insert_values(conn, f"INSERT INTO metrics ({_COLUMNS}) VALUES ", chunks, "")
    if latest is not rows:
        chunks = _chunks(latest)
    _insert_values(conn, f"INSERT INTO latest_metrics ({_COLUMNS}) VALUES ", chunks, _LATEST_WINS)


def _chunks(rows: list[Row]) -> list[tuple[Any, ...]]:
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
        conn.exec_driver_sql(sql, full)
    rest = chunks[-1]
    if len(rest) != width:
        sql = head + ",".join(["(?, ?, ?, ?, ?)"] * (len(rest) // 5)) + " " + tail
        conn.exec_driver_sql(sql, rest)


def _insert_postgres(conn: Connection, rows: list[Row], latest: list[Row]) -> None:
    """One ``INSERT ... SELECT FROM unnest(arrays)`` per table: five parameters, any row count."""
    columns = _columns(rows)
    if rows:
        conn.exec_driver_sql(f"INSERT INTO metrics ({_COLUMNS}) {_PG_UNNEST}", columns)
    if latest:
        if latest is not rows:
            columns = _columns(latest)
        conn.exec_driver_sql(
            f"INSERT INTO latest_metrics ({_COLUMNS}) {_PG_UNNEST} {_LATEST_WINS}", columns
        )


def _columns(rows: list[Row]) -> tuple[list[Any], ...]:
    return tuple(list(col) for col in zip(*rows, strict=True))
