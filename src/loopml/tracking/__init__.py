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
