"""Monitors: add, list, run and read them.

A monitor watches one deployment's prediction log in windows (by time, aligned to
multiples of the window since the epoch, or by count) and stores each window's
results; see :mod:`loopml.monitoring._window` for the checks and their metric names.
``[monitors.<name>]`` tables of loopml.toml are added (or brought up to date) before
every run and listing, so the file and ``loopml monitor add`` are two ways to the same
rows.

Example::

    loopml.monitoring.add_monitor("churn", deployment="churn", window="1h",
                                  alerts=["drift_share > 0.3", "live.f1 < 0.8"])
    loopml.monitoring.run_monitors()          # computes every window that is due
    loopml.get_monitor_results("churn")       # one row per window, one column per metric
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml.context import current
from loopml.errors import Conflict, CorruptRecord, InvalidInput, LoopmlError, NotFound
from loopml.monitoring import _repository as repo
from loopml.monitoring._records import Monitor, MonitorSettings, MonitorWindow, WindowStatus
from loopml.monitoring._settings import settings_from_mapping
from loopml.uri import check_name

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "RunReport",
    "add_monitor",
    "delete_monitor",
    "get_monitor",
    "get_monitor_results",
    "get_monitor_windows",
    "list_monitors",
    "run_monitors",
    "sync_monitors",
]

#: at most this many windows of one monitor are computed by one run (the next run goes on)
MAX_WINDOWS_PER_RUN = 1000


@dataclass
class RunReport:
    """What one :func:`run_monitors` did: the ``windows`` it stored, the ``alerts`` it
    opened, repeated or resolved, and ``failures`` (monitor → message) of monitors it
    could not run."""

    windows: list[MonitorWindow] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    refreshed: int = 0


def _name(name: Any) -> str:
    return check_name(name, "monitor name")


def add_monitor(
    name: str,
    deployment: str | None = None,
    *,
    reference: str | None = None,
    window: str | int = "1h",
    min_rows: int = 100,
    slices: Sequence[str] = (),
    target: str | None = None,
    task: str | None = None,
    drift: dict[str, Any] | None = None,
    alerts: Sequence[str] = (),
    sinks: Sequence[str] = ("log",),
    cooldown: str | float = "1h",
    label_delay: str | float = "1d",
    replace: bool = False,
) -> Monitor:
    """Add monitor ``name`` of ``deployment`` (default: the deployment named ``name``).

    ``window`` is a duration (``"1h"``, ``"15m"``, ``"1d"``) or a count (``"5000 rows"``,
    or an int of rows); ``reference`` a dataset version (default: the served model's
    training data, from lineage); see :class:`~loopml.monitoring.MonitorSettings` for the
    rest. The deployment must exist and the reference must be found now, not at the first
    run. ``replace=True`` changes an existing monitor's settings (Conflict otherwise).
    """
    name = _name(name)
    raw: dict[str, Any] = {
        "deployment": deployment if deployment is not None else name,
        "window": f"{window} rows"
        if isinstance(window, int) and not isinstance(window, bool)
        else window,
        "min_rows": min_rows,
        "slices": list(slices) if not isinstance(slices, str) else [slices],
        "alerts": list(alerts) if not isinstance(alerts, str) else [alerts],
        "sinks": list(sinks) if not isinstance(sinks, str) else [sinks],
        "cooldown": cooldown,
        "label_delay": label_delay,
    }
    for key, value in (("reference", reference), ("target", target), ("task", task)):
        if value is not None:
            raw[key] = value
    if drift:
        raw["drift"] = drift
    settings = settings_from_mapping(raw, f"monitor {name!r}")
    meta = current().metadata
    try:
        existing = repo.find_monitor(meta, name)
    except CorruptRecord:
        if not replace:
            raise
        existing = None  # damaged stored settings: replacing them is the way out
    if existing is not None and not replace:
        raise Conflict(
            f"monitor {name!r} exists already (of deployment {existing.deployment!r}); "
            "change it with --replace (replace=True), or remove it first: loopml monitor "
            f"delete {name}"
        )
    _check_reference(settings)
    return repo.save_monitor(meta, name, settings)


def _deployment(name: str) -> Any:
    from loopml.deployments import get_deployment

    return get_deployment(name)


def _check_reference(settings: MonitorSettings) -> None:
    """The deployment exists and the reference can be found (NotFound / InvalidInput)."""
    dep = _deployment(settings.deployment)
    if settings.reference is not None:
        from loopml.data import get_dataset

        try:
            get_dataset(settings.reference)
        except NotFound as exc:
            raise InvalidInput(
                f"the reference {settings.reference} does not exist ({exc}); give a dataset "
                "version that does (loopml data list)."
            ) from None
        return
    from loopml.monitoring._reference import training_data_of
    from loopml.uri import ModelURI

    model_uri = str(ModelURI(dep.model_name, dep.version))
    found = training_data_of(model_uri)
    if len(found) != 1:
        what = "no dataset version" if not found else f"several ({', '.join(found)})"
        raise InvalidInput(
            f"deployment {settings.deployment!r} serves {model_uri}, and lineage shows {what} "
            "upstream of it: give the reference explicitly, e.g. --reference "
            "data:/<dataset>@<version>."
        )


def sync_monitors() -> list[Monitor]:
    """Add or bring up to date the monitors ``[monitors.<name>]`` in loopml.toml declares;
    returns those that changed."""
    ctx = current()
    changed = []
    for name, table in sorted(ctx.settings.monitors.items()):
        settings = settings_from_mapping(table, f"loopml.toml [monitors.{name}]", name=name)
        try:
            found = repo.find_monitor(ctx.metadata, name)
        except CorruptRecord:  # damaged stored settings: loopml.toml's replace them
            found = None
        if found is not None and found.settings == settings:
            continue
        changed.append(repo.save_monitor(ctx.metadata, name, settings))
    return changed


def get_monitor(name: str) -> Monitor:
    """Monitor ``name``; NotFound naming the monitors there are."""
    sync_monitors()
    return repo.get_monitor(current().metadata, _name(name))


def list_monitors() -> list[Monitor]:
    """Every monitor, by name."""
    sync_monitors()
    return repo.list_monitors(current().metadata)


def delete_monitor(name: str) -> Monitor:
    """Remove monitor ``name`` and its windows (its firing alerts are resolved). A monitor
    loopml.toml declares comes back on the next run: remove its table there too."""
    return repo.delete_monitor(current().metadata, _name(name))


# -- running -------------------------------------------------------------------------


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(timezone.utc)
    if not isinstance(at, datetime):
        raise InvalidInput(f"now must be a datetime, got {_validate.shown(at)}.")
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def _floor(at: datetime, seconds: float) -> datetime:
    stamp = at.timestamp()
    return datetime.fromtimestamp(math.floor(stamp / seconds) * seconds, timezone.utc)


def _first_timestamp(deployment: str, start: datetime | None) -> datetime | None:
    from loopml.predictions import read_predictions

    frame = read_predictions(deployment, start=start, columns=["timestamp"])
    if frame.empty:
        return None
    return frame["timestamp"].iloc[0].to_pydatetime()


def _reference(monitor: Monitor, dep: Any) -> tuple[Any, str | None]:
    from loopml.monitoring._reference import reference_for

    s = monitor.settings
    try:
        return reference_for(
            s.reference, dep.name, dep.model_name, dep.version, target=s.target, task=s.task
        ), None
    except LoopmlError as exc:
        return None, str(exc)


def _window_record(
    monitor: Monitor,
    start: datetime,
    end: datetime,
    frame: pd.DataFrame,
    dep: Any,
) -> MonitorWindow:
    from loopml.monitoring._window import compute_window

    ref, problem = _reference(monitor, dep)
    seconds = max((end - start).total_seconds(), 1e-6)
    try:
        result = compute_window(frame, seconds, monitor.settings, ref)
    except (LoopmlError, ValueError, TypeError, KeyError) as exc:
        return MonitorWindow(
            0,
            monitor.name,
            start,
            end,
            len(frame),
            WindowStatus.FAILED,
            None if ref is None else ref.uri,
            {"rows": float(len(frame))},
            {},
            f"{type(exc).__name__}: {exc}",
            time.time(),
        )
    from loopml.predictions import feedback_files

    details = result.details
    details["models"] = _versions(frame)
    mark = _mark(feedback_files(dep.name))
    if ref is not None:
        details["task"] = ref.task
        details["positive"] = None if ref.positive is None else str(ref.positive)
    status = WindowStatus.OK if result.enough else WindowStatus.TOO_FEW_ROWS
    error = None
    if problem is not None and result.enough:
        status, error = WindowStatus.FAILED, problem
    return MonitorWindow(
        0,
        monitor.name,
        start,
        end,
        len(frame),
        status,
        None if ref is None else ref.uri,
        result.metrics,
        details,
        error,
        time.time(),
        mark,
    )


def _versions(frame: pd.DataFrame) -> dict[str, int]:
    if frame.empty or "model_version" not in frame.columns:
        return {}
    counts = frame.groupby(["model_name", "model_version"], dropna=False).size()
    return {f"{name}/{version}": int(n) for (name, version), n in counts.items()}


def _windows_by_time(
    monitor: Monitor, dep: Any, now: datetime, limit: int
) -> list[tuple[datetime, datetime, pd.DataFrame]]:
    from loopml.predictions import read_predictions

    seconds = float(monitor.settings.window_seconds or 3600.0)
    start = monitor.cursor
    if start is None:
        first = _first_timestamp(dep.name, None)
        if first is None:
            return []
        start = _floor(first, seconds)
    out: list[tuple[datetime, datetime, pd.DataFrame]] = []
    step = timedelta(seconds=seconds)
    while start + step <= now and len(out) < limit:
        end = start + step
        out.append((start, end, read_predictions(dep.name, start, end, with_feedback=True)))
        start = end
    return out


def _windows_by_count(
    monitor: Monitor, dep: Any, limit: int
) -> list[tuple[datetime, datetime, pd.DataFrame]]:
    from loopml.predictions import read_predictions

    size = int(monitor.settings.window_rows or 1)
    frame = read_predictions(dep.name, start=monitor.cursor, with_feedback=True)
    out: list[tuple[datetime, datetime, pd.DataFrame]] = []
    at = 0
    start = monitor.cursor
    stamps = frame["timestamp"] if len(frame) else None
    while len(frame) - at >= size and len(out) < limit:
        assert stamps is not None
        stop = at + size
        last = stamps.iloc[stop - 1]
        while stop < len(frame) and stamps.iloc[stop] == last:  # one timestamp, one window
            stop += 1
        end = last.to_pydatetime() + timedelta(microseconds=1)
        first = start or stamps.iloc[at].to_pydatetime()
        out.append((first, end, frame.iloc[at:stop].reset_index(drop=True)))
        at, start = stop, end
    return out


def _run_one(
    monitor: Monitor,
    now: datetime,
    limit: int,
    report: RunReport,
    progress: Callable[[str, int], None] | None,
) -> None:
    meta = current().metadata
    dep = _deployment(monitor.deployment)
    if monitor.settings.window_rows is not None:
        pending = _windows_by_count(monitor, dep, limit)
    else:
        pending = _windows_by_time(monitor, dep, now, limit)
    cursor = monitor.cursor
    _rules_again(monitor, report)
    for start, end, frame in pending:
        record = _window_record(monitor, start, end, frame, dep)
        if record.status == WindowStatus.FAILED and record.reference is None:
            # the reference could not be prepared: keep the window for when it can be
            report.failures[monitor.name] = (
                f"window from {start.isoformat()}: {record.error} (windows wait until this "
                "is fixed; none was stored)"
            )
            break
        stored = repo.store_window(meta, monitor.name, cursor, record)
        if stored is None:  # another runner stored this window first
            return
        cursor = stored.end
        alerts = _rules(monitor, stored)
        if alerts and any(a.status == "FIRING" for a in alerts):
            repo.update_window(meta, stored.id, status=WindowStatus.ALERT)
            stored = replace(stored, status=WindowStatus.ALERT)
        report.windows.append(stored)
        report.alerts.extend(alerts)
        if progress is not None:
            progress(monitor.name, 1)
    report.refreshed += _refresh_live(monitor, dep, now, report)


def _refresh_live(monitor: Monitor, dep: Any, now: datetime, report: RunReport) -> int:
    """Compute live performance again for windows recent enough that feedback may still
    have arrived (``label_delay``), and apply the rules again to the newest window."""
    from loopml.monitoring._window import WindowResult, live_metrics
    from loopml.predictions import feedback_files, read_predictions

    meta = current().metadata
    mark = _mark(feedback_files(dep.name))
    since = now - timedelta(seconds=monitor.settings.label_delay_seconds)
    fresh = {w.id for w in report.windows}
    recent = [
        w
        for w in repo.windows_of(meta, monitor.name, start=since - _length(monitor), details=False)
        if w.end > since
        and w.status in (WindowStatus.OK, WindowStatus.ALERT)
        and w.id not in fresh
        and w.metrics.get("live.labelled_share", 0.0) < 1.0
        and w.feedback_mark != mark
    ]
    changed = 0
    latest: MonitorWindow | None = None
    for window in recent:
        frame = read_predictions(dep.name, window.start, window.end, with_feedback=True)
        frame = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
        labelled = int(frame["ground_truth"].notna().sum()) if "ground_truth" in frame else 0
        if labelled == int(window.metrics.get("live.labelled", 0)):
            repo.update_window(meta, window.id, feedback_mark=mark)
            continue
        stored = repo.get_window(meta, window.id)
        result = WindowResult()
        live_metrics(frame, monitor.settings, _Stored(stored.details), result)
        metrics = {k: v for k, v in stored.metrics.items() if not k.startswith("live.")}
        metrics.update(result.metrics)
        details = dict(stored.details)
        if "slices" in result.details:
            details["slices"] = result.details["slices"]
        repo.update_window(meta, window.id, metrics=metrics, details=details, feedback_mark=mark)
        latest = replace(stored, metrics=metrics, details=details, feedback_mark=mark)
        changed += 1
    newest = repo.windows_of(meta, monitor.name, limit=1, details=False)
    if latest is not None and newest and newest[0].id == latest.id:
        report.alerts.extend(_rules(monitor, latest))
    return changed


def _rules(monitor: Monitor, window: MonitorWindow) -> list[Any]:
    if not monitor.settings.alerts:
        return []
    from loopml.monitoring._alerts import apply_rules

    return apply_rules(current().metadata, monitor, window)


def _rules_again(monitor: Monitor, report: RunReport) -> None:
    """Apply the rules to the newest stored window once more: a runner killed after
    storing a window and before applying its rules must not lose the incident (the
    window is never computed again). A rule applied to it already sends nothing."""
    if not monitor.settings.alerts:
        return
    from loopml.monitoring._alerts import apply_rules

    meta = current().metadata
    newest = repo.windows_of(meta, monitor.name, limit=1, details=False)
    if not newest:
        return
    alerts = apply_rules(meta, monitor, newest[0], again=True)
    if newest[0].status == WindowStatus.OK and any(a.status == "FIRING" for a in alerts):
        repo.update_window(meta, newest[0].id, status=WindowStatus.ALERT)
    report.alerts.extend(alerts)


def _mark(files: list[str]) -> str:
    """The feedback log's state: its file count and newest file (new feedback, new mark)."""
    return f"{len(files)}:{files[-1] if files else ''}"


class _Stored:
    """What live performance needs of a reference (the task, the positive class), as the
    window's computation recorded it: refreshing live metrics never loads the model."""

    def __init__(self, details: dict[str, Any]) -> None:
        self.task = details.get("task")
        self.positive = details.get("positive")


def _length(monitor: Monitor) -> timedelta:
    return timedelta(seconds=monitor.settings.window_seconds or 0.0)


def run_monitors(
    names: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    max_windows: int = MAX_WINDOWS_PER_RUN,
    progress: Callable[[str, int], None] | None = None,
) -> RunReport:
    """Compute every window that is due for the monitors ``names`` (default: all), store
    their results, and apply their alert rules. A time window is due once it has ended
    (before ``now``, default the current time); a count window once it is full. A
    monitor that cannot run (its deployment was deleted, its reference is gone) is listed
    in ``failures`` and the others go on; serving is never touched.
    """
    when = _utc(now)
    _validate.count(max_windows, "max_windows")
    sync_monitors()
    meta = current().metadata
    if names is None:
        wanted = repo.monitor_names(meta)
    else:
        wanted = [_name(n) for n in names]
        known = set(repo.monitor_names(meta))
        for name in wanted:  # an unknown name is an error before anything runs
            if name not in known:
                repo.get_monitor(meta, name)
    report = RunReport()
    for name in wanted:
        try:  # one monitor that cannot be read or run (damaged settings...) stops no other
            _run_one(repo.get_monitor(meta, name), when, max_windows, report, progress)
        except LoopmlError as exc:
            report.failures[name] = str(exc)
    return report


def get_monitor_windows(
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    last: int | None = None,
) -> list[MonitorWindow]:
    """The stored windows of monitor ``name`` that start in [start, end) (the ``last`` N
    when given), oldest first, as records with their details (per-column drift,
    slices, notes)."""
    if last is not None:
        _validate.count(last, "last")
    return repo.windows_of(
        current().metadata,
        _name(name),
        start=None if start is None else _utc(start),
        end=None if end is None else _utc(end),
        limit=last,
    )


def get_monitor_results(
    name: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    last: int | None = None,
) -> pd.DataFrame:
    """The stored windows of monitor ``name`` that start in [start, end) (the ``last`` N
    when given), oldest first, as a pandas DataFrame: ``id, start, end, rows, status,
    reference, error`` and one column per metric (``drift_share``, ``live.f1``,
    ``estimated.roc_auc``, ``system.p99_latency_ms``...; NaN where a window has none).

    Example::

        results = loopml.get_monitor_results("churn", last=24)
        results[["start", "drift_share", "live.f1", "estimated.f1"]]
    """
    import pandas as pd

    windows = get_monitor_windows(name, start, end, last=last)
    fixed = ["id", "start", "end", "rows", "status", "reference", "error"]
    rows = [
        {
            "id": w.id,
            "start": w.start,
            "end": w.end,
            "rows": w.rows,
            "status": str(w.status),
            "reference": w.reference,
            "error": w.error,
            **w.metrics,
        }
        for w in windows
    ]
    frame = pd.DataFrame(rows, columns=None if rows else fixed)
    metric_columns = sorted(c for c in frame.columns if c not in fixed)
    return frame[fixed + metric_columns]
