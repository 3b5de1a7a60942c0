"""Turning what users hand in (frames, Arrow tables, dataset URIs) into one Arrow table.

pandas (including its string dtype), polars and pyarrow tables are accepted;
a dataset reference (``data:/name@version``, ``name@version`` or ``name``,
as everywhere) is read from the store with pyarrow, without a detour
through pandas.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["as_table", "column_type", "is_data_uri", "json_scalar", "nan_count", "plain_column"]


def is_data_uri(value: Any) -> bool:
    """Whether ``value`` is a dataset reference (text: ``data:/name@3``, ``name@3``...)."""
    return isinstance(value, str)


def as_table(frame_or_uri: Any) -> tuple[pa.Table, str | None]:
    """The data as an Arrow table, and the dataset URI (``data:/name@N``) if it came from one."""
    import pyarrow as pa

    value = frame_or_uri
    if isinstance(value, str):
        from loopml.data import get_dataset

        version = get_dataset(value)
        return version.to_arrow(), version.uri
    if isinstance(value, pa.Table):
        return value, None
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value]), None
    module = type(value).__module__.split(".")[0]
    if module == "pandas" and hasattr(value, "columns"):
        names = [str(c) for c in value.columns]
        if len(set(names)) != len(names):
            raise InvalidInput(
                f"the frame has repeated column names ({', '.join(names)}); expected unique names."
            )
        if names != list(value.columns):
            value = value.set_axis(names, axis=1)
        try:
            return pa.Table.from_pandas(value, preserve_index=False), None
        except (pa.ArrowException, TypeError) as exc:
            raise InvalidInput(
                f"could not read the frame as a table: {exc}. Expected every column to hold "
                "one type of value; convert mixed columns (e.g. with .astype(str)) first."
            ) from None
    if module == "polars" and hasattr(value, "to_arrow"):
        if type(value).__name__ == "LazyFrame":
            value = value.collect()
        return value.to_arrow(), None
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value), None
    raise InvalidInput(
        "expected a pandas or polars DataFrame, a pyarrow Table or a dataset URI like "
        f"'data:/iris@3', got {type(frame_or_uri).__name__}."
    )


def column_type(typ: pa.DataType) -> str:
    """The broad type of an Arrow type: numeric, string, boolean, temporal, binary or other.

    Integers and floats are both ``numeric``: a column of integers with one
    missing value becomes floats in pandas, and that is not a change of meaning.
    """
    import pyarrow as pa

    if pa.types.is_dictionary(typ):
        return column_type(typ.value_type)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "numeric"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ):
        return "string"
    if pa.types.is_boolean(typ):
        return "boolean"
    if pa.types.is_temporal(typ):
        return "temporal"
    if (
        pa.types.is_binary(typ)
        or pa.types.is_large_binary(typ)
        or pa.types.is_fixed_size_binary(typ)
    ):
        return "binary"
    return "other"


def plain_column(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column with dictionary encoding undone (categoricals become their values)."""
    import pyarrow as pa

    if pa.types.is_dictionary(col.type):
        return col.cast(col.type.value_type)
    return col


def nan_count(col: pa.ChunkedArray) -> int:
    """How many NaN values a floating-point column holds (0 for other types)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_floating(col.type):
        return 0
    return int(pc.sum(pc.is_nan(col)).as_py() or 0)


def json_scalar(value: Any) -> Any:
    """A JSON-safe scalar: NaN and infinities as text, dates as ISO text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value
