"""Pipelines: typed Python functions as steps, run in-process with a cache you can trust.

Example::

    import loopml

    @loopml.step
    def clean(raw: list[float]) -> list[float]:
        return [x for x in raw if x >= 0]

    @loopml.step
    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    @loopml.pipeline
    def stats(raw: list[float] = [1.0, -2.0, 3.0]):
        return mean(clean(raw))

    run = stats()                       # a PipelineRun: run.id, run.status, run.steps
    stats().steps[0].cached             # True: same code, params and inputs
    print(stats().explain)              # why each step hit or missed

A step's cache key covers its source, the project code it calls, its
parameters, the content hashes of its inputs and the versions of key
libraries; a hit also needs every stored output to exist and verify.
Outputs are stored by type (:mod:`loopml.pipelines._materializers`), and
``loopml run`` runs the pipeline named by ``[pipeline] entry`` in
``loopml.toml``; ``--executor ray`` runs its steps on Ray
(:mod:`loopml.pipelines._executors`), and :func:`tune` searches its
parameters with optuna, each trial a pipeline run (:mod:`loopml.pipelines._tune`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Materializer": "loopml.pipelines._materializers",
    "Pipeline": "loopml.pipelines._decorators",
    "PipelineFailed": "loopml.pipelines._records",
    "PipelineRun": "loopml.pipelines._records",
    "Step": "loopml.pipelines._decorators",
    "StepEvent": "loopml.pipelines._runner",
    "StepOutput": "loopml.pipelines._graph",
    "StepRun": "loopml.pipelines._records",
    "Study": "loopml.pipelines._tune",
    "Trial": "loopml.pipelines._tune",
    "load_pipeline_run": "loopml.pipelines._records",
    "load_study": "loopml.pipelines._tune",
    "pipeline": "loopml.pipelines._decorators",
    "register_materializer": "loopml.pipelines._materializers",
    "step": "loopml.pipelines._decorators",
    "tune": "loopml.pipelines._tune",
}

__all__ = [
    "Materializer",
    "Pipeline",
    "PipelineFailed",
    "PipelineRun",
    "Step",
    "StepEvent",
    "StepOutput",
    "StepRun",
    "Study",
    "Trial",
    "load_pipeline_run",
    "load_study",
    "pipeline",
    "register_materializer",
    "step",
    "tune",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from loopml.pipelines._decorators import Pipeline, Step, pipeline, step
    from loopml.pipelines._graph import StepOutput
    from loopml.pipelines._materializers import Materializer, register_materializer
    from loopml.pipelines._records import PipelineFailed, PipelineRun, StepRun, load_pipeline_run
    from loopml.pipelines._runner import StepEvent
    from loopml.pipelines._tune import Study, Trial, load_study, tune

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
