"""A self-contained HTML report of a validation: a summary, then every failed check."""

from __future__ import annotations

import datetime as _dt
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from loopml.validation._result import CheckResult, ValidationResult

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;color:#fff;font-weight:600}
.passed{background:#2e7d32}.failed{background:#c62828}.warning{background:#ef6c00}
.skipped{background:#757575}
table{border-collapse:collapse;margin:.5rem 0 1rem;min-width:40%}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}code{background:#f5f5f5;padding:0 .2rem}
"""


def render_html(result: ValidationResult) -> str:
    """The report as one HTML document with inline styles and no external assets."""
    status = "passed" if result.passed else "failed"
    when = _dt.datetime.fromtimestamp(result.created_at or 0, tz=_dt.timezone.utc)
    rows = [
        ("source", result.source or "in-memory frame"),
        ("suite", result.suite_name or "unnamed"),
        ("rows", f"{result.n_rows:,}"),
        ("checks run", str(result.checks_run)),
        ("errors", str(len(result.failures))),
        ("warnings", str(len(result.warnings))),
        ("validated at", when.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    if result.uri:
        rows.append(("stored as", result.uri))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Validation {status}: {escape(result.source or 'frame')}</title>",
        f"<style>{_CSS}</style></head><body>",
        f'<h1>Validation <span class="badge {status}">{status}</span></h1>',
        "<table>",
        *(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows),
        "</table>",
    ]
    failed = result.failures + result.warnings
    if failed:
        parts.append("<h2>Failed checks</h2>")
        parts.extend(_failed_block(r) for r in failed)
    parts.append("<h2>All checks</h2>")
    parts.append(
        "<table><tr><th>status</th><th>check</th><th>severity</th><th>failed</th>"
        "<th>details</th></tr>"
    )
    parts.extend(_summary_row(r) for r in result.results)
    parts.append("</table></body></html>")
    return "\n".join(parts) + "\n"


def _label(r: CheckResult) -> str:
    if r.failed:
        return "failed" if r.check.severity == "error" else "warning"
    return r.status.value


def _failed_block(r: CheckResult) -> str:
    samples = ", ".join(f"<code>{escape(repr(v))}</code>" for v in r.sample_values)
    rows = ", ".join(str(i) for i in r.sample_rows)
    lines = [
        f'<h3><span class="badge {_label(r)}">{_label(r)}</span> {escape(r.check.name)}</h3>',
        "<table>",
        f"<tr><th>expected</th><td>{escape(r.check.describe())}</td></tr>",
        f"<tr><th>failed</th><td>{r.failed_count:,}</td></tr>",
        f"<tr><th>message</th><td>{escape(r.message)}</td></tr>",
    ]
    if samples:
        lines.append(f"<tr><th>sample values</th><td>{samples}</td></tr>")
    if rows:
        lines.append(f"<tr><th>sample rows</th><td>{escape(rows)}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _summary_row(r: CheckResult) -> str:
    label = _label(r)
    return (
        f'<tr><td><span class="badge {label}">{label}</span></td>'
        f"<td>{escape(r.check.describe())}</td><td>{escape(r.check.severity)}</td>"
        f"<td>{r.failed_count:,}</td><td>{escape(r.message)}</td></tr>"
    )
