"""Evaluation and gates: evaluate model versions, and promote them through the checks
each environment declares in loopml.toml (``[gates.<env>]``).

Example::

    import loopml

    p = loopml.promote("churn/4", to="prod")     # runs the gates of prod
    [c.text for c in p.checks]
    loopml.evaluation.list_promotions("churn", environment="prod")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
