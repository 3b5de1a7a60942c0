"""The writer of the prediction log: a bounded queue drained by a background thread.

``log(record)`` masks and drops columns (``[privacy]``), then appends the record
to a bounded queue and returns at once: it never waits for the disk. When the
queue is full the record is counted in ``dropped`` (and ``log`` returns False),
so nothing is lost silently. The thread writes a batch when ``flush_rows``
records wait or ``flush_seconds`` have passed, one Parquet file per hour the
batch covers, named ``<worker-id>-<seq>.parquet``: the worker id (process id and
a random part) is this logger's own, so loggers of many processes and hosts
never write the same name. ``flush()`` returns once everything logged before it
is written; ``close()`` (the server's SIGTERM path) flushes and stops.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from loopml import _validate
from loopml.context import current, ensure_state_dir
from loopml.errors import InvalidInput
from loopml.predictions._format import Row, parquet_bytes, prediction_table
from loopml.predictions._privacy import Privacy
from loopml.predictions._records import (
    PredictionRecord,
    PredictionStatus,
    check_deployment,
    hour_of,
    log_prefix,
    to_us,
)
from loopml.store.artifacts import ArtifactStore
from loopml.uri import scrub

__all__ = ["PredictionLogger"]

#: what the rows of one request share: request id, time (µs), deployment, model name,
#: model version, variant, status, latency (ms)
_Shared = tuple[str, int, str, str, "int | None", str, str, float]

log = logging.getLogger("loopml.predictions")
_ATTEMPTS = 3
_MAX_WAIT = 3600.0


class PredictionLogger:
    """Log a deployment's predictions to Parquet without ever blocking the caller.

    ``queued`` (waiting to be written), ``written`` and ``dropped`` (queue full, logger
    closed, or a write that failed three times: see ``errors``) are plain counters a
    server exports as metrics.

    Example::

        logger = loopml.predictions.PredictionLogger("churn")
        logger.log(PredictionRecord("req-1", inputs={"age": 41}, prediction=1,
                                    model_name="churn", model_version=3))
        logger.close()   # writes what is queued
    """

    def __init__(
        self,
        deployment: str,
        *,
        flush_rows: int = 5_000,
        flush_seconds: float = 1.0,
        max_queue: int = 100_000,
    ) -> None:
        self.deployment = check_deployment(deployment)
        self.flush_rows = _validate.count(flush_rows, "flush_rows")
        self.flush_seconds = _validate.seconds(flush_seconds, "flush_seconds")
        if not 0 < self.flush_seconds <= _MAX_WAIT:
            raise InvalidInput(
                f"flush_seconds must be above 0 and at most {_MAX_WAIT:.0f}, got {flush_seconds!r}."
            )
        self.max_queue = _validate.count(max_queue, "max_queue")
        ctx = current()
        settings = ctx.settings
        state = ensure_state_dir(settings.project_root) if settings.privacy.mask else None
        self.privacy = Privacy.from_settings(settings.privacy, state or settings.state_dir)
        self._store: ArtifactStore = ctx.artifacts
        self.worker_id = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._prefix = log_prefix(self.deployment)
        self._seq = 0
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._masking = self.privacy.active
        self._buf: deque[Row] = deque()
        self._inflight = 0
        self._accepted = 0
        self._settled = 0
        self._written = 0
        self._dropped = 0
        self.errors = 0
        self._flush_wanted = False
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name=f"loopml-predictions-{self.deployment}", daemon=True
        )
        self._thread.start()
        ref = weakref.ref(self)
        self._atexit = lambda: (lambda me: me.close() if me is not None else None)(ref())
        atexit.register(self._atexit)

    def __repr__(self) -> str:
        return (
            f"PredictionLogger({self.deployment!r}, queued={self.queued}, "
            f"written={self.written}, dropped={self.dropped})"
        )

    def __enter__(self) -> PredictionLogger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- counters ----------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Records accepted and not yet written (the queue's depth)."""
        return len(self._buf) + self._inflight

    @property
    def written(self) -> int:
        """Records written to the store."""
        return self._written

    @property
    def dropped(self) -> int:
        """Records lost: refused by a full queue or a closed logger, or not written."""
        return self._dropped

    # -- the caller's side -------------------------------------------------------------

    def log(self, record: PredictionRecord) -> bool:
        """Queue ``record`` (masked and dropped per ``[privacy]``); False when it was dropped
        because the queue is full or the logger is closed. Never blocks on the disk.

        Example::

            logger.log(PredictionRecord("req-1", inputs={"age": 41}, prediction=1))
        """
        if not isinstance(record, PredictionRecord):
            raise InvalidInput(f"log() takes a PredictionRecord, got {type(record).__name__}.")
        if record.deployment is not None and record.deployment != self.deployment:
            raise InvalidInput(
                f"record of deployment {_validate.shown(record.deployment)} given to the "
                f"logger of {self.deployment!r}: log it with that deployment's logger."
            )
        ts = record.timestamp
        row = Row(
            record.request_id,
            record.row,
            int(time.time() * 1_000_000) if ts is None else to_us(ts, "timestamp"),
            self.deployment,
            record.model_name,
            record.model_version,
            record.variant,
            record.status.value,
            record.latency_ms,
            self.privacy.apply(record.inputs) if self._masking else dict(record.inputs),
            record.prediction,
            record.probabilities,
        )
        with self._lock:  # the condition's lock: no Python-level wrapper on this path
            if self._closed or len(self._buf) >= self.max_queue:
                self._dropped += 1
                return False
            self._buf.append(row)
            self._accepted += 1
            if len(self._buf) == self.flush_rows:
                self._cond.notify_all()
        return True

    def log_request(
        self,
        template: PredictionRecord,
        columns: Mapping[str, Sequence[Any]],
        rows: int,
        predictions: Sequence[Any] | None = None,
        probabilities: Sequence[Any] | None = None,
    ) -> int:
        """Queue the ``rows`` rows of one request at once: ``columns`` maps each input
        column to its values (one per row), ``predictions`` and ``probabilities`` hold one
        item per row (None: none), and ``template`` gives what the rows share (request id,
        model, variant, latency, status; its ``inputs``, ``prediction`` and ``row`` are not
        used). Checked once, not per row, so a request of many rows costs a few
        microseconds a row. Returns how many rows were queued; the others were dropped
        (queue full, logger closed) and counted. Never blocks on the disk, never raises for
        a row's values.

        Example::

            template = PredictionRecord("req-1", inputs={}, model_name="churn", model_version=3)
            logger.log_request(template, {"age": [41, 23]}, 2, predictions=[1, 0])
        """
        if not isinstance(template, PredictionRecord):
            raise InvalidInput(
                f"log_request() takes a PredictionRecord, got {type(template).__name__}."
            )
        if template.deployment is not None and template.deployment != self.deployment:
            raise InvalidInput(
                f"record of deployment {_validate.shown(template.deployment)} given to the "
                f"logger of {self.deployment!r}: log it with that deployment's logger."
            )
        ts = template.timestamp
        us = int(time.time() * 1_000_000) if ts is None else to_us(ts, "timestamp")
        shared: _Shared = (
            template.request_id,
            us,
            self.deployment,
            template.model_name,
            template.model_version,
            template.variant,
            template.status.value,
            template.latency_ms,
        )
        return self._queue_request(shared, columns, rows, predictions, probabilities)

    def log_served(
        self,
        request_id: str,
        model_name: str,
        model_version: int | None,
        variant: str,
        status: PredictionStatus,
        latency_ms: float,
        columns: Mapping[str, Sequence[Any]],
        rows: int,
        predictions: Sequence[Any] | None = None,
        probabilities: Sequence[Any] | None = None,
    ) -> int:
        """:meth:`log_request` for a server, whose request id, model, variant, status and
        latency are its own (checked when it loaded the model and made the id), so no
        record is built and checked per request; stamped now. The counts are checked as
        :meth:`log_request` checks them.

        Example::

            logger.log_served("req-1", "churn", 3, "primary", PredictionStatus.OK, 1.2,
                              {"age": [41]}, 1, predictions=[1])
        """
        if type(status) is not PredictionStatus or not isinstance(request_id, str):
            raise InvalidInput(
                f"log_served() takes a request id (text) and a PredictionStatus, got "
                f"{_validate.shown(request_id)} and {_validate.shown(status)}."
            )
        shared: _Shared = (
            request_id,
            int(time.time() * 1_000_000),
            self.deployment,
            model_name,
            model_version,
            variant,
            status.value,
            float(latency_ms),
        )
        return self._queue_request(shared, columns, rows, predictions, probabilities)

    def _queue_request(
        self,
        shared: _Shared,
        columns: Mapping[str, Sequence[Any]],
        rows: int,
        predictions: Sequence[Any] | None,
        probabilities: Sequence[Any] | None,
    ) -> int:
        rows = _validate.count(rows, "rows", low=0)
        for what, given in (("predictions", predictions), ("probabilities", probabilities)):
            if given is not None and len(given) != rows:
                raise InvalidInput(f"{what} holds {len(given)} items for {rows} rows.")
        for name, values in columns.items():
            if len(values) != rows:
                raise InvalidInput(f"input column {name!r} holds {len(values)} values for {rows}.")
        names = list(columns)
        values = [columns[name] for name in names]
        made: list[Row] = []
        lost = 0
        with self._lock:  # rows past the queue's room are counted, not built
            room = 0 if self._closed else max(0, self.max_queue - len(self._buf))
        building = min(rows, room)
        lost += rows - building
        for i in range(building):
            inputs = {name: column[i] for name, column in zip(names, values, strict=True)}
            if self._masking:
                try:
                    inputs = self.privacy.apply(inputs)
                except Exception:  # a value the mask cannot hash: never logged unmasked
                    lost += 1
                    continue
            made.append(
                Row(
                    shared[0],
                    i,
                    *shared[1:],
                    inputs,
                    None if predictions is None else predictions[i],
                    None if probabilities is None else probabilities[i],
                )
            )
        with self._lock:
            room = 0 if self._closed else max(0, self.max_queue - len(self._buf))
            taken = made[:room]
            self._buf.extend(taken)
            self._accepted += len(taken)
            self._dropped += lost + len(made) - len(taken)
            if len(self._buf) >= self.flush_rows:
                self._cond.notify_all()
        return len(taken)

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything logged before this call; True once it is written (or counted
        as dropped), False if ``timeout`` seconds passed first.

        Example::

            logger.flush()
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._accepted
            self._flush_wanted = True
            self._cond.notify_all()
            while self._settled < target and self._thread.is_alive():
                left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self._settled >= target

    def close(self, timeout: float | None = None) -> None:
        """Stop taking records, write every queued one, stop the thread. Idempotent.

        Example::

            logger.close()
        """
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        atexit.unregister(self._atexit)

    # -- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not (self._closed or self._flush_wanted or len(self._buf) >= self.flush_rows):
                    self._cond.wait(self.flush_seconds)
                batch = list(self._buf)
                self._buf.clear()
                self._inflight = len(batch)
                self._flush_wanted = False
                closing = self._closed
            try:
                written = self._write(batch) if batch else 0
            except Exception as exc:  # never lets the thread die: counted as dropped
                written = 0
                self.errors += 1
                log.warning(
                    "could not write %d predictions of deployment %r (%s)",
                    len(batch),
                    self.deployment,
                    type(exc).__name__,
                )
            with self._cond:
                self._written += written
                self._dropped += len(batch) - written
                self._settled += len(batch)
                self._inflight = 0
                self._cond.notify_all()
                if closing and not self._buf:
                    return

    def _write(self, batch: list[Row]) -> int:
        """Write ``batch`` as one file per hour; the number of records written."""
        hours: dict[str, list[Row]] = {}
        for row in batch:
            hours.setdefault(hour_of(row.ts_us), []).append(row)
        done = 0
        for hour, rows in sorted(hours.items()):
            self._seq += 1
            path = f"{self._prefix}/{hour}/{self.worker_id}-{self._seq:06d}.parquet"
            for attempt in range(_ATTEMPTS):
                try:
                    self._store.write_path(path, parquet_bytes(prediction_table(rows)))
                except Exception as exc:  # counted and reported, never raised on this thread
                    if attempt + 1 < _ATTEMPTS:
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    self.errors += 1
                    log.warning(
                        "could not write %d predictions of deployment %r (%s): %s",
                        len(rows),
                        self.deployment,
                        type(exc).__name__,
                        scrub(str(exc), self._store.uri)[:200],
                    )
                else:
                    done += len(rows)
                    break
        return done
