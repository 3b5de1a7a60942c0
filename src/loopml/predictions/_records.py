"""The records of the prediction log: one predicted row, one piece of feedback.

Where they are stored (all under the artifact store's root, path-addressed)::

    predictions/deployment=<name>/hour=YYYYMMDDHH/<worker-id>-<seq>.parquet
    predictions/feedback/deployment=<name>/hour=YYYYMMDDHH/<worker-id>-<seq>.parquet

The hour is the record's own (UTC): a prediction's timestamp, a feedback's arrival.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from loopml._enum import StrEnum
from loopml._validate import shown, text
from loopml.errors import InvalidInput
from loopml.uri import check_name

__all__ = [
    "FeedbackRecord",
    "PredictionRecord",
    "PredictionStatus",
    "check_deployment",
    "feedback_prefix",
    "hour_of",
    "log_prefix",
    "parse_hour",
]

ROOT = "predictions"
_HOUR = re.compile(r"^hour=(\d{10})\Z")
_US = 1_000_000
HOUR_US = 3600 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_ROW = 2**31 - 1  # the log's row column is int32
_MAX_VERSION = 2**63 - 1  # and model_version int64


class PredictionStatus(StrEnum):
    """How a prediction ended: ``ok``, ``model_error`` (the model raised), or ``refused``
    (a rollout's candidate refused a request its primary took: the candidate's signature
    does not accept what callers send; the primary answered it)."""

    OK = "ok"
    MODEL_ERROR = "model_error"
    REFUSED = "refused"


def _whole(value: Any, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high


def check_deployment(name: Any) -> str:
    """``name`` if it can name a deployment (the rule of every loopml name: letters,
    digits, ``.``, ``_`` or ``-``, starting with a letter or digit, so never ``..`` or a
    path), and so a partition of the log."""
    return check_name(name, "deployment name")


def log_prefix(deployment: str) -> str:
    """The folder of a deployment's prediction log."""
    return f"{ROOT}/deployment={check_deployment(deployment)}"


def feedback_prefix(deployment: str) -> str:
    """The folder of a deployment's feedback."""
    return f"{ROOT}/feedback/deployment={check_deployment(deployment)}"


def hour_of(us: int) -> str:
    """The ``hour=YYYYMMDDHH`` partition of a time in microseconds since the epoch (UTC)."""
    start = _EPOCH + timedelta(hours=us // HOUR_US)
    return f"hour={start.year:04d}{start.month:02d}{start.day:02d}{start.hour:02d}"


def parse_hour(part: str) -> datetime | None:
    """The start of the hour a ``hour=YYYYMMDDHH`` folder name holds (None for others)."""
    m = _HOUR.match(part)
    if m is None:
        return None
    try:
        return datetime.strptime(m.group(1), "%Y%m%d%H").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def to_us(when: datetime, what: str) -> int:
    """``when`` in microseconds since the epoch; a naive datetime is taken as UTC."""
    if not isinstance(when, datetime):
        raise InvalidInput(f"{what} must be a datetime, got {type(when).__name__} {shown(when)}.")
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - _EPOCH
    return delta // timedelta(microseconds=1)


@dataclass(frozen=True)
class PredictionRecord:
    """One predicted row, as the server hands it to :class:`PredictionLogger`.

    ``inputs`` are the row's columns; ``probabilities`` maps each class to its probability
    (or lists them in the model's class order); ``row`` is the row's index in its request
    (a request of 3 rows gives 3 records with one ``request_id``); ``timestamp`` defaults to
    the time the record is logged; ``deployment`` to the logger's.

    Example::

        PredictionRecord("req-1", inputs={"age": 41, "plan": "pro"}, prediction=1,
                         probabilities={"0": 0.2, "1": 0.8}, model_name="churn",
                         model_version=3, latency_ms=1.7)
    """

    request_id: str
    inputs: Mapping[str, Any]
    prediction: Any = None
    probabilities: Mapping[str, float] | list[float] | tuple[float, ...] | None = None
    model_name: str = ""
    model_version: int | None = None
    variant: str = "default"
    latency_ms: float = 0.0
    status: PredictionStatus = PredictionStatus.OK
    row: int = 0
    timestamp: datetime | None = None
    deployment: str | None = None

    def __post_init__(self) -> None:
        text(self.request_id, "request_id")
        if not isinstance(self.inputs, Mapping):
            raise InvalidInput(
                f"inputs must be a mapping of column to value, got {shown(self.inputs)}."
            )
        if type(self.status) is not PredictionStatus:
            try:
                object.__setattr__(self, "status", PredictionStatus(self.status))
            except ValueError:
                raise InvalidInput(
                    f"status must be one of ok, model_error, refused, got {shown(self.status)}."
                ) from None
        latency = self.latency_ms
        if (
            not isinstance(latency, (int, float))
            or isinstance(latency, bool)
            or not math.isfinite(latency)
        ):
            raise InvalidInput(f"latency_ms must be a finite number, got {shown(latency)}.")
        if not _whole(self.row, MAX_ROW):
            raise InvalidInput(
                f"row must be a whole number from 0 to {MAX_ROW}, got {shown(self.row)}."
            )
        if self.model_version is not None and not _whole(self.model_version, _MAX_VERSION):
            raise InvalidInput(
                f"model_version must be a whole number from 0 to {_MAX_VERSION} or None, got "
                f"{shown(self.model_version)}."
            )
        for name in ("model_name", "variant"):
            if not isinstance(getattr(self, name), str):
                raise InvalidInput(f"{name} must be text, got {shown(getattr(self, name))}.")
        if self.timestamp is not None and not isinstance(self.timestamp, datetime):
            raise InvalidInput(f"timestamp must be a datetime, got {shown(self.timestamp)}.")


@dataclass(frozen=True)
class FeedbackRecord:
    """The ground truth of a prediction, joined to it by ``request_id`` (and ``row``, the
    row's index in its request). ``timestamp`` (default: when it is stored) picks the newest
    when one prediction gets feedback twice.

    Example::

        FeedbackRecord("req-1", ground_truth=0)
    """

    request_id: str
    ground_truth: Any
    row: int = 0
    timestamp: datetime | None = field(default=None)

    def __post_init__(self) -> None:
        text(self.request_id, "feedback request_id")
        if not _whole(self.row, MAX_ROW):
            raise InvalidInput(
                f"feedback row must be a whole number from 0 to {MAX_ROW}, got {shown(self.row)}."
            )
        if self.timestamp is not None:
            to_us(self.timestamp, "feedback timestamp")
