"""The server's Prometheus metrics, in a registry of its own (one per app).

- ``loopml_requests_total{deployment, model_version, variant, code}``
- ``loopml_request_errors_total{deployment, model_version, variant, kind}``: kind is
  ``invalid_input`` (a 4xx: the model never saw it) or ``model_error`` (the model raised)
- ``loopml_request_latency_seconds{deployment, model_version, variant}``: a histogram
- ``loopml_predicted_rows_total{deployment, model_version, variant}``
- ``loopml_prediction_log_queued{deployment}``, ``loopml_prediction_log_written_total``,
  ``loopml_prediction_log_dropped_total``: read from each deployment's logger when scraped
- ``loopml_deployment_info{deployment, model, model_version}``: 1 per version served (a
  deployment in the middle of a rollout serves two)
- ``loopml_shadow_dropped_total{deployment}``: requests a shadow rollout did not mirror to
  its candidate (too many copies were still waiting for it)

``variant`` is ``default`` for a deployment with no rollout in progress; during one,
``primary`` and ``candidate`` (``shadow`` for a shadow's mirrored answers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["Metrics"]

_LABELS = ["deployment", "model_version", "variant"]
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters one app keeps; ``render()`` is the body of ``GET /metrics``.

    ``sources`` is called at each scrape and yields ``(deployment, model, version,
    logger or None)`` for every deployment served.
    """

    def __init__(self, sources: Callable[[], Iterable[tuple[str, str, int, Any]]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "loopml_requests",
            "Prediction requests answered, by deployment, model version, variant and HTTP code.",
            [*_LABELS, "code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "loopml_request_errors",
            "Prediction requests that failed: invalid_input (refused before the model) or "
            "model_error (the model raised).",
            [*_LABELS, "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopml_request_latency_seconds",
            "Time from a prediction request's arrival to its answer.",
            _LABELS,
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "loopml_predicted_rows",
            "Rows predicted.",
            _LABELS,
            registry=self.registry,
        )
        self.shadow_dropped = Counter(
            "loopml_shadow_dropped",
            "Requests not mirrored to a shadow candidate: too many copies were waiting for it.",
            ["deployment"],
            registry=self.registry,
        )
        self.registry.register(_LogCollector(sources))

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _LogCollector:
    """The prediction loggers' counters and the deployments served, read at scrape time."""

    def __init__(self, sources: Callable[[], Iterable[tuple[str, str, int, Any]]]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        queued = GaugeMetricFamily(
            "loopml_prediction_log_queued",
            "Predictions waiting to be written to the prediction log.",
            labels=["deployment"],
        )
        written = CounterMetricFamily(
            "loopml_prediction_log_written",
            "Predictions written to the prediction log.",
            labels=["deployment"],
        )
        dropped = CounterMetricFamily(
            "loopml_prediction_log_dropped",
            "Predictions the prediction log lost (queue full, or a write that failed).",
            labels=["deployment"],
        )
        info = GaugeMetricFamily(
            "loopml_deployment_info",
            "The model version each deployment serves (1 per deployment).",
            labels=["deployment", "model", "model_version"],
        )
        # a deployment in the middle of a rollout has two versions, each with its logger
        versions: dict[tuple[str, str, str], None] = {}
        counts: dict[str, list[float]] = {}
        for name, model, version, logger in self._sources():
            versions[(name, model, str(version))] = None
            if logger is not None:
                total = counts.setdefault(name, [0.0, 0.0, 0.0])
                total[0] += logger.queued
                total[1] += logger.written
                total[2] += logger.dropped
        for labels in versions:
            info.add_metric(list(labels), 1)
        for name, (q, w, d) in counts.items():
            queued.add_metric([name], q)
            written.add_metric([name], w)
            dropped.add_metric([name], d)
        yield from (queued, written, dropped, info)
