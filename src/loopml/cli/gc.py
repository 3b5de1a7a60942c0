"""``loopml gc``: remove stored objects nothing references."""

from __future__ import annotations

import typer

from loopml.cli._output import console, err_console, fmt_bytes

_SAFE_GRACE = 60.0


def gc(
    dry_run: bool = typer.Option(
        True, "--dry-run/--force", help="Only list what would be removed (default), or remove it."
    ),
    grace: float = typer.Option(
        3600.0, "--grace", min=0, help="Keep unreferenced objects younger than this many seconds."
    ),
) -> None:
    """Remove objects that no dataset version, run, model or cache entry references."""
    from loopml.context import gc as collect

    if not dry_run and grace < _SAFE_GRACE:
        err_console.print(
            f"[yellow]warning:[/] a grace of {grace:g} s can remove objects another process "
            "has just stored and is about to reference; use it only when nothing else writes."
        )
    report = collect(dry_run=dry_run, grace_seconds=grace)
    verb = "would remove" if dry_run else "removed"
    for digest, size in report.removed[:20]:
        console.print(f"  {digest[:16]}…  {fmt_bytes(size)}")
    if len(report.removed) > 20:
        console.print(f"  … and {len(report.removed) - 20} more")
    console.print(
        f"{verb} {len(report.removed)} objects ({fmt_bytes(report.removed_bytes)}); "
        f"kept {report.kept} referenced ({fmt_bytes(report.kept_bytes)})"
        + (f" and {report.young} younger than {grace:.0f} s" if report.young else "")
    )
    if dry_run and report.removed:
        console.print("Run [bold]loopml gc --force[/] to remove them.")
