"""The records the data layer hands out: versions, manifest entries, profiles, diffs."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from loopml._enum import StrEnum
from loopml.uri import DataURI

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from loopml.context import Context

__all__ = [
    "CheckoutResult",
    "ColumnProfile",
    "CopyState",
    "DatasetDiff",
    "DatasetProfile",
    "DatasetStatus",
    "DatasetVersion",
    "FileChange",
    "FsckProblem",
    "FsckReport",
    "ManifestEntry",
    "RemoteGcReport",
    "SchemaChange",
    "StoreSide",
    "TableProfile",
    "TransferReport",
]


class ManifestEntry(NamedTuple):
    """One file of a dataset version: POSIX path relative to the dataset, BLAKE3 hash, size.

    A named tuple rather than a dataclass: a manifest may list many thousands.
    """

    path: str
    digest: str
    size: int


@dataclass
class ColumnProfile:
    """What one column of a table holds.

    ``min``/``max``/``mean`` are set for numeric columns (``min``/``max`` also for
    dates and times, as ISO text); ``distinct`` and ``top`` (the five most
    frequent values with their counts) for text and other categorical columns.
    """

    name: str
    type: str
    null_count: int
    min: float | int | str | None = None
    max: float | int | str | None = None
    mean: float | None = None
    distinct: int | None = None
    top: list[tuple[str, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "null_count": self.null_count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "distinct": self.distinct,
            "top": [[v, n] for v, n in self.top],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ColumnProfile:
        return cls(
            name=data["name"],
            type=data["type"],
            null_count=int(data["null_count"]),
            min=data.get("min"),
            max=data.get("max"),
            mean=data.get("mean"),
            distinct=data.get("distinct"),
            top=[(str(v), int(n)) for v, n in data.get("top") or []],
        )


@dataclass
class TableProfile:
    """The profile of one tabular file: its path in the dataset, row count and columns."""

    path: str
    n_rows: int
    columns: list[ColumnProfile]

    @property
    def schema(self) -> dict[str, str]:
        """Column name → Arrow type name."""
        return {c.name: c.type for c in self.columns}

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "n_rows": self.n_rows,
            "columns": [c.to_json() for c in self.columns],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableProfile:
        return cls(
            path=data["path"],
            n_rows=int(data["n_rows"]),
            columns=[ColumnProfile.from_json(c) for c in data["columns"]],
        )


@dataclass
class DatasetProfile:
    """Profiles of a version's tabular files; ``skipped`` counts those left out by the cap."""

    tables: list[TableProfile]
    skipped: int = 0

    @property
    def n_rows(self) -> int:
        return sum(t.n_rows for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {"tables": [t.to_json() for t in self.tables], "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DatasetProfile | None:
        if not data:
            return None
        return cls(
            tables=[TableProfile.from_json(t) for t in data.get("tables", [])],
            skipped=int(data.get("skipped", 0)),
        )


@dataclass
class DatasetVersion:
    """One version of a dataset: a manifest of files stored by hash.

    Example::

        ds = loopml.get_dataset("data:/iris@2")
        ds.path            # a local copy holding exactly this version's bytes
        ds.to_pandas()     # for tabular data

    ``is_new`` tells, on what :func:`~loopml.add_dataset` returns, whether
    that call made a new version (False when the bytes were already the
    newest version's), and ``gitignored`` the line that call added to the project's
    ``.gitignore`` (None when it added none).
    """

    name: str
    version: int
    manifest_digest: str
    n_files: int
    total_bytes: int
    kind: str
    created_at: _dt.datetime
    source_path: str | None = None
    message: str | None = None
    run_id: str | None = None
    schema: dict[str, str] | None = None
    profile: DatasetProfile | None = None
    is_new: bool = field(default=False, compare=False, repr=False)
    gitignored: str | None = field(default=None, compare=False, repr=False)
    #: the context it was read in: its files come from that context's artifact store
    _context: Context | None = field(default=None, compare=False, repr=False)

    @property
    def uri(self) -> str:
        """``data:/<name>@<version>``, the version's node in the lineage graph."""
        return str(DataURI(self.name, self.version))

    @property
    def path(self) -> Path:
        """A local path holding exactly this version's bytes (copied from the store once).

        For a single-file dataset, the file itself; for a folder, the folder.
        """
        from loopml.data._materialize import materialize

        return materialize(self.manifest_digest, self._context, self.uri)

    def files(self) -> list[ManifestEntry]:
        """The version's manifest entries, sorted by path."""
        from loopml.data._manifest import load_manifest

        store = self._context.artifacts if self._context is not None else None
        return list(load_manifest(self.manifest_digest, store).entries)

    def to_arrow(self) -> pa.Table:
        """The data as an Arrow table: one CSV/TSV/Parquet file, or a folder of them with
        the same columns."""
        from loopml.data._tabular import read_table

        return read_table(self)

    def to_pandas(self) -> pd.DataFrame:
        """The data as a DataFrame (see :meth:`to_arrow`)."""
        return self.to_arrow().to_pandas()


@dataclass(frozen=True)
class FileChange:
    """A path that differs between two versions; a size is None where the path is absent."""

    path: str
    size_before: int | None
    size_after: int | None


@dataclass(frozen=True)
class SchemaChange:
    """A column added, removed or retyped between two versions of a table."""

    column: str
    change: str  # "added", "removed" or "type"
    type_before: str | None
    type_after: str | None


@dataclass
class DatasetDiff:
    """What changed from version ``a`` to version ``b``."""

    a: str
    b: str
    added: list[FileChange] = field(default_factory=list)
    removed: list[FileChange] = field(default_factory=list)
    modified: list[FileChange] = field(default_factory=list)
    schema_changes: list[SchemaChange] = field(default_factory=list)
    rows_before: int | None = None
    rows_after: int | None = None

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.modified)


class CopyState(StrEnum):
    """How a working copy stands against its locked version."""

    UNCHANGED = "unchanged"
    MODIFIED = "modified"
    MISSING = "missing"  # the path is gone


@dataclass
class DatasetStatus:
    """The working copy of one locked dataset compared with its locked manifest:
    ``state`` is a :class:`CopyState` (unchanged, modified, or missing)."""

    name: str
    version: int
    path: str
    state: CopyState
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass
class CheckoutResult:
    """What a checkout did to one dataset's working copy."""

    name: str
    version: int
    path: str
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


@dataclass
class TransferReport:
    """What a push or pull moved: object counts, bytes, and remote files written or read."""

    remote: str
    wanted: int = 0
    transferred: int = 0
    bytes: int = 0
    packs: int = 0
    single: int = 0


@dataclass
class RemoteGcReport:
    """What ``gc_remote`` found on a data remote (and, unless ``dry_run``, removed):
    objects kept because a version references them, objects too young to judge,
    objects removed (hash, size), packs written anew with their live objects, and
    upload leftovers removed."""

    remote: str
    dry_run: bool
    kept: int = 0
    kept_bytes: int = 0
    young: int = 0
    removed: list[tuple[str, int]] = field(default_factory=list)
    repacked: int = 0
    leftovers: int = 0

    @property
    def removed_bytes(self) -> int:
        return sum(size for _, size in self.removed)


class StoreSide(StrEnum):
    """Which copy of an object: the local artifact store's, or the data remote's."""

    LOCAL = "local"
    REMOTE = "remote"


@dataclass
class FsckProblem:
    """A corrupt object (or a pack that lost some objects' bytes) found by ``fsck``.

    ``repaired_from`` names the side whose sound copy replaced it; ``advice`` says what
    to do about a problem left unrepaired.
    """

    digest: str
    where: StoreSide
    size: int
    repaired_from: StoreSide | None = None
    advice: str = ""


@dataclass
class FsckReport:
    """What ``fsck`` checked (objects and bytes, on each side) and the problems it found,
    each repaired or with what to do about it."""

    store: str
    remote: str | None = None
    repair: bool = False
    checked: int = 0
    checked_bytes: int = 0
    remote_checked: int = 0
    remote_checked_bytes: int = 0
    problems: list[FsckProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def repaired(self) -> list[FsckProblem]:
        return [p for p in self.problems if p.repaired_from is not None]

    @property
    def unrepaired(self) -> list[FsckProblem]:
        return [p for p in self.problems if p.repaired_from is None]

    @property
    def ok(self) -> bool:
        """True when every object is sound now (none was corrupt, or all were repaired)."""
        return not self.unrepaired
