"""Reading a dataset version as one table (pandas via pyarrow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.data._manifest import load_manifest
from loopml.data._profile import read_arrow, tabular_format
from loopml.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from loopml.data._records import DatasetVersion

__all__ = ["read_frame"]


def read_frame(version: DatasetVersion) -> pd.DataFrame:
    """One CSV/TSV/Parquet file, or a folder's tabular files of one schema, concatenated."""
    import pyarrow as pa

    manifest = load_manifest(version.manifest_digest)
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
        if not table.schema.equals(first):
            raise InvalidInput(
                f"{version.uri}: {rel} does not have the schema of {tabular[0][0]} "
                f"(expected {_fmt(first)}, got {_fmt(table.schema)}). Read the files one by "
                "one from .path instead."
            )
    return pa.concat_tables(tables).to_pandas()


def _fmt(schema: object) -> str:
    import pyarrow as pa

    assert isinstance(schema, pa.Schema)
    return "{" + ", ".join(f"{f.name}: {f.type}" for f in schema) + "}"
