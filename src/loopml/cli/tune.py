"""``loopml tune``: search the pipeline's parameters, one pipeline run per trial."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from loopml.cli._output import console, fmt_duration

if TYPE_CHECKING:
    from loopml.pipelines import Study, Trial


def tune(
    pipeline: str = typer.Argument(
        None,
        help="The pipeline as module:function (default: \\[pipeline] entry in loopml.toml).",
        show_default=False,
    ),
    n_trials: int = typer.Option(
        None,
        "--n-trials",
        "-n",
        help="Trials to run (default: \\[tune] n_trials, else 20).",
        show_default=False,
    ),
    metric: str = typer.Option(
        None,
        "--metric",
        "-m",
        help="The metric a step logs (default: \\[tune] metric).",
        show_default=False,
    ),
    direction: str = typer.Option(
        None,
        "--direction",
        "-d",
        help="maximize or minimize (default: \\[tune] direction).",
        show_default=False,
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Fix a parameter for every trial: -p dataset=data:/iris@2."
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        "-e",
        help="local (one trial at a time) or ray / a Ray address (trials side by side).",
        show_default=False,
    ),
    study: str = typer.Option(
        None, "--study", help="Study name; an existing study is continued.", show_default=False
    ),
    sampler: str = typer.Option(
        None, "--sampler", help="tpe (default) or random.", show_default=False
    ),
    pruner: str = typer.Option(
        None,
        "--pruner",
        help="median (default: stop trials whose intermediate values fall behind) or none.",
        show_default=False,
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the sampler.", show_default=False),
    timeout: float = typer.Option(
        None, "--timeout", help="Start no new trial after this many seconds.", show_default=False
    ),
    write_best: str = typer.Option(
        None,
        "--write-best",
        help="Merge the best trial's parameters into this YAML file (e.g. params.yaml).",
        show_default=False,
    ),
) -> None:
    """Tune a pipeline's parameters over the search space in \\[tune.space] of loopml.toml."""
    from loopml.pipelines import load_pipeline
    from loopml.pipelines import tune as run_tuning

    pipe = load_pipeline(pipeline)
    progress = _Progress()
    with progress:
        result = run_tuning(
            pipe,
            n_trials=n_trials,
            metric=metric,
            direction=direction,
            executor=executor,
            study=study,
            sampler=sampler,
            pruner=pruner,
            seed=seed,
            overrides=param,
            timeout=timeout,
            on_trial=progress.update,
            on_start=progress.start,
        )
    _summary(result)
    if write_best:
        path = result.write_best(write_best)
        console.print(f"wrote the best parameters to {path}", highlight=False, soft_wrap=True)
        fixed = result.params_set_in_config()
        if fixed:
            console.print(
                f"[yellow]note:[/] [params] in loopml.toml also sets {', '.join(fixed)}, and it "
                f"wins over {path.name}; remove them there for the next run to use these.",
                highlight=False,
                soft_wrap=True,
            )


def _summary(study: Study) -> None:
    from rich.table import Table

    states = {s: sum(t.state == s for t in study.trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    best = study.best_trial
    reverse = study.direction == "maximize"
    done = sorted(
        (t for t in study.trials if t.state == "COMPLETE" and t.value is not None),
        key=lambda t: t.value if t.value is not None else 0.0,
        reverse=reverse,
    )
    table = Table(box=None, header_style="bold", title=f"top trials of study {study.name}")
    table.add_column("trial", justify="right")
    table.add_column(study.metric, justify="right")
    for key in study.space:
        table.add_column(key)
    table.add_column("run")
    table.add_column("time", justify="right")
    for t in done[:5]:
        table.add_row(
            str(t.number),
            f"{t.value:.6g}" if t.value is not None else "-",
            *[_text(t.params.get(k)) for k in study.space],
            (t.run_id or "")[:12],
            fmt_duration(t.duration),
        )
    console.print(table)
    console.print(
        f"[green]best[/] trial {best.number}: {study.metric} = {best.value:.6g} "
        f"({study.direction}) — {states['COMPLETE']} complete, {states['PRUNED']} pruned, "
        f"{states['FAIL']} failed; tuning run {study.run_id}",
        highlight=False,
        soft_wrap=True,
    )


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _Progress:
    """A Rich progress bar of trials with the best value so far and the ETA."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> _Progress:
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def start(self, study: Study, total: int) -> None:
        done = len(study.trials)
        self.task = self.progress.add_task("tune", total=done + total, completed=done, best="")
        self._show_best(study)

    def update(self, trial: Trial, study: Study) -> None:
        if self.task is None:
            return
        self.progress.advance(self.task)
        self._show_best(study)

    def _show_best(self, study: Study) -> None:
        try:
            best = study.best_trial
        except Exception:
            return
        self.progress.update(
            self.task, best=f"best {study.metric} {best.value:.4g} (trial {best.number})"
        )
