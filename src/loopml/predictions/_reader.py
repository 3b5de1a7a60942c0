"""Reading the prediction log, storing feedback, and pruning old partitions."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from loopml._validate import shown
from loopml.context import current
from loopml.errors import CorruptObject, InvalidInput
from loopml.predictions._records import (
    HOUR_US,
    ROOT,
    FeedbackRecord,
    check_deployment,
    feedback_prefix,
    hour_of,
    log_prefix,
    parse_hour,
    to_us,
)
from loopml.store.artifacts import ArtifactStore
from loopml.uri import redact

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["log_feedback", "prune", "read_predictions"]

_MAX_FEEDBACK = 1_000_000


def _bound(value: Any, what: str) -> int | None:
    return None if value is None else to_us(value, what)


def _files_between(
    store: ArtifactStore, prefix: str, start: int | None, end: int | None
) -> list[str]:
    """The Parquet files of the hour partitions under ``prefix`` that overlap [start, end)."""
    out = []
    for path in store.list_paths(prefix):
        parts = path.split("/")
        hour = parse_hour(parts[-2]) if len(parts) >= 2 else None
        if hour is None or not parts[-1].endswith(".parquet"):
            continue
        first = to_us(hour, "hour")
        if (end is not None and first >= end) or (start is not None and first + HOUR_US <= start):
            continue
        out.append(path)
    return out


def _read_table(store: ArtifactStore, path: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    local = store.path_file(path)
    try:
        if local is not None:
            return pq.read_table(str(local))
        return pq.read_table(pa.BufferReader(store.read_path(path)))
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError):  # removed by prune meanwhile
            return pa.table({})
        raise CorruptObject(
            f"the prediction log file {path} in {redact(store.uri)} is not readable Parquet "
            f"({type(exc).__name__}). It was changed after it was written: move it away."
        ) from None


def _concat(tables: list[pa.Table]) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    tables = [t for t in tables if t.num_columns]
    if not tables:
        return pd.DataFrame()
    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a column typed differently in two files
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def read_predictions(
    deployment: str,
    start: datetime | None = None,
    end: datetime | None = None,
    with_feedback: bool = False,
) -> pd.DataFrame:
    """The logged predictions of ``deployment`` with a timestamp in [start, end) (UTC; a
    naive datetime is taken as UTC), oldest first, as a pandas DataFrame; only the hour
    partitions that overlap the range are read. ``with_feedback`` adds ``ground_truth``
    and ``feedback_timestamp``: the newest feedback of each request id and row.

    Columns: ``request_id, row, timestamp, deployment, model_name, model_version,
    variant, status, latency_ms, prediction``, ``proba.<class>`` and ``in.<column>``.

    Example::

        frame = loopml.read_predictions("churn", start=datetime(2026, 11, 30),
                                        with_feedback=True)
        frame[["in.age", "prediction", "ground_truth"]]
    """
    check_deployment(deployment)
    low, high = _bound(start, "start"), _bound(end, "end")
    if low is not None and high is not None and high < low:
        raise InvalidInput(f"end {end} is before start {start}: expected start <= end.")
    if not isinstance(with_feedback, bool):
        raise InvalidInput(f"with_feedback must be True or False, got {shown(with_feedback)}.")
    import pandas as pd

    store = current().artifacts
    paths = _files_between(store, log_prefix(deployment), low, high)
    frame = _concat([_read_table(store, p) for p in paths])
    if frame.empty:
        from loopml.predictions._format import FIXED

        frame = FIXED.empty_table().to_pandas()
        frame["prediction"] = pd.Series(dtype=object)
    else:
        ts = frame["timestamp"]
        keep = pd.Series(True, index=frame.index)
        if start is not None:
            keep &= ts >= pd.Timestamp(low, unit="us", tz="UTC")
        if end is not None:
            keep &= ts < pd.Timestamp(high, unit="us", tz="UTC")
        frame = frame[keep].sort_values(["timestamp", "request_id", "row"], kind="stable")
        frame = frame.reset_index(drop=True)
    if with_feedback:
        frame = _join_feedback(store, deployment, frame)
    return frame


def _join_feedback(store: ArtifactStore, deployment: str, frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    paths = _files_between(store, feedback_prefix(deployment), None, None)
    feedback = _concat([_read_table(store, p) for p in paths])
    if feedback.empty:
        frame = frame.copy()
        frame["ground_truth"] = pd.Series([None] * len(frame), dtype=object, index=frame.index)
        frame["feedback_timestamp"] = pd.Series(
            pd.NaT, index=frame.index, dtype="datetime64[us, UTC]"
        )
        return frame
    feedback = feedback.sort_values("timestamp", kind="stable")
    newest = feedback.drop_duplicates(["request_id", "row"], keep="last")
    newest = newest.rename(columns={"timestamp": "feedback_timestamp"})
    return frame.merge(newest, how="left", on=["request_id", "row"])


def _feedback_items(records: Any) -> list[FeedbackRecord]:
    if isinstance(records, (FeedbackRecord, Mapping)):
        records = [records]
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes, bytearray)):
        raise InvalidInput(
            "feedback must be a FeedbackRecord, a mapping with request_id and ground_truth, "
            f"or a list of them, got {type(records).__name__} {shown(records)}."
        )
    if not records:
        raise InvalidInput("feedback is empty: give at least one request_id and ground_truth.")
    if len(records) > _MAX_FEEDBACK:
        raise InvalidInput(
            f"{len(records)} feedback records in one call: give at most {_MAX_FEEDBACK}."
        )
    out = []
    for item in records:
        if isinstance(item, FeedbackRecord):
            out.append(item)
            continue
        if not isinstance(item, Mapping):
            raise InvalidInput(
                "each feedback must be a FeedbackRecord or a mapping, got "
                f"{type(item).__name__} {shown(item)}."
            )
        unknown = sorted(set(map(str, item)) - {"request_id", "ground_truth", "row", "timestamp"})
        if unknown or "request_id" not in item or "ground_truth" not in item:
            raise InvalidInput(
                f"feedback {shown(dict(item))} must have request_id and ground_truth (and "
                f"optionally row, timestamp){'; unknown: ' + ', '.join(unknown) if unknown else ''}."
            )
        out.append(FeedbackRecord(**item))
    return out


def log_feedback(deployment: str, records: Any) -> int:
    """Store ground truth for logged predictions: one record or a list of them (a
    :class:`FeedbackRecord` or a mapping with ``request_id``, ``ground_truth`` and
    optionally ``row`` and ``timestamp``). Feedback may come any time after the
    prediction; given twice, the newest wins in :func:`read_predictions`. Returns the
    number stored; all are checked before anything is written.

    Example::

        loopml.predictions.log_feedback("churn", [{"request_id": "req-1", "ground_truth": 0}])
    """
    check_deployment(deployment)
    items = _feedback_items(records)
    from loopml.predictions._format import feedback_table, parquet_bytes

    now = to_us(datetime.now(timezone.utc), "now")
    rows = [
        (
            f.request_id,
            f.row,
            f.ground_truth,
            now if f.timestamp is None else to_us(f.timestamp, ""),
        )
        for f in items
    ]
    data = parquet_bytes(feedback_table(rows))
    path = (
        f"{feedback_prefix(deployment)}/{hour_of(now)}/"
        f"{os.getpid()}-{uuid.uuid4().hex[:12]}-000001.parquet"
    )
    current().artifacts.write_path(path, data)
    return len(rows)


def prune(deployment: str | None = None, older_than: timedelta | None = None) -> list[str]:
    """Remove the hour partitions of the prediction log (and of feedback) that ended more
    than ``older_than`` ago (default: ``[predictions] retention_days``), for one deployment
    or all; returns the partitions removed. The content-addressed gc never touches them.

    Example::

        loopml.predictions.prune("churn", older_than=timedelta(days=30))
    """
    ctx = current()
    if deployment is not None:
        check_deployment(deployment)
    if older_than is None:
        days = ctx.settings.predictions.retention_days
        if days is None:
            raise InvalidInput(
                "no retention to prune by: pass older_than=timedelta(days=N) or set "
                "retention_days under [predictions] in loopml.toml."
            )
        older_than = timedelta(days=days)
    if not isinstance(older_than, timedelta) or older_than <= timedelta(0):
        raise InvalidInput(f"older_than must be a positive timedelta, got {shown(older_than)}.")
    cutoff = to_us(datetime.now(timezone.utc) - older_than, "cutoff")
    store = ctx.artifacts
    prefixes = [log_prefix(deployment), feedback_prefix(deployment)] if deployment else [ROOT]
    partitions: set[str] = set()
    for prefix in prefixes:
        for path in store.list_paths(prefix):
            folder = path.rsplit("/", 1)[0]
            hour = parse_hour(folder.rsplit("/", 1)[-1])
            if hour is not None and to_us(hour, "hour") + HOUR_US <= cutoff:
                partitions.add(folder)
    removed = sorted(p for p in partitions if store.remove_tree(p))
    return removed
