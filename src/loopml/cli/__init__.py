"""The ``loopml`` command: thin Typer commands over the Python SDK.

Each command group lives in its own module, imported only when its command
runs (or ``--help`` lists it), and imports the SDK inside its commands, so
``loopml --help`` and every command start fast. A
:class:`~loopml.errors.LoopmlError` reaches the user as one message without
a traceback; ``LOOPML_DEBUG=1`` shows the traceback too.

Every command's help is made plain here, once it is built (:func:`_plain_help`):
an option that takes a value shows a word in capitals (``--limit N``, ``--to
PATH``), a flag shows nothing, an argument reads ``URI`` or ``[PATH]`` (never
Typer's ``<str>`` or ``{uri}``). The conventions: docs/cli-conventions.md.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from loopml.cli._output import err_console

# name -> (module, attribute, summary): a Typer is a command group, a function one
# command; listed in the order ``loopml --help`` shows them. The summary is what
# ``loopml --help`` prints without importing the module (a test keeps it equal to the
# first paragraph of the command's own help).
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "loopml.cli.init",
        "init",
        "Write a commented loopml.toml and a git-ignored .loopml/ folder.",
    ),
    "lineage": (
        "loopml.cli.lineage",
        "lineage",
        "Print the lineage tree of URI: upstream (what made it) and downstream (what it made).",
    ),
    "gc": (
        "loopml.cli.gc",
        "gc",
        "Remove objects that no dataset version, run, model or cache entry references.",
    ),
    "fsck": (
        "loopml.cli.fsck",
        "fsck",
        "Check every object of the store (and of the remote with --remote) against its hash.",
    ),
    "demo": (
        "loopml.cli.demo",
        "app",
        "Play the closed loop: train, gate, serve, detect drift, retrain, canary, roll back.",
    ),
    "run": (
        "loopml.cli.run",
        "run",
        "Run a pipeline: each step runs in this process (or on Ray), or comes from the cache.",
    ),
    "tune": (
        "loopml.cli.tune",
        "tune",
        "Tune a pipeline's parameters over the search space in \\[tune.space] of loopml.toml.",
    ),
    "data": (
        "loopml.cli.data",
        "app",
        "Version datasets: add, list, log, show, diff, status, checkout, push, pull, remove.",
    ),
    "runs": (
        "loopml.cli.runs",
        "app",
        "List, show and compare tracked runs. Delete and restore them; metric histories.",
    ),
    "experiments": (
        "loopml.cli.experiments",
        "app",
        "List, rename, delete and restore experiments.",
    ),
    "artifacts": ("loopml.cli.artifacts", "app", "List and download the artifacts of runs."),
    "models": (
        "loopml.cli.models",
        "app",
        "Register model versions and move their aliases and environments: list, show, "
        "register, alias, promote (through gates), approve, reject, archive, delete, "
        "history, reproduce, card.",
    ),
    "evaluate": (
        "loopml.cli.evaluate",
        "evaluate",
        "Evaluate MODEL_URI on labelled data: metrics, slices, fairness, latency, importance.",
    ),
    "deploy": (
        "loopml.cli.deploy",
        "deploy",
        "Create deployment NAME serving --model, or point it at a new version.",
    ),
    "deployments": (
        "loopml.cli.deployments",
        "app",
        "List deployments, show one with its rollout and history, delete one, apply the "
        "ones loopml.toml declares, decide a rollout: list, status, delete, sync, promote, "
        "rollback, abort.",
    ),
    "serve": (
        "loopml.cli.serve",
        "serve",
        "Serve every deployment of the project over HTTP until stopped.",
    ),
    "predict": (
        "loopml.cli.predict",
        "predict",
        "Score --input (a dataset version or a Parquet/CSV file) with MODEL_URI into --output, "
        "chunk by chunk, recorded as a run.",
    ),
    "drift": (
        "loopml.cli.drift",
        "drift",
        "Compare CURRENT with REFERENCE column by column and print which columns drifted.",
    ),
    "monitor": (
        "loopml.cli.monitor",
        "app",
        "Watch a deployment's prediction log: add, list, delete, run, status, report, alerts.",
    ),
    "automate": (
        "loopml.cli.automate",
        "app",
        "Retrain on the triggers of loopml.toml (schedule, new data, alerts), gate and roll "
        "out: run them (--once, or as a daemon), status.",
    ),
    "db": ("loopml.cli.db", "app", "Manage the metadata database."),
}

# the word an option's value shows in help when the option sets none, by long name
_METAVARS = {
    "artifact-uri": "URL",
    "chunk-rows": "N",
    "columns": "COLS",
    "depth": "N",
    "dir": "PATH",
    "direction": "DIRECTION",
    "experiment": "NAME",
    "format": "FORMAT",
    "limit": "N",
    "message": "TEXT",
    "metric": "NAME",
    "n-trials": "N",
    "name": "NAME",
    "order-by": "KEY",
    "param": "KEY=VALUE",
    "remote": "URL",
    "study": "NAME",
    "timeout": "SECONDS",
    "to": "PATH",
    "tracking-uri": "URL",
    "write-best": "PATH",
}


class _PlainArgument(TyperArgument):
    """An argument shown as ``URI`` / ``[PATH]`` / ``[NAME]...``, with no type label."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        word = self.display_name_raw.removesuffix("...")
        shown = word if self.required else f"[{word}]"
        return f"{shown}..." if self.nargs != 1 else shown


class _PlainOption(TyperOption):
    """An option whose range reads ``at least 1`` instead of ``x>=1``."""

    def _get_number_range_help_str(self) -> str | None:
        low, high = self.min, self.max
        if self.count or (low is None and high is None):
            return None
        if high is None:
            return f"at least {low}"
        if low is None:
            return f"at most {high}"
        return f"{low} to {high}"


def _option_metavar(option: TyperOption) -> str:
    longs = [o for o in option.opts if o.startswith("--")]
    name = (longs[0] if longs else option.opts[0]).lstrip("-")
    if name in _METAVARS:
        return _METAVARS[name]
    desc = option.type_descriptor
    if desc.is_choice and desc.choices:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if desc.is_path:
        return "PATH"
    annotation = desc.annotation
    if annotation is int:
        return "N"
    if annotation is float:
        return "NUMBER"
    return name.upper().replace("-", "_")


def _argument_metavar(argument: TyperArgument) -> str:
    word = (argument.name or "value").upper()
    if argument.nargs != 1:
        if word.endswith("S") and len(word) > 3:
            word = word[:-1]
        word += "..."
    return word


def _plain_help(command: Any) -> None:
    """Give ``command`` (and its subcommands) plain help: see the module docstring."""
    from typer._click import Context

    params = list(command.params)
    if getattr(command, "add_help_option", False):
        helper = command.get_help_option(Context(command))
        if helper is not None:
            params.append(helper)
    for param in params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = _argument_metavar(param)
            param.__class__ = _PlainArgument
        elif isinstance(param, TyperOption):
            if param.is_flag or param.count:
                param.metavar = ""
            elif param.metavar is None:
                param.metavar = _option_metavar(param)
            param.__class__ = _PlainOption
    if not isinstance(command, _LazyGroup):  # the root's commands get it as they load
        for sub in getattr(command, "commands", {}).values():
            _plain_help(sub)


class _LazyCommands(MutableMapping[str, Any]):
    """The root's commands by name; each is built from its module on first access."""

    def __init__(self, loaded: MutableMapping[str, Any]) -> None:
        self._loaded = dict(loaded)
        self.listing = False  # while the root's help lists them: summaries only

    def __getitem__(self, name: str) -> Any:
        found = self._loaded.get(name)
        if found is None:
            if name not in _COMMANDS:
                raise KeyError(name)
            if self.listing:
                return _summary(name)
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
        _plain_help(self)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The root's help lists each command by its summary, importing none of them."""
        commands = self.commands
        if not isinstance(commands, _LazyCommands):
            super().format_help(ctx, formatter)
            return
        commands.listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            commands.listing = False


def _summary(name: str) -> Any:
    """A stand-in for command ``name`` that holds only its one-line summary."""
    from typer.core import TyperCommand

    return TyperCommand(name=name, help=_COMMANDS[name][2])


def _load(name: str) -> Any:
    module, attr, _ = _COMMANDS[name]
    found = getattr(importlib.import_module(module), attr)
    if isinstance(found, typer.Typer):
        command: Any = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    _plain_help(command)
    return command


app = typer.Typer(
    name="loopml",
    cls=_LazyGroup,
    help="Version data, track runs and trace every result back to what made it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("loopml")
        except PackageNotFoundError:
            from loopml import __version__ as number
        typer.echo(f"loopml {number}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        help="Print loopml's version and exit.",
        is_eager=True,
        callback=_show_version,
    ),
) -> None:
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
