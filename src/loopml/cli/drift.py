"""``loopml drift``: compare a current file or dataset version with a reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from loopml.cli import _options
from loopml.cli._output import console, err_console
from loopml.cli._table import Column, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.monitoring import DriftReport


def drift(
    reference: str = typer.Argument(
        ..., help="The reference: a Parquet/CSV file or a dataset version (data:/orders@3)."
    ),
    current: str = typer.Argument(
        ..., help="The current data: a Parquet/CSV file or a dataset version (data:/orders@4)."
    ),
    html: str = typer.Option(
        None, "--html", metavar="PATH", help="Write a self-contained HTML report to this file."
    ),
    json_out: str = typer.Option(
        None, "--json", metavar="PATH", help="Write the report as JSON to this file."
    ),
    only: str = typer.Option(
        None, "--only", metavar="COLS", help="Compare only these columns, comma-separated."
    ),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit with status 1 when the dataset drifted."
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Compare CURRENT with REFERENCE column by column and print which columns drifted.

    Drift is a finding, not an error: the exit status is 0 either way, unless
    --fail-on-drift is given (then 1 when the dataset drifted). A dataset version
    as REFERENCE is compared through its stored profile (computed on first use).
    """
    import json
    from pathlib import Path

    from rich.markup import escape

    from loopml import _validate
    from loopml._files import write_text
    from loopml.monitoring import detect_drift

    _options.use_stores(tracking_uri, artifact_uri)
    if html:
        _validate.writable(html, "HTML report path")
    if json_out:
        _validate.writable(json_out, "JSON report path")
    names = [c.strip() for c in only.split(",") if c.strip()] if only is not None else None
    report = detect_drift(_data(reference), _data(current), columns=names)
    emit(_rows(report), _COLUMNS)
    for c in report.columns.values():
        if c.unseen:
            shown = ", ".join(repr(v) for v in c.unseen)
            console.print(
                f"{escape(c.name)}: {c.unseen_share:.1%} of rows hold categories the reference "
                f"lacks: {escape(shown)}",
                highlight=False,
            )
    if json_out:
        write_text(Path(json_out), json.dumps(report.to_dict(), indent=2) + "\n", "JSON report")
        console.print(f"JSON written to {escape(json_out)}", highlight=False)
    if html:
        report.to_html(html)
        console.print(f"HTML report written to {escape(html)}", highlight=False)
    line = escape(report.summary())
    if report.dataset_drift:
        err_console.print(f"[bold red]{line}[/]", highlight=False)
        if fail_on_drift:
            raise typer.Exit(1)
    else:
        console.print(f"[green]{line}[/]", highlight=False)


def _data(value: str) -> Any:
    """A file (CSV, TSV, Parquet) read as a table, else the dataset reference."""
    import os

    looks_like_file = value.lower().endswith((".csv", ".tsv", ".parquet", ".pq")) or "/" in value
    if os.path.isfile(value) or (looks_like_file and not value.startswith("data:")):
        from loopml.data import read_tabular_file

        return read_tabular_file(value)
    return value


_COLUMNS = [
    Column("column", required=True, max_width=32),
    Column("method", required=True),
    Column("score", kind="number", required=True),
    Column("threshold", kind="number", required=True),
    Column("drifted", kind="status", required=True),
    Column("p_value", header="p-value", kind="number"),
    Column("missing_change", header="missing change", kind="number"),
]


def _rows(report: DriftReport) -> list[dict[str, Any]]:
    return [
        {
            "column": c.name,
            "method": c.method,
            "score": None if c.score is None else round(c.score, 4),
            "threshold": c.threshold,
            "drifted": "drifted" if c.drifted else "ok",
            "p_value": None if c.p_value is None else round(c.p_value, 4),
            "missing_change": round(c.missing_change, 4),
        }
        for c in report.columns.values()
    ]
