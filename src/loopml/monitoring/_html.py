"""The HTML report of a drift check: one file, inline CSS and SVG, no script.

Per column: the verdict, the method, score and threshold, and the reference and
current distributions drawn as bars (numeric: the density over the reference's
quantile bins, grouped into at most 20 bars; categorical: the share of each
category).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from loopml.monitoring._report import Histogram

if TYPE_CHECKING:  # pragma: no cover
    from loopml.monitoring._report import ColumnDrift, DriftReport

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;color:#fff;font-weight:600}
.drift{background:#c62828}.ok{background:#2e7d32}
table{border-collapse:collapse;margin:.5rem 0 1rem;min-width:40%}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem}
svg text{font-size:10px;fill:#555}
"""
_REF, _CUR = "#1e88e5", "#fb8c00"
_W, _H, _PAD = 560, 160, 24
_BARS = 20


def render_html(report: DriftReport) -> str:
    """The report as one HTML document with no external asset."""
    verdict = "drift" if report.dataset_drift else "ok"
    head = [
        ("reference", report.reference or "in-memory data"),
        ("current", report.current or "in-memory data"),
        ("rows", f"{report.n_reference:,} reference, {report.n_current:,} current"),
        ("drifted columns", f"{len(report.drifted_columns)} of {len(report.columns)}"),
        (
            "drift share",
            f"{report.drift_share:.0%} (dataset drift at {report.share_threshold:.0%})",
        ),
    ]
    if report.multivariate is not None:
        m = report.multivariate
        head.append(
            ("domain classifier", f"ROC AUC {m.auc:.3f} (threshold {m.threshold:.3f}, {m.model})")
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Drift report: {escape(report.summary())}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1>Drift report <span class="badge {verdict}">'
        f"{'dataset drift' if report.dataset_drift else 'no dataset drift'}</span></h1>",
        "<table>",
        *(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in head),
        "</table>",
        "<table><tr><th>column</th><th>kind</th><th>method</th><th>score</th><th>threshold</th>"
        "<th>p-value</th><th>missing change</th><th>drifted</th></tr>",
        *(_row(c) for c in report.columns.values()),
        "</table>",
        f'<p class="legend"><span style="background:{_REF}"></span>reference'
        f'<span style="background:{_CUR}"></span>current</p>',
    ]
    parts.extend(_section(c) for c in report.columns.values())
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _row(c: ColumnDrift) -> str:
    cells = [
        c.name,
        c.kind,
        c.method,
        _num(c.score),
        _num(c.threshold),
        _num(c.p_value, 3),
        f"{c.missing_change:+.1%}",
        "yes" if c.drifted else "no",
    ]
    return "<tr>" + "".join(f"<td>{escape(x)}</td>" for x in cells) + "</tr>"


def _section(c: ColumnDrift) -> str:
    badge = '<span class="badge drift">drifted</span>' if c.drifted else ""
    lines = [
        f"<h2>{escape(c.name)} {badge}</h2>",
        f"<p>{escape(c.method)}: score {_num(c.score)}, threshold {_num(c.threshold)}"
        + (f", p-value {_num(c.p_value, 3)}" if c.p_value is not None else "")
        + f"; missing {c.reference_summary.missing_rate:.1%} → "
        f"{c.current_summary.missing_rate:.1%}</p>",
    ]
    if c.unseen:
        shown = ", ".join(escape(repr(v)) for v in c.unseen)
        lines.append(f"<p>unseen categories ({c.unseen_share:.1%} of rows): {shown}</p>")
    if c.histogram is not None:
        lines.append(_bars(c.histogram) if c.histogram.labels else _density(c.histogram))
    return "\n".join(lines)


def _svg(body: list[str], height: int = _H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" '
        f'viewBox="0 0 {_W} {height}">' + "".join(body) + "</svg>"
    )


def _bars(h: Histogram) -> str:
    """Categorical: a pair of bars per category, height = share of the rows."""
    top = max([*h.reference, *h.current, 1e-12])
    slot = (_W - 2 * _PAD) / len(h.labels)
    bar = slot * 0.4
    body = []
    for i, label in enumerate(h.labels):
        x = _PAD + i * slot
        for j, (share, colour) in enumerate(((h.reference[i], _REF), (h.current[i], _CUR))):
            height = (_H - 2 * _PAD) * share / top
            body.append(
                f'<rect x="{x + j * bar:.1f}" y="{_H - _PAD - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{colour}"><title>{escape(label)}: '
                f"{share:.1%}</title></rect>"
            )
        body.append(f'<text x="{x:.1f}" y="{_H - 8}">{escape(label[:12])}</text>')
    return _svg(body)


def _density(h: Histogram) -> str:
    """Numeric: the density of each side over groups of the reference's quantile bins
    (the share beyond the reference's range drawn at either end)."""
    edges = list(h.edges)
    inner = len(edges) - 1
    if inner < 1:
        return _bars_of_outside(h)
    step = max(1, -(-inner // _BARS))
    groups = [(k, min(k + step, inner)) for k in range(0, inner, step)]
    lo, hi = edges[0], edges[-1]
    span = hi - lo
    width = _W - 2 * _PAD - 40
    rects = []
    for colour, shares in ((_REF, h.reference), (_CUR, h.current)):
        dens = []
        for a, b in groups:
            mass = sum(shares[a + 1 : b + 1]) + (shares[0] if a == 0 else 0.0)
            dens.append(mass / max(edges[b] - edges[a], span * 1e-9))
        rects.append((colour, dens, shares[0], shares[-1]))
    top = max(max(d) for _, d, _, _ in rects) or 1.0
    body = []
    for colour, dens, _, above in rects:
        for (a, b), d in zip(groups, dens, strict=True):
            x0 = _PAD + 20 + width * (edges[a] - lo) / span
            x1 = _PAD + 20 + width * (edges[b] - lo) / span
            height = (_H - 2 * _PAD) * d / top
            body.append(
                f'<rect x="{x0:.1f}" y="{_H - _PAD - height:.1f}" width="{max(x1 - x0, 0.5):.1f}" '
                f'height="{height:.1f}" fill="{colour}" fill-opacity="0.5">'
                f"<title>{edges[a]:.4g} to {edges[b]:.4g}</title></rect>"
            )
        if above > 0:
            body.append(
                f'<rect x="{_W - _PAD - 16}" y="{_PAD}" width="12" height="{_H - 2 * _PAD}" '
                f'fill="{colour}" fill-opacity="{min(1.0, 0.2 + above):.2f}">'
                f"<title>{above:.1%} above the reference's maximum</title></rect>"
            )
    body.append(f'<text x="{_PAD + 20}" y="{_H - 8}">{lo:.4g}</text>')
    body.append(f'<text x="{_W - _PAD - 60}" y="{_H - 8}">{hi:.4g}</text>')
    return _svg(body)


def _bars_of_outside(h: Histogram) -> str:
    """A constant reference: the shares at or below its value, and above it."""
    labels = ("at or below the reference's value", "above it")
    return _bars(
        Histogram(h.reference[:1] + h.reference[-1:], h.current[:1] + h.current[-1:], labels=labels)
    )
