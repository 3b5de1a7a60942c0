"""The Parquet format of the prediction log and of feedback.

A prediction file has fixed columns, then the outputs, then one column per input::

    request_id   string           the request's id (X-Request-ID or generated)
    row          int32            the row's index in its request
    timestamp    timestamp[us, UTC]
    deployment   string
    model_name   string
    model_version int64           null for a model served from a path
    variant      string           the traffic variant that answered ("default")
    status       string           ok | model_error | refused
    latency_ms   float64          the request's latency
    prediction   (inferred)       null for a model error
    proba.<cls>  float64          one per class, when the model gives probabilities
    in.<col>     (inferred)       one per input column (masked ones are hex strings)

Inputs are flat, prefixed columns rather than one struct: DuckDB and pyarrow read
just the columns a query names, keep statistics per column, and files whose
inputs differ (a column added by a new model version) concatenate with nulls.
A column whose values Arrow cannot type together is stored as text.

A feedback file has ``request_id``, ``row``, ``ground_truth`` (inferred) and
``timestamp`` (when it was given).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "FEEDBACK_FIXED",
    "FIXED",
    "INPUT_PREFIX",
    "PROBA_PREFIX",
    "Row",
    "feedback_table",
    "parquet_bytes",
    "prediction_table",
    "schema_problem",
]

INPUT_PREFIX = "in."
PROBA_PREFIX = "proba."
_TS = pa.timestamp("us", tz="UTC")
#: The fixed columns of a prediction file, in order.
FIXED = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("timestamp", _TS),
        ("deployment", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.int64()),
        ("variant", pa.string()),
        ("status", pa.string()),
        ("latency_ms", pa.float64()),
    ]
)
FEEDBACK = ("request_id", "row", "ground_truth", "timestamp")
#: The typed columns of a feedback file (``ground_truth`` is typed by its values).
FEEDBACK_FIXED = pa.schema([("request_id", pa.string()), ("row", pa.int32()), ("timestamp", _TS)])


class Row(NamedTuple):
    """A record as queued: checked, masked, its time in microseconds."""

    request_id: str
    row: int
    ts_us: int
    deployment: str
    model_name: str
    model_version: int | None
    variant: str
    status: str
    latency_ms: float
    inputs: Mapping[str, Any]
    prediction: Any
    probabilities: Any


def _text(value: Any) -> str:
    raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return raw.encode("utf-8", "replace").decode("utf-8")


def column(values: Sequence[Any]) -> pa.Array:
    """``values`` as one Arrow array: typed by Arrow when it can (and Parquet can store
    the type), else as text."""
    try:
        array = pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError, UnicodeError):
        array = None
    if array is not None and _storable(array.type):
        return array
    return pa.array([None if v is None else _text(v) for v in values], pa.string())


def _storable(kind: pa.DataType) -> bool:
    """Whether Parquet stores ``kind``: not a struct without fields (``{}``), at any depth."""
    if pa.types.is_struct(kind):
        fields = [kind.field(i).type for i in range(kind.num_fields)]
        return bool(fields) and all(_storable(f) for f in fields)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _storable(kind.value_type)
    return True


def _names(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for mapping in rows:
        for name in mapping:
            seen[str(name)] = None
    return list(seen)


def _proba(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {str(i): v for i, v in enumerate(value)}


def prediction_table(rows: Sequence[Row]) -> pa.Table:
    """The Arrow table of ``rows`` (see the module's docstring for the columns)."""
    arrays: list[pa.Array] = [
        pa.array([r.request_id for r in rows], pa.string()),
        pa.array([r.row for r in rows], pa.int32()),
        pa.array([r.ts_us for r in rows], pa.int64()).cast(_TS),
        pa.array([r.deployment for r in rows], pa.string()),
        pa.array([r.model_name for r in rows], pa.string()),
        pa.array([r.model_version for r in rows], pa.int64()),
        pa.array([r.variant for r in rows], pa.string()),
        pa.array([r.status for r in rows], pa.string()),
        pa.array([float(r.latency_ms) for r in rows], pa.float64()),
        column([r.prediction for r in rows]),
    ]
    names = [*FIXED.names, "prediction"]
    probas = [_proba(r.probabilities) for r in rows]
    for cls in _names(probas):
        values = [p.get(cls) for p in probas]
        try:
            arrays.append(pa.array(values, pa.float64()))
        except (pa.ArrowException, TypeError, ValueError):
            arrays.append(column(values))
        names.append(PROBA_PREFIX + cls)
    inputs = [r.inputs for r in rows]
    for col in _names(inputs):
        arrays.append(column([m.get(col) for m in inputs]))
        names.append(INPUT_PREFIX + col)
    return pa.Table.from_arrays(arrays, names=names)


def feedback_table(items: Sequence[tuple[str, int, Any, int]]) -> pa.Table:
    """The Arrow table of ``(request_id, row, ground_truth, ts_us)`` tuples."""
    return pa.Table.from_arrays(
        [
            pa.array([i[0] for i in items], pa.string()),
            pa.array([i[1] for i in items], pa.int32()),
            column([i[2] for i in items]),
            pa.array([i[3] for i in items], pa.int64()).cast(_TS),
        ],
        names=list(FEEDBACK),
    )


def schema_problem(schema: pa.Schema, feedback: bool = False) -> str | None:
    """What keeps ``schema`` from being that of a prediction file (or, with ``feedback``,
    a feedback file) as loopml writes it: a fixed column missing or of another type, or
    the untyped column (``prediction``, ``ground_truth``) missing; None when it is one."""
    fixed, untyped = (FEEDBACK_FIXED, "ground_truth") if feedback else (FIXED, "prediction")
    for want in fixed:
        index = schema.get_field_index(want.name)
        if index < 0:
            return f"it has no column {want.name!r}"
        got = schema.field(index).type
        if not got.equals(want.type):
            return f"its column {want.name!r} is {got}, not {want.type}"
    if schema.get_field_index(untyped) < 0:
        return f"it has no column {untyped!r}"
    return None


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as the bytes of one Parquet file (zstd)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())
