"""The prediction log: what every deployment predicted, written as Parquet, with feedback.

The server hands each predicted row to a :class:`PredictionLogger`, which
queues it (never blocking: a full queue counts the record as dropped) and writes
batches in the background, one Parquet file per worker, flush and hour, under
the path-addressed ``predictions/`` prefix of the artifact store::

    predictions/deployment=churn/hour=2026113017/8812-1f0c9a2b7d3e-000001.parquet
    predictions/feedback/deployment=churn/hour=2026113018/8812-77aa01b2c3d4-000001.parquet

Deployments and monitoring read it with :func:`read_predictions`, without the
server. ``[privacy] mask`` / ``drop`` in loopml.toml hash or leave out input
columns before anything is queued; ``[predictions] retention_days`` is the
default of :func:`prune`. The content-addressed gc never looks at
``predictions/``.

Example::

    import loopml
    from loopml.predictions import PredictionLogger, PredictionRecord

    with PredictionLogger("churn") as logger:
        logger.log(PredictionRecord("req-1", inputs={"age": 41}, prediction=1,
                                    model_name="churn", model_version=3))
    loopml.predictions.log_feedback("churn", {"request_id": "req-1", "ground_truth": 0})
    loopml.read_predictions("churn", with_feedback=True)
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
