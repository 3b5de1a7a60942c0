"""Pipelines produce models: register the model a pipeline run's step returned.

A step that returns a model of a known flavor stores it as a model package
in its run (see :mod:`loopml.pipelines._materializers`). The functions here
find that package in a finished pipeline run and register it:

- which model: ``name`` (else ``[model] name`` in loopml.toml), the ``step``
  (else ``[model] step``, else the one step that returned a model) and, for
  a step with named outputs, the ``output`` (else ``[model] output``, else
  its one model output);
- registering bytes a live version of the name already holds registers
  nothing new: the :class:`Registration` says which version holds them;
- ``promote`` then promotes the version to an environment (``staging``...)
  through its gates, as ``loopml.promote`` does, with ``reason`` in its
  history; the environment and its gates are read before anything runs, so
  a typo leaves the registry and the runs as they were. A refusal raises
  :class:`~loopml.errors.GateFailed` naming every failing check, and the
  version stays registered (``exc.registration`` says which).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml.errors import GateFailed, InvalidInput, NotFound

if TYPE_CHECKING:
    from loopml.evaluation import Promotion
    from loopml.pipelines import Pipeline, PipelineRun, StepEvent, StepRun, Study
    from loopml.registry import ModelVersion, Transition

__all__ = [
    "Registration",
    "check_registration",
    "register_best_trial",
    "register_step_model",
    "run_and_register",
    "tune_and_register",
]

_SKOPS = "skops"


@dataclass(frozen=True)
class Registration:
    """A model registered from a pipeline run: the ``version`` (``is_new`` False when its
    bytes were registered already), the pipeline ``run`` and ``step`` it came from, its
    ``source`` (``runs:/<step run>/<folder>``), the environment move when it was promoted
    (``transition``), the gated ``promotion`` (its checks and status) and, for a tuned
    pipeline, the ``study``."""

    version: ModelVersion
    run: PipelineRun
    step: str
    source: str
    transition: Transition | None = None
    study: Study | None = None
    promotion: Promotion | None = None

    @property
    def is_new(self) -> bool:
        return self.version.is_new

    @property
    def message(self) -> str:
        """One line for people: what was registered, or which version holds the bytes."""
        v = self.version
        if v.is_new:
            text = f"registered {v.uri} (version {v.version}) from step {self.step} ({self.source})"
        else:
            text = (
                f"model unchanged: {v.name} v{v.version} holds these bytes ({v.uri}); "
                "nothing new registered"
            )
        p = self.promotion
        if self.transition is not None:
            text += f"; {self.transition.environment} -> v{self.transition.to_version}"
            if p is not None and p.checks:
                text += f" ({p.tally('gate checks')}"
                text += ", forced)" if p.status == "FORCED" else ")"
        elif p is not None and p.status == "PENDING_APPROVAL":
            text += f"; {p.environment}: every gate check passed, waiting for approval"
        elif p is not None and p.status == "REFUSED":
            text += f"; {p.environment} refused it ({len(p.failures)} failing gate checks)"
        return text


def _settings() -> Any:
    from loopml.context import current

    return current().settings.model


def _model_name(name: str | None) -> str:
    if name is None:
        name = _settings().name
        if name is None:
            raise InvalidInput(
                "no model name to register: pass one (loopml run --register NAME) or set "
                'name under [model] in loopml.toml, e.g. name = "churn".'
            )
    from loopml.uri import check_name

    return check_name(_validate.text(name, "model name"), "model name")


def _check_promote(promote: str | None, reason: str | None) -> None:
    if reason is not None:
        _validate.text(reason, "reason", empty=True)
    if promote is None:
        return
    from loopml.evaluation import read_gates
    from loopml.registry import environments

    _validate.text(promote, "environment")
    known = environments()
    if promote not in known:
        raise InvalidInput(
            f"unknown environment {promote!r}: the environments are {', '.join(known)} "
            "(set more under [models] environments in loopml.toml)."
        )
    read_gates(promote)  # a typo in its gates fails before anything runs


def check_registration(
    name: str | None = None, promote: str | None = None, reason: str | None = None
) -> str:
    """The model name a registration would use (``name``, else ``[model] name``), once it
    and the environment ``promote`` are known to be valid: call it before a long run so a
    typo fails first."""
    model_name = _model_name(name)
    _check_promote(promote, reason)
    return model_name


def _pick_step(run: PipelineRun, step: str | None) -> StepRun:
    if step is None:
        step = _settings().step
    if step is not None:
        return run.step(_validate.text(step, "step"))
    with_models = [s for s in run.steps if s.models]
    if len(with_models) == 1:
        return with_models[0]
    if not with_models:
        old = [s.name for s in run.steps if _old_skops(s)]
        if old:
            raise _old_cache(old[0], run)
        raise NotFound(
            f"no step of pipeline run {run.id} returned a model (steps: "
            f"{', '.join(s.name for s in run.steps)}): return a fitted estimator (or a "
            "loopml.Model) from the training step."
        )
    raise InvalidInput(
        f"several steps of pipeline run {run.id} returned a model "
        f"({', '.join(s.name for s in with_models)}): name one with step=... or "
        '[model] step = "..." in loopml.toml.'
    )


def _old_skops(step: StepRun) -> bool:
    return any(o.materializer == _SKOPS for o in step.output_records)


def _old_cache(step: str, run: PipelineRun) -> InvalidInput:
    return InvalidInput(
        f"step {step!r} of pipeline run {run.id} holds an estimator stored before steps "
        "stored models as packages (an earlier cache entry): run the pipeline once "
        "without the cache (loopml run --no-cache) to store it as a model package."
    )


def _pick_source(run: PipelineRun, found: StepRun, output: str | None) -> str:
    if output is None:
        output = _settings().output
    models = found.models
    if output is not None:
        output = _validate.text(output, "output")
        if output not in models:
            raise NotFound(
                f"output {output!r} of step {found.name!r} is not a model (its model outputs: "
                f"{', '.join(models) or 'none'}; all outputs: "
                f"{', '.join(o.name for o in found.output_records) or 'none'})."
            )
        return models[output]
    if len(models) == 1:
        return next(iter(models.values()))
    if not models:
        if _old_skops(found):
            raise _old_cache(found.name, run)
        raise NotFound(
            f"step {found.name!r} of pipeline run {run.id} returned no model (its outputs: "
            f"{', '.join(f'{o.name} ({o.materializer})' for o in found.output_records) or 'none'})"
            ": return a fitted estimator (or a loopml.Model) from it."
        )
    raise InvalidInput(
        f"step {found.name!r} returned several models ({', '.join(models)}): name one with "
        'output=... or [model] output = "..." in loopml.toml.'
    )


def register_step_model(
    run: PipelineRun | str,
    name: str | None = None,
    *,
    step: str | None = None,
    output: str | None = None,
    promote: str | None = None,
    reason: str | None = None,
    description: str | None = None,
) -> Registration:
    """Register the model a step of the finished pipeline run ``run`` (a
    :class:`~loopml.pipelines.PipelineRun` or its id) returned, as the next version of
    ``name``, and promote it to ``promote`` when given (see the module docstring).

    Example::

        result = pipe.run()
        loopml.register_step_model(result, "churn", step="train").message
    """
    from loopml.pipelines import PipelineRun, load_pipeline_run
    from loopml.registry import register_model

    model_name = _model_name(name)
    _check_promote(promote, reason)
    if description is not None:
        _validate.text(description, "description", empty=True)
    if isinstance(run, str):
        run = load_pipeline_run(_validate.text(run, "pipeline run id"))
    elif not isinstance(run, PipelineRun):
        raise InvalidInput(
            f"run must be a PipelineRun or a pipeline run id, got {_validate.shown(run)}."
        )
    if run.status != "FINISHED":
        raise InvalidInput(
            f"pipeline run {run.id} is {run.status}: only a finished run's model is "
            "registered. Fix the failing step and run it again."
        )
    found = _pick_step(run, step)
    source = _pick_source(run, found, output)
    version = register_model(source, model_name, description=description)
    if promote is None:
        return Registration(version, run, found.name, source)
    return _promote(Registration(version, run, found.name, source), promote, reason)


def _promote(done: Registration, to: str, reason: str | None) -> Registration:
    """``done`` promoted to ``to`` through its gates: the promotion (and the move) on it,
    or GateFailed naming the registered version and every failing check."""
    from loopml.evaluation import promote
    from loopml.registry import model_history

    why = reason if reason is not None else f"pipeline run {done.run.id}, step {done.step}"
    version = done.version
    try:
        promotion = promote(version.name, to, version=version.version, reason=why)
    except GateFailed as exc:
        refused = replace(done, promotion=exc.promotion)
        error = GateFailed(f"{refused.message}. {exc}", exc.promotion)
        error.registration = refused
        raise error from None
    moved = None
    if promotion.transition_id is not None:
        moves = model_history(version.name, to)
        moved = next((t for t in moves if t.id == promotion.transition_id), None)
    return replace(done, transition=moved, promotion=promotion)


def run_and_register(
    pipeline: Pipeline | str | None = None,
    name: str | None = None,
    *,
    step: str | None = None,
    output: str | None = None,
    promote: str | None = None,
    reason: str | None = None,
    params: Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    cache: bool = True,
    experiment: str | None = None,
    executor: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Registration:
    """Run ``pipeline`` (a Pipeline, ``"module:function"``, or ``[pipeline] entry``) and,
    once it finished, register the model its step returned as the next version of
    ``name`` (see :func:`register_step_model`). A failing step raises
    :class:`~loopml.errors.PipelineFailed` and registers nothing. ``tags`` are added to
    the pipeline run (a retrain records its trigger there).

    Example::

        done = loopml.run_and_register("pipeline:train", "digits", promote="staging")
        done.version.uri     # models:/digits/1
    """
    from loopml.pipelines import Pipeline, load_pipeline

    model_name = _model_name(name)
    _check_promote(promote, reason)
    pipe = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    result = pipe.run(
        params,
        overrides=overrides,
        cache=cache,
        experiment=experiment,
        on_event=on_event,
        executor=executor,
        tags=tags,
    )
    return register_step_model(
        result, model_name, step=step, output=output, promote=promote, reason=reason
    )


def tune_and_register(
    pipeline: Pipeline | str | None = None,
    name: str | None = None,
    *,
    step: str | None = None,
    output: str | None = None,
    promote: str | None = None,
    reason: str | None = None,
    **options: Any,
) -> Registration:
    """Tune ``pipeline`` (``options`` as :func:`loopml.tune` takes them: ``n_trials``,
    ``metric``, ``space``...) and register the model of the best trial's pipeline run
    as the next version of ``name`` (see :func:`register_step_model`); the result's
    ``study`` is the study.

    Example::

        done = loopml.tune_and_register("pipeline:train", "digits", n_trials=10)
        done.study.best_value, done.version.uri
    """
    from loopml.pipelines import Pipeline, load_pipeline, tune

    model_name = _model_name(name)
    _check_promote(promote, reason)
    pipe = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    study = tune(pipe, **options)
    return register_best_trial(
        study, model_name, step=step, output=output, promote=promote, reason=reason
    )


def register_best_trial(
    study: Study,
    name: str | None = None,
    *,
    step: str | None = None,
    output: str | None = None,
    promote: str | None = None,
    reason: str | None = None,
) -> Registration:
    """Register the model of ``study``'s best trial (see :func:`register_step_model`)."""
    best = study.best_trial
    if best.run_id is None:
        raise NotFound(
            f"the best trial ({best.number}) of study {study.name!r} has no pipeline run."
        )
    try:
        done = register_step_model(
            best.run_id, name, step=step, output=output, promote=promote, reason=reason
        )
    except GateFailed as exc:
        if exc.registration is not None:
            exc.registration = replace(exc.registration, study=study)
        raise
    return replace(done, study=study)
