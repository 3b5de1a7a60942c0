"""``loopml run``: run the project's pipeline with a live view of its steps."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, fmt_duration

if TYPE_CHECKING:
    from rich.table import Table

    from loopml.pipelines import PipelineRun, StepEvent

_STYLES = {
    "PENDING": "dim",
    "RUNNING": "yellow",
    "CACHED": "cyan",
    "FINISHED": "green",
    "FAILED": "bold red",
    "PRUNED": "yellow",
    "SKIPPED": "dim",
}


def run(
    pipeline: str = typer.Argument(
        None,
        metavar="PIPELINE",
        help="The pipeline as module:function (default: \\[pipeline] entry in loopml.toml).",
        show_default=False,
    ),
    param: list[str] = _options.param(
        "Override a parameter, KEY=VALUE: -p max_depth=6 -p model.lr=0.1."
    ),
    experiment: str = _options.experiment(
        "The experiment the pipeline run goes in (default: Default)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every step; ignore the cache."),
    explain: bool = typer.Option(
        False,
        "--explain",
        help="Say for each step whether the cache hit or missed, and why (for a miss, against "
        "which earlier cache entry of the step: the one that differs least).",
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        metavar="EXECUTOR",
        help="Where steps run: local (this process), ray (a local Ray, or RAY_ADDRESS), "
        "or a Ray address such as ray://head:10001. Default: \\[pipeline] executor, else local.",
        show_default=False,
    ),
    register: str = typer.Option(
        None,
        "--register",
        metavar="NAME",
        help="After a successful run, register the model the training step returned as "
        "the next version of NAME (default: \\[model] name in loopml.toml, if set).",
        show_default=False,
    ),
    to: str = typer.Option(
        None,
        "--to",
        metavar="ENV",
        help="Then promote the registered version to ENV (dev, staging, prod...) through "
        "its gates; exits 1 if they refuse it (the version stays registered).",
        show_default=False,
    ),
    promote: str = typer.Option(None, "--promote", metavar="ENV", hidden=True),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Run a pipeline: each step runs in this process (or on Ray), or comes from the cache.

    --register NAME (or \\[model] name) registers the returned model at the end.
    """
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.context import current
    from loopml.errors import GateFailed
    from loopml.pipelines import PipelineFailed, load_pipeline

    environment = _options.one_environment(to, promote)

    registering = (
        register is not None or environment is not None or bool(current().settings.model.name)
    )
    pipe = load_pipeline(pipeline)
    view = _LiveView()
    done = None
    with view:
        try:
            options: dict[str, Any] = {
                "overrides": list(param),
                "cache": not no_cache,
                "experiment": experiment,
                "on_event": view.update,
                "executor": executor,
            }
            if registering:
                from loopml.automation import run_and_register

                try:
                    done = run_and_register(pipe, register, promote=environment, **options)
                except GateFailed as exc:
                    view.stop()
                    _refused(exc)
                    raise
                result = done.run
            else:
                result = pipe.run(**options)
        except PipelineFailed as exc:
            view.stop()
            if explain:
                _print_explain(exc.run)
            raise
    if explain:
        _print_explain(result)
    cached = sum(s.cached for s in result.steps)
    console.print(
        f"[green]{result.status}[/] pipeline {escape(repr(result.name))} run {result.id}: "
        f"{len(result.steps)} steps, {cached} from the cache",
        highlight=False,
    )
    if done is not None:
        console.print(done.message, highlight=False, markup=False)


def _refused(exc: Any) -> None:
    """Say which pipeline run registered the refused version, then print its checks."""
    from loopml.cli.models import show_checks

    done = exc.registration
    if done is not None:
        console.print(
            f"[green]{done.run.status}[/] pipeline {escape(repr(done.run.name))} run {done.run.id}",
            highlight=False,
        )
    show_checks(exc.promotion)


def _print_explain(run: PipelineRun) -> None:
    from rich.markup import escape

    console.print("[bold]cache[/]")
    for step in run.steps:
        style = "cyan" if step.cached else "yellow"
        against = (
            f" [dim](compared with {escape(step.compared_with)})[/]" if step.compared_with else ""
        )
        console.print(
            f"  {escape(step.name)}: [{style}]{escape(step.explain)}[/]{against}",
            highlight=False,
            soft_wrap=True,
        )


class _LiveView:
    """A table of steps with their state and time, redrawn as events arrive.

    On a terminal the table updates in place; otherwise it is printed once at the end.
    """

    def __init__(self) -> None:
        from rich.live import Live

        self.states: dict[str, tuple[str, float | None, float]] = {}  # step -> state, time
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
        self.states[event.step] = (event.state.value, event.duration, time.perf_counter())
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
                duration if duration is not None else (now - since if state == "RUNNING" else None)
            )
            style = _STYLES.get(state, "")
            table.add_row(name, f"[{style}]{state.lower()}[/]", fmt_duration(shown))
        return table
