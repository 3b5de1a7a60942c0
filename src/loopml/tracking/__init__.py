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
for the ``search_runs`` filter language, and :class:`RunStatus` for the
statuses a run goes through.
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
