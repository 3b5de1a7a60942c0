"""The model registry: registered models, their versions, aliases and environments.

A version is a model package (``loopml.log_model``) registered under a name;
versions number 1, 2, 3... Aliases (``champion``) point at versions;
environments (``dev``, ``staging``, ``prod``, or those of ``[models]
environments`` in loopml.toml) are aliases whose every move is recorded.
``models:/churn/3`` and ``models:/churn@prod`` name versions everywhere a
URI is taken (``loopml lineage``, ``loopml.load_model``).

Example::

    import loopml

    mv = loopml.register_model(f"runs:/{run.id}/model", "churn")   # models:/churn/1
    loopml.set_alias("churn", "champion", mv.version)
    loopml.promote_model("churn", mv.version, to="staging", reason="first cut")
    loopml.model_history("churn")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
