"""The HTML report of a monitor: its windows over time, in one self-contained file.

:func:`write_monitor_report` draws, from the stored windows alone:

- a header: the monitor, its deployment, reference and window, how many windows, the
  last one's status and notes, and the alerts firing now;
- over time (x = window start, UTC): rows per window coloured by status; the drift
  share and each column's drift score with the thresholds dashed; live performance
  from feedback next to the performance estimated before labels arrive (dashed), so
  decay shows before the labels do; data quality rates; request and error rates;
  latency percentiles. Windows with too few rows, failed ones and those that raised an
  alert are marked along the top of every chart, and each alert rule is drawn dotted on
  the chart of its metric;
- the reference's distribution of each column next to the latest window's (one small
  bar chart per column, drifted columns first);
- a table of the last windows' key metrics.

plotly.js is inlined once (the first chart carries it), so the file opens offline.
Every text that came from users or data (a column, a category, a note, a rule) is
escaped. Figures are built as plain dicts and serialised without plotly's validation:
a thousand windows render in well under a second, and only the windows whose details the
page shows have them read from the store.

Example::

    loopml.monitoring.write_monitor_report("churn", "churn.html", last=168)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from loopml import _validate
from loopml._files import write_text
from loopml.context import current
from loopml.errors import InvalidInput, MissingExtra
from loopml.monitoring import _repository as repo
from loopml.monitoring._monitor import get_monitor
from loopml.monitoring._records import Alert, AlertStatus, Monitor, MonitorWindow, WindowStatus
from loopml.monitoring._rules import Rule, parse_rule
from loopml.uri import check_name

__all__ = ["render_monitor_report", "write_monitor_report"]

#: rows of the table of the last windows
TABLE_ROWS = 50
#: a numeric column's reference quantile bins are grouped into at most this many bars
BARS = 20

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;
max-width:1280px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0 1rem;min-width:40%}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#757575}.chart{margin:.5rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:.5rem 1rem}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.7rem;color:#fff;font-weight:600}
.OK{background:#2e7d32}.ALERT,.FIRING{background:#c62828}.TOO_FEW_ROWS{background:#9e9e9e}
.FAILED{background:#4a148c}
"""
_STATUS_COLOURS = {
    WindowStatus.OK: "#2e7d32",
    WindowStatus.ALERT: "#c62828",
    WindowStatus.TOO_FEW_ROWS: "#9e9e9e",
    WindowStatus.FAILED: "#4a148c",
}
_MARKS = (
    (WindowStatus.ALERT, "triangle-down", "alert raised"),
    (WindowStatus.TOO_FEW_ROWS, "x", "too few rows"),
    (WindowStatus.FAILED, "x-thin-open", "failed"),
)
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_REF, _CUR = "#1e88e5", "#fb8c00"
_CONFIG = {"displaylogo": False, "responsive": True}


def write_monitor_report(name: str, path: str | Path, *, last: int | None = None) -> Path:
    """Write the HTML report of monitor ``name`` to ``path`` (atomically) and return the
    path: its windows over time (the ``last`` N when given), the latest distributions
    against the reference, firing alerts. One file, no network needed to open it. Needs
    the ``report`` extra (plotly).

    Example::

        loopml.monitoring.write_monitor_report("churn", "churn.html", last=168)
    """
    name = check_name(name, "monitor name")
    if last is not None:
        _validate.count(last, "last")
    target = _validate.writable(path, "HTML report path")
    _plotly()
    monitor = get_monitor(name)
    meta = current().metadata
    windows = _windows(meta, name, last)
    alerts = repo.alerts_of(meta, name, AlertStatus.FIRING)
    text = render_monitor_report(monitor, windows, alerts, last=last)
    return write_text(target, text, "HTML report")


def _windows(meta: Any, name: str, last: int | None) -> list[MonitorWindow]:
    """The windows to draw, oldest first: every one's metrics, and the details (notes,
    drift histograms: the bulk of a stored window) of the last :data:`TABLE_ROWS` and of
    the newest one with drift details, the only ones the page shows."""
    windows = repo.windows_of(meta, name, limit=last, details=False)
    if not windows:
        return windows
    recent = windows[-TABLE_ROWS:]
    found = {w.id: w for w in repo.windows_of(meta, name, start=recent[0].start)}
    if not any(isinstance(found.get(w.id, w).details.get("drift"), dict) for w in recent):
        drifted = [w for w in windows if "drift_share" in w.metrics]
        if drifted:
            w = drifted[-1]
            found.update((x.id, x) for x in repo.windows_of(meta, name, start=w.start, end=w.end))
    return [found.get(w.id, w) for w in windows]


def _plotly() -> Any:
    try:
        import plotly.io as pio
    except ImportError:
        raise MissingExtra("the monitor's HTML report", "report", "plotly") from None
    return pio


# -- the page ----------------------------------------------------------------------


class _Page:
    """The report's HTML fragments; the first chart added carries plotly.js."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.charts = 0

    def add(self, html: str) -> None:
        self.parts.append(html)

    def chart(self, figure: dict[str, Any]) -> str:
        pio = _plotly()
        html = pio.to_html(
            figure,
            full_html=False,
            include_plotlyjs=self.charts == 0,
            validate=False,
            div_id=f"chart-{self.charts}",
            config=_CONFIG,
            default_width="100%",
            default_height=f"{figure['layout'].get('height', 300)}px",
        )
        self.charts += 1
        return f'<div class="chart">{html}</div>'


def render_monitor_report(
    monitor: Monitor,
    windows: Sequence[MonitorWindow],
    alerts: Sequence[Alert] = (),
    *,
    last: int | None = None,
) -> str:
    """The report of ``monitor`` over ``windows`` (oldest first) as one HTML document."""
    page = _Page()
    _header(page, monitor, windows, alerts, last)
    if not windows:
        page.add(
            "<p>No windows yet: this monitor has computed none. Windows are computed by "
            f"<code>loopml monitor run {escape(monitor.name)}</code> once the deployment "
            "has logged predictions and a window is due (a time window once it has ended, "
            "a count window once it is full).</p>"
        )
    else:
        _over_time(page, monitor, windows)
        _distributions(page, windows)
        _table(page, windows)
    title = f"Monitor {monitor.name}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head><body>",
            f"<h1>{escape(title)}</h1>",
            *page.parts,
            "</body></html>",
            "",
        ]
    )


# -- text helpers ------------------------------------------------------------------


def _when(at: datetime | float | None) -> str:
    if at is None:
        return ""
    if not isinstance(at, datetime):
        at = datetime.fromtimestamp(at, timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _x(at: datetime) -> str:
    """A window's start as plotly reads dates (UTC, no offset)."""
    return at.astimezone(timezone.utc).replace(tzinfo=None).isoformat(sep=" ")


def _num(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return '<span class="muted">–</span>'
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _table_html(
    header: Sequence[str], rows: Iterable[Sequence[str]], numeric: frozenset[int] = frozenset()
) -> str:
    """A table of cells that are HTML already (escaped by the caller); the columns in
    ``numeric`` right-aligned; no header row when ``header`` is empty."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _notes(window: MonitorWindow) -> list[str]:
    notes = window.details.get("notes")
    return [str(n) for n in notes] if isinstance(notes, list) else []


# -- the header --------------------------------------------------------------------


def _header(
    page: _Page,
    monitor: Monitor,
    windows: Sequence[MonitorWindow],
    alerts: Sequence[Alert],
    last: int | None,
) -> None:
    s = monitor.settings
    reference = s.reference or "the served model's training data (from lineage)"
    used = windows[-1].reference if windows else None
    if used and used != s.reference:
        reference += f"; the last window used {used}"
    count = f"{len(windows):,}" + (f" (the last {last} asked for)" if last is not None else "")
    rows: list[tuple[str, str]] = [
        ("monitor", escape(monitor.name)),
        ("deployment", escape(s.deployment)),
        ("reference", escape(reference)),
        ("window", escape(f"{s.window}, at least {s.min_rows:,} rows")),
        ("windows", escape(count)),
    ]
    if windows:
        first, newest = windows[0], windows[-1]
        rows.append(("period", escape(f"{_when(first.start)} to {_when(newest.end)}")))
        rows.append(
            (
                "last window",
                f"{_badge(str(newest.status))} {escape(_when(newest.start))}, {newest.rows:,} rows",
            )
        )
        if newest.error:
            rows.append(("error", escape(newest.error)))
    if s.alerts:
        rows.append(("alert rules", escape(", ".join(s.alerts))))
    page.add(
        "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    )
    if windows:
        notes = _notes(windows[-1])
        if notes:
            items = "".join(f"<li>{escape(n)}</li>" for n in notes)
            page.add(f"<p>Notes of the last window:</p><ul>{items}</ul>")
    page.add(f"<h2>Firing alerts ({len(alerts)})</h2>")
    if not alerts:
        page.add('<p class="muted">No alert is firing.</p>')
        return
    page.add(
        _table_html(
            ["alert", "rule", "value", "since", "message"],
            (
                [
                    escape(str(a.uri)),
                    escape(a.rule),
                    _num(a.value),
                    escape(_when(a.opened_at)),
                    escape(a.message),
                ]
                for a in alerts
            ),
        )
    )


# -- over time ---------------------------------------------------------------------


class _Series:
    """The windows' x values and metric columns, read once."""

    def __init__(self, windows: Sequence[MonitorWindow]) -> None:
        self.windows = windows
        self.x = [_x(w.start) for w in windows]
        keys: dict[str, None] = {}
        for w in windows:
            keys.update(dict.fromkeys(w.metrics))
        self.keys = keys

    def has(self, key: str) -> bool:
        return key in self.keys

    def values(self, key: str) -> list[float | None]:
        return [w.metrics.get(key) for w in self.windows]


def _layout(title: str, y_title: str, height: int = 300, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "font": {"size": 14}},
        "height": height,
        "margin": {"l": 60, "r": 60, "t": 40, "b": 40},
        "xaxis": {"title": {"text": "window start (UTC)"}, "type": "date"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "legend": {"orientation": "h", "y": -0.18},
        "hovermode": "x",
        "plot_bgcolor": "#fff",
        "font": {"family": "system-ui, sans-serif", "size": 11},
    }
    layout.update(extra)
    for axis in ("xaxis", "yaxis", "yaxis2"):
        if axis in layout:
            layout[axis].setdefault("gridcolor", "#eee")
    return layout


def _line(
    series: _Series, key: str, name: str, colour: str, *, dash: str = "solid", axis: str = "y"
) -> dict[str, Any]:
    return {
        "type": "scattergl" if len(series.x) > 2000 else "scatter",
        "mode": "lines+markers" if len(series.x) <= 60 else "lines",
        "x": series.x,
        "y": series.values(key),
        "name": escape(name),
        "line": {"color": colour, "dash": dash, "width": 1.5},
        "marker": {"size": 4},
        "yaxis": axis,
        "hovertemplate": "%{y:.4g}",
    }


def _level(series: _Series, value: float, name: str, colour: str = "#616161") -> dict[str, Any]:
    """A dashed horizontal line across the chart (a threshold, a rule)."""
    return {
        "type": "scatter",
        "mode": "lines",
        "x": [series.x[0], series.x[-1]] if len(series.x) > 1 else [series.x[0]] * 2,
        "y": [value, value],
        "name": escape(_short(name, 80)),
        "line": {"color": colour, "dash": "dash", "width": 1},
        "hoverinfo": "skip",
    }


def _marks(series: _Series) -> list[dict[str, Any]]:
    """The windows that raised an alert, had too few rows or failed, as markers along the
    top of a chart (on a hidden axis of their own)."""
    out = []
    for status, symbol, label in _MARKS:
        picked = [w for w in series.windows if w.status == status]
        if not picked:
            continue
        text = []
        for w in picked:
            why = w.error or "; ".join(_notes(w)[-1:]) or ""
            text.append(escape(_short(f"{label}: {w.rows:,} rows. {why}".strip(), 160)))
        out.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [_x(w.start) for w in picked],
                "y": [1.0] * len(picked),
                "yaxis": "y3",
                "name": label,
                "marker": {"symbol": symbol, "size": 8, "color": _STATUS_COLOURS[status]},
                "text": text,
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    return out


def _rule_levels(series: _Series, rules: Sequence[Rule], keys: Iterable[str]) -> list[Any]:
    shown = set(keys)
    return [
        _level(series, r.threshold, f"rule: {r.text}", "#c62828")
        for r in rules
        if r.metric in shown
    ]


def _chart(
    page: _Page,
    series: _Series,
    rules: Sequence[Rule],
    title: str,
    y_title: str,
    traces: list[dict[str, Any]],
    keys: Iterable[str],
    **layout: Any,
) -> None:
    if not traces:
        return
    data = [*traces, *_rule_levels(series, rules, keys), *_marks(series)]
    fig_layout = _layout(title, y_title, **layout)
    fig_layout["yaxis3"] = {
        "overlaying": "y",
        "range": [0, 1.05],
        "visible": False,
        "fixedrange": True,
    }
    page.add(page.chart({"data": data, "layout": fig_layout}))


def _rules(monitor: Monitor) -> list[Rule]:
    out = []
    for text in monitor.settings.alerts:
        try:
            out.append(parse_rule(text))
        except InvalidInput:
            continue
    return out


def _latest_drift(windows: Sequence[MonitorWindow]) -> tuple[MonitorWindow, dict[str, Any]] | None:
    for w in reversed(windows):
        drift = w.details.get("drift")
        if isinstance(drift, dict) and isinstance(drift.get("columns"), dict):
            return w, drift
    return None


def _over_time(page: _Page, monitor: Monitor, windows: Sequence[MonitorWindow]) -> None:
    series = _Series(windows)
    rules = _rules(monitor)
    page.add("<h2>Over time</h2>")
    _volume(page, series)
    _drift_charts(page, series, rules, windows)
    _performance(page, series, rules)
    quality = [
        ("data.missing_rate", "data.missing_rate (missing cells)"),
        ("data.out_of_range_rate", "data.out_of_range_rate (out of the reference's range)"),
        ("data.unseen_rate", "data.unseen_rate (categories the reference has not)"),
        ("data.type_error_rate", "data.type_error_rate (values of the wrong kind)"),
    ]
    present = [(k, n) for k, n in quality if series.has(k)]
    _chart(
        page,
        series,
        rules,
        "Data quality",
        "share of cells",
        [_line(series, k, n, _COLOURS[i]) for i, (k, n) in enumerate(present)],
        [k for k, _ in present],
        yaxis={"title": {"text": "share of cells"}, "tickformat": ".1%", "rangemode": "tozero"},
    )
    _system(page, series, rules)


def _volume(page: _Page, series: _Series) -> None:
    data = []
    for status in WindowStatus:
        picked = [w for w in series.windows if w.status == status]
        if picked:
            data.append(
                {
                    "type": "bar",
                    "x": [_x(w.start) for w in picked],
                    "y": [w.rows for w in picked],
                    "name": str(status),
                    "marker": {"color": _STATUS_COLOURS[status]},
                    "hovertemplate": "%{y:,} rows<extra>" + str(status) + "</extra>",
                }
            )
    layout = _layout("Rows per window, by status", "rows")
    layout["barmode"] = "stack"
    page.add(page.chart({"data": data, "layout": layout}))


def _drift_charts(
    page: _Page, series: _Series, rules: Sequence[Rule], windows: Sequence[MonitorWindow]
) -> None:
    latest = _latest_drift(windows)
    drift = latest[1] if latest is not None else {}
    if series.has("drift_share"):
        traces = [_line(series, "drift_share", "drift_share", _COLOURS[0])]
        share = drift.get("share_threshold")
        if isinstance(share, (int, float)):
            traces.append(_level(series, float(share), f"dataset drift at {share:.0%}"))
        _chart(
            page,
            series,
            rules,
            "Share of drifted columns",
            "drifted columns / columns",
            traces,
            ["drift_share"],
            yaxis={"title": {"text": "share"}, "tickformat": ".0%", "range": [0, 1.02]},
        )
    columns = [k[len("drift.") :] for k in series.keys if k.startswith("drift.")]
    if not columns and not series.has("prediction_drift"):
        return
    traces = [
        _line(series, f"drift.{c}", c, _COLOURS[i % len(_COLOURS)]) for i, c in enumerate(columns)
    ]
    if series.has("prediction_drift"):
        traces.append(_line(series, "prediction_drift", "prediction", "#000", dash="dot"))
    found: dict[str, Any] = drift.get("columns") or {}
    by_threshold: dict[float, list[str]] = {}
    for c in columns:
        col = found.get(c)
        if isinstance(col, dict) and isinstance(col.get("threshold"), (int, float)):
            by_threshold.setdefault(float(col["threshold"]), []).append(
                f"{c} ({col.get('method')})"
            )
    for threshold, names in sorted(by_threshold.items()):
        traces.append(_level(series, threshold, f"threshold {threshold:g}: {', '.join(names)}"))
    _chart(
        page,
        series,
        rules,
        "Drift score per column (thresholds dashed)",
        "score",
        traces,
        [f"drift.{c}" for c in columns] + ["prediction_drift"],
        height=340,
    )


def _performance(page: _Page, series: _Series, rules: Sequence[Rule]) -> None:
    groups = (
        ("Performance: live (from feedback) and estimated (dashed)", ("f1", "roc_auc", "accuracy")),
        ("Error: live (from feedback) and estimated (dashed)", ("mae", "rmse")),
    )
    for title, metrics in groups:
        traces = []
        keys = []
        for i, metric in enumerate(metrics):
            for kind, dash in (("live", "solid"), ("estimated", "dash")):
                key = f"{kind}.{metric}"
                if series.has(key):
                    traces.append(_line(series, key, key, _COLOURS[i], dash=dash))
                    keys.append(key)
        _chart(page, series, rules, title, "value", traces, keys)
    if series.has("live.labelled_share"):
        _chart(
            page,
            series,
            rules,
            "Share of predictions with feedback",
            "labelled share",
            [_line(series, "live.labelled_share", "live.labelled_share", _COLOURS[2])],
            ["live.labelled_share"],
            height=220,
            yaxis={"title": {"text": "share"}, "tickformat": ".0%", "range": [0, 1.02]},
        )


def _system(page: _Page, series: _Series, rules: Sequence[Rule]) -> None:
    rates = [
        (k, axis, colour)
        for k, axis, colour in (
            ("system.request_rate", "y", _COLOURS[0]),
            ("system.error_rate", "y2", _COLOURS[3]),
            ("system.refused_rate", "y2", _COLOURS[4]),
        )
        if series.has(k)
    ]
    _chart(
        page,
        series,
        rules,
        "Requests per second, and the shares that failed (right axis)",
        "requests / s",
        [_line(series, k, k, colour, axis=axis) for k, axis, colour in rates],
        [k for k, _, _ in rates],
        yaxis2={
            "title": {"text": "share of requests"},
            "overlaying": "y",
            "side": "right",
            "tickformat": ".1%",
            "rangemode": "tozero",
            "showgrid": False,
        },
    )
    latency = [
        f"system.{p}_latency_ms"
        for p in ("p50", "p95", "p99")
        if series.has(f"system.{p}_latency_ms")
    ]
    _chart(
        page,
        series,
        rules,
        "Latency",
        "ms",
        [_line(series, k, k, _COLOURS[i]) for i, k in enumerate(latency)],
        latency,
    )


# -- distributions -----------------------------------------------------------------


def _floats(value: Any) -> list[float] | None:
    if not isinstance(value, list) or not all(
        isinstance(v, (int, float)) or v is None for v in value
    ):
        return None
    return [0.0 if v is None else float(v) for v in value]


def _bins(hist: Mapping[str, Any]) -> tuple[list[str], list[float], list[float]] | None:
    """Bar labels and the two sides' shares: categories as they are; numeric bins grouped
    into at most :data:`BARS` ranges of the reference's quantiles, with the shares at or
    below the reference's minimum and above its maximum kept apart."""
    ref, cur = _floats(hist.get("reference")), _floats(hist.get("current"))
    if ref is None or cur is None or len(ref) != len(cur) or not ref:
        return None
    labels = hist.get("labels")
    if isinstance(labels, list) and labels:
        if len(labels) != len(ref):
            return None
        return [str(v) for v in labels], ref, cur
    edges = _floats(hist.get("edges"))
    if not edges or len(edges) + 1 != len(ref):
        return None
    inner = len(edges) - 1
    names = [f"≤ {edges[0]:.4g}"]
    r, c = [ref[0]], [cur[0]]
    step = max(1, -(-inner // BARS))
    for a in range(0, inner, step):
        b = min(a + step, inner)
        names.append(f"{edges[a]:.4g} – {edges[b]:.4g}")
        r.append(sum(ref[a + 1 : b + 1]))
        c.append(sum(cur[a + 1 : b + 1]))
    names.append(f"> {edges[-1]:.4g}")
    r.append(ref[-1])
    c.append(cur[-1])
    seen: dict[str, int] = {}
    for i, n in enumerate(names):  # ranges that print alike must stay two bars
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n} ({seen[n]})"
    return names, r, c


def _column_chart(page: _Page, name: str, col: Mapping[str, Any], when: str) -> str:
    hist = col.get("histogram")
    score = col.get("score")
    threshold = col.get("threshold")
    verdict = "<b>drifted</b>" if col.get("drifted") else "no drift"
    detail = f"{escape(str(col.get('method')))} {_fmt(score)} (threshold {_fmt(threshold)})"
    title = f"<b>{escape(_short(name, 60))}</b>: {verdict}, {detail}"
    bins = _bins(hist) if isinstance(hist, Mapping) else None
    if bins is None:
        return (
            f"<div><p><b>{escape(name)}</b>: {verdict}, {detail}; no distribution of this "
            "window to draw (no value of the column in it).</p></div>"
        )
    labels, ref, cur = bins
    x = [escape(label) for label in labels]
    data = [
        {
            "type": "bar",
            "x": x,
            "y": ref,
            "name": "reference",
            "marker": {"color": _REF},
            "hovertemplate": "%{x}: %{y:.1%}<extra>reference</extra>",
        },
        {
            "type": "bar",
            "x": x,
            "y": cur,
            "name": escape(when),
            "marker": {"color": _CUR},
            "hovertemplate": "%{x}: %{y:.1%}<extra>window</extra>",
        },
    ]
    layout = {
        "title": {"text": title, "x": 0.01, "font": {"size": 12}},
        "height": 260,
        "margin": {"l": 50, "r": 10, "t": 36, "b": 70},
        "barmode": "group",
        "bargap": 0.15,
        "showlegend": False,
        "xaxis": {"type": "category", "tickangle": -45, "tickfont": {"size": 9}},
        "yaxis": {"tickformat": ".0%", "gridcolor": "#eee", "rangemode": "tozero"},
        "plot_bgcolor": "#fff",
        "font": {"family": "system-ui, sans-serif", "size": 11},
    }
    return page.chart({"data": data, "layout": layout})


def _fmt(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.4g}"
    return "–"


def _distributions(page: _Page, windows: Sequence[MonitorWindow]) -> None:
    latest = _latest_drift(windows)
    page.add("<h2>Distributions: reference and latest window</h2>")
    if latest is None:
        page.add(
            '<p class="muted">No window holds drift details yet (windows with too few rows, '
            "failed ones or ones without a reference compute none).</p>"
        )
        return
    window, drift = latest
    columns = {str(k): v for k, v in drift["columns"].items() if isinstance(v, dict)}

    def order(item: tuple[str, dict[str, Any]]) -> tuple[bool, float]:
        score = item[1].get("score")
        number = float(score) if isinstance(score, (int, float)) else -1.0
        return (not item[1].get("drifted"), -number)

    ranked = sorted(columns.items(), key=order)
    drifted = [n for n, c in ranked if c.get("drifted")]
    when = _when(window.start)
    page.add(
        f"<p>The window starting {escape(when)} ({window.rows:,} rows, status "
        f"{_badge(str(window.status))}) against the reference "
        f"{escape(str(drift.get('reference') or window.reference or ''))}: "
        f"{len(drifted)} of {len(columns)} columns drifted. Bars are shares of each side's "
        f'non-missing values; <span style="color:{_REF}">■</span> reference, '
        f'<span style="color:{_CUR}">■</span> window. Numeric columns are cut at the '
        "reference's quantiles (so the reference's bars are about even).</p>"
    )
    charts = [_column_chart(page, n, c, when) for n, c in ranked]
    prediction = window.details.get("prediction_drift")
    if isinstance(prediction, dict) and isinstance(prediction.get("columns"), dict):
        col = prediction["columns"].get("prediction")
        if isinstance(col, dict):
            charts.append(_column_chart(page, "prediction (the model's output)", col, when))
    page.add('<div class="grid">' + "".join(charts) + "</div>")


# -- the table of the last windows ---------------------------------------------------


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return '<span class="muted">–</span>'
    return f"{value:.1%}"


def _table(page: _Page, windows: Sequence[MonitorWindow]) -> None:
    shown = list(reversed(windows[-TABLE_ROWS:]))
    candidates = [
        ("drift share", "drift_share", _pct),
        ("drifted columns", "drifted_columns", _num),
        ("live f1", "live.f1", _num),
        ("estimated f1", "estimated.f1", _num),
        ("live accuracy", "live.accuracy", _num),
        ("estimated accuracy", "estimated.accuracy", _num),
        ("live MAE", "live.mae", _num),
        ("estimated MAE", "estimated.mae", _num),
        ("labelled", "live.labelled_share", _pct),
        ("missing cells", "data.missing_rate", _pct),
        ("errors", "system.error_rate", _pct),
        ("p99 ms", "system.p99_latency_ms", _num),
    ]
    present = [c for c in candidates if any(c[1] in w.metrics for w in shown)]
    page.add(f"<h2>The last {len(shown)} windows, newest first</h2>")
    rows = []
    for w in shown:
        cells = [escape(_when(w.start)), _num(float(w.rows)), _badge(str(w.status))]
        cells.extend(shape(w.metrics.get(key)) for _, key, shape in present)
        cells.append(escape(_short(w.error or "; ".join(_notes(w)), 300)))
        rows.append(cells)
    header = ["start", "rows", "status", *(escape(h) for h, _, _ in present), "notes"]
    numeric = frozenset({1, *range(3, 3 + len(present))})
    page.add(_table_html(header, rows, numeric))
