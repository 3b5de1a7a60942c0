"""Evaluation and gates: the figures a promotion is judged by, and the promotion.

``loopml.evaluate`` computes a model's metrics (classification or
regression), its metrics per slice of the data and its worst slices,
fairness across the groups of sensitive features, and its prediction
latency, and stores the result linked to the model version and dataset
version it was computed from (``evaluation:/<id>``). ``reproduce`` runs a
version's training pipeline again from its recorded commit, params and data
versions, and stores whether its metrics came out the same.

``loopml.promote`` moves a model version into an environment only through
the gates that environment declares in loopml.toml (``[gates.<env>]``):
checks over the candidate's evaluation and the champion's, on declared data,
with every request and its checks stored (``list_promotions``), and under
``approval = true`` a person's approval (``approve`` / ``reject``).

Example::

    import loopml

    ev = loopml.evaluate("models:/churn@staging", "data:/churn-holdout", target="churned",
                         slices=["region"], sensitive_features=["sex"])
    ev.metrics["f1"], ev.worst_slices["region"], ev.latency["p99_ms"]
    loopml.evaluation.list_evaluations("churn")
    loopml.evaluation.reproduce("models:/churn/4").status     # REPRODUCED

    p = loopml.promote("churn/4", to="prod")     # runs the gates of prod
    [c.text for c in p.checks]
    loopml.evaluation.list_promotions("churn", environment="prod")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
