"""A rollout as one server worker carries it out: which variant answers a request, the
shadow's mirrored requests, a blue-green candidate's smoke test.

- **Routing.** Each request goes to the candidate with the probability of the rollout's
  weight (:attr:`~loopml.deployments.Rollout.weight`: a canary's step, an A/B test's
  split, 100 once a blue-green candidate passed its smoke test; a weight of 0 or 100
  never draws). An A/B test with a ``sticky`` key assigns by the key instead: the
  BLAKE2b hash of the rollout's id and the key's value, taken modulo 100, below the
  split goes to the candidate, so one key gets one variant on every worker and host;
  a request without the key is drawn at random.
- **Mirroring.** A shadow's candidate answers a copy of every request after the
  primary answered it, on the candidate's side thread; at most :data:`MIRRORS_PENDING`
  copies wait at once per deployment, and the ones beyond are dropped and counted
  (``loopml_shadow_dropped_total``), so a shadow that hangs costs the primary nothing
  but a few queued copies.
- **Smoke test.** A blue-green candidate predicts the last :data:`SMOKE_ROWS` requests
  the primary answered (the last hour of the prediction log, or the last day when the
  hour holds fewer rows), one call per request, or
  its input example when there are none; it passes when it answers each with one
  prediction per row.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import orjson

from loopml.deployments import Rollout, RolloutStatus, Strategy

if TYPE_CHECKING:
    from loopml.serving._hosted import Hosted

__all__ = [
    "MIRRORS_PENDING",
    "SMOKE_ROWS",
    "Route",
    "bucket",
    "smoke_test",
    "sticky_key",
    "to_candidate",
]

log = logging.getLogger("loopml.serving")
MIRRORS_PENDING = 8
SMOKE_ROWS = 50
_SMOKE_SINCE = timedelta(days=1)


@dataclass
class Route:
    """What a worker holds of deployment ``rollout.deployment``'s rollout: the record it
    routes by, the candidate (None while it could not be loaded: ``error`` says why), the
    mirrored requests pending and dropped."""

    rollout: Rollout
    candidate: Hosted | None = None
    error: str | None = None
    retry: bool = False
    pending: int = 0
    dropped: int = 0
    tasks: set[Any] = field(default_factory=set)

    @property
    def mirror(self) -> bool:
        """Whether every request is copied to the candidate (an active shadow)."""
        return self.rollout.mirror and self.candidate is not None

    def describe(self) -> dict[str, Any]:
        r = self.rollout
        return {
            "id": r.id,
            "uri": r.uri,
            "strategy": r.strategy.value,
            "status": r.status.value,
            "primary": r.primary,
            "candidate": r.candidate,
            "weights": r.weights,
            "mirror": r.mirror,
            "step": r.step,
            "steps": list(r.steps),
            "split": r.split,
            "sticky": r.sticky,
            "interval": r.interval,
            "candidate_loaded": self.candidate is not None,
            # the kind alone: this is shown to any caller; the server's log has the text
            "candidate_error": None
            if self.error is None
            else f"{self.error.split(':', 1)[0]}: the candidate could not be loaded (the "
            "server's log has the details)",
        }


def bucket(rollout_id: int, key: str) -> int:
    """The bucket, 0 to 99, of a request's sticky ``key`` in rollout ``rollout_id``: the
    same on every worker and host (a BLAKE2b hash, never Python's salted ``hash``)."""
    digest = hashlib.blake2b(f"{rollout_id}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return None


def sticky_key(sticky: str, headers: Any, payload: Any, oip: bool) -> str | None:
    """The value of a request's sticky key: ``header:NAME`` the header's, ``field:NAME``
    that field of the first row (a record's value, a column's first value, an OIP input
    tensor's first element). None when the request has none."""
    kind, _, name = sticky.partition(":")
    if kind == "header":
        value = headers.get(name)
        return value if value else None
    if not isinstance(payload, dict):
        return None
    try:
        if oip:
            for tensor in payload.get("inputs") or []:
                if isinstance(tensor, dict) and tensor.get("name") == name:
                    data = tensor.get("data")
                    while isinstance(data, list) and data:
                        data = data[0]
                    return _text(data)
            return None
        records = payload.get("records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            return _text(records[0].get(name))
        columns, data = payload.get("columns"), payload.get("data")
        if isinstance(columns, list) and name in columns and isinstance(data, list) and data:
            first = data[0]
            at = columns.index(name)
            if isinstance(first, list) and at < len(first):
                return _text(first[at])
    except (TypeError, AttributeError):
        return None
    return None


def to_candidate(rollout: Rollout, key: str | None) -> bool:
    """Whether a request with sticky ``key`` (None: none) goes to the candidate."""
    weight = rollout.weight
    if weight <= 0:
        return False
    if weight >= 100:
        return True
    if key is not None and rollout.strategy is Strategy.AB:
        return bucket(rollout.id, key) < weight
    return random.random() * 100.0 < weight


def _recorded(name: str, version: int) -> list[Any]:
    """The last requests the primary (``version``) answered, as frames of their rows."""
    from loopml import predictions

    now = datetime.now(timezone.utc)
    frame = predictions.read_predictions(name, start=now - timedelta(hours=1))
    if len(frame) < SMOKE_ROWS:  # a quiet deployment: the whole last day
        frame = predictions.read_predictions(name, start=now - _SMOKE_SINCE)
    if frame.empty:
        return []
    served = frame[
        frame["variant"].isin(["default", "primary"])
        & (frame["model_version"] == version)
        & (frame["status"] == "ok")
    ]
    inputs = [c for c in served.columns if c.startswith("in.")]
    if served.empty or not inputs:
        return []
    served = served.tail(SMOKE_ROWS)
    rows = served[inputs].rename(columns={c: c[3:] for c in inputs})
    return [group for _, group in rows.groupby(served["request_id"], sort=False)]


def smoke_test(candidate: Hosted, rollout: Rollout) -> tuple[bool, str]:
    """Whether ``candidate`` answers the primary's recorded requests (or its input
    example), and what it was tried on (or how it failed). Runs in a thread."""
    import pandas as pd

    requests = _recorded(rollout.deployment, rollout.primary_version)
    what = f"{len(requests)} recorded requests"
    if not requests:
        metadata = candidate.model.metadata
        example = metadata.get("input_example") if isinstance(metadata, dict) else None
        if not example:
            return True, "no recorded requests and no input example: loaded and hash-checked"
        requests = [pd.DataFrame(example)]
        what = "its input example"
    for i, frame in enumerate(requests):
        frame = frame.reset_index(drop=True)
        try:
            answered = candidate.model.predict(frame)
        except Exception as exc:
            # the recorded reason names the kind alone; the text is for the server's log
            log.warning(
                "blue-green candidate %s raised on request %d of %s: %s: %s",
                rollout.candidate,
                i + 1,
                what,
                type(exc).__name__,
                exc,
            )
            return False, (
                f"{rollout.candidate} raised {type(exc).__name__} on request {i + 1} of {what} "
                "(the server's log has the details)"
            )
        count = len(answered) if hasattr(answered, "__len__") else -1
        if count != len(frame):
            return False, (
                f"{rollout.candidate} answered request {i + 1} of {what} ({len(frame)} rows) "
                f"with {count} predictions"
            )
    return True, f"{rollout.candidate} answered {what}"


def finished(rollout: Rollout | None) -> bool:
    """Whether ``rollout`` is over (or there is none)."""
    return rollout is None or rollout.status.finished


def flipped(rollout: Rollout | None) -> bool:
    """Whether ``rollout`` is a blue-green rollout its smoke test promoted (the primary
    stays loaded: a rollback flips back to it)."""
    return (
        rollout is not None
        and rollout.strategy is Strategy.BLUE_GREEN
        and rollout.status is RolloutStatus.PROMOTED
    )
