"""Hyper-parameter tuning: each trial is a run of the same pipeline, chosen by optuna.

Every trial is a pipeline run whose parent is the tuning run, so trials share
the step cache for the steps their parameters do not touch. A trial's value
is the last value of the metric logged by its steps (for a cached step, by
the run that computed it). Logging the metric with ``step=`` while training
reports intermediate values: the pruner (median by default) stops trials
that fall behind, and they end PRUNED.

A value that is NaN or infinite fails the trial. The study — its space,
trials, their parameters, values and pipeline runs — is kept in the
metadata database (``_repository``); passing an existing study name
continues it. Trial numbers are allocated there, never counted in memory,
so tuners continuing a study (after failures, a kill, or at the same time
as another) never overwrite a stored trial. With ``executor="ray"`` trials
run side by side on Ray, one per CPU, the study living in a Ray actor.

Example::

    study = loopml.tune(train, n_trials=20, metric="val_accuracy", direction="maximize")
    study.best_trial.params          # {'model.estimator': 'random_forest', ...}
    study.write_best("params.yaml")  # the next loopml run uses them
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from loopml import _validate
from loopml.context import current
from loopml.errors import InvalidInput, TrialPruned
from loopml.pipelines._decorators import Pipeline
from loopml.pipelines._executors import connect_ray, register_project_modules, resolve_executor_name
from loopml.pipelines._params import parse_override, resolve_params
from loopml.pipelines._records import PipelineRun
from loopml.pipelines._runner import execute_pipeline
from loopml.pipelines.tuning import _repository
from loopml.pipelines.tuning._records import Study, Trial, TrialOutcome, TrialState
from loopml.pipelines.tuning._space import Distribution, parse_space
from loopml.pipelines.tuning._study import RemoteStudy, StudyServer
from loopml.store.metadata import MetadataStore
from loopml.tracking import ActiveRun, RunStatus, get_run, set_run_tags, start_run

__all__ = ["load_study", "tune"]

DIRECTIONS = ("maximize", "minimize")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
_MAX_FAILURES_BEFORE_ANY_SUCCESS = 3

#: ``report(value, step) -> prune?``: an intermediate value of the running trial
Report = Callable[[float, int], bool]


def tune(
    pipeline: Pipeline,
    space: Mapping[str, Any] | None = None,
    *,
    n_trials: int | None = None,
    metric: str | None = None,
    direction: str | None = None,
    executor: str | None = None,
    study: str | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    seed: int | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    timeout: float | None = None,
    experiment: str | None = None,
    on_trial: Callable[[Trial, Study], None] | None = None,
    on_start: Callable[[Study, int], None] | None = None,
) -> Study:
    """Tune ``pipeline`` over ``space`` (default: ``[tune.space]`` of loopml.toml); every
    other setting defaults to ``[tune]`` of loopml.toml. Returns the :class:`Study`.

    ``study`` names the study (an existing one is continued); ``overrides`` fix
    parameters for every trial; ``timeout`` (seconds) stops starting trials;
    ``on_start(study, n_trials)`` and ``on_trial(trial, study)`` follow progress.

    Everything that can be checked — the space, the metric and direction, that
    each tuned key is a parameter of the pipeline, the executor — is checked
    before the first trial starts.
    """
    if not isinstance(pipeline, Pipeline):
        raise InvalidInput(
            f"tune needs a function decorated with @loopml.pipeline, got {type(pipeline).__name__}."
        )
    ctx = current()
    settings = ctx.settings
    cfg = settings.tune
    dists = parse_space(
        space if space is not None else cfg.space,
        "the space given to tune()" if space is not None else "[tune.space] of loopml.toml",
    )
    metric = metric or cfg.metric
    if not metric or not isinstance(metric, str):
        raise InvalidInput(
            "tune needs the metric to optimise: pass metric=... (--metric), or set "
            '[tune] metric = "val_accuracy" in loopml.toml. A step logs it with loopml.log_metric.'
        )
    direction = str(direction or cfg.direction or "maximize")
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be 'maximize' or 'minimize', got {direction!r}.")
    n = n_trials if n_trials is not None else (cfg.n_trials or 20)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInput(f"n_trials must be a positive whole number, got {n!r}.")
    sampler = str(sampler or cfg.sampler or "tpe")
    if sampler not in SAMPLERS:
        raise InvalidInput(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}.")
    pruner = str(pruner or cfg.pruner or "median")
    if pruner not in PRUNERS:
        raise InvalidInput(f"pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}.")
    if seed is None:
        seed = cfg.seed
    fixed = dict(
        overrides.items() if isinstance(overrides, Mapping) else map(parse_override, overrides)
    )
    both = sorted(set(fixed) & set(dists))
    if both:
        raise InvalidInput(
            f"{both[0]!r} is both tuned and fixed with -p; drop it from one of them."
        )
    example = {**fixed, **{k: d.example() for k, d in dists.items()}}
    resolve_params(
        pipeline.signature, pipeline.name, settings.project_root, settings.params, {}, example
    )
    executor_name = resolve_executor_name(executor, ctx)
    ray = (
        connect_ray(None if executor_name == "ray" else executor_name)
        if executor_name != "local"
        else None
    )

    name = study or f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"
    store = ctx.metadata
    result = Study(name, pipeline.name, metric, direction, dists)
    space_json = orjson.dumps(
        {k: d.to_dict() for k, d in dists.items()}, option=orjson.OPT_SORT_KEYS
    ).decode()
    previous = _repository.open_study(
        store, name, pipeline.name, metric, direction, space_json, sampler
    )

    trun = start_run(
        experiment,
        run_name=f"tune-{pipeline.name}",
        kind="tuning",
        params={
            "metric": metric,
            "direction": direction,
            "n_trials": n,
            "sampler": sampler,
            "pruner": pruner,
            "seed": seed,
            "executor": executor_name,
        },
        tags={"loopml.study": name, "loopml.pipeline": pipeline.name},
    )
    result.run_id = trun.id
    with trun:
        trun.log_dict({k: d.to_dict() for k, d in dists.items()}, "space.json")
        past = [(t.params, t.value, t.state.value) for t in previous]
        result.trials.extend(previous)
        if on_start is not None:
            on_start(result, n)
        server: StudyServer | RemoteStudy
        if ray is not None:
            actor = ray.remote(num_cpus=0)(StudyServer).remote(
                direction, sampler, pruner, seed, dists, past
            )
            server = RemoteStudy(ray, actor)
            parallel = max(1, int(ray.cluster_resources().get("CPU", 1)))
        else:
            server = StudyServer(direction, sampler, pruner, seed, dists, past)
            parallel = 1
        job = _Job(pipeline, fixed, trun.id, name, metric, str(settings.project_root))
        mine = _run_trials(
            job, _Driver(store, trun), server, result, n, parallel, ray, timeout, on_trial
        )
        _merge_stored(result, _repository.load_trials(store, name), mine)
        if any(t.state == TrialState.COMPLETE for t in result.trials):
            best = result.best_trial
            trun.set_tags(
                {"loopml.best_trial": str(best.number), "loopml.best_run": best.run_id or ""}
            )
            if best.value is not None:
                trun.log_metric(f"best_{metric}", best.value)
            _repository.mark_best(store, name, best.number)
            if best.run_id:
                set_run_tags(best.run_id, {"loopml.best_trial": "true"})
    return result


def _merge_stored(result: Study, stored: list[Trial], mine: list[Trial]) -> None:
    """The study as stored now — with the trials other tuners of it added meanwhile, and
    the latest state of those that were running when this one started — where this
    tuning's own trials keep what only memory has (their errors)."""
    own = {t.number: t for t in mine}
    merged = {t.number: t for t in stored}
    merged.update(own)
    result.trials[:] = sorted(merged.values(), key=lambda t: t.number)


@dataclass(frozen=True)
class _Job:
    """What every trial of one tuning needs (sent to Ray workers as it is)."""

    pipeline: Pipeline
    fixed: dict[str, Any]
    tuning_run: str
    study: str
    metric: str
    project_root: str


@dataclass(frozen=True)
class _Driver:
    """What the process running the tuning records results with."""

    store: MetadataStore
    tuning_run: ActiveRun


def _run_trials(
    job: _Job,
    driver: _Driver,
    server: StudyServer | RemoteStudy,
    result: Study,
    n_trials: int,
    parallel: int,
    ray: Any,
    timeout: float | None,
    on_trial: Callable[[Trial, Study], None] | None,
) -> list[Trial]:
    """Run the trials; returns those this tuning ran.

    A trial has two numbers: optuna's (``key``, counted by the in-memory study
    and used to talk to it) and the stored one (``number``, allocated by the
    metadata store, unique across every tuner of the study), which is the one
    users see. The two differ as soon as the study has trials optuna was not
    told about (failed, killed, or another process's).
    """
    started = time.monotonic()
    launched = 0
    mine: list[Trial] = []
    in_flight: dict[Any, tuple[int, int, dict[str, Any]]] = {}
    remote = None
    if ray is not None:
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_trial)
        register_project_modules(ray, job.pipeline.fn, Path(job.project_root))
        settings = current().settings
        uris = (settings.store.tracking_uri, settings.store.artifact_uri)
    while launched < n_trials or in_flight:
        out_of_time = timeout is not None and time.monotonic() - started > timeout
        while len(in_flight) < parallel and launched < n_trials and not out_of_time:
            key, params = server.ask()
            number = _repository.add_trial(
                driver.store, job.study, job.tuning_run, params, time.time()
            )
            launched += 1
            if remote is None:  # in this process, one trial at a time
                outcome = _trial(job, number, params, functools.partial(server.report, key))
                mine.append(
                    _finish(job, driver, server, result, number, key, params, outcome, on_trial)
                )
                _stop_if_hopeless(result.name, mine)
                out_of_time = timeout is not None and time.monotonic() - started > timeout
                continue
            assert isinstance(server, RemoteStudy)
            ref = remote.remote(job, number, key, params, server.handle, *uris)
            in_flight[ref] = (number, key, params)
        if not in_flight:
            break
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            number, key, params = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as exc:
                outcome = TrialOutcome(TrialState.FAIL, error=f"the Ray task failed: {exc}")
            mine.append(
                _finish(job, driver, server, result, number, key, params, outcome, on_trial)
            )
        _stop_if_hopeless(result.name, mine)
    return mine


def _stop_if_hopeless(study: str, mine: list[Trial]) -> None:
    """Stop when this tuning's first trials all failed (failures of earlier tunings of
    the study do not count: continuing a study is how one goes on after fixing them)."""
    if any(t.state == TrialState.COMPLETE for t in mine):
        return
    failed = [t for t in mine if t.state == TrialState.FAIL]
    if len(failed) >= _MAX_FAILURES_BEFORE_ANY_SUCCESS:
        last = failed[-1]
        raise InvalidInput(
            f"the first {len(failed)} trials of study {study!r} failed, so tuning "
            f"stopped. The last error (trial {last.number}, pipeline run {last.run_id}):\n"
            f"{last.error}"
        )


def _finish(
    job: _Job,
    driver: _Driver,
    server: StudyServer | RemoteStudy,
    result: Study,
    number: int,
    key: int,
    params: dict[str, Any],
    outcome: TrialOutcome,
    on_trial: Callable[[Trial, Study], None] | None,
) -> Trial:
    complete = outcome.state == TrialState.COMPLETE
    server.tell(key, outcome.state.value, outcome.value if complete else None)
    trial = Trial(
        number,
        outcome.state,
        params,
        outcome.value if complete else None,
        outcome.run_id,
        outcome.duration,
        outcome.error,
    )
    ended = time.time()
    begun = ended - (trial.duration or 0)
    _repository.finish_trial(driver.store, job.study, job.tuning_run, trial, begun, ended)
    result.trials.append(trial)
    result.trials.sort(key=lambda t: t.number)
    if trial.value is not None:
        driver.tuning_run.log_metric(job.metric, trial.value, step=number)
    if on_trial is not None:
        on_trial(trial, result)
    return trial


def _trial(job: _Job, number: int, params: dict[str, Any], report: Report) -> TrialOutcome:
    """Run trial ``number`` (as stored) in this process; intermediate values of the metric
    go to ``report``, which says whether to prune (the step that logged it then stops)."""
    steps: dict[str, int] = {}

    def observe(key: str, value: float, step: int | None) -> None:
        if key != job.metric:
            return
        at = step if step is not None else steps.get(key, -1) + 1
        steps[key] = at
        if report(value, at):
            raise TrialPruned(
                f"trial {number} pruned at step {at}: {key} = {value:g} is behind the "
                "median of earlier trials."
            )

    started = time.perf_counter()
    try:
        run = execute_pipeline(
            job.pipeline,
            {},
            overrides={**job.fixed, **params},
            parent=job.tuning_run,
            executor="local",
            tags={"loopml.study": job.study, "loopml.trial": str(number)},
            on_metric=observe,
        )
    except Exception as exc:
        return TrialOutcome(
            TrialState.FAIL,
            error="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            duration=time.perf_counter() - started,
        )
    duration = time.perf_counter() - started
    if run.status == RunStatus.PRUNED:
        return TrialOutcome(TrialState.PRUNED, run.id, error=run.error, duration=duration)
    if run.status != RunStatus.FINISHED:
        return TrialOutcome(TrialState.FAIL, run.id, error=run.error, duration=duration)
    value = _trial_value(run, job.metric)
    if value is None:
        return TrialOutcome(
            TrialState.FAIL,
            run.id,
            error=(
                f"no step of pipeline run {run.id} logged the metric {job.metric!r}. Log it "
                f"in a step with loopml.log_metric({job.metric!r}, value)."
            ),
            duration=duration,
        )
    if not math.isfinite(value):  # a diverged trial: no value to compare, never the best
        return TrialOutcome(
            TrialState.FAIL,
            run.id,
            error=(
                f"pipeline run {run.id} logged {value!r} for the metric {job.metric!r}; a "
                "trial's value must be a finite number, so the trial failed. Look at the "
                "step that logs it (a diverging loss, a division by zero)."
            ),
            duration=duration,
        )
    return TrialOutcome(TrialState.COMPLETE, run.id, value, duration=duration)


def _trial_value(run: PipelineRun, metric: str) -> float | None:
    """The last value of ``metric`` logged by the run's steps, latest step first (a cached
    step's value comes from the run that computed it)."""
    for step in reversed(run.steps):
        source = step.source_run_id or step.run_id
        if source is None:
            continue
        value = get_run(source).metrics.get(metric)
        if value is not None:
            return float(value)
    return None


def _ray_trial(
    job: _Job,
    number: int,
    key: int,
    params: dict[str, Any],
    server: Any,
    tracking_uri: str,
    artifact_uri: str,
) -> TrialOutcome:
    """The Ray task for one trial: the same :func:`_trial`, reporting through the actor
    (which knows the trial by its optuna number, ``key``)."""
    import ray

    from loopml.context import configure

    root = job.project_root
    if root not in sys.path:
        sys.path.insert(0, root)
    configure(tracking_uri=tracking_uri, artifact_uri=artifact_uri, project_root=root)

    def report(value: float, step: int) -> bool:
        return bool(ray.get(server.report.remote(key, value, step)))

    return _trial(job, number, params, report)


def load_study(name: str) -> Study:
    """Read a study and its trials back from the metadata database."""
    _validate.text(name, "study name")
    row, trials, last = _repository.load_study_row(current().metadata, name)
    study_name, pipeline, metric, direction, space = row
    dists: dict[str, Distribution] = parse_space(orjson.loads(space), f"study {name!r}")
    return Study(study_name, pipeline, metric, direction, dists, last, trials)
