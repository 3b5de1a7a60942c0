"""``loopml fsck``: check every stored object against its hash, and repair from a sound copy."""

from __future__ import annotations

import typer

from loopml.cli import _options
from loopml.cli._output import console, err_console, fmt_bytes

_SHOWN = 20


def fsck(
    remote: str = typer.Option(
        None,
        "--remote",
        metavar="URL",
        help="Also check the objects of this data remote (a folder or e.g. s3://bucket/prefix).",
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Replace each corrupt object with a sound copy from the other side."
    ),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Check every object of the store (and of the remote with --remote) against its hash.

    With --repair, a corrupt object is replaced from whichever side holds it
    sound. Exits with status 1 while a corrupt object is left.
    """
    _options.use_stores(tracking_uri, artifact_uri)
    from rich.markup import escape

    from loopml.data import fsck as check

    report = check(remote, repair=repair, progress=None)
    console.print(
        f"checked {report.checked:,} object(s), {fmt_bytes(report.checked_bytes)}, in the "
        f"store {escape(report.store)}"
    )
    if report.remote is not None:
        console.print(
            f"checked {report.remote_checked:,} object(s), "
            f"{fmt_bytes(report.remote_checked_bytes)}, on the remote {escape(report.remote)}"
        )
    for problem in report.problems[:_SHOWN]:
        what = f"{problem.where:<6} {problem.digest[:16]}…  {fmt_bytes(problem.size)}"
        if problem.repaired_from is not None:
            console.print(f"  [green]repaired[/] {what}, from the {problem.repaired_from} copy")
        else:
            console.print(f"  [bold red]corrupt[/]  {what}: {escape(problem.advice)}")
    if len(report.problems) > _SHOWN:
        console.print(f"  … and {len(report.problems) - _SHOWN} more")
    for note in report.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if not report.problems:
        console.print("[green]every object is sound[/]")
        return
    left = len(report.unrepaired)
    line = f"{len(report.problems)} corrupt object(s): {len(report.repaired)} repaired, {left} left"
    if not left:
        console.print(f"[green]{line}[/]")
        return
    hint = "" if repair else "; run again with --repair to replace what has a sound copy"
    err_console.print(f"[bold red]{line}[/]{escape(hint)}")
    raise typer.Exit(1)
