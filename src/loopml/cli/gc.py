"""``loopml gc``: remove stored objects nothing references (locally, or on a data remote)."""

from __future__ import annotations

import shlex

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console, fmt_bytes

_SAFE_GRACE = 60.0


def gc(
    dry_run: bool = typer.Option(
        True, "--dry-run/--force", help="Only list what would be removed (default), or remove it."
    ),
    grace: float = typer.Option(
        3600.0,
        "--grace",
        metavar="SECONDS",
        min=0,
        help="Keep unreferenced objects younger than this many seconds.",
    ),
    remote: str = typer.Option(
        None,
        "--remote",
        metavar="URL",
        help="Collect on this data remote (a folder or URL) instead of the local store.",
        show_default=False,
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Remove objects that no dataset version, run, model or cache entry references.

    Locally, datasets removed with 'loopml data remove' are purged first. With
    --remote, objects on the data remote that no dataset version of this project
    references are removed (packs holding live objects are written anew).
    """
    _options.use_stores(tracking_uri, artifact_uri)
    if not dry_run and grace < _SAFE_GRACE:
        err_console.print(
            f"[yellow]warning:[/] a grace of {grace:g} s can remove objects another process "
            "has just stored and is about to reference; use it only when nothing else writes.",
            highlight=False,
        )
    if remote is not None:
        _gc_remote(remote, dry_run, grace)
        return
    from loopml.context import gc as collect

    report = collect(dry_run=dry_run, grace_seconds=grace)
    verb = "would remove" if dry_run else "removed"
    if report.purged:
        console.print(
            f"{'would purge' if dry_run else 'purged'} {len(report.purged)} removed "
            f"dataset version(s) or run(s): {', '.join(report.purged[:5])}"
            + (" …" if len(report.purged) > 5 else ""),
            highlight=False,
        )
    _list(report.removed)
    console.print(
        f"{verb} {len(report.removed)} objects ({fmt_bytes(report.removed_bytes)}); "
        f"kept {report.kept} referenced ({fmt_bytes(report.kept_bytes)})"
        + (f" and {report.young} younger than {grace:.0f} s" if report.young else ""),
        highlight=False,
    )
    if dry_run and (report.removed or report.purged):
        console.print("Run [bold]loopml gc --force[/] to remove them.", highlight=False)


def _gc_remote(remote: str, dry_run: bool, grace: float) -> None:
    from loopml.data import gc_remote

    report = gc_remote(remote, dry_run=dry_run, grace_seconds=grace)
    verb = "would remove" if dry_run else "removed"
    _list(report.removed)
    console.print(
        f"{escape(report.remote)}: {verb} {len(report.removed)} objects "
        f"({fmt_bytes(report.removed_bytes)}); kept {report.kept} referenced "
        f"({fmt_bytes(report.kept_bytes)})"
        + (f" and {report.young} younger than {grace:.0f} s" if report.young else "")
        + (f"; {report.repacked} pack(s) written anew" if report.repacked else ""),
        highlight=False,
    )
    if dry_run and report.removed:
        command = f"loopml gc --remote {shlex.quote(remote)} --force"
        console.print(f"Run [bold]{escape(command)}[/] to remove them.", highlight=False)


def _list(removed: list[tuple[str, int]]) -> None:
    for digest, size in removed[:20]:
        console.print(f"  {digest[:16]}…  {fmt_bytes(size)}", highlight=False)
    if len(removed) > 20:
        console.print(f"  … and {len(removed) - 20} more", highlight=False)
