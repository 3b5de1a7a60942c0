"""The ``loopml`` command: thin Typer commands over the Python SDK.

Each command group lives in its own module and imports the SDK inside its
commands, so ``loopml --help`` stays fast. A :class:`~loopml.errors.LoopmlError`
reaches the user as one message without a traceback; ``LOOPML_DEBUG=1``
shows the traceback too.
"""

from __future__ import annotations

import os
import sys

import typer

from loopml.cli import data, db, demo, gc, init, lineage, run, runs
from loopml.cli._output import err_console

app = typer.Typer(
    name="loopml",
    help="Version data, track runs and trace every result back to what made it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(runs.app, name="runs")
app.add_typer(db.app, name="db")
app.command("init")(init.init)
app.command("lineage")(lineage.lineage)
app.command("gc")(gc.gc)
app.command("demo")(demo.demo)
app.command("run")(run.run)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``loopml`` console script."""
    from loopml.errors import LoopmlError

    try:
        app(args=argv, prog_name="loopml")
    except LoopmlError as exc:
        if os.environ.get("LOOPML_DEBUG"):
            raise
        err_console.print(f"[bold red]error:[/] {_escape(str(exc))}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
