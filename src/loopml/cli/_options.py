"""Options shared by the commands, so one flag means one thing everywhere.

The conventions (docs/cli-conventions.md): short flags are kept for the few
options people type all day (``-e --experiment``, ``-p --param``, ``-m
--message``, ``-n --name``, ``-q --quiet``, ``-v --verbose``); every other
option is long only. Metavars are words in capitals (``NAME``, ``URL``).
Every command that reads or writes a store takes ``--tracking-uri`` and
``--artifact-uri`` and calls :func:`use_stores` first.
"""

from __future__ import annotations

from typing import Any

import typer


def experiment(help: str = "The experiment.") -> Any:
    return typer.Option(None, "--experiment", "-e", metavar="NAME", help=help, show_default=False)


def name(help: str, *, required: bool = False) -> Any:
    return typer.Option(
        ... if required else None, "--name", "-n", metavar="NAME", help=help, show_default=False
    )


def message(help: str = "What this is, in a few words.") -> Any:
    return typer.Option(None, "--message", "-m", metavar="TEXT", help=help, show_default=False)


def param(help: str = "Set a parameter, KEY=VALUE (repeat for more).") -> Any:
    return typer.Option([], "--param", "-p", metavar="KEY=VALUE", help=help, show_default=False)


def quiet(help: str = "Print only errors.") -> Any:
    return typer.Option(False, "--quiet", "-q", help=help)


def verbose(help: str = "Print more detail.") -> Any:
    return typer.Option(False, "--verbose", "-v", help=help)


def limit(default: int = 50, help: str = "Show at most this many rows.") -> Any:
    return typer.Option(default, "--limit", metavar="N", min=1, help=help)


def output_format() -> Any:
    from loopml.cli._table import Format  # here: commands without a table skip its import

    return typer.Option(
        Format.table,
        "--format",
        metavar="FORMAT",
        help="table (fitted to the terminal), json or csv.",
        case_sensitive=False,
        show_default=False,
    )


def columns() -> Any:
    return typer.Option(
        None,
        "--columns",
        metavar="COLS",
        help="Columns to show, comma-separated, e.g. name,status,metrics.f1.",
        show_default=False,
    )


def tracking_uri() -> Any:
    return typer.Option(
        None,
        "--tracking-uri",
        metavar="URL",
        help="Metadata database URL (default: LOOPML_TRACKING_URI, loopml.toml, "
        ".loopml/loopml.db).",
        show_default=False,
    )


def artifact_uri() -> Any:
    return typer.Option(
        None,
        "--artifact-uri",
        metavar="URL",
        help="Artifact store URL or folder (default: LOOPML_ARTIFACT_URI, loopml.toml, "
        ".loopml/artifacts).",
        show_default=False,
    )


def use_stores(tracking_uri: str | None, artifact_uri: str | None = None) -> None:
    """Point this command's SDK calls at the stores the user named (if any)."""
    if tracking_uri is None and artifact_uri is None:
        return
    import loopml

    loopml.configure(tracking_uri=tracking_uri, artifact_uri=artifact_uri)


def one_environment(to: str | None, promote: str | None) -> str | None:
    """The environment of ``--to`` (or of its older spelling ``--promote``): one of them."""
    from loopml.errors import InvalidInput

    if to is not None and promote is not None and to != promote:
        raise InvalidInput(
            f"--to {to!r} and --promote {promote!r} name two environments: --promote is the "
            "older spelling of --to; give one."
        )
    return to if to is not None else promote
