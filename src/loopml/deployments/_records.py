"""The deployments' records: a deployment, one change of one, their vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml._enum import StrEnum
from loopml.uri import DeploymentURI, ModelURI

__all__ = [
    "Deployment",
    "DeploymentAction",
    "DeploymentChange",
    "DeploymentStatus",
    "ServingConfig",
    "Strategy",
]


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
class ServingConfig:
    """How a server runs one deployment: a deployment's ``config``, read.

    ``max_batch_size`` > 1 turns on adaptive micro-batching: requests that arrive
    while the model is busy, or within ``max_batch_wait_ms`` of the first, are
    predicted together, up to that many rows. ``log_predictions`` writes every
    request to the prediction log; ``log_probabilities`` adds each class's
    probability (one more call of the model per request, for classifiers).
    """

    max_batch_size: int = 1
    max_batch_wait_ms: float = 2.0
    log_predictions: bool = True
    log_probabilities: bool = False

    @property
    def batching(self) -> bool:
        """Whether requests are batched."""
        return self.max_batch_size > 1


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

    @property
    def serving(self) -> ServingConfig:
        """``config`` as the server reads it (checked when the deployment was made)."""
        fields = ServingConfig.__dataclass_fields__
        return ServingConfig(**{k: v for k, v in self.config.items() if k in fields})


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
