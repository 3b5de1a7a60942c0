"""Adaptive micro-batching: requests that arrive while the model is busy, or within a
short wait of the first, are predicted in one call.

One :class:`Batcher` per deployment and worker. ``submit`` queues a request's
checked frame and waits for its slice of the answer; one task drains the queue:
it takes the requests waiting (up to ``max_rows`` rows), waits at most
``max_wait`` for more while the batch is not full, predicts them together on
the deployment's own thread (so the event loop keeps reading requests in the
meantime) and hands each request its rows. When a batch's prediction raises,
each request of it is predicted alone, so one request that breaks the model
fails alone; so is a batch whose answer has not one row per row asked (its
slices would hand one request another's answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["Batcher", "Outcome"]


@dataclass
class Outcome:
    """One request's answer: its predictions and, when asked, its probabilities."""

    predictions: Any
    probabilities: Any = None


@dataclass
class _Item:
    frame: Any
    rows: int
    proba: bool
    future: asyncio.Future[Outcome]
    arrived: float


class Batcher:
    """Predict the requests of one deployment together.

    ``predict(frame, proba)`` is the model's call (run on the batcher's thread);
    ``max_rows`` caps a batch; ``max_wait`` (seconds) is how long a batch that is not
    full waits for more requests after its first.
    """

    def __init__(
        self,
        predict: Callable[[Any, bool], Outcome],
        *,
        max_rows: int,
        max_wait: float,
        name: str = "",
    ) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self.max_wait = max_wait
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._full: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"loopml-batch-{name}")
        self.batches = 0
        self.batched_rows = 0

    async def submit(self, frame: Any, rows: int, proba: bool) -> Outcome:
        """The outcome of predicting ``frame`` (``rows`` rows) within a batch."""
        loop = asyncio.get_running_loop()
        item = _Item(frame, rows, proba, loop.create_future(), time.monotonic())
        self._queue.append(item)
        self._queued_rows += rows
        if self._full is None:
            self._full = asyncio.Event()
        if self._queued_rows >= self.max_rows:
            self._full.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await item.future

    async def _drain(self) -> None:
        assert self._full is not None
        loop = asyncio.get_running_loop()
        while self._queue:
            if self._queued_rows < self.max_rows and self.max_wait > 0:
                self._full.clear()
                left = self.max_wait - (time.monotonic() - self._queue[0].arrived)
                if left > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._full.wait(), left)
            batch: list[_Item] = []
            size = 0
            while self._queue and (not batch or size + self._queue[0].rows <= self.max_rows):
                item = self._queue.popleft()
                self._queued_rows -= item.rows
                batch.append(item)
                size += item.rows
            self.batches += 1  # counted before any request of the batch has its answer
            self.batched_rows += size
            await loop.run_in_executor(self._pool, self._run, batch)

    def _run(self, batch: list[_Item]) -> None:
        """Predict ``batch`` at once, or each item alone when that raises (on the thread)."""
        import numpy as np
        import pandas as pd

        proba = any(item.proba for item in batch)
        try:
            if len(batch) == 1:
                outcomes = [self._predict(batch[0].frame, proba)]
            else:
                frame = pd.concat([item.frame for item in batch], ignore_index=True)
                whole = self._predict(frame, proba)
                rows = sum(item.rows for item in batch)
                for given in (whole.predictions, whole.probabilities):
                    if given is not None and len(given) != rows:  # slices would be shifted
                        raise ValueError(f"the model answered {len(given)} rows of {rows}")
                outcomes = []
                start = 0
                for item in batch:
                    end = start + item.rows
                    outcomes.append(
                        Outcome(
                            _rows(whole.predictions, start, end, np),
                            None
                            if whole.probabilities is None
                            else _rows(whole.probabilities, start, end, np),
                        )
                    )
                    start = end
        except Exception as exc:
            if len(batch) == 1:
                self._settle(batch[0], None, exc)
                return
            for item in batch:  # one request that breaks the model fails alone
                try:
                    self._settle(item, self._predict(item.frame, item.proba), None)
                except Exception as exc:
                    self._settle(item, None, exc)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            self._settle(item, outcome, None)

    def _settle(self, item: _Item, outcome: Outcome | None, exc: BaseException | None) -> None:
        fut = item.future
        loop = fut.get_loop()

        def done() -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                assert outcome is not None
                fut.set_result(outcome)

        loop.call_soon_threadsafe(done)

    def close(self) -> None:
        """Stop the batcher's thread (after the batch it is predicting)."""
        self._pool.shutdown(wait=False)


def _rows(values: Any, start: int, end: int, np: Any) -> Any:
    kind = type(values).__name__
    if kind in ("DataFrame", "Series"):
        return values.iloc[start:end]
    if isinstance(values, list):
        return values[start:end]
    return np.asarray(values)[start:end]
