"""Profiles of tabular files (CSV, TSV, Parquet), read with pyarrow.

A profile records the schema, the row count and per column the nulls, then
``min``/``max``/``mean`` for numbers, ``min``/``max`` for dates and times, or
the distinct count and five most frequent values for text and categories.
pyarrow is imported here, inside the functions, never at ``import loopml``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml.data._records import ColumnProfile, DatasetProfile, TableProfile
from loopml.data._walk import FileStat
from loopml.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["MAX_PROFILED", "profile_files", "profile_table", "read_arrow", "tabular_format"]

#: A folder's tabular files beyond this many are not profiled (the profile says how many).
MAX_PROFILED = 50
_FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_TOP = 5


def tabular_format(name: str) -> str | None:
    """``"csv"``, ``"tsv"`` or ``"parquet"`` for a tabular file name, else None."""
    lower = name.lower()
    for suffix, fmt in _FORMATS.items():
        if lower.endswith(suffix):
            return fmt
    return None


def read_arrow(path: str, rel: str, fmt: str) -> pa.Table:
    """Read one tabular file; a parse error becomes :class:`InvalidInput` naming the file."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        from pyarrow import csv

        parse = csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
        convert = csv.ConvertOptions(strings_can_be_null=True)  # empty cells are nulls
        return csv.read_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(
            f"could not read {rel} as {fmt.upper()}: {exc}. Expected a well-formed {fmt.upper()} "
            "file; fix it, or add the data without profiling (profile=False, or --no-profile "
            "on the command line)."
        ) from exc


def profile_files(files: Sequence[FileStat], limit: int = MAX_PROFILED) -> DatasetProfile | None:
    """Profile the tabular files among ``files`` (at most ``limit``); None if there are none."""
    tabular = [(f, fmt) for f in files if (fmt := tabular_format(f.rel))]
    if not tabular:
        return None
    tables = [profile_table(read_arrow(f.abs, f.rel, fmt), f.rel) for f, fmt in tabular[:limit]]
    return DatasetProfile(tables=tables, skipped=max(0, len(tabular) - limit))


def profile_table(table: pa.Table, rel: str) -> TableProfile:
    """The profile of one Arrow table."""
    columns = [_profile_column(name, table.column(i)) for i, name in enumerate(table.column_names)]
    return TableProfile(path=rel, n_rows=table.num_rows, columns=columns)


def _profile_column(name: str, col: pa.ChunkedArray) -> ColumnProfile:
    import pyarrow as pa
    import pyarrow.compute as pc

    typ = col.type
    prof = ColumnProfile(name=name, type=str(typ), null_count=col.null_count)
    if len(col) == col.null_count:
        return prof
    if pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ):
        mm = pc.min_max(col)
        prof.min = _plain(mm["min"].as_py())
        prof.max = _plain(mm["max"].as_py())
        mean = pc.mean(col).as_py()
        prof.mean = float(mean) if mean is not None and math.isfinite(float(mean)) else None
    elif pa.types.is_temporal(typ):
        mm = pc.min_max(col)
        prof.min = _plain(mm["min"].as_py())
        prof.max = _plain(mm["max"].as_py())
    elif (
        pa.types.is_string(typ)
        or pa.types.is_large_string(typ)
        or pa.types.is_boolean(typ)
        or pa.types.is_dictionary(typ)
    ):
        prof.distinct = int(pc.count_distinct(col, mode="only_valid").as_py())
        counts = pc.value_counts(col.drop_null())
        values = counts.field("values").to_pylist()
        numbers = counts.field("counts").to_pylist()
        ranked = sorted(zip(values, numbers, strict=True), key=lambda vc: (-vc[1], str(vc[0])))
        prof.top = [(str(v), int(n)) for v, n in ranked[:_TOP]]
    return prof


def _plain(value: Any) -> float | int | str | None:
    """A JSON-safe scalar: NaN/inf become None, dates and decimals become text/float."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
