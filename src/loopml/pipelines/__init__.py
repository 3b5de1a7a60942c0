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
parameters with optuna, each trial a pipeline run (:mod:`loopml.pipelines.tuning`).
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
