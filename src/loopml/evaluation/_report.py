"""The HTML report of an evaluation: tables and plotly charts in one self-contained file.

The report is drawn from the evaluation's figures alone (what ``to_dict``
holds and the store keeps), so the report of a stored evaluation is made
whenever it is asked for and shows the same thing every time; nothing but
the evaluation is stored. plotly.js is inlined once, so the file opens
offline and can be mailed or attached to a ticket. Every text that came
from data or users (a slice value, a model name) is escaped.
"""

from __future__ import annotations

import datetime as _dt
import math
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml import _files, _validate
from loopml.errors import MissingExtra
from loopml.evaluation._records import METRICS

if TYPE_CHECKING:  # pragma: no cover
    from loopml.evaluation._compare import MetricDelta
    from loopml.evaluation._records import Evaluation

__all__ = ["document", "render_report", "report_sections", "table", "writable", "write_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;
max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
h3{font-size:1rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;min-width:40%}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.better{color:#2e7d32}.worse{color:#c62828}.muted{color:#757575}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.7rem;color:#fff;font-weight:600}
.passed,.PROMOTED,.APPROVED{background:#2e7d32}.failed,.REFUSED,.REJECTED{background:#c62828}
.FORCED,.PENDING_APPROVAL{background:#ef6c00}.skipped{background:#757575}
"""
_WORST = "#c62828"
_OTHER = "#90a4ae"
_MAIN = "#1565c0"


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise MissingExtra("the HTML report", "report", "plotly") from None
    return go


def writable(path: Any, what: str = "report path") -> Path:
    """``path`` if a file can be written there (see :func:`loopml._validate.writable`)."""
    return _validate.writable(path, what)


def write_html(path: Any, text: str, what: str = "report") -> Path:
    """Write ``text`` to ``path`` atomically (after :func:`writable`); returns the path."""
    return _files.write_text(writable(path, f"{what} path"), text, what)


def _num(value: Any) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return escape(str(value))
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) >= 1e3
    ):
        return f"{int(value):,}"
    if not math.isfinite(value):
        return '<span class="muted">—</span>'
    return f"{value:.4g}"


def table(header: list[str], rows: list[list[Any]], *, raw: frozenset[int] = frozenset()) -> str:
    """An HTML table; numbers right-aligned to 4 significant digits, text escaped (the
    columns in ``raw`` hold HTML made here)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    head = f"<tr>{head}</tr>" if any(header) else ""
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            if i in raw:
                cells.append(f"<td>{value}</td>")
            elif (isinstance(value, (int, float)) and not isinstance(value, bool)) or value is None:
                cells.append(f'<td class="num">{_num(value)}</td>')
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _figure(fig: Any, height: int = 360) -> str:
    import plotly.io as pio

    fig.update_layout(
        template="plotly_white", height=height, margin={"l": 60, "r": 20, "t": 40, "b": 50}
    )
    return str(
        pio.to_html(fig, full_html=False, include_plotlyjs=False, config={"displaylogo": False})
    )


def _when(ts: float | None) -> str:
    if not ts:
        return ""
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _main_metric(ev: Evaluation) -> str:
    return "f1" if ev.task == "classification" else "rmse"


def _metrics_section(ev: Evaluation, deltas: list[MetricDelta] | None) -> str:
    if deltas is None:
        order = [m for m in METRICS if m in ev.metrics]
        rows = [[k, ev.metrics[k]] for k in [*order, *sorted(set(ev.metrics) - set(order))]]
        return "<h2>Metrics</h2>" + table(["metric", "value"], rows)
    rows = []
    for d in deltas:
        mark = ""
        if d.improved is not None:
            css = "better" if d.improved else "worse"
            mark = f'<span class="{css}">{"better" if d.improved else "worse"}</span>'
        rows.append([d.metric, d.candidate, d.champion, d.delta, mark])
    return "<h2>Metrics against the champion</h2>" + table(
        ["metric", "candidate", "champion", "delta", ""], rows, raw=frozenset({4})
    )


def _roc(ev: Evaluation, go: Any) -> str:
    roc = (ev.curves or {}).get("roc")
    if not roc:
        return ""
    fig = go.Figure()
    auc = ev.metrics.get("roc_auc")
    name = "ROC" if auc is None else f"ROC (AUC {auc:.4g})"
    fig.add_trace(go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name=name))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"}))
    fig.update_layout(
        title="ROC curve", xaxis_title="false positive rate", yaxis_title="true positive rate"
    )
    return "<h3>ROC curve</h3>" + _figure(fig)


def _confusion(ev: Evaluation, go: Any) -> str:
    cm = ev.confusion_matrix
    if not cm:
        return ""
    labels = [str(v) for v in cm["labels"]]
    fig = go.Figure(
        go.Heatmap(
            z=cm["matrix"],
            x=labels,
            y=labels,
            colorscale="Blues",
            text=cm["matrix"],
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(title="Confusion matrix", xaxis_title="predicted", yaxis_title="true")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return "<h3>Confusion matrix</h3>" + _figure(fig, height=max(300, 60 * len(labels) + 120))


def _calibration(ev: Evaluation, go: Any) -> str:
    bins = (ev.calibration or {}).get("bins") or []
    if not bins:
        return ""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[b["mean_predicted"] for b in bins],
            y=[b["fraction_positive"] for b in bins],
            mode="lines+markers",
            name="model",
            customdata=[b["count"] for b in bins],
            hovertemplate="predicted %{x:.3f}, observed %{y:.3f} (%{customdata} rows)"
            "<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"})
    )
    brier = ev.metrics.get("brier")
    title = "Reliability curve" + ("" if brier is None else f" (Brier {brier:.4g})")
    fig.update_layout(
        title=title, xaxis_title="mean predicted probability", yaxis_title="fraction positive"
    )
    return "<h3>Calibration</h3>" + _figure(fig)


def _per_class(ev: Evaluation) -> str:
    if not ev.per_class:
        return ""
    rows = [
        [label, v.get("precision"), v.get("recall"), v.get("f1"), v.get("support")]
        for label, v in ev.per_class.items()
    ]
    return "<h3>Per class</h3>" + table(["class", "precision", "recall", "f1", "support"], rows)


def _slices(ev: Evaluation, go: Any) -> str:
    if not ev.slices:
        return ""
    metric = _main_metric(ev)
    parts = [
        "<h2>Slices</h2>",
        f"<p>{escape(metric)} of each value of each sliced column; the worst values "
        "(among slices of at least 1% of the rows, and 10) in red.</p>",
    ]
    for column, values in ev.slices.items():
        worst = {w["value"] for w in ev.worst_slices.get(column, [])}
        labels = [label for label, v in values.items() if metric in v]
        scores = [values[label][metric] for label in labels]
        counts = [int(values[label]["count"]) for label in labels]
        fig = go.Figure(
            go.Bar(
                x=labels,
                y=scores,
                marker_color=[_WORST if label in worst else _OTHER for label in labels],
                customdata=counts,
                hovertemplate="%{x}: " + metric + " %{y:.4g} (%{customdata} rows)<extra></extra>",
            )
        )
        overall = ev.metrics.get(metric)
        if overall is not None:
            fig.add_hline(y=overall, line_dash="dot", line_color=_MAIN, annotation_text="all rows")
        fig.update_layout(title=f"{metric} by {column}", yaxis_title=metric)
        fig.update_xaxes(type="category")
        parts.append(f"<h3>{escape(column)}</h3>" + _figure(fig, height=320))
        parts.append(
            table(
                ["value", "rows", metric],
                [[label, values[label]["count"], values[label].get(metric)] for label in values],
            )
        )
    return "".join(parts)


def _fairness(ev: Evaluation, go: Any) -> str:
    if not ev.fairness:
        return ""
    parts = ["<h2>Fairness</h2>"]
    for column, result in ev.fairness.items():
        parts.append(f"<h3>{escape(column)}</h3>")
        parts.append(
            table(
                ["measure", "value"],
                [
                    [key, result.get(key)]
                    for key in (
                        "demographic_parity_difference",
                        "equal_opportunity_difference",
                        "demographic_parity_ratio",
                    )
                    if key in result
                ],
            )
        )
        groups = result.get("groups") or {}
        rates = [
            r
            for r in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
            if any(r in g for g in groups.values())
        ]
        names = list(groups)
        fig = go.Figure(
            [
                go.Bar(
                    name=rate.replace("_", " "),
                    x=names,
                    y=[groups[g].get(rate) for g in names],
                )
                for rate in rates
            ]
        )
        fig.update_layout(barmode="group", title=f"Rates by {column}", yaxis_range=[0, 1])
        fig.update_xaxes(type="category")
        parts.append(_figure(fig, height=320))
        parts.append(
            table(
                ["group", "rows", *rates],
                [[g, groups[g].get("count"), *(groups[g].get(r) for r in rates)] for g in names],
            )
        )
    return "".join(parts)


def _importance(ev: Evaluation, go: Any) -> str:
    parts = []
    if ev.importance:
        ranked = sorted(ev.importance.items(), key=lambda kv: kv[1]["mean"])
        metric = "F1" if ev.task == "classification" else "RMSE"
        fig = go.Figure(
            go.Bar(
                x=[v["mean"] for _, v in ranked],
                y=[k for k, _ in ranked],
                orientation="h",
                marker_color=_MAIN,
                error_x={"type": "data", "array": [v["std"] for _, v in ranked]},
            )
        )
        fig.update_layout(
            title=f"Permutation importance (loss of {metric} when shuffled)",
            xaxis_title=f"{metric} lost",
        )
        fig.update_yaxes(type="category")
        parts += [
            "<h2>Feature importance</h2>",
            _figure(fig, height=max(260, 26 * len(ranked) + 120)),
        ]
    if ev.shap:
        ranked_shap = sorted(ev.shap.items(), key=lambda kv: kv[1])
        fig = go.Figure(
            go.Bar(
                x=[v for _, v in ranked_shap],
                y=[k for k, _ in ranked_shap],
                orientation="h",
                marker_color=_MAIN,
            )
        )
        fig.update_layout(title="Mean |SHAP value|", xaxis_title="mean |SHAP|")
        fig.update_yaxes(type="category")
        parts += ["<h3>SHAP</h3>", _figure(fig, height=max(260, 26 * len(ranked_shap) + 120))]
    return "".join(parts)


def _latency(ev: Evaluation) -> str:
    if not ev.latency:
        return ""
    lat = ev.latency
    rows = [
        ["one row", lat.get("p50_ms"), lat.get("p99_ms")],
        ["1,000 rows", lat.get("batch_1000_p50_ms"), lat.get("batch_1000_p99_ms")],
    ]
    size = lat.get("package_bytes")
    return (
        "<h2>Latency</h2>"
        + table(["predict", "p50 ms", "p99 ms"], rows)
        + ("" if size is None else f"<p>package: {int(size):,} bytes</p>")
    )


def report_sections(ev: Evaluation, deltas: list[MetricDelta] | None = None) -> list[str]:
    """The report's HTML fragments (metrics, plots, slices, fairness, importance,
    latency), without the page around them; ``deltas`` adds the champion columns."""
    go = _plotly()
    head = [
        ("model", ev.model_uri),
        ("manifest", ev.manifest_digest),
        ("data", ev.dataset or "a frame"),
        ("data digest", ev.data_digest),
        ("target", ev.target),
        ("task", ev.task),
        ("rows", f"{ev.rows:,}"),
        ("evaluated at", _when(ev.created_at)),
    ]
    if ev.uri:
        head.append(("stored as", ev.uri))
    plots = _roc(ev, go) + _confusion(ev, go) + _calibration(ev, go)
    return [
        table(["", ""], [list(row) for row in head]),
        _metrics_section(ev, deltas),
        _per_class(ev),
        plots and "<h2>Plots</h2>" + plots,
        _slices(ev, go),
        _fairness(ev, go),
        _importance(ev, go),
        _latency(ev),
    ]


def document(title: str, parts: list[str]) -> str:
    """One HTML page: ``title``, the fragments, plotly.js inlined once (works offline)."""
    _plotly()
    from plotly.offline import get_plotlyjs

    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            f"<style>{_CSS}</style>",
            f'<script type="text/javascript">{get_plotlyjs()}</script>',
            "</head><body>",
            f"<h1>{escape(title)}</h1>",
            *(p for p in parts if p),
            "</body></html>",
            "",
        ]
    )


def render_report(ev: Evaluation, champion: Evaluation | None = None) -> str:
    """The evaluation report as one self-contained HTML document; with ``champion``, the
    metrics table shows the champion's values and the deltas."""
    from loopml.evaluation._compare import compare

    deltas = compare(ev, champion) if champion is not None else None
    title = f"Evaluation of {ev.model_uri}"
    return document(title, report_sections(ev, deltas))
