"""``loopml data``: versioned datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, fmt_bytes, fmt_time
from loopml.cli._table import Column, Format, emit
from loopml.cli.validate import validate

if TYPE_CHECKING:  # pragma: no cover
    from loopml.data import DatasetVersion

app = typer.Typer(
    help="Version datasets: add, list, log, show, diff, status, checkout, push, pull, remove.",
    no_args_is_help=True,
)

_REF = "NAME, NAME@VERSION or data:/NAME@VERSION."


@app.command("add")
def add(
    path: str = typer.Argument(..., metavar="PATH", help="A data file or a folder of files."),
    name: str = _options.name(
        "The dataset's name (default: the file's name without its extension, or the folder's name)."
    ),
    message: str = _options.message("What this version is."),
    no_profile: bool = typer.Option(
        False, "--no-profile", help="Do not read CSV/TSV/Parquet files to profile them."
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Store PATH as the next version of its dataset, pin it in loopml.lock and keep it
    out of git (.gitignore)."""
    from loopml.data import add_dataset

    _options.use_stores(tracking_uri, artifact_uri)
    v = add_dataset(path, name, message=message, profile=not no_profile)
    if v.is_new:
        console.print(f"[green]added[/] {v.uri}", highlight=False)
    else:
        noted = " (message recorded)" if message is not None else ""
        console.print(
            f"[yellow]unchanged[/]: {v.uri} already holds these bytes{noted}", highlight=False
        )
    console.print(
        f"  {v.n_files} file(s), {fmt_bytes(v.total_bytes)}, manifest {v.manifest_digest[:16]}…",
        highlight=False,
    )
    if v.gitignored:
        console.print(f"  added {escape(v.gitignored)} to .gitignore", highlight=False)
    if v.source_path and v.source_path.startswith("/"):
        console.print(
            f"  [yellow]note:[/] {escape(v.source_path)} is outside the project, so "
            f"loopml.lock does not pin it; restore it with 'loopml data checkout "
            f"{v.name}@{v.version} --to DIR'",
            highlight=False,
        )


@app.command("remove")
def remove(
    name: str = typer.Argument(..., metavar="NAME", help="The dataset to remove."),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Unpin dataset NAME from loopml.lock and remove it from listings.

    Its versions and files stay until 'loopml gc --force'; adding data under the same
    name before then brings it back, with new versions numbered after the old ones.
    """
    from loopml.data import remove_dataset

    _options.use_stores(tracking_uri, artifact_uri)
    uris = remove_dataset(name)
    console.print(
        f"removed dataset {escape(name)} ({len(uris)} version(s)); its data stays until "
        "'loopml gc --force'",
        highlight=False,
    )


_LIST_COLUMNS = [
    Column("name", required=True, max_width=24),
    Column("latest", kind="number", required=True),
    Column("pinned", kind="number"),
    Column("files", kind="number"),
    Column("size", kind="bytes"),
    Column("created", kind="age"),
    Column("kind"),
    Column("message", max_width=40),
    Column("uri"),
]


@app.command("list")
def list_(
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """List datasets: the newest version and the one loopml.lock pins."""
    from loopml.data import list_datasets, read_lock

    _options.use_stores(tracking_uri, artifact_uri)
    versions = list_datasets()
    lock = read_lock()
    rows = [
        {
            "name": v.name,
            "latest": v.version,
            "pinned": lock[v.name].version if v.name in lock else None,
            "files": v.n_files,
            "size": v.total_bytes,
            "created": v.created_at,
            "kind": v.kind,
            "message": v.message or "",
            "uri": v.uri,
        }
        for v in versions
    ]
    emit(
        rows,
        _LIST_COLUMNS,
        fmt=fmt,
        columns_arg=columns,
        empty="No datasets yet; add one with 'loopml data add PATH'.",
    )


_LOG_COLUMNS = [
    Column("version", kind="number", required=True),
    Column("pinned"),
    Column("files", kind="number"),
    Column("size", kind="bytes"),
    Column("created", kind="age"),
    Column("message", max_width=40),
    Column("run", max_width=12),
    Column("uri"),
]


@app.command("log")
def log(
    name: str = typer.Argument(..., metavar="NAME", help="The dataset."),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """List every version of dataset NAME, newest first, with the one loopml.lock pins."""
    from loopml.data import dataset_versions, read_lock
    from loopml.uri import parse_data_uri

    _options.use_stores(tracking_uri, artifact_uri)
    ref = parse_data_uri(name)
    entry = read_lock().get(ref.name)
    rows = [
        {
            "version": v.version,
            "pinned": "pinned" if entry is not None and entry.version == v.version else "",
            "files": v.n_files,
            "size": v.total_bytes,
            "created": v.created_at,
            "message": v.message or "",
            "run": v.run_id or "",
            "uri": v.uri,
        }
        for v in reversed(dataset_versions(ref.name))
    ]
    emit(rows, _LOG_COLUMNS, fmt=fmt, columns_arg=columns)


_FILE_COLUMNS = [
    Column("path", required=True, max_width=48),
    Column("size", kind="bytes"),
    Column("hash", max_width=17),
]
_PROFILE_COLUMNS = [
    Column("column", required=True, max_width=24),
    Column("type", max_width=12),
    Column("nulls", kind="number"),
    Column("min", kind="number"),
    Column("max", kind="number"),
    Column("mean", kind="number"),
    Column("top", header="distinct / top values", max_width=40),
]


@app.command("show")
def show(
    uri: str = typer.Argument(..., metavar="REF", help=_REF),
    files: int = typer.Option(10, "--files", metavar="N", min=0, help="How many files to list."),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Show a dataset version: its files, schema and profile.

    With --format json or csv it prints the files (path, size, hash) only.
    """
    from loopml.data import dataset_versions, get_dataset
    from loopml.uri import RunURI

    _options.use_stores(tracking_uri, artifact_uri)
    v = get_dataset(uri)
    entries = v.files()
    file_rows = [{"path": e.path, "size": e.size, "hash": e.digest} for e in entries]
    if fmt != Format.table:
        emit(file_rows, _FILE_COLUMNS, fmt=fmt, columns_arg=columns)
        return
    numbers = [x.version for x in dataset_versions(v.name)]
    say = console.print
    say(
        f"[bold]{v.uri}[/]  ({v.kind}, {v.n_files} file(s), {fmt_bytes(v.total_bytes)})",
        highlight=False,
    )
    say(f"  versions:  {', '.join(str(n) for n in numbers)}", highlight=False)
    say(f"  created:   {fmt_time(v.created_at)}", highlight=False)
    say(f"  manifest:  {v.manifest_digest}", highlight=False, soft_wrap=True)
    if v.source_path:
        say(f"  source:    {escape(v.source_path)}", highlight=False, soft_wrap=True)
    if v.message:
        say(f"  message:   {escape(v.message)}", highlight=False)
    if v.run_id:
        say(f"  run:       {RunURI(v.run_id)}", highlight=False, soft_wrap=True)
    if files:
        more = len(entries) - files
        emit(
            file_rows[:files],
            _FILE_COLUMNS,
            columns_arg=columns,
            footer=f"… and {more} more (--files N)" if more > 0 else None,
        )
    _show_profile(v)


def _show_profile(v: DatasetVersion) -> None:
    if v.profile is None:
        return
    for t in v.profile.tables:
        console.print(f"\n[bold]{escape(t.path)}[/]: {t.n_rows:,} rows", highlight=False)
        rows = []
        for c in t.columns:
            top = ", ".join(f"{val} ({n})" for val, n in c.top)
            rows.append(
                {
                    "column": c.name,
                    "type": c.type,
                    "nulls": c.null_count,
                    "min": c.min,
                    "max": c.max,
                    "mean": c.mean,
                    "top": f"{c.distinct}: {top}" if c.distinct is not None else "",
                }
            )
        emit(rows, _PROFILE_COLUMNS)
    if v.profile.skipped:
        console.print(f"[dim]{v.profile.skipped} more tabular file(s) not profiled[/]")


_DIFF_COLUMNS = [
    Column("change", required=True),
    Column("path", required=True, max_width=48),
    Column("before", kind="bytes"),
    Column("after", kind="bytes"),
]


@app.command("diff")
def diff(
    a: str = typer.Argument(..., metavar="A", help="The older version: " + _REF),
    b: str = typer.Argument(..., metavar="B", help="The newer version: " + _REF),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Show files added, removed and modified from A to B (and schema/row changes)."""
    from loopml.data import diff_versions

    _options.use_stores(tracking_uri, artifact_uri)
    d = diff_versions(a, b)
    rows: list[dict[str, object]] = []
    for label, changes in (("added", d.added), ("removed", d.removed), ("modified", d.modified)):
        for c in changes:
            rows.append(
                {"change": label, "path": c.path, "before": c.size_before, "after": c.size_after}
            )
    for s in d.schema_changes:
        rows.append(
            {
                "change": f"column {s.change}",
                "path": s.column,
                "before": None,
                "after": None,
                "type_before": s.type_before,
                "type_after": s.type_after,
            }
        )
    if fmt != Format.table:
        emit(rows, _DIFF_COLUMNS, fmt=fmt, columns_arg=columns)
        return
    console.print(f"[bold]{escape(d.a)}[/] → [bold]{escape(d.b)}[/]", highlight=False)
    file_rows = [r for r in rows if not str(r["change"]).startswith("column")]
    if d.unchanged:
        console.print("  same files")
    else:
        emit(file_rows, _DIFF_COLUMNS, columns_arg=columns)
    if d.rows_before is not None and d.rows_after is not None:
        delta = d.rows_after - d.rows_before
        console.print(f"rows: {d.rows_before:,} → {d.rows_after:,} ({delta:+,})", highlight=False)
    for s in d.schema_changes:
        if s.change == "added":
            line = f"[green]+ column {escape(s.column)}[/]: {s.type_after}"
        elif s.change == "removed":
            line = f"[red]- column {escape(s.column)}[/]: {s.type_before}"
        else:
            line = f"[yellow]~ column {escape(s.column)}[/]: {s.type_before} → {s.type_after}"
        console.print(line, highlight=False)


@app.command("status")
def status(
    names: list[str] = typer.Argument(
        None, metavar="[NAME]...", help="Datasets to check (default: all in the lock)."
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Compare working copies with the versions pinned in loopml.lock."""
    from loopml.data import status as data_status

    _options.use_stores(tracking_uri, artifact_uri)
    results = data_status(names or None)
    if not results:
        console.print("loopml.lock pins no datasets")
        return
    for s in results:
        colour = {"unchanged": "green", "modified": "yellow", "missing": "red"}[s.state]
        console.print(f"[bold]{s.name}[/]@{s.version}  {escape(s.path)}  [{colour}]{s.state}[/]")
        for label, paths, c in (
            ("added", s.added, "green"),
            ("modified", s.modified, "yellow"),
            ("deleted", s.deleted, "red"),
        ):
            for p in paths[:20]:
                console.print(f"    [{c}]{label}:[/] {escape(p)}")
            if len(paths) > 20:
                console.print(f"    … and {len(paths) - 20} more {label}")


@app.command("checkout")
def checkout(
    uri: str = typer.Argument(
        None, metavar="[REF]", help="NAME@VERSION to restore (default: everything locked)."
    ),
    to: str = typer.Option(
        None, "--to", metavar="PATH", help="Restore into this path instead (lock unchanged)."
    ),
    remote: str = typer.Option(
        None, "--remote", metavar="URL", help="Fetch missing objects from this remote."
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Restore working copies to exactly the locked (or named) versions.

    Files that differ are overwritten and files the version does not list are
    removed from the dataset's folder.
    """
    from loopml.data import checkout as data_checkout

    _options.use_stores(tracking_uri, artifact_uri)
    for r in data_checkout(uri, to, remote=remote):
        console.print(
            f"[bold]{r.name}[/]@{r.version} → {escape(str(r.path))}: restored {len(r.restored)}, "
            f"removed {len(r.removed)}, unchanged {r.unchanged}"
        )


_REMOTE = typer.Option(
    None,
    "--remote",
    metavar="URL",
    help="A folder or URL (default: the remote in loopml.toml, section data).",
)


@app.command("push")
def push(
    uris: list[str] = typer.Argument(
        None, metavar="[REF]...", help="Versions to push (default: all in the lock)."
    ),
    remote: str = _REMOTE,
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Send dataset objects the remote does not have (small ones in packs)."""
    from loopml.data import push as data_push

    _options.use_stores(tracking_uri, artifact_uri)
    r = data_push(remote, uris or None, progress=None)
    console.print(
        f"pushed {r.transferred} of {r.wanted} object(s), {fmt_bytes(r.bytes)} to {r.remote} "
        f"({r.packs} pack(s), {r.single} single object(s))",
        markup=False,
    )


@app.command("pull")
def pull(
    uris: list[str] = typer.Argument(
        None, metavar="[REF]...", help="Versions to pull (default: all in the lock)."
    ),
    remote: str = _REMOTE,
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Fetch dataset objects missing locally, checking every hash. Then run checkout."""
    from loopml.data import pull as data_pull

    _options.use_stores(tracking_uri, artifact_uri)
    r = data_pull(remote, uris or None, progress=None)
    console.print(
        f"pulled {r.transferred} of {r.wanted} object(s), {fmt_bytes(r.bytes)} from {r.remote}",
        markup=False,
    )


app.command("validate")(validate)
