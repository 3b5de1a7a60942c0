"""Which columns drift is measured on, by their Arrow type.

What users hand in (pandas, polars, Arrow, a dataset URI) becomes one Arrow
table through :func:`loopml.data.as_arrow_table`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["column_kind"]


def column_kind(typ: pa.DataType) -> str | None:
    """``numeric`` (integers, floats, decimals), ``categorical`` (text, booleans,
    dictionaries) or None for a type drift is not measured on (times, binary, nested)."""
    import pyarrow as pa

    if pa.types.is_dictionary(typ):
        return column_kind(typ.value_type)
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        return "numeric"
    if (
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_string_view(typ)
        or pa.types.is_boolean(typ)
    ):
        return "categorical"
    return None
