"""``loopml runs``: tracked runs."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, show and compare tracked runs.", no_args_is_help=True)
