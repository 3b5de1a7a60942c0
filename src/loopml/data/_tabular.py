"""Reading a dataset version as one Arrow table (and so as one pandas frame).

One CSV/TSV/Parquet file, or a folder's tabular files (other files are left
out), concatenated. The files must have the same columns; their types may
differ where Arrow can widen one to the other (integers and floats,
a column of nulls and anything), as files written on different days do.

:func:`as_arrow_table` turns what users hand in (pandas, polars, Arrow or a
dataset reference) into one such table, column-wise, without a detour through
rows; validation and monitoring read their inputs through it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml.data._manifest import load_manifest
from loopml.data._profile import read_arrow, tabular_format
from loopml.errors import InvalidInput, NotFound

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from loopml.data._records import DatasetVersion

__all__ = ["as_arrow_table", "read_table", "read_tabular_file"]


def read_table(version: DatasetVersion) -> pa.Table:
    """The version's tabular files as one table; InvalidInput when there are none or their
    columns differ."""
    import pyarrow as pa

    context = version._context
    manifest = load_manifest(version.manifest_digest, context.artifacts if context else None)
    tabular = [(e.path, fmt) for e in manifest.entries if (fmt := tabular_format(e.path))]
    if not tabular:
        names = ", ".join(e.path for e in manifest.entries[:5]) or "no files"
        raise InvalidInput(
            f"{version.uri} holds no tabular files: expected CSV, TSV or Parquet, got {names}. "
            "Read its files from .path instead."
        )
    local = version.path
    base = local.parent if manifest.kind == "file" else local
    tables = [read_arrow(str(base / rel), rel, fmt) for rel, fmt in tabular]
    first = tables[0].schema
    for (rel, _), table in zip(tabular[1:], tables[1:], strict=True):
        if set(table.schema.names) != set(first.names):
            raise _mismatch(version.uri, rel, tabular[0][0], first, table.schema)
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, ValueError):
        for (rel, _), table in zip(tabular[1:], tables[1:], strict=True):
            if not table.schema.equals(first):
                raise _mismatch(version.uri, rel, tabular[0][0], first, table.schema) from None
        raise


def _mismatch(uri: str, rel: str, first: str, want: pa.Schema, got: pa.Schema) -> InvalidInput:
    return InvalidInput(
        f"{uri}: {rel} does not have the schema of {first} (expected {_fmt(want)}, got "
        f"{_fmt(got)}). Read the files one by one from .path instead."
    )


def _fmt(schema: pa.Schema) -> str:
    return "{" + ", ".join(f"{f.name}: {f.type}" for f in schema) + "}"


def read_tabular_file(path: str | os.PathLike[str]) -> pa.Table:
    """A CSV, TSV or Parquet file that is not a dataset, as an Arrow table (to validate
    or profile a file before versioning it).

    Example::

        loopml.validate(loopml.data.read_tabular_file("incoming.csv"), "suite.json")
    """
    file = _validate.path(path, "path")
    if not file.is_file():
        raise NotFound(f"no file at {str(file)!r}: expected a CSV, TSV or Parquet file.")
    fmt = tabular_format(file.name)
    if fmt is None:
        raise InvalidInput(
            f"{str(file)!r} is not a table loopml can read: expected a .csv, .tsv or .parquet file."
        )
    return read_arrow(str(file), file.name, fmt)


def as_arrow_table(
    frame_or_uri: Any, *, what: str | None = None, others: Sequence[str] = ()
) -> tuple[pa.Table, str | None]:
    """The data as an Arrow table, and the dataset URI (``data:/name@N``) if it came from one.

    Accepts a pandas or polars DataFrame (a polars LazyFrame is collected), a
    pyarrow Table or RecordBatch, anything with ``__arrow_c_stream__``, or a
    dataset reference (``data:/name@N``, ``name@N`` or ``name``), read from the
    store. ``what`` names the input in error messages (``"reference"``); ``others``
    names further inputs the caller accepts itself, so the message lists them too.

    Example::

        table, uri = loopml.data.as_arrow_table("data:/iris@3")  # uri == "data:/iris@3"
    """
    import pyarrow as pa

    value = frame_or_uri
    frame = f"the {what} frame" if what else "the frame"
    if isinstance(value, str):
        from loopml.data._datasets import get_dataset

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
                f"{frame} has repeated column names ({', '.join(names)}); expected unique "
                "names: rename the repeated ones."
            )
        if names != list(value.columns):
            value = value.set_axis(names, axis=1)
        try:
            return pa.Table.from_pandas(value, preserve_index=False), None
        except (pa.ArrowException, TypeError) as exc:
            raise InvalidInput(
                f"could not read {frame} as a table: {exc}. Expected every column to hold "
                "one type of value; convert mixed columns (e.g. with .astype(str)) first."
            ) from None
    if module == "polars" and hasattr(value, "to_arrow"):
        if type(value).__name__ == "LazyFrame":
            value = value.collect()
        return value.to_arrow(), None
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value), None
    kinds = [
        "a pandas or polars DataFrame",
        "a pyarrow Table",
        "a dataset URI like 'data:/iris@3'",
        *others,
    ]
    expected = f"the {what} as " if what else ""
    raise InvalidInput(
        f"expected {expected}{', '.join(kinds[:-1])} or {kinds[-1]}, "
        f"got {type(frame_or_uri).__name__}."
    )
