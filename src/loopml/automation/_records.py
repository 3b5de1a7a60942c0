"""Automation's records: a trigger of loopml.toml, one event it fired on (and what that
caused), and their vocabularies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from loopml._enum import StrEnum
from loopml.uri import TriggerURI

__all__ = [
    "RELEASED",
    "AutomateReport",
    "EventStatus",
    "Trigger",
    "TriggerEvent",
    "TriggerKind",
    "TriggerState",
]


#: the ``lease_until`` of a RUNNING event whose owner was interrupted and let it go: the
#: next pass takes it over at once
RELEASED = 0.0


class TriggerKind(StrEnum):
    """What fires a trigger: ``schedule`` (a cron expression), ``dataset`` (each new
    version of a dataset) or ``alert`` (each new alert of a monitor)."""

    SCHEDULE = "schedule"
    DATASET = "dataset"
    ALERT = "alert"


class EventStatus(StrEnum):
    """Where one trigger event stands: ``RUNNING`` (claimed, its retrain under way),
    ``SUCCEEDED`` (registered, through the gates, rolled out when a deployment is named),
    ``REFUSED`` (a gate refused the new version: nothing was rolled out), ``FAILED``
    (the retrain, or a step after it, raised: nothing was rolled out) or
    ``ROLLED_BACK`` (it SUCCEEDED, then the rollout it started was rolled back or
    aborted: the deployment serves its champion)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    REFUSED = "REFUSED"
    FAILED = "FAILED"
    ROLLED_BACK = "ROLLED_BACK"


@dataclass(frozen=True)
class Trigger:
    """``[triggers.<name>]`` of loopml.toml, checked.

    What fires it (``kind``): ``schedule`` (a cron expression), ``dataset`` (each new
    version of it) or ``monitor`` (each new alert of it, of ``rule`` when given). The
    action: the ``pipeline`` (None: ``[pipeline] entry``) run with ``params`` and, in
    ``param``, the triggering dataset version (``data:/<dataset>@<N>``: for a schedule
    or alert trigger, the newest version of ``dataset`` when it fires); the new version
    of ``model`` (None: ``[model] name``) promoted through the gates of ``environment``,
    then rolled out on ``deployment`` by ``strategy`` (None: the deployment's own; a
    deployment that was replaced so far gets a canary), ``steps`` and ``interval``.
    A failure is an alert sent to ``sinks``.
    """

    name: str
    kind: TriggerKind
    schedule: str | None = None
    dataset: str | None = None
    monitor: str | None = None
    rule: str | None = None
    pipeline: str | None = None
    param: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    environment: str | None = None
    deployment: str | None = None
    strategy: str | None = None
    steps: Any = None
    interval: Any = None
    sinks: tuple[str, ...] = ("log",)

    @property
    def spec(self) -> str:
        """What it watches, as stored: ``schedule:0 3 * * *``, ``dataset:churn``,
        ``alert:churn`` (``alert:churn:<rule>`` with a rule)."""
        if self.kind is TriggerKind.SCHEDULE:
            return f"schedule:{self.schedule}"
        if self.kind is TriggerKind.DATASET:
            return f"dataset:{self.dataset}"
        return f"alert:{self.monitor}" + (f":{self.rule}" if self.rule else "")

    @property
    def watches(self) -> str:
        """What fires it, for people: ``cron 0 3 * * *``, ``new versions of data:/churn``,
        ``new alerts of monitor churn``."""
        if self.kind is TriggerKind.SCHEDULE:
            return f"cron {self.schedule}"
        if self.kind is TriggerKind.DATASET:
            return f"new versions of data:/{self.dataset}"
        rule = f" ({self.rule})" if self.rule else ""
        return f"new alerts of monitor {self.monitor}{rule}"


@dataclass(frozen=True)
class TriggerEvent:
    """One event of trigger ``trigger`` (``triggers:/<trigger>/<id>``): its ``key``
    (``schedule:<ISO time>``, ``data:/x@4``, ``alerts:/7``), its ``cause`` in lineage,
    the ``dataset`` version the retrain read, its ``status``, the process that claimed
    it (``owner``, ``host:pid``), the pipeline run (``run_id``), the ``model_version``
    registered, the ``rollout_id`` started, the ``alert_id`` a failure raised, the
    ``error``, and when (seconds since the epoch). While RUNNING, its owner holds it
    until ``lease_until`` (renewed as the retrain runs); ``attempts`` counts the
    processes that ran it, ``taken_from`` names the owner the last one took it over
    from (and why). The rollout it started is watched until it settles: its status as
    last seen (``rollout_status``) and when it settled (``settled_at``)."""

    id: int
    trigger: str
    key: str
    cause: str | None
    dataset: str | None
    status: EventStatus
    owner: str | None
    run_id: str | None
    model_version: str | None
    rollout_id: int | None
    alert_id: int | None
    error: str | None
    created_at: float
    updated_at: float
    finished_at: float | None = None
    lease_until: float | None = None
    attempts: int = 1
    taken_from: str | None = None
    rollout_status: str | None = None
    settled_at: float | None = None

    @property
    def uri(self) -> str:
        """``triggers:/<trigger>/<id>``."""
        return str(TriggerURI(self.trigger, self.id))

    @property
    def message(self) -> str:
        """One line for people: what the event caused."""
        head = f"{self.uri} ({self.key}): {self.status}"
        if self.taken_from:
            head += f" (attempt {self.attempts}, taken over from {self.taken_from})"
        parts = []
        if self.model_version:
            parts.append(self.model_version)
        if self.rollout_id is not None:
            state = f" ({self.rollout_status})" if self.rollout_status else ""
            parts.append(f"rollout:/{self.rollout_id}{state}")
        if self.alert_id is not None:
            parts.append(f"alerts:/{self.alert_id}")
        text = head + (f" -> {', '.join(parts)}" if parts else "")
        return text + (f"; {self.error}" if self.error else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "trigger": self.trigger,
            "key": self.key,
            "cause": self.cause,
            "dataset": self.dataset,
            "status": str(self.status),
            "run_id": self.run_id,
            "model_version": self.model_version,
            "rollout_id": self.rollout_id,
            "rollout_status": self.rollout_status,
            "alert_id": self.alert_id,
            "error": self.error,
            "created_at": _iso(self.created_at),
            "finished_at": _iso(self.finished_at),
            "attempts": self.attempts,
            "taken_from": self.taken_from,
        }


@dataclass(frozen=True)
class AutomateReport:
    """One pass of :func:`~loopml.automation.automate`: the ``triggers`` checked, the
    ``events`` this process claimed (or took over) and acted on (as finished), and the
    earlier events whose rollout ``settled`` in this pass (promoted for good, or
    ROLLED_BACK)."""

    triggers: list[str]
    events: list[TriggerEvent]
    settled: list[TriggerEvent] = field(default_factory=list)

    @property
    def failures(self) -> list[TriggerEvent]:
        """The events that were refused or failed, and those whose rollout was rolled
        back in this pass."""
        bad = (EventStatus.FAILED, EventStatus.REFUSED, EventStatus.ROLLED_BACK)
        return [e for e in [*self.events, *self.settled] if e.status in bad]


@dataclass(frozen=True)
class TriggerState:
    """A trigger as :func:`~loopml.automation.trigger_status` shows it: the ``trigger``,
    since when it watches (``since``, None before the first ``loopml automate``), its
    ``last`` event, its ``next`` firing (a schedule's next cron time) and its ``events``
    counted by status."""

    trigger: Trigger
    since: float | None
    last: TriggerEvent | None
    next: datetime | None
    counts: dict[str, int]


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat()
