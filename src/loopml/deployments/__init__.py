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

A new version may also be rolled out progressively: ``deploy(name,
strategy="canary", candidate="models:/churn/5")`` (or ``blue_green``, ``shadow``,
``ab``) records a :class:`Rollout` that servers route by; :func:`control`, called by
every server about once a second, analyses it (:func:`analyze`) and moves it step by
step, promotes it or rolls it back; :func:`promote_rollout`, :func:`rollback` and
:func:`abort` are the same decisions taken by a person.

Example::

    import loopml

    d = loopml.deploy("churn", "models:/churn@prod", reason="v4 passed the gates")
    loopml.get_deployment("churn").version_uri          # 'models:/churn/4'
    loopml.list_deployments()
    loopml.deployments.deployment_history("churn")
    loopml.deployments.changes_since(0)                 # what a server polls
    loopml.deploy("churn", strategy="canary", candidate="models:/churn/5")
    loopml.get_rollout("churn").weights                 # {'primary': 95, 'candidate': 5}
    loopml.rollback("churn", reason="p99 doubled")
    loopml.deployments.delete_deployment("churn")
"""

from loopml._lazy import attach_stub

__getattr__, __dir__, __all__ = attach_stub(__name__, __file__)
