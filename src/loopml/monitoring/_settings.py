"""Reading a monitor's settings: ``[monitors.<name>]`` in loopml.toml, ``loopml monitor
add``'s options, or the settings stored with it, all checked the same way.

Keys (every one but ``deployment`` optional; ``deployment`` defaults to the monitor's
name in loopml.toml)::

    [monitors.churn]
    deployment = "churn"
    reference = "data:/churn@3"     # default: the served model's training data (lineage)
    window = "1h"                   # or "15m", "1d", "3600s", "5000 rows"
    min_rows = 100
    slices = ["country"]
    target = "churned"              # the reference's label column
    task = "classification"         # or "regression"; default: inferred
    alerts = ["drift_share > 0.3", "live.f1 < 0.8"]
    sinks = ["log", "file:alerts.jsonl", "https://hooks.example.com/T0/B1"]
    cooldown = "1h"
    label_delay = "1d"
    [monitors.churn.drift]          # options of DriftConfig
    columns = {age = "psi"}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from loopml._validate import shown
from loopml.errors import InvalidInput
from loopml.monitoring._config import as_config
from loopml.monitoring._records import MonitorSettings
from loopml.monitoring._rules import parse_rule
from loopml.uri import parse_deployment_uri, parse_uri

__all__ = ["TASKS", "duration", "settings_from_mapping", "sink_problem", "window_of"]

TASKS = ("classification", "regression")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.ASCII)
_ROWS_RE = re.compile(r"^\s*(\d+)\s*rows?\s*$", re.ASCII)
_KEYS = (
    "deployment",
    "reference",
    "window",
    "window_rows",
    "window_seconds",
    "min_rows",
    "slices",
    "target",
    "task",
    "drift",
    "alerts",
    "sinks",
    "cooldown",
    "cooldown_seconds",
    "label_delay",
    "label_delay_seconds",
)
_MAX_WINDOW_ROWS = 10_000_000
_MAX_SECONDS = 366 * 86400.0


def duration(value: Any, what: str) -> float:
    """Seconds from ``"15m"``, ``"1h"``, ``"2d"``, ``"90s"`` or a number of seconds > 0."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(value) if isinstance(value, str) else None
        if m is None:
            raise InvalidInput(
                f"{what} must be a duration such as '15m', '1h', '1d' or a number of seconds, "
                f"got {shown(value)}."
            )
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(seconds) or not 0 < seconds <= _MAX_SECONDS:
        raise InvalidInput(
            f"{what} must be more than 0 seconds and at most a year, got {shown(value)}."
        )
    return seconds


def window_of(value: Any, what: str) -> tuple[int | None, float | None]:
    """``(rows, None)`` for ``"5000 rows"``, ``(None, seconds)`` for a duration."""
    m = _ROWS_RE.match(value) if isinstance(value, str) else None
    if m is not None:
        rows = int(m.group(1))
        if not 1 <= rows <= _MAX_WINDOW_ROWS:
            raise InvalidInput(
                f"{what} must hold from 1 to {_MAX_WINDOW_ROWS:,} rows, got {shown(value)}."
            )
        return rows, None
    try:
        return None, duration(value, what)
    except InvalidInput:
        raise InvalidInput(
            f"{what} must be a duration ('1h', '15m', '1d') or a count ('5000 rows'), got "
            f"{shown(value)}."
        ) from None


def sink_problem(sink: Any) -> str | None:
    """What is wrong with an alert sink, or None: ``log``, ``file:<path>`` or an
    ``http(s)://`` URL."""
    if not isinstance(sink, str) or not sink.strip():
        return f"an alert sink must be a non-empty string, got {shown(sink)}"
    if sink == "log":
        return None
    if sink.startswith("file:"):
        path = sink[len("file:") :]
        if not path or "\x00" in path:
            return f"alert sink {shown(sink)} names no file: expected 'file:alerts.jsonl'"
        return None
    if sink.startswith(("http://", "https://")):
        if any(c.isspace() for c in sink) or len(sink) < len("http://x"):
            return f"alert sink {shown(sink)} is not a URL"
        return None
    return (
        f"unknown alert sink {shown(sink)}: expected 'log', 'file:<path>' or an "
        "http(s):// webhook URL"
    )


def _texts(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} must be a list of strings, got {shown(value)}.")
    return tuple(value)


def settings_from_mapping(raw: Any, where: str, *, name: str | None = None) -> MonitorSettings:
    """Check and read a monitor's settings; ``where`` names them in errors
    (``loopml.toml [monitors.churn]``), ``name`` is the monitor's (the default
    deployment)."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(f"{where} must be a table of settings, got {shown(raw)}.")
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        raise InvalidInput(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(_KEYS[:3])}, "
            f"{', '.join(k for k in _KEYS[5:] if not k.endswith('_seconds'))}."
        )
    deployment = raw.get("deployment", name)
    if deployment is None:
        raise InvalidInput(f'{where} names no deployment: add deployment = "<name>".')
    try:
        parse_deployment_uri(f"deployments:/{deployment}")
    except InvalidInput:
        raise InvalidInput(
            f"{where}: deployment {shown(deployment)} is not a deployment name (letters, "
            "digits, '.', '_', '-')."
        ) from None
    reference = raw.get("reference")
    if reference is not None:
        if not isinstance(reference, str):
            raise InvalidInput(f"{where}: reference must be a data:/ URI, got {shown(reference)}.")
        try:
            parse_uri(reference)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: reference {exc}") from None
        if not reference.startswith("data:/"):
            raise InvalidInput(
                f"{where}: reference must be a dataset version ('data:/churn@3'), got "
                f"{shown(reference)}."
            )
    rows: int | None
    seconds: float | None
    if "window" in raw:
        rows, seconds = window_of(raw["window"], f"{where}: window")
    elif raw.get("window_rows") is not None:
        rows, seconds = window_of(f"{raw['window_rows']} rows", f"{where}: window_rows")
    else:
        rows, seconds = None, duration(raw.get("window_seconds", 3600.0), f"{where}: window")
    min_rows = raw.get("min_rows", 100)
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or not 1 <= min_rows <= 10**9:
        raise InvalidInput(f"{where}: min_rows must be a whole number >= 1, got {shown(min_rows)}.")
    slices = _texts(raw.get("slices", ()), f"{where}: slices")
    target = raw.get("target")
    if target is not None and (not isinstance(target, str) or not target):
        raise InvalidInput(f"{where}: target must be a column name, got {shown(target)}.")
    task = raw.get("task")
    if task is not None and task not in TASKS:
        raise InvalidInput(f"{where}: task must be one of {', '.join(TASKS)}, got {shown(task)}.")
    drift = raw.get("drift", {})
    if not isinstance(drift, Mapping):
        raise InvalidInput(
            f"{where}: drift must be a table of DriftConfig options, got {shown(drift)}."
        )
    try:
        as_config(dict(drift))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: drift: {exc}") from None
    alerts = _texts(raw.get("alerts", ()), f"{where}: alerts")
    rules = tuple(parse_rule(a).text for a in alerts)
    sinks = _texts(raw.get("sinks", ("log",)), f"{where}: sinks")
    for sink in sinks:
        problem = sink_problem(sink)
        if problem:
            raise InvalidInput(f"{where}: {problem}.")
    cooldown = duration(
        raw.get("cooldown", raw.get("cooldown_seconds", 3600.0)), f"{where}: cooldown"
    )
    delay = duration(
        raw.get("label_delay", raw.get("label_delay_seconds", 86400.0)), f"{where}: label_delay"
    )
    return MonitorSettings(
        deployment=str(deployment),
        reference=reference,
        window_rows=rows,
        window_seconds=seconds,
        min_rows=min_rows,
        slices=slices,
        target=target,
        task=task,
        drift=dict(drift),
        alerts=rules,
        sinks=sinks,
        cooldown_seconds=cooldown,
        label_delay_seconds=delay,
    )
