"""What users hand in (pandas, polars, Arrow, a dataset URI) as one Arrow table.

A dataset reference (``data:/name@N``, ``name@N`` or ``name``) is read with the
data package; frames are converted column-wise without a detour through rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["as_table", "column_kind"]


def as_table(value: Any, what: str) -> tuple[pa.Table, str | None]:
    """``value`` as an Arrow table, and the dataset URI (``data:/name@N``) it came from."""
    import pyarrow as pa

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
                f"the {what} frame has repeated column names ({', '.join(names)}); expected "
                "unique names: rename the repeated ones."
            )
        if names != list(value.columns):
            value = value.set_axis(names, axis=1)
        try:
            return pa.Table.from_pandas(value, preserve_index=False), None
        except (pa.ArrowException, TypeError) as exc:
            raise InvalidInput(
                f"could not read the {what} frame as a table: {exc}. Expected every column to "
                "hold one type of value; convert mixed columns (e.g. with .astype(str)) first."
            ) from None
    if module == "polars" and hasattr(value, "to_arrow"):
        if type(value).__name__ == "LazyFrame":
            value = value.collect()
        return value.to_arrow(), None
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value), None
    raise InvalidInput(
        f"expected the {what} as a pandas or polars DataFrame, a pyarrow Table, a dataset URI "
        f"like 'data:/iris@3' or a ReferenceProfile, got {type(value).__name__}."
    )


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
