"""``loopml data validate``: check a dataset version against a suite of expectations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from loopml.cli._output import console, err_console

if TYPE_CHECKING:  # pragma: no cover
    from loopml.validation import CheckResult, ValidationResult

_STYLE = {"passed": "green", "failed": "bold red", "warning": "yellow", "skipped": "dim"}


def validate(
    uri: str = typer.Argument(..., help="The dataset version to check, e.g. data:/orders@4."),
    suite: str = typer.Option(
        None, "--suite", "-s", help="A suite file (.json, .yaml) to check against."
    ),
    reference: str = typer.Option(
        None, "--reference", "-r", help="Infer the suite from this version, e.g. data:/orders@3."
    ),
    html: str = typer.Option(None, "--html", help="Write an HTML report to this file."),
    json_out: str = typer.Option(None, "--json", help="Write the result as JSON to this file."),
    save_suite: str = typer.Option(
        None, "--save-suite", help="Save the suite used (e.g. the inferred one) to this file."
    ),
    show_all: bool = typer.Option(False, "--all", help="List passed checks too."),
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
    if not uri.startswith("data:/"):
        uri = f"data:/{uri}"
    the_suite = Suite.load(suite) if suite is not None else None
    if the_suite is None and reference is not None:
        the_suite = infer_suite(reference)
    result = run_validation(uri, the_suite)
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
        console.print(f"stored as {result.uri}")
    line = escape(result.summary())
    if not result.passed:
        err_console.print(f"[bold red]{line}[/]")
        raise typer.Exit(1)
    console.print(f"[green]{line}[/]")


def _label(r: CheckResult) -> str:
    if r.failed:
        return "failed" if r.check.severity == "error" else "warning"
    return r.status


def _print_table(result: ValidationResult, show_all: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table("status", "check", "severity", "failed", "sample values", "details")
    shown = 0
    for r in result.results:
        label = _label(r)
        if not show_all and label in ("passed", "skipped"):
            continue
        shown += 1
        samples = ", ".join(repr(v) for v in r.sample_values)
        table.add_row(
            f"[{_STYLE[label]}]{label}[/]",
            escape(r.check.describe()),
            r.check.severity,
            f"{r.failed_count:,}",
            escape(samples),
            escape(r.message),
        )
    if shown:
        console.print(table)
    passed = sum(r.status == "passed" for r in result.results)
    console.print(f"{passed} of {len(result.results)} check(s) passed")
