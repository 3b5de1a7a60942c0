"""Hyper-parameter tuning: each trial is a run of the same pipeline, chosen by optuna.

A search space maps dotted pipeline parameters (the keys ``-p`` overrides
take) to distributions::

    [tune]
    metric = "val_accuracy"        # logged by a step with loopml.log_metric
    direction = "maximize"
    n_trials = 20

    [tune.space]
    "model.estimator" = { choices = ["random_forest", "logistic_regression"] }
    "model.max_depth" = { low = 2, high = 16 }             # ints: both bounds ints
    "model.C" = { low = 0.001, high = 100.0, log = true }  # floats, log scale
    "model.n_estimators" = { low = 50, high = 300, step = 50 }

Every trial is a pipeline run whose parent is the tuning run, so trials share
the step cache for the steps their parameters do not touch. A trial's value
is the last value of ``metric`` logged by its steps (for a cached step, by
the run that computed it). Logging the metric with ``step=`` while training
reports intermediate values: the pruner (median by default) stops trials
that fall behind, and they end PRUNED.

The study — its space, trials, their parameters, values and pipeline runs —
is kept in the metadata database (``tuning_studies``, ``tuning_trials``);
passing an existing study name continues it. With ``executor="ray"`` trials
run side by side on Ray, one per CPU.

Example::

    study = loopml.tune(train, n_trials=20, metric="val_accuracy", direction="maximize")
    study.best_trial.params          # {'model.estimator': 'random_forest', ...}
    study.write_best("params.yaml")  # the next loopml run uses them
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, select

from loopml.errors import Conflict, InvalidInput, NotFound, TrialPruned
from loopml.pipelines._decorators import Pipeline
from loopml.pipelines._params import parse_override, resolve_params
from loopml.store import schema
from loopml.store.metadata import get_metadata_store

__all__ = ["Distribution", "Study", "Trial", "load_study", "parse_space", "tune"]

DIRECTIONS = ("maximize", "minimize")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
_MAX_FAILURES_BEFORE_ANY_SUCCESS = 3
_s = schema.tuning_studies
_t = schema.tuning_trials


# -- the search space -----------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """One parameter's range: ``int``/``float`` between ``low`` and ``high`` (inclusive;
    ``log`` scale, ``step`` grid) or a ``categorical`` among ``choices``."""

    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out

    def example(self) -> Any:
        return self.choices[0] if self.kind == "categorical" else self.low


def parse_space(raw: Any, where: str = "the search space") -> dict[str, Distribution]:
    """Check a space (``{"model.C": {"low": 0.01, "high": 10, "log": True}, ...}``) and
    return its distributions; anything invalid is an error naming the key and value."""
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput(
            f"{where} is empty: give each tuned parameter a range, e.g. in loopml.toml\n\n"
            '[tune.space]\n"model.max_depth" = { low = 2, high = 16 }\n'
            '"model.C" = { low = 0.001, high = 100.0, log = true }\n'
            '"model.estimator" = { choices = ["random_forest", "logistic_regression"] }'
        )
    space = {}
    for key, spec in raw.items():
        space[str(key)] = _distribution(str(key), spec, where)
    return space


def _distribution(key: str, spec: Any, where: str) -> Distribution:
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"invalid range for {key!r} in {where}: {why} (got {spec!r}).")

    if isinstance(spec, (list, tuple)):
        spec = {"choices": list(spec)}
    if not isinstance(spec, Mapping):
        raise bad("expected a table such as { low = 1, high = 10 } or { choices = [...] }")
    unknown = set(spec) - {"low", "high", "log", "step", "choices", "type"}
    if unknown:
        raise bad(
            f"unknown field(s) {', '.join(sorted(unknown))}; use low, high, log, step, choices"
        )
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) - {"choices", "type"}:
            raise bad("choices cannot be combined with low/high/log/step")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise bad("choices must be a non-empty list")
        if not all(c is None or isinstance(c, (str, int, float, bool)) for c in choices):
            raise bad("choices must be strings, numbers, booleans or null")
        if len({repr(c) for c in choices}) != len(choices):
            raise bad("choices repeat a value")
        return Distribution("categorical", choices=tuple(choices))
    if "low" not in spec or "high" not in spec:
        raise bad("expected both low and high, or choices")
    low, high = spec["low"], spec["high"]
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise bad(f"{name} must be a finite number")
    kind = spec.get("type") or (
        "int" if isinstance(low, int) and isinstance(high, int) else "float"
    )
    if kind not in ("int", "float"):
        raise bad("type must be 'int' or 'float'")
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise bad("an int range needs whole-number bounds")
    if not low < high:
        raise bad(f"low ({low}) must be less than high ({high})")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise bad("log must be true or false")
    if log and low <= 0:
        raise bad(f"a log-scale range needs low > 0, got low = {low}")
    step = spec.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            raise bad("step must be a positive number")
        if log:
            raise bad("step and log cannot be combined")
        if kind == "int" and not float(step).is_integer():
            raise bad("an int range needs a whole-number step")
        if step > high - low:
            raise bad(f"step ({step}) is larger than the range {low}..{high}")
    if kind == "int":
        return Distribution("int", int(low), int(high), log, int(step) if step else None)
    return Distribution("float", float(low), float(high), log, float(step) if step else None)


def _suggest(trial: Any, space: Mapping[str, Distribution]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, d in space.items():
        if d.kind == "categorical":
            params[key] = trial.suggest_categorical(key, list(d.choices))
        elif d.kind == "int":
            assert d.low is not None and d.high is not None
            params[key] = trial.suggest_int(
                key, int(d.low), int(d.high), step=int(d.step or 1), log=d.log
            )
        else:
            assert d.low is not None and d.high is not None
            params[key] = trial.suggest_float(key, d.low, d.high, step=d.step, log=d.log)
    return params


def _optuna_distributions(space: Mapping[str, Distribution]) -> dict[str, Any]:
    import optuna.distributions as od

    out: dict[str, Any] = {}
    for key, d in space.items():
        if d.kind == "categorical":
            out[key] = od.CategoricalDistribution(list(d.choices))
        elif d.kind == "int":
            out[key] = od.IntDistribution(
                int(d.low or 0), int(d.high or 0), log=d.log, step=int(d.step or 1)
            )
        else:
            out[key] = od.FloatDistribution(d.low or 0.0, d.high or 0.0, log=d.log, step=d.step)
    return out


# -- the study, in this process or as a Ray actor ---------------------------------------


class _StudyServer:
    """The optuna study: hands out trials, hears intermediate values, takes results."""

    def __init__(
        self,
        direction: str,
        sampler: str,
        pruner: str,
        seed: int | None,
        space: dict[str, Distribution],
        previous: list[tuple[dict[str, Any], float | None, str]],
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        chosen = (
            optuna.samplers.RandomSampler(seed=seed)
            if sampler == "random"
            else optuna.samplers.TPESampler(seed=seed)
        )
        prune = optuna.pruners.MedianPruner() if pruner == "median" else optuna.pruners.NopPruner()
        self.space = space
        self.study = optuna.create_study(
            direction="maximize" if direction == "maximize" else "minimize",
            sampler=chosen,
            pruner=prune,
        )
        dists = _optuna_distributions(space)
        states = {
            "COMPLETE": optuna.trial.TrialState.COMPLETE,
            "PRUNED": optuna.trial.TrialState.PRUNED,
        }
        for params, value, state in previous:
            if state not in states or set(params) != set(dists):
                continue
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=dists,
                    value=value if state == "COMPLETE" else None,
                    state=states[state],
                )
            )
        self.trials: dict[int, Any] = {}

    def ask(self) -> tuple[int, dict[str, Any]]:
        trial = self.study.ask()
        self.trials[trial.number] = trial
        return trial.number, _suggest(trial, self.space)

    def report(self, number: int, value: float, step: int) -> bool:
        trial = self.trials[number]
        if not math.isfinite(value):
            return False
        trial.report(value, step)
        return bool(trial.should_prune())

    def tell(self, number: int, state: str, value: float | None) -> None:
        import optuna

        trial = self.trials.pop(number)
        if state == "COMPLETE":
            self.study.tell(trial, value)
        elif state == "PRUNED":
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)


class _RemoteServer:
    """A :class:`_StudyServer` living in a Ray actor, called synchronously."""

    def __init__(self, ray: Any, handle: Any) -> None:
        self.ray = ray
        self.handle = handle

    def ask(self) -> tuple[int, dict[str, Any]]:
        return self.ray.get(self.handle.ask.remote())

    def report(self, number: int, value: float, step: int) -> bool:
        return self.ray.get(self.handle.report.remote(number, value, step))

    def tell(self, number: int, state: str, value: float | None) -> None:
        self.ray.get(self.handle.tell.remote(number, state, value))


# -- results ----------------------------------------------------------------------------


@dataclass
class Trial:
    """One trial: its number, state (COMPLETE, PRUNED or FAIL), the parameters it
    tried (dotted keys), its value, and its pipeline run."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None
    run_id: str | None
    duration: float | None = None
    error: str | None = field(default=None, repr=False)


@dataclass
class Study:
    """A tuning study: what was tuned, how, and every trial so far."""

    name: str
    pipeline: str
    metric: str
    direction: str
    space: dict[str, Distribution]
    run_id: str | None = None
    trials: list[Trial] = field(default_factory=list)

    @property
    def best_trial(self) -> Trial:
        """The completed trial with the best value."""
        done = [t for t in self.trials if t.state == "COMPLETE" and t.value is not None]
        if not done:
            states = ", ".join(f"{t.number}: {t.state}" for t in self.trials) or "none"
            raise NotFound(
                f"study {self.name!r} has no completed trial (trials {states}). Look at a "
                "failed trial's pipeline run for its error, or run more trials."
            )
        pick = max if self.direction == "maximize" else min
        return pick(done, key=lambda t: t.value if t.value is not None else math.nan)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float | None:
        return self.best_trial.value

    def write_best(self, path: str | os.PathLike[str] = "params.yaml") -> Path:
        """Merge the best trial's parameters into ``path`` (a params.yaml, created when
        missing), atomically; returns the path."""
        import yaml

        target = Path(path)
        data: dict[str, Any] = {}
        if target.exists():
            loaded = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
            if not isinstance(loaded, dict):
                raise InvalidInput(
                    f"{target} does not hold a mapping of parameters, so the best parameters "
                    "cannot be merged into it. Fix or remove the file."
                )
            data = loaded
        for key, value in self.best_params.items():
            node = data
            *parents, last = key.split(".")
            for part in parents:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[last] = value
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        os.replace(tmp, target)
        return target


# -- tuning -------------------------------------------------------------------------------


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
    from loopml.config import get_settings
    from loopml.pipelines._executors import connect_ray, resolve_executor_name
    from loopml.tracking import start_run

    if not isinstance(pipeline, Pipeline):
        raise InvalidInput(
            f"tune needs a function decorated with @loopml.pipeline, got {type(pipeline).__name__}."
        )
    settings = get_settings()
    cfg = settings.config.get("tune") or {}
    if not isinstance(cfg, Mapping):
        raise InvalidInput("[tune] in loopml.toml must be a table.")
    dists = parse_space(
        space if space is not None else cfg.get("space"),
        "the space given to tune()" if space is not None else "[tune.space] of loopml.toml",
    )
    metric = metric or cfg.get("metric")
    if not metric or not isinstance(metric, str):
        raise InvalidInput(
            "tune needs the metric to optimise: pass metric=... (--metric), or set "
            '[tune] metric = "val_accuracy" in loopml.toml. A step logs it with loopml.log_metric.'
        )
    direction = str(direction or cfg.get("direction") or "maximize")
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be 'maximize' or 'minimize', got {direction!r}.")
    n = n_trials if n_trials is not None else cfg.get("n_trials", 20)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidInput(f"n_trials must be a positive whole number, got {n!r}.")
    sampler = str(sampler or cfg.get("sampler") or "tpe")
    if sampler not in SAMPLERS:
        raise InvalidInput(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}.")
    pruner = str(pruner or cfg.get("pruner") or "median")
    if pruner not in PRUNERS:
        raise InvalidInput(f"pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}.")
    if seed is None and cfg.get("seed") is not None:
        seed = int(cfg["seed"])
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
        pipeline.signature, pipeline.name, settings.project_root, settings.config, {}, example
    )
    executor_name = resolve_executor_name(executor, settings.config)
    ray = (
        connect_ray(None if executor_name == "ray" else executor_name)
        if executor_name != "local"
        else None
    )

    name = study or f"{pipeline.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(2).hex()}"
    store = get_metadata_store(settings.tracking_uri)
    result = Study(name, pipeline.name, metric, direction, dists)
    previous = _open_study(store, result, sampler)

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
        past = [(t.params, t.value, t.state) for t in previous]
        result.trials.extend(previous)
        if on_start is not None:
            on_start(result, n)
        if ray is not None:
            actor = ray.remote(num_cpus=0)(_StudyServer).remote(
                direction, sampler, pruner, seed, dists, past
            )
            server: Any = _RemoteServer(ray, actor)
            parallel = max(1, int(ray.cluster_resources().get("CPU", 1)))
        else:
            server = _StudyServer(direction, sampler, pruner, seed, dists, past)
            parallel = 1
        job = _Job(pipeline, fixed, trun.id, name, metric, settings)
        _run_trials(job, server, result, store, n, parallel, ray, timeout, on_trial)
        done = [t for t in result.trials if t.state == "COMPLETE"]
        if done:
            best = result.best_trial
            trun.set_tags(
                {"loopml.best_trial": str(best.number), "loopml.best_run": best.run_id or ""}
            )
            if best.value is not None:
                trun.log_metric(f"best_{metric}", best.value)
            store.write(
                lambda conn: conn.execute(
                    _s.update().where(_s.c.name == name).values(best_trial=best.number)
                )
            )
            if best.run_id:
                from loopml.tracking import _store

                _store.set_tags(store, best.run_id, {"loopml.best_trial": "true"})
    return result


@dataclass
class _Job:
    pipeline: Pipeline
    fixed: dict[str, Any]
    tuning_run: str
    study: str
    metric: str
    settings: Any


def _run_trials(
    job: _Job,
    server: Any,
    result: Study,
    store: Any,
    n_trials: int,
    parallel: int,
    ray: Any,
    timeout: float | None,
    on_trial: Callable[[Trial, Study], None] | None,
) -> None:
    started = time.monotonic()
    launched = 0
    in_flight: dict[Any, tuple[int, dict[str, Any]]] = {}
    remote = None
    if ray is not None:
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_trial)
        _ship_project_code(ray, job)
    while launched < n_trials or in_flight:
        out_of_time = timeout is not None and time.monotonic() - started > timeout
        while len(in_flight) < parallel and launched < n_trials and not out_of_time:
            number, params = server.ask()
            _save_trial(store, job, number, "RUNNING", params, None, None, time.time(), None)
            launched += 1
            if remote is None:  # in this process, one trial at a time
                outcome = _trial(job, number, params, server.report)
                _finish(job, server, result, store, number, params, outcome, on_trial)
                _stop_if_hopeless(result)
                out_of_time = timeout is not None and time.monotonic() - started > timeout
                continue
            in_flight[remote.remote(job, number, params, server.handle)] = (number, params)
        if not in_flight:
            break
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            number, params = in_flight.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as exc:
                outcome = {"state": "FAIL", "error": f"the Ray task failed: {exc}"}
            _finish(job, server, result, store, number, params, outcome, on_trial)
        _stop_if_hopeless(result)


def _stop_if_hopeless(result: Study) -> None:
    if any(t.state == "COMPLETE" for t in result.trials):
        return
    failed = [t for t in result.trials if t.state == "FAIL"]
    if len(failed) >= _MAX_FAILURES_BEFORE_ANY_SUCCESS:
        last = failed[-1]
        raise InvalidInput(
            f"the first {len(failed)} trials of study {result.name!r} failed, so tuning "
            f"stopped. The last error (trial {last.number}, pipeline run {last.run_id}):\n"
            f"{last.error}"
        )


def _finish(
    job: _Job,
    server: Any,
    result: Study,
    store: Any,
    number: int,
    params: dict[str, Any],
    outcome: dict[str, Any],
    on_trial: Callable[[Trial, Study], None] | None,
) -> None:
    state = outcome["state"]
    value = outcome.get("value")
    server.tell(number, state, value if state == "COMPLETE" else None)
    trial = Trial(
        number,
        state,
        params,
        value if state == "COMPLETE" else None,
        outcome.get("run_id"),
        outcome.get("duration"),
        outcome.get("error"),
    )
    ended = time.time()
    _save_trial(
        store,
        job,
        number,
        state,
        params,
        trial.value,
        trial.run_id,
        ended - (trial.duration or 0),
        ended,
    )
    result.trials.append(trial)
    result.trials.sort(key=lambda t: t.number)
    if trial.value is not None:
        from loopml.tracking import active_run

        run = active_run()
        if run is not None and run.id == job.tuning_run:
            run.log_metric(job.metric, trial.value, step=number)
    if on_trial is not None:
        on_trial(trial, result)


def _trial(
    job: _Job, number: int, params: dict[str, Any], report: Callable[[int, float, int], bool]
) -> dict[str, Any]:
    """Run one trial's pipeline in this process; intermediate values of the metric go
    to ``report``, which says whether to prune."""
    from loopml.pipelines._records import PipelineFailed
    from loopml.tracking._runs import observe_metrics

    steps: dict[str, int] = {}

    def observer(key: str, value: float, step: int | None) -> None:
        if key != job.metric:
            return
        at = step if step is not None else steps.get(key, -1) + 1
        steps[key] = at
        if report(number, value, at):
            raise TrialPruned(
                f"trial {number} pruned at step {at}: {key} = {value:g} is behind the "
                "median of earlier trials."
            )

    started = time.perf_counter()
    previous = observe_metrics(observer)
    try:
        run = job.pipeline.run(
            overrides={**job.fixed, **params},
            parent=job.tuning_run,
            executor="local",
            tags={"loopml.study": job.study, "loopml.trial": str(number)},
        )
    except TrialPruned as exc:
        pruned_run = getattr(exc, "run", None)
        return {
            "state": "PRUNED",
            "run_id": getattr(pruned_run, "id", None),
            "error": str(exc),
            "duration": time.perf_counter() - started,
        }
    except PipelineFailed as exc:
        return {
            "state": "FAIL",
            "run_id": exc.run.id,
            "error": exc.run.error,
            "duration": time.perf_counter() - started,
        }
    except Exception as exc:
        return {
            "state": "FAIL",
            "run_id": None,
            "error": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            "duration": time.perf_counter() - started,
        }
    finally:
        observe_metrics(previous)
    value = _trial_value(run, job.metric)
    duration = time.perf_counter() - started
    if value is None:
        return {
            "state": "FAIL",
            "run_id": run.id,
            "error": (
                f"no step of pipeline run {run.id} logged the metric {job.metric!r}. Log it "
                f"in a step with loopml.log_metric({job.metric!r}, value)."
            ),
            "duration": duration,
        }
    return {"state": "COMPLETE", "run_id": run.id, "value": value, "duration": duration}


def _trial_value(run: Any, metric: str) -> float | None:
    """The last value of ``metric`` logged by the run's steps, latest step first (a cached
    step's value comes from the run that computed it)."""
    from loopml.tracking import get_run

    for step in reversed(run.steps):
        source = step.source_run_id or step.run_id
        if source is None:
            continue
        value = get_run(source).metrics.get(metric)
        if value is not None:
            return float(value)
    return None


def _ray_trial(job: _Job, number: int, params: dict[str, Any], server: Any) -> dict[str, Any]:
    """The Ray task for one trial: the same :func:`_trial`, reporting through the actor."""
    import ray

    from loopml.config import configure

    s = job.settings
    root = str(s.project_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    configure(tracking_uri=s.tracking_uri, artifact_uri=s.artifact_uri, project_root=root)

    def report(n: int, value: float, step: int) -> bool:
        return bool(ray.get(server.report.remote(n, value, step)))

    return _trial(job, number, params, report)


def _ship_project_code(ray: Any, job: _Job) -> None:
    from loopml.pipelines._executors import register_project_modules

    register_project_modules(ray, job.pipeline.fn, Path(job.settings.project_root))


# -- storage --------------------------------------------------------------------------------


def _open_study(store: Any, study: Study, sampler: str) -> list[Trial]:
    """Create the study's row, or check an existing one matches and return its trials."""
    space_json = orjson.dumps(
        {k: d.to_dict() for k, d in study.space.items()}, option=orjson.OPT_SORT_KEYS
    ).decode()
    found: list[Trial] = []

    def tx(conn: Connection) -> None:
        row = conn.execute(select(_s).where(_s.c.name == study.name)).first()
        if row is None:
            conn.execute(
                _s.insert().values(
                    name=study.name,
                    pipeline=study.pipeline,
                    metric=study.metric,
                    direction=study.direction,
                    space=space_json,
                    sampler=sampler,
                    created_at=time.time(),
                )
            )
            return
        if (row.pipeline, row.metric, row.direction) != (
            study.pipeline,
            study.metric,
            study.direction,
        ):
            raise Conflict(
                f"study {study.name!r} tunes pipeline {row.pipeline!r} for {row.direction} "
                f"{row.metric!r}, not {study.pipeline!r} for {study.direction} {study.metric!r}. "
                "Pick another study name to start a new study."
            )
        found.extend(_trials(conn, study.name))

    store.write(tx)
    return found


def _trials(conn: Connection, name: str) -> list[Trial]:
    rows = conn.execute(select(_t).where(_t.c.study == name).order_by(_t.c.number)).all()
    return [
        Trial(
            r.number,
            "FAIL" if r.state == "RUNNING" else r.state,
            orjson.loads(r.params),
            r.value,
            r.run_id,
            (r.ended_at - r.started_at) if r.ended_at else None,
        )
        for r in rows
    ]


def _save_trial(
    store: Any,
    job: _Job,
    number: int,
    state: str,
    params: dict[str, Any],
    value: float | None,
    run_id: str | None,
    started: float,
    ended: float | None,
) -> None:
    row = {
        "study": job.study,
        "number": number,
        "tuning_run_id": job.tuning_run,
        "run_id": run_id,
        "state": state,
        "params": orjson.dumps(params).decode(),
        "value": value if value is None or math.isfinite(value) else None,
        "started_at": started,
        "ended_at": ended,
    }
    store.write(
        lambda conn: store.upsert(
            conn,
            _t,
            [row],
            keys=("study", "number"),
            update=(
                "tuning_run_id",
                "run_id",
                "state",
                "params",
                "value",
                "started_at",
                "ended_at",
            ),
        )
    )


def load_study(name: str) -> Study:
    """Read a study and its trials back from the metadata database."""
    store = get_metadata_store()
    with store.read() as conn:
        row = conn.execute(select(_s).where(_s.c.name == name)).first()
        if row is None:
            known = [
                r.name
                for r in conn.execute(select(_s.c.name).order_by(_s.c.created_at.desc()).limit(5))
            ]
            raise NotFound(
                f"no tuning study {name!r}; recent studies: {', '.join(known) or 'none'}."
            )
        trials = _trials(conn, name)
        last = conn.execute(
            select(_t.c.tuning_run_id)
            .where(_t.c.study == name)
            .order_by(_t.c.started_at.desc())
            .limit(1)
        ).scalar()
    space = parse_space(orjson.loads(row.space), f"study {name!r}")
    return Study(row.name, row.pipeline, row.metric, row.direction, space, last, trials)
