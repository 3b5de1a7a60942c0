"""What changed between two dataset versions."""

from __future__ import annotations

from loopml.data._datasets import get_dataset
from loopml.data._manifest import load_manifest
from loopml.data._profile import profile_table, read_arrow, tabular_format
from loopml.data._records import DatasetDiff, DatasetVersion, FileChange, SchemaChange, TableProfile

__all__ = ["diff_versions"]


def diff_versions(a: str | DatasetVersion, b: str | DatasetVersion) -> DatasetDiff:
    """Paths added, removed and modified from ``a`` to ``b``; for single tabular files also
    the schema changes and the row counts.

    Example::

        d = loopml.data.diff_versions("iris@1", "iris@2")
        [c.path for c in d.modified], d.rows_before, d.rows_after
    """
    va = a if isinstance(a, DatasetVersion) else get_dataset(a)
    vb = b if isinstance(b, DatasetVersion) else get_dataset(b)
    before = load_manifest(va.manifest_digest).by_path()
    after = load_manifest(vb.manifest_digest).by_path()
    out = DatasetDiff(a=va.uri, b=vb.uri)
    for path in sorted(before.keys() | after.keys()):
        x, y = before.get(path), after.get(path)
        if x is None and y is not None:
            out.added.append(FileChange(path, None, y.size))
        elif y is None and x is not None:
            out.removed.append(FileChange(path, x.size, None))
        elif x is not None and y is not None and x.digest != y.digest:
            out.modified.append(FileChange(path, x.size, y.size))
    if va.kind == vb.kind == "file" and va.n_files == vb.n_files == 1:
        ta, tb = _table(va), _table(vb)
        if ta is not None and tb is not None:
            out.rows_before, out.rows_after = ta.n_rows, tb.n_rows
            out.schema_changes = _schema_changes(ta.schema, tb.schema)
    return out


def _table(version: DatasetVersion) -> TableProfile | None:
    if version.profile is not None and version.profile.tables:
        return version.profile.tables[0]
    entry = load_manifest(version.manifest_digest).entries[0]
    fmt = tabular_format(entry.path)
    if fmt is None:
        return None
    return profile_table(read_arrow(str(version.path), entry.path, fmt), entry.path)


def _schema_changes(before: dict[str, str], after: dict[str, str]) -> list[SchemaChange]:
    changes = []
    for col, typ in before.items():
        if col not in after:
            changes.append(SchemaChange(col, "removed", typ, None))
        elif after[col] != typ:
            changes.append(SchemaChange(col, "type", typ, after[col]))
    changes.extend(SchemaChange(c, "added", None, t) for c, t in after.items() if c not in before)
    return changes
