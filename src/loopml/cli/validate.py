"""``loopml data validate``: check a dataset version against a suite of expectations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from loopml.cli import _options
from loopml.cli._output import console, err_console
from loopml.cli._table import Column, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.validation import CheckResult, ValidationResult


def validate(
    uri: str = typer.Argument(
        ...,
        metavar="PATH_OR_REF",
        help="A dataset version (orders, orders@4, data:/orders@4) or a CSV/TSV/Parquet file.",
    ),
    suite: str = typer.Option(
        None, "--suite", metavar="PATH", help="A suite file (.json, .yaml) to check against."
    ),
    reference: str = typer.Option(
        None,
        "--reference",
        metavar="PATH_OR_REF",
        help="Infer the suite from this version or file, e.g. orders@3.",
    ),
    html: str = typer.Option(
        None, "--html", metavar="PATH", help="Write an HTML report to this file."
    ),
    json_out: str = typer.Option(
        None, "--json", metavar="PATH", help="Write the result as JSON to this file."
    ),
    save_suite: str = typer.Option(
        None,
        "--save-suite",
        metavar="PATH",
        help="Save the suite used (e.g. the inferred one) to this file.",
    ),
    show_all: bool = typer.Option(False, "--all", help="List passed checks too."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Check URI against a suite (--suite) or one inferred from a reference (--reference).

    Exits with status 1 when an error-level check fails; warnings are listed
    but do not fail.
    """
    from rich.markup import escape

    from loopml.errors import InvalidInput
    from loopml.validation import Suite, infer_suite
    from loopml.validation import validate as run_validation

    if (suite is None) == (reference is None):
        raise InvalidInput(
            "pass exactly one of --suite FILE (a saved suite) or --reference URI (a version "
            "to infer the suite from), e.g. 'loopml data validate data:/orders@4 "
            "--reference data:/orders@3'."
        )
    _options.use_stores(tracking_uri, artifact_uri)
    the_suite = Suite.load(suite) if suite is not None else None
    if the_suite is None and reference is not None:
        the_suite = infer_suite(_data(reference))
    result = run_validation(_data(uri), the_suite)
    if save_suite and the_suite is not None:
        the_suite.save(save_suite)
        console.print(f"suite saved to {escape(save_suite)}")
    _print_table(result, show_all)
    if json_out:
        result.to_json(json_out)
        console.print(f"JSON written to {escape(json_out)}")
    if html:
        result.to_html(html)
        console.print(f"HTML report written to {escape(html)}")
    if result.uri:
        console.print(f"stored as {result.uri}", markup=False)
    line = escape(result.summary())
    if not result.passed:
        err_console.print(f"[bold red]{line}[/]")
        raise typer.Exit(1)
    console.print(f"[green]{line}[/]")


def _data(value: str) -> object:
    """A plain file (CSV, TSV, Parquet) read as a table, else the dataset reference."""
    import os

    if os.path.isfile(value):
        from loopml.data import read_tabular_file

        return read_tabular_file(value)
    return value


def _label(r: CheckResult) -> str:
    if r.failed:
        return "failed" if r.check.severity == "error" else "warning"
    return r.status


_COLUMNS = [
    Column("status", kind="status", required=True),
    Column("check", required=True, max_width=36),
    Column("severity"),
    Column("failed", kind="number"),
    Column("samples", header="sample values", max_width=24),
    Column("details", max_width=48),
]


def _print_table(result: ValidationResult, show_all: bool) -> None:
    rows = []
    for r in result.results:
        label = _label(r)
        if not show_all and label in ("passed", "skipped"):
            continue
        rows.append(
            {
                "status": label,
                "check": r.check.describe(),
                "severity": r.check.severity,
                "failed": r.failed_count,
                "samples": ", ".join(repr(v) for v in r.sample_values),
                "details": r.message,
            }
        )
    if rows:
        emit(rows, _COLUMNS)
    passed = sum(r.status == "passed" for r in result.results)
    console.print(f"{passed} of {len(result.results)} check(s) passed", highlight=False)
