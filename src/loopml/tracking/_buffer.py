"""The in-memory buffer behind ``log_metric``: appends now, written by the flusher later.

A call appends one tuple under a lock and keeps two small dicts current:
the latest value per key (what ``run.metrics`` shows) and the latest row per
key not yet written (what the flush upserts into ``latest_metrics``; the
same tuple as in the row list, not a copy).

``log_many`` (behind ``log_metrics``) has a bulk path for large calls of
the two common shapes, where every value it is given is the key's new
latest: keys never logged before, or an explicit step at or past every step
logged so far. Then the rows are made by one comprehension and the dicts
updated in bulk, rather than key by key (for a few keys the loop is faster).

Step numbering: a metric logged without ``step`` gets one more than the
highest step this process has logged for that key in the run (0 for the
first), so ``log_metric("loss", x)`` in a loop yields steps 0, 1, 2, ... and
an explicit higher step moves the counter on from there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FLUSH_AT", "Batch", "MetricBuffer"]

#: A buffer holding this many rows wakes the flusher before its interval is up.
FLUSH_AT = 10_000

# (run_id, key, value as stored, step, timestamp)
Row = tuple[str, str, Any, int, float]


@dataclass
class Batch:
    """Rows taken from one buffer for one flush, and the latest row per key among them."""

    buffer: MetricBuffer
    rows: list[Row]
    latest: dict[str, Row] = field(default_factory=dict)


_NO_STEP = -(2**63)  # below every step
_BULK = 64  # from this many values in one call, the bulk path is the faster one


class MetricBuffer:
    """Metrics logged to one run in this process and not yet written."""

    __slots__ = (
        "_latest_step",
        "_max_step",
        "_nan",
        "_on_full",
        "latest",
        "lock",
        "pending",
        "rows",
        "run_id",
        "store",
    )

    def __init__(
        self,
        run_id: str,
        store: Any,
        *,
        nan_as_text: bool,
        on_full: Callable[[], None],
    ) -> None:
        self.run_id = run_id
        self.store = store
        # SQLite turns a bound NaN into NULL; the text 'NaN' keeps it, and
        # compares and sorts above every number there as NaN does in PostgreSQL.
        self._nan: Any = "NaN" if nan_as_text else float("nan")
        self._on_full = on_full
        self.lock = threading.Lock()
        self.rows: list[Row] = []
        self.pending: dict[str, Row] = {}
        self.latest: dict[str, float] = {}
        self._latest_step: dict[str, int] = {}
        self._max_step = _NO_STEP  # the highest step logged for any key

    def log(self, key: str, value: float, step: int | None) -> int:
        """Buffer one value; returns the step it was logged at."""
        ts = time.time()
        stored = value if value == value else self._nan
        with self.lock:
            last = self._latest_step.get(key)
            if step is None:
                step = 0 if last is None else last + 1
            row = (self.run_id, key, stored, step, ts)
            self.rows.append(row)
            if last is None or step >= last:
                self._latest_step[key] = step
                self.latest[key] = value
                self.pending[key] = row
                if step > self._max_step:
                    self._max_step = step
            full = len(self.rows) >= FLUSH_AT
        if full:
            self._on_full()
        return step

    def log_many(self, values: dict[str, float], step: int | None) -> None:
        """Buffer several values logged at the same moment (and the same step, if given)."""
        if not values:
            return
        ts = time.time()
        nan = self._nan
        run_id = self.run_id
        with self.lock:
            latest_step = self._latest_step
            bulk = False
            if len(values) >= _BULK:
                if step is None:
                    bulk, at = latest_step.keys().isdisjoint(values), 0
                else:
                    bulk, at = step >= self._max_step, step
            if bulk:  # every value is its key's new latest, all at step `at`
                new = [(run_id, k, v if v == v else nan, at, ts) for k, v in values.items()]
                self.rows += new
                self.pending.update(zip(values, new, strict=True))
                self.latest.update(values)
                latest_step.update(dict.fromkeys(values, at))
                if at > self._max_step:
                    self._max_step = at
            else:
                append = self.rows.append
                latest = self.latest
                pending = self.pending
                top = self._max_step
                for key, value in values.items():
                    last = latest_step.get(key)
                    s = step if step is not None else 0 if last is None else last + 1
                    row = (run_id, key, value if value == value else nan, s, ts)
                    append(row)
                    if last is None or s >= last:
                        latest_step[key] = s
                        latest[key] = value
                        pending[key] = row
                        if s > top:
                            top = s
                self._max_step = top
            full = len(self.rows) >= FLUSH_AT
        if full:
            self._on_full()

    def __len__(self) -> int:
        return len(self.rows)

    def take(self) -> Batch | None:
        """Everything buffered so far, leaving the buffer empty; None when there is nothing."""
        with self.lock:
            if not self.rows and not self.pending:
                return None
            rows, self.rows = self.rows, []
            latest, self.pending = self.pending, {}
        return Batch(self, rows, latest)

    def restore(self, batch: Batch) -> None:
        """Put back a batch whose write failed, ahead of anything logged since."""
        with self.lock:
            self.rows[:0] = batch.rows
            for key, row in batch.latest.items():
                current = self.pending.get(key)
                if current is None or (row[3], row[4]) > (current[3], current[4]):
                    self.pending[key] = row
