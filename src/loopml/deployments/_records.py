"""The deployments' records: a deployment, one change of one, a rollout and the analyses
of its steps, their vocabularies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

from loopml import _validate
from loopml._enum import StrEnum
from loopml._validate import shown
from loopml.errors import InvalidInput
from loopml.uri import DeploymentURI, ModelURI, RolloutURI

__all__ = [
    "Analysis",
    "AnalysisCheck",
    "Deployment",
    "DeploymentAction",
    "DeploymentChange",
    "DeploymentStatus",
    "Rollout",
    "RolloutPolicy",
    "RolloutStatus",
    "ServingConfig",
    "Strategy",
    "Verdict",
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
    ROLLOUT = "ROLLOUT"
    STEP = "STEP"
    PROMOTE = "PROMOTE"
    ROLLBACK = "ROLLBACK"
    ABORT = "ABORT"


class Strategy(StrEnum):
    """How a new version takes over.

    - ``replace``: load and check it, then switch all traffic to it at once;
    - ``blue_green``: warm and smoke-test the candidate, then flip all traffic at once;
    - ``canary``: a weight schedule (5 → 25 → 50 → 100 %) with an analysis between steps;
    - ``shadow``: every request is mirrored to the candidate off the response path;
    - ``ab``: a fixed split, sticky by a request key, analysed until a person decides.
    """

    REPLACE = "replace"
    BLUE_GREEN = "blue_green"
    CANARY = "canary"
    SHADOW = "shadow"
    AB = "ab"


class RolloutStatus(StrEnum):
    """Where a rollout is: ``PENDING`` (a blue-green candidate waiting for its smoke
    test), ``PROGRESSING`` (taking traffic, analysed), then ``PROMOTED`` (the candidate
    is the deployment's version), ``ROLLED_BACK`` (traffic back on the primary, by hand
    or by a failing analysis) or ``ABORTED`` (stopped by hand, or by deleting the
    deployment)."""

    PENDING = "PENDING"
    PROGRESSING = "PROGRESSING"
    PROMOTED = "PROMOTED"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"

    @property
    def finished(self) -> bool:
        """Whether the rollout is over (PROMOTED, ROLLED_BACK or ABORTED)."""
        return self in (RolloutStatus.PROMOTED, RolloutStatus.ROLLED_BACK, RolloutStatus.ABORTED)


class Verdict(StrEnum):
    """What an analysis (or one of its checks) says: ``PASS``, ``FAIL``, or ``NOT_YET``
    (too few requests or too little feedback to tell; never taken as a pass)."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_YET = "NOT_YET"


def _number(key: str, value: Any, low: float, high: float, *, whole: bool = False) -> float:
    return _validate.number(value, f"rollout policy {key}", low=low, high=high, whole=whole)


@dataclass(frozen=True)
class RolloutPolicy:
    """The thresholds of a rollout's analysis (``policy={...}``, ``--policy KEY=VALUE``).

    - ``min_requests``: requests each variant needs in a window before it is judged
      (fewer: NOT_YET, never PASS);
    - ``max_error_rate`` / ``max_error_rate_increase``: the candidate fails when its
      error rate is above both the absolute ceiling and the primary's rate plus the
      increase;
    - ``max_latency_p99_ratio`` / ``latency_floor_ms``: the candidate fails when its p99
      latency is above both ratio × the primary's and the primary's plus the floor (so
      sub-millisecond noise never fails a model);
    - ``max_distribution_distance``: the distance between the variants' predictions
      (Jensen–Shannon distance, base 2, for classes; Wasserstein distance over the
      primary's standard deviation for numbers);
    - ``min_feedback`` / ``max_quality_drop``: once each variant has that much feedback,
      the candidate fails when its accuracy is lower by more than the drop (classes),
      or its mean absolute error higher by more than that fraction (numbers);
    - ``failure_limit``: failing analyses allowed before the rollback (1: at the first);
    - ``check_significance``: how unlikely by chance a crossed threshold must be before
      its check fails (p below it): each check is also a test of the difference (a
      binomial test of the error rate and of the share of requests slower than the
      latency limit, a permutation test of the prediction distance, Fisher's exact
      test or Welch's t-test of the quality), so sampling noise in a small window is
      NOT_YET, never a rollback;
    - ``significance``: the level of the A/B significance test.
    """

    min_requests: int = 50
    max_error_rate: float = 0.05
    max_error_rate_increase: float = 0.02
    max_latency_p99_ratio: float = 1.5
    latency_floor_ms: float = 5.0
    max_distribution_distance: float = 0.2
    min_feedback: int = 30
    max_quality_drop: float = 0.05
    failure_limit: int = 1
    check_significance: float = 0.01
    significance: float = 0.05

    def __post_init__(self) -> None:
        _number("min_requests", self.min_requests, 1, 10_000_000, whole=True)
        _number("max_error_rate", self.max_error_rate, 0, 1)
        _number("max_error_rate_increase", self.max_error_rate_increase, 0, 1)
        _number("max_latency_p99_ratio", self.max_latency_p99_ratio, 1, 1000)
        _number("latency_floor_ms", self.latency_floor_ms, 0, 600_000)
        _number("max_distribution_distance", self.max_distribution_distance, 0, 1000)
        _number("min_feedback", self.min_feedback, 1, 10_000_000, whole=True)
        _number("max_quality_drop", self.max_quality_drop, 0, 1000)
        _number("failure_limit", self.failure_limit, 1, 1000, whole=True)
        _number("check_significance", self.check_significance, 1e-9, 0.5)
        _number("significance", self.significance, 1e-9, 0.5)
        for key in ("min_requests", "min_feedback", "failure_limit"):
            object.__setattr__(self, key, int(getattr(self, key)))

    @classmethod
    def from_dict(cls, values: Any) -> RolloutPolicy:
        """The policy of ``values`` (a dict of the keys above; the others default);
        :class:`~loopml.errors.InvalidInput` naming an unknown key."""
        if values is None:
            return cls()
        if isinstance(values, RolloutPolicy):
            return values
        if not isinstance(values, dict):
            raise InvalidInput(
                f"policy must be a dict of thresholds (e.g. {{'min_requests': 100}}), got "
                f"{type(values).__name__} {shown(values)}."
            )
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                raise InvalidInput(
                    f"unknown rollout policy key {shown(key)}: expected one of {', '.join(known)}."
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The policy as a dict of every key (what is stored)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
    rollout_id: int | None = None
    """The deployment's latest rollout (read it with
    :func:`~loopml.deployments.get_rollout`; it may be finished), or None (none yet, a
    deploy since, or one that could not be read was aborted)."""

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
    rollout_id: int | None = None
    """The rollout the change belongs to (ROLLOUT, STEP, PROMOTE, ROLLBACK, ABORT)."""
    weight: int | None = None
    """The candidate's share of traffic, in percent, after the change (rollouts only)."""


@dataclass(frozen=True)
class Rollout:
    """A candidate version rolled out on deployment ``deployment`` by ``strategy``:
    ``rollout:/<id>``.

    ``primary`` is the version the deployment served when it started
    (``models:/churn/4``), ``candidate_model``/``candidate_version`` the candidate
    (asked for as ``candidate_uri``). A canary walks ``steps`` (percents; ``step`` is
    the index of the current one), spending ``interval`` seconds at each before it is
    analysed against ``policy``; an A/B test sends ``split`` percent to the candidate,
    assigned by ``sticky`` (``header:X-User`` or ``field:user_id``) when given. The
    weights a server routes by are :attr:`weight`, :attr:`weights` and :attr:`mirror`.
    """

    id: int
    deployment: str
    strategy: Strategy
    status: RolloutStatus
    primary_model: str
    primary_version: int
    candidate_model: str
    candidate_version: int
    candidate_uri: str
    steps: tuple[int, ...]
    step: int
    interval: float
    split: int
    sticky: str | None
    policy: RolloutPolicy
    reason: str | None
    user: str | None
    created_at: float
    updated_at: float
    step_started_at: float | None = None
    finished_at: float | None = None
    finish_reason: str | None = None
    environment: str | None = None

    @property
    def uri(self) -> str:
        """``rollout:/<id>``."""
        return str(RolloutURI(self.id))

    @property
    def primary(self) -> str:
        """The primary's version URI, ``models:/<name>/<version>``."""
        return str(ModelURI(self.primary_model, self.primary_version))

    @property
    def candidate(self) -> str:
        """The candidate's version URI, ``models:/<name>/<version>``."""
        return str(ModelURI(self.candidate_model, self.candidate_version))

    @property
    def active(self) -> bool:
        """Whether the rollout is PENDING or PROGRESSING."""
        return not self.status.finished

    @property
    def weight(self) -> int:
        """The candidate's share of the traffic now, in percent: a canary's current step,
        a blue-green candidate 0 until its smoke test passed (then 100), an A/B split,
        a shadow 0 (it answers no request; see :attr:`mirror`). A finished rollout: 100
        when PROMOTED, else 0."""
        if self.status == RolloutStatus.PROMOTED:
            return 100
        if self.status.finished or self.status == RolloutStatus.PENDING:
            return 0
        if self.strategy == Strategy.CANARY:
            return self.steps[self.step]
        if self.strategy == Strategy.BLUE_GREEN:
            return 100
        if self.strategy == Strategy.AB:
            return self.split
        return 0

    @property
    def mirror(self) -> bool:
        """Whether every request is mirrored to the candidate (an active shadow)."""
        return self.strategy == Strategy.SHADOW and self.active

    @property
    def weights(self) -> dict[str, int]:
        """``{"primary": 100 - weight, "candidate": weight}``."""
        return {"primary": 100 - self.weight, "candidate": self.weight}


@dataclass(frozen=True)
class AnalysisCheck:
    """One check of an analysis: ``name`` (error_rate, latency_p99, ...), its
    ``verdict``, the primary's and the candidate's values, the ``threshold`` the
    candidate's was held to (None: reported only), and a ``detail`` for people."""

    name: str
    verdict: Verdict
    primary: float | None
    candidate: float | None
    threshold: float | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The check as stored (JSON: a value that is not finite is None)."""
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "primary": _finite(self.primary),
            "candidate": _finite(self.candidate),
            "threshold": _finite(self.threshold),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnalysisCheck:
        """The check :meth:`to_dict` stored."""
        return cls(
            d["name"],
            Verdict(d["verdict"]),
            d["primary"],
            d["candidate"],
            d["threshold"],
            d.get("detail", ""),
        )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Analysis:
    """The comparison of a rollout's candidate with its primary over one window:
    ``verdict`` (FAIL when any check failed, NOT_YET when either variant had too few
    requests, else PASS), the ``checks``, the request ``counts`` of each variant, the
    ``step`` it judged and when (``created_at``). Stored analyses have an ``id`` and
    their ``rollout_id``."""

    verdict: Verdict
    checks: list[AnalysisCheck]
    counts: dict[str, int]
    step: int = 0
    created_at: float = 0.0
    rollout_id: int | None = None
    id: int | None = None

    @property
    def failures(self) -> list[AnalysisCheck]:
        """The checks that failed."""
        return [c for c in self.checks if c.verdict == Verdict.FAIL]

    @property
    def summary(self) -> str:
        """One line for people: the verdict and the failing checks."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        head = f"{self.verdict} ({counts} requests)"
        if self.failures:
            head += ": " + "; ".join(c.detail or c.name for c in self.failures)
        return head
