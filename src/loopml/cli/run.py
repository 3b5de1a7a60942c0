"""``loopml run``: run the project's pipeline with a live view of its steps."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli._output import console, fmt_duration

if TYPE_CHECKING:
    from rich.table import Table

    from loopml.pipelines import Pipeline, StepEvent

_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "cached": "cyan",
    "done": "green",
    "failed": "bold red",
    "skipped": "dim",
}


def run(
    pipeline: str = typer.Argument(
        None,
        help="The pipeline as module:function (default: \\[pipeline] entry in loopml.toml).",
        show_default=False,
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Override a parameter: -p max_depth=6, -p model.lr=0.1."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step; ignore the cache."),
    explain: bool = typer.Option(
        False, "--explain", help="Say for each step whether the cache hit or missed, and why."
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        "-e",
        help="Where steps run: local (this process), ray (a local Ray, or RAY_ADDRESS), "
        "or a Ray address such as ray://head:10001. Default: \\[pipeline] executor, else local.",
        show_default=False,
    ),
) -> None:
    """Run a pipeline: each step runs in this process (or on Ray), or comes from the cache."""
    from loopml.config import get_settings
    from loopml.pipelines import PipelineFailed

    settings = get_settings()
    pipe = _load(pipeline or _entry(settings.config), settings.project_root)
    view = _LiveView()
    with view:
        try:
            result = pipe.run(
                overrides=list(param),
                cache=not no_cache,
                on_event=view.update,
                executor=executor,
            )
        except PipelineFailed as exc:
            view.stop()
            if explain:
                _print_explain(exc.run.explain)
            raise
    if explain:
        _print_explain(result.explain)
    cached = sum(s.cached for s in result.steps)
    console.print(
        f"[green]{result.status}[/] pipeline {result.name!r} run {result.id}: "
        f"{len(result.steps)} steps, {cached} from the cache",
        highlight=False,
        soft_wrap=True,
    )


def _entry(config: dict[str, Any]) -> str:
    from loopml.errors import InvalidInput

    entry = (config.get("pipeline") or {}).get("entry")
    if not entry:
        raise InvalidInput(
            "no pipeline to run: give one as 'loopml run module:function', or set it in "
            'loopml.toml:\n\n[pipeline]\nentry = "pipeline:train"'
        )
    return str(entry)


def _load(target: str, root: Path) -> Pipeline:
    from loopml.errors import InvalidInput, NotFound
    from loopml.pipelines import Pipeline

    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise InvalidInput(
            f"invalid pipeline {target!r}: expected module:function, e.g. 'pipeline:train'."
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name.split(".")[0] and exc.name != module_name:
            raise
        raise NotFound(
            f"cannot import module {module_name!r} of pipeline {target!r} from {root}. "
            "Check [pipeline] entry in loopml.toml; the module must be importable from the "
            "project root."
        ) from None
    found = getattr(module, attr, None)
    if not isinstance(found, Pipeline):
        got = "nothing" if found is None else type(found).__name__
        raise InvalidInput(
            f"{target!r} must name a function decorated with @loopml.pipeline, got {got}."
        )
    return found


def _print_explain(text: str) -> None:
    from rich.markup import escape

    console.print("[bold]cache[/]")
    for line in text.splitlines():
        name, _, why = line.partition(": ")
        style = "cyan" if why.startswith("hit") else "yellow"
        console.print(
            f"  {escape(name)}: [{style}]{escape(why)}[/]", highlight=False, soft_wrap=True
        )


class _LiveView:
    """A table of steps with their state and time, redrawn as events arrive.

    On a terminal the table updates in place; otherwise it is printed once at the end.
    """

    def __init__(self) -> None:
        from rich.live import Live

        self.states: dict[str, tuple[str, float | None, float]] = {}
        self.interactive = console.is_terminal
        self.live = Live(console=console, auto_refresh=False, transient=False)
        self._stopped = False

    def __enter__(self) -> _LiveView:
        if self.interactive:
            self.live.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.interactive:
            self.live.update(self._table(), refresh=True)
            self.live.stop()
        elif self.states:
            console.print(self._table())

    def update(self, event: StepEvent) -> None:
        self.states[event.step] = (event.state, event.duration, time.perf_counter())
        if self.interactive:
            self.live.update(self._table(), refresh=True)

    def _table(self) -> Table:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("step")
        table.add_column("state")
        table.add_column("time", justify="right")
        now = time.perf_counter()
        for name, (state, duration, since) in self.states.items():
            shown = (
                duration if duration is not None else (now - since if state == "running" else None)
            )
            table.add_row(name, f"[{_STYLES.get(state, '')}]{state}[/]", fmt_duration(shown))
        return table
