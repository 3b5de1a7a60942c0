"""The monitors' records: a monitor and its settings, one computed window, one alert,
and their vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from loopml._enum import StrEnum
from loopml.uri import AlertURI

__all__ = [
    "Alert",
    "AlertStatus",
    "Delivery",
    "Monitor",
    "MonitorSettings",
    "MonitorWindow",
    "WindowStatus",
]


class WindowStatus(StrEnum):
    """What one window of a monitor found: ``OK`` (every check ran, no rule fired),
    ``ALERT`` (a rule fired), ``TOO_FEW_ROWS`` (fewer rows than ``min_rows``: computed
    what could be, raised no alarm), ``FAILED`` (the window could not be computed; the
    error is recorded)."""

    OK = "OK"
    ALERT = "ALERT"
    TOO_FEW_ROWS = "TOO_FEW_ROWS"
    FAILED = "FAILED"


class AlertStatus(StrEnum):
    """An alert is ``FIRING`` from the window whose results crossed its rule until a
    window's results clear it (``RESOLVED``)."""

    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True)
class MonitorSettings:
    """How a monitor watches its deployment (``[monitors.<name>]`` in loopml.toml, or
    ``loopml monitor add``).

    - ``reference``: the dataset version (``data:/churn@3``) new inputs are compared
      with; None takes the training dataset of the served model version from lineage;
    - ``window_rows`` or ``window_seconds``: windows of the prediction log by count or by
      time (aligned to multiples of the length since the epoch: hours for ``3600``);
    - ``min_rows``: a window with fewer rows is recorded as TOO_FEW_ROWS and alarms no one;
    - ``slices``: input columns live performance is also computed per value of;
    - ``target``: the reference column the model predicts (for estimating performance
      before labels arrive); None guesses it from the reference's columns the
      model's signature does not use;
    - ``task``: ``classification`` or ``regression``; None infers it from predictions;
    - ``drift``: options of :class:`~loopml.monitoring.DriftConfig` (``{"columns":
      {"age": "psi"}}``...);
    - ``alerts``: rules over the window's metrics (``"drift_share > 0.3"``,
      ``"live.f1 < 0.8"``, ``"system.error_rate > 0.02"``);
    - ``sinks``: where alerts go: ``log``, ``file:<path>``, an ``http(s)://`` webhook;
    - ``cooldown_seconds``: a firing alert is sent again at most this often;
    - ``label_delay_seconds``: how long after a window feedback may still arrive; live
      performance of windows that recent is computed again on each run.
    """

    deployment: str
    reference: str | None = None
    window_rows: int | None = None
    window_seconds: float | None = 3600.0
    min_rows: int = 100
    slices: tuple[str, ...] = ()
    target: str | None = None
    task: str | None = None
    drift: dict[str, Any] = field(default_factory=dict)
    alerts: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ("log",)
    cooldown_seconds: float = 3600.0
    label_delay_seconds: float = 86400.0

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values."""
        return {
            "deployment": self.deployment,
            "reference": self.reference,
            "window_rows": self.window_rows,
            "window_seconds": self.window_seconds,
            "min_rows": self.min_rows,
            "slices": list(self.slices),
            "target": self.target,
            "task": self.task,
            "drift": dict(self.drift),
            "alerts": list(self.alerts),
            "sinks": list(self.sinks),
            "cooldown_seconds": self.cooldown_seconds,
            "label_delay_seconds": self.label_delay_seconds,
        }

    @property
    def window(self) -> str:
        """``1000 rows`` or ``3600 s``."""
        if self.window_rows is not None:
            return f"{self.window_rows} rows"
        return f"{self.window_seconds:g} s"


@dataclass(frozen=True)
class Monitor:
    """A monitor: its ``name``, ``settings``, and ``cursor`` (the end of the last window
    it computed, UTC; None before the first)."""

    name: str
    settings: MonitorSettings
    created_at: float
    updated_at: float
    cursor: datetime | None = None

    @property
    def deployment(self) -> str:
        return self.settings.deployment


@dataclass(frozen=True)
class MonitorWindow:
    """One computed window of a monitor: ``[start, end)`` of the prediction log (UTC),
    its ``rows``, ``status``, the ``reference`` it was compared with, ``metrics`` (flat:
    ``drift_share``, ``data.missing_rate``, ``system.p99_latency_ms``, ``live.f1``,
    ``estimated.roc_auc``...), ``details`` (per-column drift, histograms, slices), and
    the ``error`` of a FAILED one."""

    id: int
    monitor: str
    start: datetime
    end: datetime
    rows: int
    status: WindowStatus
    reference: str | None
    metrics: dict[str, float]
    details: dict[str, Any]
    error: str | None
    created_at: float
    feedback_mark: str | None = None
    """The state of the feedback log when live performance was last computed."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "status": str(self.status),
            "reference": self.reference,
            "metrics": dict(self.metrics),
            "error": self.error,
        }


@dataclass(frozen=True)
class Delivery:
    """The last attempt to send an alert to one sink: ``ok``, how many ``attempts``,
    the ``error`` of a failed one, and when (``at``)."""

    sink: str
    ok: bool
    attempts: int
    at: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "ok": self.ok,
            "attempts": self.attempts,
            "at": self.at,
            "error": self.error,
        }


@dataclass(frozen=True)
class Alert:
    """One incident of one rule of a monitor (``alerts:/<id>`` in lineage): the ``value``
    that crossed it last, the windows it spans, when it was opened, last sent
    (``notified_at``) and resolved, and its ``deliveries``."""

    id: int
    monitor: str
    rule: str
    status: AlertStatus
    value: float | None
    message: str
    first_window: int | None
    last_window: int | None
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    notified_at: float | None = None
    deliveries: tuple[Delivery, ...] = ()

    @property
    def uri(self) -> AlertURI:
        return AlertURI(self.id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uri": str(self.uri),
            "monitor": self.monitor,
            "rule": self.rule,
            "status": str(self.status),
            "value": self.value,
            "message": self.message,
            "first_window": self.first_window,
            "last_window": self.last_window,
            "opened_at": _iso(self.opened_at),
            "resolved_at": _iso(self.resolved_at),
            "notified_at": _iso(self.notified_at),
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat()
