"""Evaluation: a model on labelled data, the figures a promotion is judged by.

``loopml.evaluate`` computes a model's metrics (classification or
regression), its metrics per slice of the data and its worst slices,
fairness across the groups of sensitive features, and its prediction
latency, and stores the result linked to the model version and dataset
version it was computed from (``evaluation:/<id>``). ``reproduce`` runs a
version's training pipeline again from its recorded commit, params and data
versions, and stores whether its metrics came out the same.

Example::

    import loopml

    ev = loopml.evaluate("models:/churn@staging", "data:/churn-holdout", target="churned",
                         slices=["region"], sensitive_features=["sex"])
    ev.metrics["f1"], ev.worst_slices["region"], ev.latency["p99_ms"]
    loopml.evaluation.list_evaluations("churn")
    loopml.evaluation.reproduce("models:/churn/4").status     # REPRODUCED
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
