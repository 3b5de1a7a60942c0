"""The ``loopml`` command: thin Typer commands over the Python SDK.

Each command group lives in its own module, imported only when its command
runs (or ``--help`` lists it), and imports the SDK inside its commands, so
``loopml --help`` and every command start fast. A
:class:`~loopml.errors.LoopmlError` reaches the user as one message without
a traceback; ``LOOPML_DEBUG=1`` shows the traceback too.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

from loopml.cli._output import err_console

# name -> (module, attribute): a Typer is a command group, a function one command;
# listed in the order ``loopml --help`` shows them
_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("loopml.cli.init", "init"),
    "lineage": ("loopml.cli.lineage", "lineage"),
    "gc": ("loopml.cli.gc", "gc"),
    "fsck": ("loopml.cli.fsck", "fsck"),
    "demo": ("loopml.cli.demo", "demo"),
    "run": ("loopml.cli.run", "run"),
    "tune": ("loopml.cli.tune", "tune"),
    "data": ("loopml.cli.data", "app"),
    "runs": ("loopml.cli.runs", "app"),
    "experiments": ("loopml.cli.experiments", "app"),
    "artifacts": ("loopml.cli.artifacts", "app"),
    "db": ("loopml.cli.db", "app"),
}


class _LazyCommands(MutableMapping[str, Any]):
    """The root's commands by name; each is built from its module on first access."""

    def __init__(self, loaded: MutableMapping[str, Any]) -> None:
        self._loaded = dict(loaded)

    def __getitem__(self, name: str) -> Any:
        found = self._loaded.get(name)
        if found is None:
            if name not in _COMMANDS:
                raise KeyError(name)
            found = self._loaded[name] = _load(name)
        return found

    def __setitem__(self, name: str, command: Any) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(_COMMANDS), **self._loaded})

    def __len__(self) -> int:
        return len(set(_COMMANDS) | set(self._loaded))


class _LazyGroup(TyperGroup):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)


def _load(name: str) -> Any:
    module, attr = _COMMANDS[name]
    found = getattr(importlib.import_module(module), attr)
    if isinstance(found, typer.Typer):
        command: Any = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="loopml",
    cls=_LazyGroup,
    help="Version data, track runs and trace every result back to what made it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    _notes_on_one_line()


def _notes_on_one_line() -> None:
    """Show loopml's own warnings (such as which version a dataset reference resolved
    to) as one ``note:`` line on stderr; other warnings keep Python's format."""
    import warnings

    shown = warnings.showwarning
    if getattr(shown, "_loopml_notes", False):
        return

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if category.__module__.split(".")[0] == "loopml":
            err_console.print(
                f"[yellow]note:[/] {_escape(str(message))}", highlight=False, soft_wrap=True
            )
        else:
            shown(message, category, filename, lineno, file, line)

    show._loopml_notes = True  # type: ignore[attr-defined]
    warnings.showwarning = show


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
