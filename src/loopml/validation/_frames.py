"""Reading the columns of the Arrow table validation works on.

What users hand in (pandas, polars, Arrow, a dataset reference) becomes that
table through :func:`loopml.data.as_arrow_table`; here are the helpers the
checks share: a column's broad type, NaN counts, JSON-safe scalars.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["column_type", "is_data_uri", "json_scalar", "nan_count", "plain_column"]


def is_data_uri(value: Any) -> bool:
    """Whether ``value`` is a dataset reference (text: ``data:/name@3``, ``name@3``...)."""
    return isinstance(value, str)


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
