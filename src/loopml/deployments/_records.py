"""The deployments' records: a deployment, one change of one, their vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml._enum import StrEnum
from loopml.uri import DeploymentURI, ModelURI

__all__ = ["Deployment", "DeploymentAction", "DeploymentChange", "DeploymentStatus", "Strategy"]


class DeploymentStatus(StrEnum):
    """A deployment SERVES its version until it is DELETED (the record
    :func:`~loopml.deployments.delete_deployment` returns)."""

    SERVING = "SERVING"
    DELETED = "DELETED"


class DeploymentAction(StrEnum):
    """What one change did to a deployment (as ``deployment_history.action`` stores it)."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class Strategy(StrEnum):
    """How a new version takes over: REPLACE loads and checks it, then switches all
    traffic to it at once (the rollout strategies come later)."""

    REPLACE = "replace"


@dataclass(frozen=True)
class Deployment:
    """A named endpoint serving one registered model version: ``deployments:/<name>``.

    ``model_uri`` is the model as it was asked for (``models:/churn@prod``),
    ``model_name`` and ``version`` what it resolved to when deployed.
    ``generation`` numbers the deployment's last change among the changes of
    every deployment (see :func:`~loopml.deployments.changes_since`); ``config``
    holds the server's settings for it (micro-batching, ...) as given.
    """

    name: str
    model_name: str
    version: int
    model_uri: str
    strategy: Strategy
    config: dict[str, Any]
    generation: int
    created_at: float
    updated_at: float
    status: DeploymentStatus = DeploymentStatus.SERVING
    changed: bool = field(default=True, compare=False)
    """False when :func:`~loopml.deploy` found the deployment serving this already."""

    @property
    def uri(self) -> str:
        """``deployments:/<name>``."""
        return str(DeploymentURI(self.name))

    @property
    def version_uri(self) -> str:
        """``models:/<model name>/<version>``: the version served."""
        return str(ModelURI(self.model_name, self.version))


@dataclass(frozen=True)
class DeploymentChange:
    """One change of deployment ``name``: ``action`` moved it from ``from_version`` (None
    when it was created) to ``to_version`` (None when it was deleted) of ``model_name``,
    by ``user`` at ``created_at`` and for ``reason``. ``generation`` numbers the
    changes of every deployment in the order they were committed."""

    generation: int
    name: str
    action: DeploymentAction
    model_name: str | None
    from_version: int | None
    to_version: int | None
    model_uri: str | None
    user: str | None
    reason: str | None
    created_at: float
