"""``loopml artifacts``: list a run's artifacts and download them."""

from __future__ import annotations

from pathlib import Path

import typer

from loopml.cli import _options
from loopml.cli._output import console, fmt_bytes
from loopml.cli._table import Column, Format, emit

app = typer.Typer(help="List and download the artifacts of runs.", no_args_is_help=True)

_RUN = "Run id or a unique prefix (≥ 6 characters)."


@app.command("list")
def list_artifacts(
    run_id: str = typer.Argument(..., metavar="RUN", help=_RUN),
    path: str = typer.Argument(
        "", metavar="[PATH]", help="Only the file or folder at this path.", show_default=False
    ),
    fmt: Format = _options.output_format(),
    columns: str | None = _options.columns(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """List the files logged with a run (under PATH when given), with their sizes."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import list_artifacts as found

    entries = found(run_id, path)
    cols = [
        Column("path", required=True),
        Column("size", kind="bytes"),
        Column("digest", max_width=14),
        Column("uri"),
    ]
    rows = [{"path": e.path, "size": e.size, "digest": e.digest, "uri": e.uri} for e in entries]
    where = f" under {path!r}" if path else ""
    emit(rows, cols, fmt=fmt, columns_arg=columns, empty=f"The run has no artifacts{where}.")


@app.command("download")
def download(
    run_id: str = typer.Argument(..., metavar="RUN", help=_RUN),
    path: str = typer.Argument(
        "",
        metavar="[PATH]",
        help="The file or folder to download (default: every artifact).",
        show_default=False,
    ),
    to: Path = typer.Option(
        Path("."), "--to", metavar="DIR", help="The folder to write into (default: here)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace files in DIR that hold other content."
    ),
    quiet: bool = _options.quiet(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Copy a run's artifacts into DIR as verified read-only files."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.tracking import download_artifacts

    files = download_artifacts(run_id, path or None, to, overwrite=overwrite)
    if quiet:
        return
    for f in files:
        console.print(
            f"{f.status:<9}  {f.path}  ({fmt_bytes(f.size)})", markup=False, soft_wrap=True
        )
    written = sum(f.status != "unchanged" for f in files)
    console.print(
        f"{written} file{'s' if written != 1 else ''} written, "
        f"{len(files) - written} already there",
        highlight=False,
    )
