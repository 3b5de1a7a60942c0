"""Adding, finding and listing dataset versions.

``add_dataset`` does its checks first (name, path, profile), then stores the
files and the manifest, then records the version, its object references and
its lineage in one metadata transaction, and finally pins it in
``loopml.lock``. Version numbers are allocated inside that transaction; a
clash with a concurrent writer (the unique ``(dataset_id, version)``
constraint) is retried.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from loopml.config import get_settings
from loopml.data._lock import LockEntry, pin
from loopml.data._manifest import Manifest, store_manifest
from loopml.data._profile import profile_files
from loopml.data._progress import byte_progress
from loopml.data._records import DatasetProfile, DatasetVersion, ManifestEntry
from loopml.data._statcache import open_stat_cache
from loopml.data._walk import FileStat, walk
from loopml.errors import InvalidInput, NotFound, StoreError
from loopml.store import schema
from loopml.store.artifacts import ArtifactStore, get_artifact_store
from loopml.store.lineage import add_edges
from loopml.store.metadata import MetadataStore, get_metadata_store
from loopml.store.refs import add_refs
from loopml.uri import check_name, parse_data_uri

__all__ = [
    "add_dataset",
    "dataset_versions",
    "get_dataset",
    "list_datasets",
    "store_files",
]

_ALLOC_RETRIES = 20


def add_dataset(
    path: str | os.PathLike[str],
    name: str,
    *,
    message: str | None = None,
    profile: bool = True,
    progress: bool | None = None,
) -> DatasetVersion:
    """Version the file or folder at ``path`` as the next version of dataset ``name``.

    Identical bytes are stored once; adding a folder whose files are exactly
    those of the dataset's latest version returns that version. Tabular files
    (CSV, TSV, Parquet) are profiled unless ``profile=False``. ``progress``
    shows a bar on stderr (default: only for large data on a terminal).

    Example::

        ds = loopml.add_dataset("data/iris.csv", name="iris", message="first cut")
        ds.uri    # 'data:/iris@1'
    """
    check_name(name, "dataset name")
    settings = get_settings()
    _check_not_project(Path(path), settings.project_root)
    kind, files = walk(path)
    table_profile = profile_files(files) if profile else None
    meta = get_metadata_store()
    artifacts = get_artifact_store()

    with open_stat_cache(settings.project_root) as cache:
        known = cache.known(files)
        entries, hashed = store_files(artifacts, files, known, progress)
        cache.record(hashed)
    manifest = Manifest.build(kind, entries)
    manifest_digest = store_manifest(manifest, artifacts)

    source = _source_path(Path(path), settings.project_root)
    row = {
        "manifest_digest": manifest_digest,
        "kind": kind,
        "source_path": source,
        "n_files": len(entries),
        "total_bytes": manifest.total_bytes,
        "run_id": _active_run_id(),
        "message": message,
        "schema": _common_schema(table_profile),
        "profile": table_profile.to_json() if table_profile else None,
    }
    digests = [manifest_digest, *manifest.digests]
    version = _write_version(meta, name, row, digests)

    pin(settings.lock_path, LockEntry(name, version.version, source, kind, manifest_digest))
    return version


def store_files(
    artifacts: ArtifactStore,
    files: Sequence[FileStat],
    known: dict[str, str],
    progress: bool | None = None,
) -> tuple[list[ManifestEntry], list[tuple[FileStat, str]]]:
    """Store every file (skipping the read of those with a known hash that is stored).

    Returns the manifest entries and, for the stat cache, each file whose
    stat did not change while it was stored, with its hash.
    """
    total = sum(f.size for f in files)
    with byte_progress("adding", total, len(files), progress) as advance:

        def put(f: FileStat) -> tuple[ManifestEntry, FileStat, str]:
            try:
                info = artifacts.put_file(f.abs, digest=known.get(f.abs), progress=advance)
            except FileNotFoundError:
                raise NotFound(
                    f"{f.abs} disappeared while it was being added. Add the data again once "
                    "nothing else is changing it."
                ) from None
            except PermissionError as exc:
                raise InvalidInput(
                    f"cannot read {f.abs}: {exc.strerror}. Expected readable files; fix the "
                    "permissions or leave the file out of the folder."
                ) from None
            return ManifestEntry(f.rel, info.digest, info.size), f, info.digest

        results = [put(f) for f in files]
    entries = [entry for entry, _, _ in results]
    fresh = [(f, d) for _, f, d in results if known.get(f.abs) != d and _unchanged(f)]
    return entries, fresh


def _unchanged(f: FileStat) -> bool:
    """Whether ``f`` still has the stat it had when it was listed."""
    try:
        st = os.stat(f.abs)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns, st.st_ino) == (f.size, f.mtime_ns, f.inode)


def _write_version(
    meta: MetadataStore, name: str, row: dict[str, Any], digests: list[str]
) -> DatasetVersion:
    for _ in range(_ALLOC_RETRIES):
        try:
            return meta.write(lambda conn: _record_version(conn, meta, name, row, digests))
        except IntegrityError:
            time.sleep(0.01)  # a concurrent writer took the number; allocate again
    raise StoreError(
        f"could not allocate a version number for dataset {name!r} after "
        f"{_ALLOC_RETRIES} attempts: too many concurrent writers. Retry the add."
    )


def _record_version(
    conn: Connection, meta: MetadataStore, name: str, row: dict[str, Any], digests: list[str]
) -> DatasetVersion:
    d, v = schema.datasets, schema.dataset_versions
    now = time.time()
    meta.upsert(conn, d, [{"name": name, "created_at": now}], keys=("name",))
    dataset_id = conn.execute(select(d.c.id).where(d.c.name == name)).scalar_one()
    latest = conn.execute(
        select(v).where(v.c.dataset_id == dataset_id).order_by(v.c.version.desc()).limit(1)
    ).first()
    if latest is not None and latest.manifest_digest == row["manifest_digest"]:
        return _to_version(name, latest._mapping)
    number = (latest.version if latest is not None else 0) + 1
    values = {**row, "dataset_id": dataset_id, "version": number, "created_at": now}
    conn.execute(insert(v).values(**values))
    uri = f"data:/{name}@{number}"
    add_refs(conn, meta, owner=uri, digests=digests)
    if row["run_id"]:
        add_edges(conn, meta, [(f"runs:/{row['run_id']}", uri, "output")])
    return _to_version(name, values)


def get_dataset(uri: str) -> DatasetVersion:
    """The version named by ``uri``: ``data:/iris@3``, ``data:/iris@latest``, ``iris@3``, ``iris``.

    Raises :class:`~loopml.errors.NotFound` for an unknown dataset or version
    and :class:`~loopml.errors.InvalidInput` for a malformed URI.
    """
    parsed = parse_data_uri(uri)
    d, v = schema.datasets, schema.dataset_versions
    with get_metadata_store().read() as conn:
        dataset_id = conn.execute(select(d.c.id).where(d.c.name == parsed.name)).scalar()
        if dataset_id is None:
            raise NotFound(_unknown_dataset(conn, parsed.name))
        query = select(v).where(v.c.dataset_id == dataset_id)
        if parsed.version is None:
            query = query.order_by(v.c.version.desc()).limit(1)
        else:
            query = query.where(v.c.version == parsed.version)
        row = conn.execute(query).first()
        if row is None:
            numbers = list(
                conn.execute(
                    select(v.c.version).where(v.c.dataset_id == dataset_id).order_by(v.c.version)
                ).scalars()
            )
            raise NotFound(
                f"dataset {parsed.name!r} has no version {parsed.version}; "
                f"it has {_describe_versions(numbers)}. "
                f"List them with 'loopml data show {parsed.name}'."
            )
    return _to_version(parsed.name, row._mapping)


def list_datasets() -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    d, v = schema.datasets, schema.dataset_versions
    newest = (
        select(v.c.dataset_id, func.max(v.c.version).label("version"))
        .group_by(v.c.dataset_id)
        .subquery()
    )
    query = (
        select(d.c.name, v)
        .join(v, v.c.dataset_id == d.c.id)
        .join(
            newest,
            (newest.c.dataset_id == v.c.dataset_id) & (newest.c.version == v.c.version),
        )
        .order_by(d.c.name)
    )
    with get_metadata_store().read() as conn:
        rows = conn.execute(query).all()
    return [_to_version(r.name, r._mapping) for r in rows]


def dataset_versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first."""
    d, v = schema.datasets, schema.dataset_versions
    with get_metadata_store().read() as conn:
        dataset_id = conn.execute(select(d.c.id).where(d.c.name == name)).scalar()
        if dataset_id is None:
            raise NotFound(_unknown_dataset(conn, name))
        rows = conn.execute(
            select(v).where(v.c.dataset_id == dataset_id).order_by(v.c.version)
        ).all()
    return [_to_version(name, r._mapping) for r in rows]


def _unknown_dataset(conn: Connection, name: str) -> str:
    names = list(
        conn.execute(select(schema.datasets.c.name).order_by(schema.datasets.c.name)).scalars()
    )
    if not names:
        known = "there are no datasets yet; add one with 'loopml data add PATH --name NAME'"
    else:
        shown = ", ".join(repr(n) for n in names[:20]) + (" …" if len(names) > 20 else "")
        known = f"known datasets: {shown}"
    return f"no dataset named {name!r}: {known}."


def _describe_versions(numbers: list[int]) -> str:
    if not numbers:
        return "no versions"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        if len(numbers) == 1:
            return f"only version {numbers[0]}"
        return f"versions {numbers[0]}–{numbers[-1]}"
    return "versions " + ", ".join(str(n) for n in numbers)


def _to_version(name: str, row: Any) -> DatasetVersion:
    created = float(row["created_at"])
    return DatasetVersion(
        name=name,
        version=int(row["version"]),
        manifest_digest=row["manifest_digest"],
        n_files=int(row["n_files"]),
        total_bytes=int(row["total_bytes"]),
        kind=row["kind"],
        created_at=_dt.datetime.fromtimestamp(created, tz=_dt.timezone.utc),
        source_path=row["source_path"],
        message=row["message"],
        run_id=row["run_id"],
        schema=row["schema"],
        profile=DatasetProfile.from_json(row["profile"]),
    )


def _common_schema(profile: DatasetProfile | None) -> dict[str, str] | None:
    """The column → type map shared by every profiled table, or None if they differ."""
    if profile is None or not profile.tables:
        return None
    first = profile.tables[0].schema
    return first if all(t.schema == first for t in profile.tables[1:]) else None


def _source_path(path: Path, root: Path) -> str:
    """``path`` relative to the project root (POSIX) when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return absolute.as_posix()


def _check_not_project(path: Path, root: Path) -> None:
    absolute = Path(os.path.abspath(path))
    if absolute == root or absolute in root.parents:
        raise InvalidInput(
            f"cannot add {path}: it is the project folder {root} (or holds it). Expected a "
            "data file or a data folder inside the project, e.g. 'data/'."
        )


def _active_run_id() -> str | None:
    try:
        tracking = importlib.import_module("loopml.tracking")
    except ImportError:
        return None
    active_run = getattr(tracking, "active_run", None)
    run = active_run() if active_run is not None else None
    return getattr(run, "id", None) if run is not None else None
