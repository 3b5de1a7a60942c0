"""Reading the prediction log, storing feedback, and pruning old partitions."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

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

__all__ = [
    "OutcomeCounter",
    "Outcomes",
    "feedback_files",
    "log_feedback",
    "prune",
    "read_predictions",
]

_MAX_FEEDBACK = 1_000_000


def _bound(value: Any, what: str) -> int | None:
    return None if value is None else to_us(value, what)


_LISTED_HOURS = 48  # a range of at most this many hours lists its hour folders alone


def _files_between(
    store: ArtifactStore, prefix: str, start: int | None, end: int | None
) -> list[str]:
    """The Parquet files of the hour partitions under ``prefix`` that overlap [start, end)
    (a short bounded range lists just its hours' folders, not the whole log)."""
    if start is not None and end is not None and end - start <= _LISTED_HOURS * HOUR_US:
        first = start - start % HOUR_US
        listed = [
            path
            for at in range(first, end, HOUR_US)
            for path in store.list_paths(f"{prefix}/{hour_of(at)}")
        ]
    else:
        listed = store.list_paths(prefix)
    out = []
    for path in listed:
        parts = path.split("/")
        hour = parse_hour(parts[-2]) if len(parts) >= 2 else None
        if hour is None or not parts[-1].endswith(".parquet"):
            continue
        first = to_us(hour, "hour")
        if (end is not None and first >= end) or (start is not None and first + HOUR_US <= start):
            continue
        out.append(path)
    return out


def _read_table(store: ArtifactStore, path: str, feedback: bool = False) -> pa.Table:
    """The table of one file of the log (of feedback, with ``feedback``), its schema
    checked against the log's fixed columns before its rows are read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.predictions._format import schema_problem

    local = store.path_file(path)
    try:
        source = str(local) if local is not None else pa.BufferReader(store.read_path(path))
        with pq.ParquetFile(source) as file:
            problem = schema_problem(file.schema_arrow, feedback)
            if problem is None:
                return file.read()
    except (pa.ArrowInvalid, OSError) as exc:
        if isinstance(exc, FileNotFoundError):  # removed by prune meanwhile
            return pa.table({})
        raise CorruptObject(
            f"the prediction log file {path} in {redact(store.uri)} is not readable Parquet "
            f"({type(exc).__name__}). It was changed after it was written: move it away."
        ) from None
    what = "feedback" if feedback else "prediction log"
    raise CorruptObject(
        f"{path} in {redact(store.uri)} is not a {what} file loopml wrote: {problem} (a "
        f"{what} file has {_columns(feedback)}). It is refused rather than skipped, so "
        "foreign rows never mix into the log unnoticed and a damaged file is never "
        "silently left out: move it out of the log's folder, then read again."
    )


def _columns(feedback: bool) -> str:
    from loopml.predictions._format import FEEDBACK_FIXED, FIXED

    if feedback:
        fixed, untyped = FEEDBACK_FIXED, "ground_truth"
    else:
        fixed, untyped = FIXED, "prediction"
    return ", ".join([*(f"{f.name} {f.type}" for f in fixed), untyped])


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
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The logged predictions of ``deployment`` with a timestamp in [start, end) (UTC; a
    naive datetime is taken as UTC), oldest first, as a pandas DataFrame; only the hour
    partitions that overlap the range are read. ``with_feedback`` adds ``ground_truth``
    and ``feedback_timestamp``: the newest feedback of each request id and row.
    ``columns`` keeps just those (a name the log does not have is left out), so a frame
    of a few columns is made without converting the rest.

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
    if columns is not None and (
        isinstance(columns, str) or not all(isinstance(c, str) for c in columns)
    ):
        raise InvalidInput(f"columns must be a list of column names, got {shown(columns)}.")
    import pandas as pd

    store = current().artifacts
    tables = [
        _read_table(store, p) for p in _files_between(store, log_prefix(deployment), low, high)
    ]
    if columns is not None:
        keep = {"timestamp", "request_id", "row", *columns}
        tables = [t.select([c for c in t.column_names if c in keep]) for t in tables]
    frame = _concat(tables)
    if frame.empty:
        from loopml.predictions._format import FIXED

        frame = FIXED.empty_table().to_pandas()
        frame["prediction"] = pd.Series(dtype=object)
    else:
        ts = frame["timestamp"]
        keep_rows = pd.Series(True, index=frame.index)
        if start is not None:
            keep_rows &= ts >= pd.Timestamp(low, unit="us", tz="UTC")
        if end is not None:
            keep_rows &= ts < pd.Timestamp(high, unit="us", tz="UTC")
        frame = frame[keep_rows].sort_values(["timestamp", "request_id", "row"], kind="stable")
        frame = frame.reset_index(drop=True)
    if with_feedback:
        frame = _join_feedback(store, deployment, frame)
    if columns is not None:
        frame = frame[[c for c in frame.columns if c in set(columns)]]
    return frame


class Outcomes(NamedTuple):
    """How a variant's requests ended: ``failed`` (a model error, a refusal, or an answer
    without a prediction),
    ``refused`` of them (a rollout's candidate refused what its primary took), and all
    ``requests``."""

    failed: int
    refused: int
    requests: int


class OutcomeCounter:
    """Counts how deployment ``deployment``'s requests ended, per variant, since a time:
    what a rollout's controller looks at every second while its window is open. A file of
    the log never changes once written, so each is summed once per start and a tick costs
    the files written since the last one, however long the window has grown; files that
    :func:`prune` removed are forgotten. Not thread-safe: one counter per thread.

    Example::

        counter = OutcomeCounter("churn")
        counter.since(step_started)["candidate"].failed
    """

    def __init__(self, deployment: str) -> None:
        self.deployment = check_deployment(deployment)
        self._sums: dict[tuple[str, int], dict[str, Outcomes]] = {}

    def since(self, start: datetime) -> dict[str, Outcomes]:
        """The outcomes of the requests logged at ``start`` or later, by variant."""
        low = to_us(start, "start")
        store = current().artifacts
        # up to an hour ahead of this machine's clock: the hours of the range alone are
        # listed, and a worker whose clock runs a little ahead is still counted
        high = max(low, int(time.time() * 1_000_000)) + HOUR_US
        paths = _files_between(store, log_prefix(self.deployment), low, high)
        wanted = {(p, low) for p in paths}
        for gone in [k for k in self._sums if k not in wanted]:
            del self._sums[gone]
        total: dict[str, list[int]] = {}
        for path in paths:
            found = self._sums.get((path, low))
            if found is None:
                found = self._sums[(path, low)] = _outcomes(_read_table(store, path), low)
            for variant, o in found.items():
                into = total.setdefault(variant, [0, 0, 0])
                into[0] += o.failed
                into[1] += o.refused
                into[2] += o.requests
        return {v: Outcomes(*n) for v, n in total.items()}


def _outcomes(table: pa.Table, low: int) -> dict[str, Outcomes]:
    """One file's outcomes by variant, of its rows at ``low`` (µs) or later; a request's
    rows are logged together, so a request is in one file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0 or not {"timestamp", "variant", "status"} <= set(table.column_names):
        return {}
    stamp = (
        pa.scalar(low, type=pa.int64())
        .cast(pa.timestamp("us"))
        .cast(table.schema.field("timestamp").type)
    )
    table = table.filter(pc.greater_equal(table["timestamp"], stamp))
    if table.num_rows == 0:
        return {}
    status = table["status"]
    failed = pc.not_equal(status, "ok")
    if "prediction" in table.column_names:  # answered, but with no prediction (None, NaN)
        failed = pc.or_(failed, pc.is_null(table["prediction"], nan_is_null=True))
    per_request = (
        pa.table(
            {
                "variant": table["variant"],
                "request_id": table["request_id"],
                "failed": failed,
                "refused": pc.equal(status, "refused"),
            }
        )
        .group_by(["variant", "request_id"], use_threads=False)
        .aggregate([("failed", "any"), ("refused", "any")])
    )
    by_variant = per_request.group_by("variant", use_threads=False).aggregate(
        [("failed_any", "sum"), ("refused_any", "sum"), ("request_id", "count")]
    )
    return {
        str(row["variant"]): Outcomes(
            int(row["failed_any_sum"] or 0),
            int(row["refused_any_sum"] or 0),
            int(row["request_id_count"]),
        )
        for row in by_variant.to_pylist()
    }


def feedback_files(deployment: str) -> list[str]:
    """The files of ``deployment``'s feedback log, in the artifact store's order: a
    reader that remembers them knows whether feedback arrived since (without reading
    any)."""
    check_deployment(deployment)
    return sorted(_files_between(current().artifacts, feedback_prefix(deployment), None, None))


def _join_feedback(store: ArtifactStore, deployment: str, frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    paths = _files_between(store, feedback_prefix(deployment), None, None)
    feedback = _concat([_read_table(store, p, feedback=True) for p in paths])
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
    A link planted among the log's folders is skipped with a warning naming it: only the
    store's own partitions are removed, never what a link points to.

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
