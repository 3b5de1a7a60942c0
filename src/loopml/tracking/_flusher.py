"""The background flusher: one daemon thread per process writes every run's buffered metrics.

Every ``flush_interval`` seconds (``LOOPML_FLUSH_INTERVAL``, default 1.0),
and as soon as a buffer holds :data:`~loopml.tracking._buffer.FLUSH_AT`
rows, the flusher takes all buffers and writes them in one transaction per
metadata store (see ``_repository.write_metric_batches``: the rows into
``metrics``, the newest per key into ``latest_metrics``, and the runs'
metric summaries). Runs also flush when they end, at interpreter exit and
on SIGTERM, so the only metrics a process can lose are those of its last
interval when it is killed with SIGKILL.

A write that fails puts its rows back into their buffers; the background
thread retries at its next interval, a flush called directly raises.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from loopml.tracking._buffer import Batch, MetricBuffer

__all__ = ["Flusher", "write_batches"]

log = logging.getLogger("loopml.tracking")


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
    """Write the batches taken from buffers of runs in one metadata store."""
    from loopml.tracking._repository import MetricBatch, write_metric_batches

    write_metric_batches(store, [MetricBatch(b.buffer.run_id, b.rows, b.latest) for b in batches])
