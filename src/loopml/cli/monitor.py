"""``loopml monitor``: add, list and remove monitors; run them once or as a daemon; show
their status, their alerts and an HTML report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console, fmt_time
from loopml.cli._table import Column, Format, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.monitoring import Alert, Monitor, MonitorWindow, RunReport

app = typer.Typer(
    help="Watch a deployment's prediction log: add, list, delete, run, status, report, alerts.",
    no_args_is_help=True,
)

#: the metrics a window's row shows, when the window has them
_KEY_METRICS = (
    ("drift_share", "drift share"),
    ("prediction_drift", "prediction drift"),
    ("data.missing_rate", "missing"),
    ("system.error_rate", "errors"),
    ("system.p99_latency_ms", "p99 ms"),
    ("live.f1", "live f1"),
    ("live.mae", "live mae"),
    ("estimated.f1", "est. f1"),
    ("estimated.roc_auc", "est. auc"),
    ("estimated.mae", "est. mae"),
)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="The monitor's name."),
    deployment: str = typer.Option(
        None, "--deployment", metavar="NAME", help="The deployment to watch (default: NAME)."
    ),
    reference: str = typer.Option(
        None,
        "--reference",
        metavar="URI",
        help="The dataset version to compare with (default: the served model's training "
        "data, from lineage).",
    ),
    window: str = typer.Option(
        "1h", "--window", help="A duration ('1h', '15m', '1d') or a count ('5000 rows')."
    ),
    min_rows: int = typer.Option(
        100, "--min-rows", metavar="N", help="Fewer rows than this: no checks, no alarm."
    ),
    slices: list[str] = typer.Option(
        [], "--slice", metavar="COLUMN", help="Measure live performance per value (repeat)."
    ),
    target: str = typer.Option(
        None, "--target", metavar="COLUMN", help="The reference's label column."
    ),
    task: str = typer.Option(None, "--task", help="classification or regression."),
    alerts: list[str] = typer.Option(
        [], "--alert", metavar="RULE", help="An alert rule, e.g. 'drift_share > 0.3' (repeat)."
    ),
    sinks: list[str] = typer.Option(
        [],
        "--sink",
        metavar="SINK",
        help="Where alerts go: log, file:PATH or an http(s):// webhook (repeat; default log).",
    ),
    cooldown: str = typer.Option(
        "1h", "--cooldown", help="Resend a firing alert at most this often."
    ),
    label_delay: str = typer.Option(
        "1d", "--label-delay", help="How long feedback may still arrive after a window."
    ),
    replace: bool = typer.Option(False, "--replace", help="Change an existing monitor."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Add monitor NAME of a deployment (its windows are computed by loopml monitor run)."""
    from loopml.monitoring import add_monitor

    _options.use_stores(tracking_uri, artifact_uri)
    monitor = add_monitor(
        name,
        deployment,
        reference=reference,
        window=window,
        min_rows=min_rows,
        slices=slices,
        target=target,
        task=task,
        alerts=alerts,
        sinks=sinks or ["log"],
        cooldown=cooldown,
        label_delay=label_delay,
        replace=replace,
    )
    s = monitor.settings
    console.print(
        f"Monitor {escape(monitor.name)} watches deployment {escape(s.deployment)} in windows "
        f"of {s.window}"
        + (f" against {escape(s.reference)}" if s.reference else " against its training data")
        + (f"; {len(s.alerts)} alert rule(s)" if s.alerts else "")
        + ". Run: loopml monitor run --once",
        highlight=False,
    )


_MONITOR_COLUMNS = [
    Column("name", required=True, max_width=30),
    Column("deployment", required=True, max_width=30),
    Column("window"),
    Column("reference", max_width=40),
    Column("alerts", max_width=60),
    Column("cursor", kind="time"),
    Column("updated", kind="age"),
]


def _monitor_row(m: Monitor) -> dict[str, Any]:
    return {
        "name": m.name,
        "deployment": m.deployment,
        "window": m.settings.window,
        "reference": m.settings.reference or "(training data)",
        "alerts": "; ".join(m.settings.alerts),
        "cursor": m.cursor,
        "updated": m.updated_at,
    }


@app.command("list")
def list_(
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """List the monitors (those loopml.toml declares included)."""
    from loopml.monitoring import list_monitors

    _options.use_stores(tracking_uri, artifact_uri)
    emit(
        [_monitor_row(m) for m in list_monitors()],
        _MONITOR_COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        empty="No monitors yet. Add one: loopml monitor add NAME --deployment DEPLOYMENT",
    )


@app.command("delete")
def delete(
    name: str = typer.Argument(..., help="The monitor to remove."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Remove monitor NAME and its windows (its firing alerts are resolved)."""
    from loopml.monitoring import delete_monitor

    _options.use_stores(tracking_uri, artifact_uri)
    gone = delete_monitor(name)
    console.print(f"Removed monitor {escape(gone.name)}.", highlight=False)


_WINDOW_COLUMNS = [
    Column("monitor", required=True, max_width=24),
    Column("start", kind="time", required=True),
    Column("rows", kind="number", required=True),
    Column("status", kind="status", required=True),
    *[Column(key, header=header, kind="number") for key, header in _KEY_METRICS],
    Column("note", max_width=60),
]


def _window_row(w: MonitorWindow) -> dict[str, Any]:
    row: dict[str, Any] = {
        "monitor": w.monitor,
        "start": w.start,
        "rows": w.rows,
        "status": str(w.status),
    }
    for key, _ in _KEY_METRICS:
        value = w.metrics.get(key)
        row[key] = None if value is None else round(value, 4)
    notes = w.details.get("notes") or []
    row["note"] = w.error or (notes[-1] if notes else "")
    return row


def _print_run(report: RunReport, fmt: Format, quiet: bool) -> None:
    if not quiet or fmt is not Format.table:
        emit(
            [_window_row(w) for w in report.windows],
            _WINDOW_COLUMNS,
            fmt=fmt,
            empty="No window is due yet.",
        )
    for alert in report.alerts:
        colour = "red" if str(alert.status) == "FIRING" else "green"
        err_console.print(
            f"[{colour}]{alert.status}[/] {escape(str(alert.uri))} {escape(alert.monitor)}: "
            f"{escape(alert.message)}",
            highlight=False,
        )
    for name, problem in report.failures.items():
        err_console.print(
            f"[red]monitor {escape(name)} failed:[/] {escape(problem)}", highlight=False
        )


@app.command("run")
def run(
    names: list[str] = typer.Argument(None, help="The monitors to run (default: all)."),
    once: bool = typer.Option(
        False, "--once", help="Compute the due windows once and exit (for cron or CI)."
    ),
    interval: float = typer.Option(
        60.0, "--interval", metavar="SECONDS", help="Without --once: seconds between runs."
    ),
    fmt: Format = _options.output_format(),
    quiet: bool = _options.quiet(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Compute every window that is due, store its results and apply the alert rules.

    With --once, exit with status 1 when a monitor could not run. Without it, run every
    --interval seconds until stopped (SIGTERM or Ctrl-C end it between runs).
    """
    import signal
    import threading

    from loopml import _validate
    from loopml.monitoring import run_monitors

    _options.use_stores(tracking_uri, artifact_uri)
    if not once and not (0.1 <= _validate.seconds(interval, "--interval") <= 86400):
        raise typer.BadParameter(f"--interval must be from 0.1 to 86400 seconds, got {interval}.")
    if once:
        report = run_monitors(names or None)
        _print_run(report, fmt, quiet)
        if report.failures:
            raise typer.Exit(1)
        return
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if not quiet:
        err_console.print(f"Monitoring every {interval:g} s; stop with Ctrl-C or SIGTERM.")
    while not stop.is_set():
        report = run_monitors(names or None)
        if report.windows or report.alerts or report.failures:
            _print_run(report, fmt, quiet)
        stop.wait(interval)
    if not quiet:
        err_console.print("Stopped.")


@app.command("status")
def status(
    name: str = typer.Argument(None, help="One monitor: its last windows (default: all)."),
    last: int = typer.Option(10, "--last", metavar="N", help="With NAME: its last N windows."),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Each monitor's last window and firing alerts; with NAME, its last windows."""
    from loopml.monitoring import AlertStatus, get_monitor_windows, list_alerts, list_monitors

    _options.use_stores(tracking_uri, artifact_uri)
    if name is not None:
        from loopml.monitoring import get_monitor

        monitor = get_monitor(name)
        windows = get_monitor_windows(monitor.name, last=last)
        emit(
            [_window_row(w) for w in reversed(windows)],
            _WINDOW_COLUMNS,
            fmt=fmt,
            columns_arg=columns,
            empty=f"No window of {monitor.name} yet. Run: loopml monitor run --once",
        )
        firing = list_alerts(monitor.name, AlertStatus.FIRING)
    else:
        rows = []
        for monitor in list_monitors():
            found = get_monitor_windows(monitor.name, last=1)
            if found:
                rows.append(_window_row(found[0]))
            else:
                rows.append({"monitor": monitor.name, "status": "", "note": "no window yet"})
        emit(
            rows,
            _WINDOW_COLUMNS,
            fmt=fmt,
            columns_arg=columns,
            empty="No monitors yet. Add one: loopml monitor add NAME --deployment DEPLOYMENT",
        )
        firing = list_alerts(status=AlertStatus.FIRING)
    if fmt is Format.table:
        for alert in firing:
            console.print(
                f"[red]FIRING[/] {escape(str(alert.uri))} {escape(alert.monitor)}: "
                f"{escape(alert.rule)} (value {alert.value:.4g}, since "
                f"{fmt_time(alert.opened_at)})"
                if alert.value is not None
                else f"[red]FIRING[/] {escape(str(alert.uri))} {escape(alert.rule)}",
                highlight=False,
            )


_ALERT_COLUMNS = [
    Column("uri", header="alert", required=True),
    Column("monitor", required=True, max_width=24),
    Column("rule", required=True, max_width=40),
    Column("status", kind="status", required=True),
    Column("value", kind="number"),
    Column("opened", kind="time"),
    Column("resolved", kind="time"),
    Column("delivered", max_width=60),
]


def _alert_row(a: Alert) -> dict[str, Any]:
    sent = ", ".join(f"{d.sink}: {'ok' if d.ok else 'failed'}" for d in a.deliveries)
    return {
        "uri": str(a.uri),
        "monitor": a.monitor,
        "rule": a.rule,
        "status": str(a.status),
        "value": None if a.value is None else round(a.value, 4),
        "opened": a.opened_at,
        "resolved": a.resolved_at,
        "delivered": sent,
    }


@app.command("alerts")
def alerts(
    name: str = typer.Argument(None, help="One monitor's alerts (default: every monitor's)."),
    all_: bool = typer.Option(False, "--all", help="Resolved alerts too, not just firing ones."),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """The firing alerts (with --all, resolved ones too), newest first."""
    from loopml.monitoring import AlertStatus, list_alerts

    _options.use_stores(tracking_uri, artifact_uri)
    found = list_alerts(name, None if all_ else AlertStatus.FIRING)
    emit(
        [_alert_row(a) for a in found],
        _ALERT_COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        empty="No alerts." if all_ else "No firing alerts (--all shows resolved ones).",
    )


@app.command("report")
def report(
    name: str = typer.Argument(..., help="The monitor."),
    html: str = typer.Option(..., "--html", metavar="PATH", help="Write the HTML report here."),
    last: int = typer.Option(
        None, "--last", metavar="N", help="Only the last N windows (default: all)."
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Write a self-contained HTML report of monitor NAME: drift and metrics over time,
    reference vs current distributions, alerts."""
    from loopml import _validate
    from loopml.monitoring import write_monitor_report

    _options.use_stores(tracking_uri, artifact_uri)
    _validate.writable(html, "HTML report path")
    path = write_monitor_report(name, html, last=last)
    console.print(f"HTML report written to {escape(str(path))}", highlight=False)
