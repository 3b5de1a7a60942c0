"""``loopml tune``: search the pipeline's parameters, one pipeline run per trial."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console
from loopml.cli._table import Column, Format, emit, fmt_number

if TYPE_CHECKING:
    from loopml.pipelines import Study, Trial

_TOP = 5


def tune(
    pipeline: str = typer.Argument(
        None,
        metavar="PIPELINE",
        help="The pipeline as module:function (default: \\[pipeline] entry in loopml.toml).",
        show_default=False,
    ),
    n_trials: int = typer.Option(
        None,
        "--n-trials",
        metavar="N",
        min=1,
        help="Trials to run (default: \\[tune] n_trials, else 20).",
        show_default=False,
    ),
    metric: str = typer.Option(
        None,
        "--metric",
        metavar="NAME",
        help="The metric a step logs (default: \\[tune] metric).",
        show_default=False,
    ),
    direction: str = typer.Option(
        None,
        "--direction",
        metavar="DIRECTION",
        help="maximize or minimize (default: \\[tune] direction, else maximize).",
        show_default=False,
    ),
    param: list[str] = _options.param(
        "Fix a parameter for every trial, KEY=VALUE: -p dataset=data:/iris@2."
    ),
    experiment: str = _options.experiment(
        "The experiment the tuning run and its trials go in (default: Default)."
    ),
    executor: str = typer.Option(
        None,
        "--executor",
        metavar="EXECUTOR",
        help="local (one trial at a time) or ray / a Ray address (trials side by side).",
        show_default=False,
    ),
    study: str = typer.Option(
        None,
        "--study",
        metavar="NAME",
        help="Study name; an existing study is continued.",
        show_default=False,
    ),
    sampler: str = typer.Option(
        None, "--sampler", metavar="SAMPLER", help="tpe (default) or random.", show_default=False
    ),
    pruner: str = typer.Option(
        None,
        "--pruner",
        metavar="PRUNER",
        help="median (default: stop trials whose intermediate values fall behind) or none.",
        show_default=False,
    ),
    seed: int = typer.Option(
        None, "--seed", metavar="N", help="Seed of the sampler.", show_default=False
    ),
    timeout: float = typer.Option(
        None,
        "--timeout",
        metavar="SECONDS",
        help="Start no new trial after this many seconds.",
        show_default=False,
    ),
    write_best: str = typer.Option(
        None,
        "--write-best",
        metavar="PATH",
        help="Merge the best trial's parameters into this YAML file (e.g. params.yaml).",
        show_default=False,
    ),
    top: int = typer.Option(
        _TOP, "--top", metavar="N", min=1, help="Trials the final table shows, best first."
    ),
    register: str = typer.Option(
        None,
        "--register",
        metavar="NAME",
        help="Register the best trial's model as the next version of NAME.",
        show_default=False,
    ),
    to: str = typer.Option(
        None,
        "--to",
        metavar="ENV",
        help="Then promote that version to ENV (dev, staging, prod...) through its gates; "
        "exits 1 if they refuse it (the version stays registered).",
        show_default=False,
    ),
    promote: str = typer.Option(None, "--promote", metavar="ENV", hidden=True),
    fmt: Format = _options.output_format(),
    columns: str = _options.columns(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Tune a pipeline's parameters over the search space in \\[tune.space] of loopml.toml.

    The progress bar goes to stderr; the final table of trials (best first) to
    stdout, or every trial with --format json or csv.
    """
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.pipelines import load_pipeline
    from loopml.pipelines import tune as run_tuning

    environment = _options.one_environment(to, promote)
    pipe = load_pipeline(pipeline)
    progress = _Progress()
    if register is not None or environment is not None:
        from loopml.automation import check_registration

        check_registration(register, environment)
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
            experiment=experiment,
            on_trial=progress.update,
            on_start=progress.start,
        )
    # with json or csv, stdout holds the data alone; what people read goes to stderr
    say = console if fmt is Format.table else err_console
    _summary(result, fmt=fmt, columns_arg=columns, top=top, say=say)
    if register is not None or environment is not None:
        from loopml.automation import register_best_trial
        from loopml.cli.models import show_checks
        from loopml.errors import GateFailed

        try:
            done = register_best_trial(result, register, promote=environment)
        except GateFailed as exc:
            if fmt is Format.table:
                show_checks(exc.promotion)
            raise
        say.print(done.message, highlight=False, markup=False)
    if write_best:
        path = result.write_best(write_best)
        say.print(f"wrote the best parameters to {path}", markup=False, soft_wrap=True)
        fixed = result.params_set_in_config()
        if fixed:
            say.print(
                f"[yellow]note:[/] {escape('[params]')} in loopml.toml also sets "
                f"{escape(', '.join(fixed))}, and it wins over {escape(path.name)}; remove them "
                "there for the next run to use these.",
                highlight=False,
                soft_wrap=True,
            )


def trial_columns(study: Study) -> list[Column]:
    """The columns of the trials table, most important first: trial, the metric, the
    tuned parameters, then the run, time and state."""
    return [
        Column("trial", kind="number", required=True),
        Column("value", header=study.metric, kind="number", required=True),
        *(
            Column(f"params.{key}", header=header, kind=_kind(study, key))
            for key, header in short_names(list(study.space)).items()
        ),
        Column("run", kind="id"),
        Column("duration", header="time", kind="duration"),
        Column("state", kind="status"),
    ]


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key's shortest ending that no other key shares: ``model.max_depth`` is
    ``max_depth`` unless another key also ends in ``max_depth``."""
    out = {}
    for key in keys:
        parts = key.split(".")
        for size in range(1, len(parts) + 1):
            tail = ".".join(parts[-size:])
            if not any(o != key and (o == tail or o.endswith("." + tail)) for o in keys):
                break
        out[key] = tail
    return out


def _kind(study: Study, key: str) -> str:
    values = [t.params.get(key) for t in study.trials if t.params.get(key) is not None]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return "number" if numeric else "text"


def trial_rows(study: Study) -> list[dict[str, Any]]:
    """Every trial of ``study`` as a row of raw values, best first: the completed trials
    by value, then the others by number."""
    reverse = study.direction == "maximize"
    done = sorted(
        (t for t in study.trials if t.state == "COMPLETE" and t.value is not None),
        key=lambda t: t.value if t.value is not None else 0.0,
        reverse=reverse,
    )
    rest = sorted((t for t in study.trials if t not in done), key=lambda t: t.number)
    return [
        {
            "trial": t.number,
            "value": t.value,
            **{f"params.{key}": t.params.get(key) for key in study.space},
            "run": t.run_id,
            "duration": t.duration,
            "state": str(t.state.value),
        }
        for t in (*done, *rest)
    ]


def _summary(study: Study, *, fmt: Format, columns_arg: str | None, top: int, say: Any) -> None:
    states = {s: sum(t.state == s for t in study.trials) for s in ("COMPLETE", "PRUNED", "FAIL")}
    rows = trial_rows(study)
    footer = None
    if fmt is Format.table:
        done = states["COMPLETE"]
        shown = rows[: min(top, done)]
        if done > len(shown):
            footer = f"the best {len(shown)} of {done} complete trials; --top N shows more"
        rows = shown
    emit(
        rows,
        trial_columns(study),
        fmt=fmt,
        columns_arg=columns_arg,
        empty="No trial completed.",
        footer=footer,
    )
    try:
        best = study.best_trial
    except Exception:
        best = None
    tally = (
        f"{states['COMPLETE']} complete, {states['PRUNED']} pruned, {states['FAIL']} failed; "
        f"tuning run {study.run_id}"
    )
    if best is None:
        say.print(tally, highlight=False, soft_wrap=True)
        return
    say.print(
        f"[green]best[/] trial {best.number}: {study.metric} = {fmt_number(best.value)} "
        f"({study.direction}) — {tally}",
        highlight=False,
    )


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
            console=err_console,
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
            self.task, best=f"best {study.metric} {fmt_number(best.value)} (trial {best.number})"
        )
