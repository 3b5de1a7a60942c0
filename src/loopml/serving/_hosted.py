"""A deployment as one server worker holds it: the loaded model, its signature plan,
its prediction logger, its batcher and its metric children.

:func:`load` loads the version a deployment serves (every file hash-checked),
predicts the package's input example once (a version that cannot answer it
never takes traffic) and only then returns; the app swaps it in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loopml.deployments import Deployment
from loopml.predictions import PredictionStatus
from loopml.serving._batching import Batcher, Outcome
from loopml.serving._metrics import Metrics
from loopml.serving._protocol import Rows, float_block, frame_of

__all__ = ["Hosted", "load"]

log = logging.getLogger("loopml.serving")
VARIANT = "default"  # a deployment with no rollout in progress
PRIMARY = "primary"  # the version it served when its rollout started, while it runs
CANDIDATE = "candidate"  # the rollout's candidate, answering the requests routed to it
SHADOW = "shadow"  # a shadow rollout's candidate, answering mirrored requests
_OK = PredictionStatus.OK
#: a small request whose model answers within this, on average, is predicted on the event
#: loop (a thread hop costs 50-250 µs); a slower model runs on the deployment's thread
_INLINE_SECONDS = 0.002
_INLINE_MAX_ROWS = 64


class Hosted:
    """One deployment served by this worker.

    ``deployment`` is the record it was loaded from, ``model`` the loaded
    :class:`~loopml.models.Model`; ``names`` the signature's columns (None without a
    signature); ``columns`` the signature's pandas Index of ``names``, shared by the
    frame of every request; ``float_block`` whether they are all floats (one NumPy block
    per request).
    """

    def __init__(
        self, deployment: Deployment, model: Any, metrics: Metrics, variant: str = VARIANT
    ) -> None:
        self.deployment = deployment
        self.name = deployment.name
        self.model = model
        self.model_name = deployment.model_name
        self.version = deployment.version
        self.version_uri = deployment.version_uri
        self.variant = variant
        self.config = deployment.serving
        sig = model.signature
        self.signature = sig
        self.names: list[str] | None = sig.names if sig is not None else None
        self.columns: Any = sig.columns if sig is not None else None
        self.float_block = sig is not None and all(c.dtype.startswith("float") for c in sig.inputs)
        self.has_proba = bool(model.has_predict_proba)
        self.logger: Any = None
        if self.config.log_predictions:
            from loopml.predictions import PredictionLogger

            self.logger = PredictionLogger(self.name)
        self.batcher: Batcher | None = None
        self._pool: ThreadPoolExecutor | None = None
        if not self.config.batching:  # the model's own thread: the event loop never waits
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"loopml-predict-{self.name}")
        else:
            self.batcher = Batcher(
                self.predict,
                max_rows=self.config.max_batch_size,
                max_wait=self.config.max_batch_wait_ms / 1000.0,
                name=self.name,
            )
        self._metrics = metrics
        self._label(variant)
        self._side: ThreadPoolExecutor | None = None  # mirrored requests and smoke tests
        self.loaded_at = time.time()
        self.inflight = 0
        self._cost = float("inf")  # a small request's prediction, seconds (moving average)
        self._retiring: Callable[[], None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"Hosted({self.name!r}, {self.version_uri!r})"

    def _label(self, variant: str) -> None:
        labels = (self.name, str(self.version), variant)
        metrics = self._metrics
        self.m_ok = metrics.requests.labels(*labels, "200")
        self.m_latency = metrics.latency.labels(*labels)
        self.m_rows = metrics.rows.labels(*labels)
        self.m_invalid = metrics.errors.labels(*labels, "invalid_input")
        self.m_model_error = metrics.errors.labels(*labels, "model_error")
        self.variant = variant

    def serve_as(self, variant: str) -> None:
        """Answer (log, count, name in headers) as ``variant`` from now on: a version keeps
        its model when its role changes (a promoted candidate becomes the deployment's
        version without loading again)."""
        if variant != self.variant:
            self._label(variant)

    def side(self, call: Callable[..., Any], *args: Any) -> Any:
        """``call(*args)`` on this version's side thread (mirrored requests, smoke tests): a
        future, off the event loop and off the thread that answers requests."""
        if self._side is None:
            self._side = ThreadPoolExecutor(1, thread_name_prefix=f"loopml-side-{self.name}")
        return asyncio.wrap_future(self._side.submit(call, *args))

    def count(self, code: int) -> None:
        """Count an answer with HTTP status ``code`` (other than a 200)."""
        self._metrics.requests.labels(self.name, str(self.version), self.variant, str(code)).inc()

    def conform(self, frame: Any) -> Any:
        """``frame`` checked against the signature (InvalidInput naming column and row)."""
        return frame if self.signature is None else self.signature.conform(frame)

    def frame(self, rows: Rows) -> Any:
        """The checked frame of a request's ``rows`` (InvalidInput naming column and row).
        Numbers for a signature of float64 columns become one array, checked for NaN, with
        no frame to build and check again; anything else is checked column by column."""
        sig = self.signature
        if sig is not None and self.float_block:
            block = float_block(rows)
            if block is not None:
                frame = sig.conform_floats(block)
                if frame is not None:
                    return frame
        return self.conform(frame_of(rows, self.float_block, self.columns))

    def predict(self, frame: Any, proba: bool) -> Outcome:
        """The model's answer for a checked ``frame`` (and the probabilities, when asked and
        the model has them)."""
        predictions = self.model.predict(frame, conformed=True)
        probabilities = None
        if (proba or self.config.log_probabilities) and self.has_proba:
            probabilities = self.model.predict_proba(frame, conformed=True)
        return Outcome(predictions, probabilities)

    async def run(self, frame: Any, rows: int, proba: bool) -> Outcome:
        """Predict ``frame``: in a micro-batch when batching is on, else right away; on the
        deployment's own thread either way, so a slow model never stalls the event loop
        (health checks, metrics and other deployments keep answering)."""
        if self.batcher is not None:
            return await self.batcher.submit(frame, rows, proba)
        if self._cost < _INLINE_SECONDS and rows <= _INLINE_MAX_ROWS:
            # a model this fast answers sooner than a hop to its thread and back would take
            start = time.perf_counter()
            try:
                return self.predict(frame, proba)
            finally:
                self._observe(time.perf_counter() - start)
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        if rows > _INLINE_MAX_ROWS:
            return await loop.run_in_executor(self._pool, self.predict, frame, proba)
        return await loop.run_in_executor(self._pool, self._timed, frame, proba)

    def _timed(self, frame: Any, proba: bool) -> Outcome:
        """``predict`` on the deployment's thread, timing the model alone (not the wait for
        the thread, which grows with the load and would keep a fast model off the loop)."""
        start = time.perf_counter()
        try:
            return self.predict(frame, proba)
        finally:
            self._observe(time.perf_counter() - start)

    def _observe(self, seconds: float) -> None:
        """Follow what a small request's prediction costs (a moving average): below
        ``_INLINE_SECONDS`` the model is called on the event loop, above it on its thread."""
        self._cost = seconds if self._cost == float("inf") else 0.8 * self._cost + 0.2 * seconds

    # -- in flight and retiring --------------------------------------------------------------

    def enter(self) -> None:
        """A request starts using this version (call before its first await)."""
        self.inflight += 1

    def leave(self) -> None:
        """A request is done with this version; a retired version closes after its last."""
        self.inflight -= 1
        if self.inflight == 0 and self._retiring is not None:
            self._retiring()

    def retire(self, close: Callable[[], None]) -> None:
        """Call ``close`` once no request uses this version any more (now, if none does):
        a request that started on it finishes on it, logger and batcher included."""
        self._retiring = close
        if self.inflight == 0:
            close()

    def classes(self) -> list[Any] | None:
        """The classes of a classifier, in the order of its probabilities."""
        classes = getattr(self.model.native, "classes_", None)
        return None if classes is None else [_plain(c) for c in classes]

    def log(
        self,
        request_id: str,
        rows: Rows,
        predictions: list[Any] | None,
        probabilities: list[Any] | None,
        latency_ms: float,
        status: PredictionStatus = _OK,
    ) -> None:
        """Queue the request's rows for the prediction log (never blocks)."""
        logger = self.logger
        if logger is None:
            return
        logger.log_served(
            request_id,
            self.model_name,
            self.version,
            self.variant,
            status,
            latency_ms,
            rows.columns,
            rows.n,
            predictions,
            probabilities,
        )

    def close(self) -> None:
        """Write what the logger holds and stop the model's thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.logger is not None:
            self.logger.close()
        if self.batcher is not None:
            self.batcher.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._side is not None:  # a mirrored request still queued is not answered
            self._side.shutdown(wait=False, cancel_futures=True)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def load(deployment: Deployment, metrics: Metrics, variant: str = VARIANT) -> Hosted:
    """Load what ``deployment`` serves, check it answers its input example, and return it
    ready to take traffic as ``variant`` (runs in a thread: it reads files and imports
    libraries)."""
    from loopml import models

    model = models.load_model(deployment.version_uri)
    example = model.metadata.get("input_example") if isinstance(model.metadata, dict) else None
    if example:
        model.predict(example)
    return Hosted(deployment, model, metrics, variant)
