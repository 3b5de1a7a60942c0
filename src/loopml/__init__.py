"""loopml: version data, track runs and link everything to what made it.

The public SDK is what this module exports; everything is imported on first
use, so ``import loopml`` stays fast (nothing heavy loads until you call it)::

    import loopml

    ds = loopml.add_dataset("data/iris.csv", name="iris")
    with loopml.start_run(experiment="iris", params={"max_depth": 4}) as run:
        run.use_dataset(ds.uri)
        loopml.log_metric("f1", 0.93)
    loopml.search_runs("metrics.f1 > 0.9", order_by=["metrics.f1 DESC"])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

__version__ = "0.1.0"

# name -> module that defines it; loaded lazily by __getattr__
_EXPORTS: dict[str, str] = {
    "Conflict": "loopml.errors",
    "CorruptObject": "loopml.errors",
    "DatasetVersion": "loopml.data",
    "InvalidInput": "loopml.errors",
    "LoopmlError": "loopml.errors",
    "Metric": "loopml.tracking",
    "MissingExtra": "loopml.errors",
    "NotFound": "loopml.errors",
    "PipelineFailed": "loopml.pipelines",
    "PipelineRun": "loopml.pipelines",
    "Run": "loopml.tracking",
    "Study": "loopml.pipelines",
    "Suite": "loopml.validation",
    "TrialPruned": "loopml.errors",
    "ValidationResult": "loopml.validation",
    "active_run": "loopml.tracking",
    "add_dataset": "loopml.data",
    "configure": "loopml.config",
    "end_run": "loopml.tracking",
    "get_dataset": "loopml.data",
    "get_lineage": "loopml.tracking.lineage",
    "get_metric_history": "loopml.tracking",
    "get_run": "loopml.tracking",
    "infer_suite": "loopml.validation",
    "list_datasets": "loopml.data",
    "load_pipeline_run": "loopml.pipelines",
    "load_study": "loopml.pipelines",
    "log_artifact": "loopml.tracking",
    "log_dict": "loopml.tracking",
    "log_figure": "loopml.tracking",
    "log_metric": "loopml.tracking",
    "log_metrics": "loopml.tracking",
    "log_param": "loopml.tracking",
    "log_params": "loopml.tracking",
    "pipeline": "loopml.pipelines",
    "search_runs": "loopml.tracking",
    "set_tag": "loopml.tracking",
    "set_tags": "loopml.tracking",
    "start_run": "loopml.tracking",
    "step": "loopml.pipelines",
    "tune": "loopml.pipelines",
    "validate": "loopml.validation",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from loopml.config import configure
    from loopml.data import DatasetVersion, add_dataset, get_dataset, list_datasets
    from loopml.errors import (
        Conflict,
        CorruptObject,
        InvalidInput,
        LoopmlError,
        MissingExtra,
        NotFound,
        TrialPruned,
    )
    from loopml.pipelines import (
        PipelineFailed,
        PipelineRun,
        Study,
        load_pipeline_run,
        load_study,
        pipeline,
        step,
        tune,
    )
    from loopml.tracking import (
        Metric,
        Run,
        active_run,
        end_run,
        get_metric_history,
        get_run,
        log_artifact,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from loopml.tracking.lineage import get_lineage
    from loopml.validation import Suite, ValidationResult, infer_suite, validate


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
