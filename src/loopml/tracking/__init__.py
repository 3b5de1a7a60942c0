"""Run tracking: params, metrics, tags and artifacts of runs, and searching them.

Example::

    import loopml

    with loopml.start_run(experiment="iris", params={"max_depth": 4}) as run:
        for epoch in range(10):
            loopml.log_metric("loss", 1 / (epoch + 1))      # buffered, ~µs
        loopml.log_dict({"classes": ["a", "b"]}, "labels.json")
    loopml.get_run(run.id).metrics                           # {'loss': 0.1}
    loopml.search_runs("metrics.loss < 0.5", order_by=["metrics.loss"])

Metrics are buffered in memory and written by a background thread every
``flush_interval`` seconds (``LOOPML_FLUSH_INTERVAL``, default 1.0), when a
run ends, at interpreter exit and on SIGTERM; a process killed with SIGKILL
loses at most its last interval of metrics. See :mod:`loopml.tracking._filter`
for the ``search_runs`` filter language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# name -> module that defines it ("module:attribute" when the name differs)
_EXPORTS: dict[str, str] = {
    "ActiveRun": "loopml.tracking._runs",
    "ArtifactEntry": "loopml.tracking._records",
    "Metric": "loopml.tracking._records",
    "Run": "loopml.tracking._records",
    "active_run": "loopml.tracking._runs",
    "download_artifact": "loopml.tracking._artifacts",
    "end_run": "loopml.tracking._runs",
    "flush": "loopml.tracking._state:flush_all",
    "get_artifact": "loopml.tracking._artifacts",
    "get_metric_history": "loopml.tracking._store",
    "get_run": "loopml.tracking._store",
    "list_artifacts": "loopml.tracking._artifacts",
    "log_artifact": "loopml.tracking._runs",
    "log_dict": "loopml.tracking._runs",
    "log_figure": "loopml.tracking._runs",
    "log_metric": "loopml.tracking._runs",
    "log_metrics": "loopml.tracking._runs",
    "log_param": "loopml.tracking._runs",
    "log_params": "loopml.tracking._runs",
    "search_runs": "loopml.tracking._search",
    "set_tag": "loopml.tracking._runs",
    "set_tags": "loopml.tracking._runs",
    "start_run": "loopml.tracking._runs",
}

__all__ = [
    "ActiveRun",
    "ArtifactEntry",
    "Metric",
    "Run",
    "active_run",
    "download_artifact",
    "end_run",
    "flush",
    "get_artifact",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from loopml.tracking._artifacts import download_artifact, get_artifact, list_artifacts
    from loopml.tracking._records import ArtifactEntry, Metric, Run
    from loopml.tracking._runs import (
        ActiveRun,
        active_run,
        end_run,
        log_artifact,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        set_tag,
        set_tags,
        start_run,
    )
    from loopml.tracking._search import search_runs
    from loopml.tracking._state import flush_all as flush
    from loopml.tracking._store import get_metric_history, get_run

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
