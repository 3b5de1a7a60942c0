"""Deployments: named endpoints that each serve one registered model version.

``loopml.deploy(name, model)`` creates a deployment or points it at a new
version: ``models:/churn@prod`` is resolved to a version when deployed, and
recorded; the version must be READY and its package must load, hash-checked,
before the record changes. Every create, update and delete is kept in the
deployment's history (from, to, who, when, why) and numbered by a generation
that a server polls (``changes_since``) to follow changes without a restart.
A deployment holds store references on its version's package, so ``loopml gc``
keeps it and the registry refuses to delete or archive a served version.
Deployments may also be declared in loopml.toml (``[deployments.<name>]``) and
applied with ``sync_deployments``.

Example::

    import loopml

    d = loopml.deploy("churn", "models:/churn@prod", reason="v4 passed the gates")
    loopml.get_deployment("churn").version_uri          # 'models:/churn/4'
    loopml.list_deployments()
    loopml.deployments.deployment_history("churn")
    loopml.deployments.changes_since(0)                 # what a server polls
    loopml.deployments.delete_deployment("churn")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
