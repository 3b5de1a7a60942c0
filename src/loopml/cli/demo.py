"""``loopml demo``: the quickstart, end to end, in a scratch project."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    directory: Path = typer.Option(
        Path(".demo"), "--dir", metavar="PATH", help="Scratch project folder (made if missing)."
    ),
) -> None:
    """Version a real dataset, track a few training runs on it and print the lineage."""
    from loopml.cli._quickstart import run_quickstart

    run_quickstart(directory)
