"""``loopml experiments``: list, rename, delete and restore experiments."""

from __future__ import annotations

from typing import Any

import typer

from loopml.cli import _options
from loopml.cli._output import console
from loopml.cli._table import Column, Format, emit

app = typer.Typer(help="List, rename, delete and restore experiments.", no_args_is_help=True)


@app.command("list")
def list_experiments(
    all_experiments: bool = typer.Option(False, "--all", help="Also list deleted experiments."),
    fmt: Format = _options.output_format(),
    columns: str | None = _options.columns(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """List experiments by name, with their number of runs and when the last one started."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import list_experiments as found

    experiments = found(include_deleted=all_experiments)
    cols = [
        Column("name", required=True, max_width=40),
        Column("runs", kind="number"),
        Column("last_run", header="last run", kind="age"),
        Column("created", kind="age"),
        Column("id", kind="number"),
        Column("deleted"),
    ]
    table = fmt is Format.table
    rows: list[dict[str, Any]] = [
        {
            "name": e.name,
            "runs": e.runs,
            "last_run": e.last_run,
            "created": e.created,
            "id": e.id,
            "deleted": ("yes" if e.deleted else "") if table else e.deleted,
        }
        for e in experiments
    ]
    if table and not all_experiments:
        cols = [c for c in cols if c.key != "deleted"]
    emit(rows, cols, fmt=fmt, columns_arg=columns, empty="No experiments yet.")


@app.command("rename")
def rename(
    old: str = typer.Argument(..., metavar="OLD", help="The experiment's name."),
    new: str = typer.Argument(..., metavar="NEW", help="Its new name (not taken yet)."),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Rename an experiment; its runs follow."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import rename_experiment

    rename_experiment(old, new)
    console.print(f"renamed experiment {old!r} to {new!r}", markup=False)


@app.command("delete")
def delete(
    name: str = typer.Argument(..., metavar="NAME", help="The experiment."),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Delete an experiment and hide its runs (until 'loopml gc --force')."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import delete_experiment

    found = delete_experiment(name)
    console.print(
        f"deleted experiment {name!r} ({found.runs} run{'s' if found.runs != 1 else ''} hidden)",
        markup=False,
    )


@app.command("restore")
def restore(
    name: str = typer.Argument(..., metavar="NAME", help="The deleted experiment."),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Restore a deleted experiment and its runs."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import restore_experiment

    found = restore_experiment(name)
    console.print(
        f"restored experiment {name!r} ({found.runs} run{'s' if found.runs != 1 else ''})",
        markup=False,
    )
