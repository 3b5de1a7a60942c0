"""``loopml data``: versioned datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from loopml.cli._output import console, fmt_bytes, fmt_time
from loopml.cli.validate import validate

if TYPE_CHECKING:  # pragma: no cover
    from loopml.data import DatasetVersion

app = typer.Typer(
    help="Version datasets: add, list, show, diff, status, checkout, push, pull.",
    no_args_is_help=True,
)


@app.command("add")
def add(
    path: str = typer.Argument(..., help="A data file or a folder of files."),
    name: str = typer.Option(..., "--name", "-n", help="The dataset's name, e.g. 'iris'."),
    message: str = typer.Option(None, "--message", "-m", help="What this version is."),
    no_profile: bool = typer.Option(
        False, "--no-profile", help="Do not read CSV/TSV/Parquet files to profile them."
    ),
) -> None:
    """Store PATH as the next version of dataset NAME and pin it in loopml.lock."""
    from loopml.data import add_dataset

    v = add_dataset(path, name, message=message, profile=not no_profile)
    if v.is_new:
        console.print(f"[green]added[/] {v.uri}")
    else:
        noted = " (message recorded)" if message is not None else ""
        console.print(f"[yellow]unchanged[/]: {v.uri} already holds these bytes{noted}")
    console.print(
        f"  {v.n_files} file(s), {fmt_bytes(v.total_bytes)}, manifest {v.manifest_digest[:16]}…"
    )
    if v.source_path and v.source_path.startswith("/"):
        console.print(
            f"  [yellow]note:[/] {v.source_path} is outside the project, so loopml.lock does "
            f"not pin it; restore it with 'loopml data checkout {v.name}@{v.version} --to DIR'"
        )


@app.command("list")
def list_() -> None:
    """List datasets with their latest version."""
    from rich.table import Table

    from loopml.data import list_datasets

    versions = list_datasets()
    if not versions:
        console.print("no datasets yet; add one with [bold]loopml data add PATH --name NAME[/]")
        return
    table = Table("dataset", "latest", "kind", "files", "size", "created", "message")
    for v in versions:
        table.add_row(
            v.name,
            str(v.version),
            v.kind,
            str(v.n_files),
            fmt_bytes(v.total_bytes),
            fmt_time(v.created_at),
            v.message or "",
        )
    console.print(table)


@app.command("show")
def show(
    uri: str = typer.Argument(..., help="NAME, NAME@VERSION or data:/NAME@VERSION."),
    files: int = typer.Option(10, "--files", min=0, help="How many files to list."),
) -> None:
    """Show a dataset version: its files, schema and profile."""
    from loopml.data import dataset_versions, get_dataset
    from loopml.uri import RunURI

    v = get_dataset(uri)
    numbers = [x.version for x in dataset_versions(v.name)]
    console.print(f"[bold]{v.uri}[/]  ({v.kind}, {v.n_files} file(s), {fmt_bytes(v.total_bytes)})")
    console.print(f"  versions:  {', '.join(str(n) for n in numbers)}")
    console.print(f"  created:   {fmt_time(v.created_at)}")
    console.print(f"  manifest:  {v.manifest_digest}")
    if v.source_path:
        console.print(f"  source:    {v.source_path}")
    if v.message:
        console.print(f"  message:   {v.message}")
    if v.run_id:
        console.print(f"  run:       {RunURI(v.run_id)}")
    _show_files(v, files)
    _show_profile(v)


def _show_files(v: DatasetVersion, limit: int) -> None:
    from rich.table import Table

    if limit == 0:
        return
    entries = v.files()
    table = Table("path", "size", "hash", title="files")
    for e in entries[:limit]:
        table.add_row(e.path, fmt_bytes(e.size), e.digest[:16] + "…")
    if len(entries) > limit:
        table.caption = f"… and {len(entries) - limit} more (--files N)"
    console.print(table)


def _show_profile(v: DatasetVersion) -> None:
    from rich.table import Table

    if v.profile is None:
        return
    for t in v.profile.tables:
        table = Table(
            "column",
            "type",
            "nulls",
            "min",
            "max",
            "mean",
            "distinct / top values",
            title=f"{t.path}: {t.n_rows:,} rows",
        )
        for c in t.columns:
            top = ", ".join(f"{val} ({n})" for val, n in c.top)
            cats = f"{c.distinct}: {top}" if c.distinct is not None else ""
            table.add_row(
                c.name,
                c.type,
                str(c.null_count),
                _num(c.min),
                _num(c.max),
                _num(c.mean),
                cats,
            )
        console.print(table)
    if v.profile.skipped:
        console.print(f"[dim]{v.profile.skipped} more tabular file(s) not profiled[/]")


def _num(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help="The older version: NAME@V or data:/NAME@V."),
    b: str = typer.Argument(..., help="The newer version: NAME@V or data:/NAME@V."),
) -> None:
    """Show files added, removed and modified from A to B (and schema/row changes)."""
    from loopml.data import diff_versions

    d = diff_versions(a, b)
    console.print(f"[bold]{d.a}[/] → [bold]{d.b}[/]")
    if d.unchanged:
        console.print("  same files")
    for c in d.added:
        console.print(f"  [green]+ {c.path}[/]  {fmt_bytes(c.size_after or 0)}")
    for c in d.removed:
        console.print(f"  [red]- {c.path}[/]  {fmt_bytes(c.size_before or 0)}")
    for c in d.modified:
        console.print(
            f"  [yellow]~ {c.path}[/]  {fmt_bytes(c.size_before or 0)} → "
            f"{fmt_bytes(c.size_after or 0)}"
        )
    if d.rows_before is not None and d.rows_after is not None:
        delta = d.rows_after - d.rows_before
        console.print(f"  rows: {d.rows_before:,} → {d.rows_after:,} ({delta:+,})")
    for s in d.schema_changes:
        if s.change == "added":
            console.print(f"  [green]+ column {s.column}[/]: {s.type_after}")
        elif s.change == "removed":
            console.print(f"  [red]- column {s.column}[/]: {s.type_before}")
        else:
            console.print(f"  [yellow]~ column {s.column}[/]: {s.type_before} → {s.type_after}")


@app.command("status")
def status(
    names: list[str] = typer.Argument(None, help="Datasets to check (default: all in the lock)."),
) -> None:
    """Compare working copies with the versions pinned in loopml.lock."""
    from loopml.data import status as data_status

    results = data_status(names or None)
    if not results:
        console.print("loopml.lock pins no datasets")
        return
    for s in results:
        colour = {"unchanged": "green", "modified": "yellow", "missing": "red"}[s.state]
        console.print(f"[bold]{s.name}[/]@{s.version}  {s.path}  [{colour}]{s.state}[/]")
        for label, paths, c in (
            ("added", s.added, "green"),
            ("modified", s.modified, "yellow"),
            ("deleted", s.deleted, "red"),
        ):
            for p in paths[:20]:
                console.print(f"    [{c}]{label}:[/] {p}")
            if len(paths) > 20:
                console.print(f"    … and {len(paths) - 20} more {label}")


@app.command("checkout")
def checkout(
    uri: str = typer.Argument(None, help="NAME@VERSION to restore (default: everything locked)."),
    to: str = typer.Option(None, "--to", help="Restore into this path instead (lock unchanged)."),
    remote: str = typer.Option(None, "--remote", help="Fetch missing objects from this remote."),
) -> None:
    """Restore working copies to exactly the locked (or named) versions.

    Files that differ are overwritten and files the version does not list are
    removed from the dataset's folder.
    """
    from loopml.data import checkout as data_checkout

    for r in data_checkout(uri, to, remote=remote):
        console.print(
            f"[bold]{r.name}[/]@{r.version} → {r.path}: restored {len(r.restored)}, "
            f"removed {len(r.removed)}, unchanged {r.unchanged}"
        )


_REMOTE = typer.Option(
    None, "--remote", help="A folder or URL (default: the remote in loopml.toml, section data)."
)


@app.command("push")
def push(
    uris: list[str] = typer.Argument(None, help="Versions to push (default: all in the lock)."),
    remote: str = _REMOTE,
) -> None:
    """Send dataset objects the remote does not have (small ones in packs)."""
    from loopml.data import push as data_push

    r = data_push(remote, uris or None, progress=None)
    console.print(
        f"pushed {r.transferred} of {r.wanted} object(s), {fmt_bytes(r.bytes)} to {r.remote} "
        f"({r.packs} pack(s), {r.single} single object(s))"
    )


@app.command("pull")
def pull(
    uris: list[str] = typer.Argument(None, help="Versions to pull (default: all in the lock)."),
    remote: str = _REMOTE,
) -> None:
    """Fetch dataset objects missing locally, checking every hash. Then run checkout."""
    from loopml.data import pull as data_pull

    r = data_pull(remote, uris or None, progress=None)
    console.print(
        f"pulled {r.transferred} of {r.wanted} object(s), {fmt_bytes(r.bytes)} from {r.remote}"
    )


app.command("validate")(validate)
