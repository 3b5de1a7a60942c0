"""``loopml demo``: the closed loop (by default) and the earlier tours, in a scratch project."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Play the closed loop: train, gate, serve, detect drift, retrain, canary, roll back.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)

_DIR_HELP = "Scratch project folder, new or empty (default: a fresh temporary folder)."


@app.callback()
def demo(
    ctx: typer.Context,
    directory: Path = typer.Option(None, "--dir", metavar="PATH", help=_DIR_HELP),
) -> None:
    """Play the closed loop: train, gate, serve, detect drift, retrain, canary, roll back.

    With no command it plays loop; loopml demo tour is the shorter tour of data versioning
    and tracking.
    """
    if ctx.invoked_subcommand is None:
        from loopml.cli._closed_loop import run_closed_loop

        run_closed_loop(directory)


@app.command("loop")
def loop(
    directory: Path = typer.Option(None, "--dir", metavar="PATH", help=_DIR_HELP),
) -> None:
    """The closed loop, end to end, in about a minute (the default).

    Version and validate data, train and tune through a pipeline, gate, deploy and serve
    it; change the world; watch the monitor raise alerts and automation retrain, gate and
    promote a canary; watch a bad candidate rolled back. Ends with a summary table and an
    HTML report.
    """
    from loopml.cli._closed_loop import run_closed_loop

    run_closed_loop(directory)


@app.command("tour")
def tour(
    directory: Path = typer.Option(
        Path(".demo"), "--dir", metavar="PATH", help="Scratch project folder (made if missing)."
    ),
) -> None:
    """Version a real dataset, track a few training runs on it and print the lineage."""
    from loopml.cli._quickstart import run_quickstart

    run_quickstart(directory)
