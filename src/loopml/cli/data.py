"""``loopml data``: versioned datasets."""

from __future__ import annotations

import typer

app = typer.Typer(help="Version datasets: add, list, show, diff, status, checkout, push, pull.", no_args_is_help=True)
