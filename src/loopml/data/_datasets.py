"""Adding, finding and listing dataset versions.

``add_dataset`` does its checks first (name, path, profile), then stores the
files and the manifest, then records the version, its object references and
its lineage in one metadata transaction (``_repository.record_version``), and
finally pins it in ``loopml.lock``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from loopml.context import Context, active_runs, current
from loopml.data import _repository
from loopml.data._lock import LockEntry, pin
from loopml.data._manifest import Manifest, store_manifest
from loopml.data._profile import profile_files
from loopml.data._progress import byte_progress
from loopml.data._records import DatasetProfile, DatasetVersion, ManifestEntry
from loopml.data._walk import FileStat, walk
from loopml.errors import InvalidInput, NotFound
from loopml.store.artifacts import ArtifactStore
from loopml.store.statcache import open_stat_cache
from loopml.uri import check_name, parse_data_uri

__all__ = [
    "add_dataset",
    "dataset_versions",
    "get_dataset",
    "list_datasets",
    "store_files",
]


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
    those of the dataset's latest version returns that version (its
    ``is_new`` is False). Tabular files
    (CSV, TSV, Parquet) are profiled unless ``profile=False``. ``progress``
    shows a bar on stderr (default: only for large data on a terminal).

    Example::

        ds = loopml.add_dataset("data/iris.csv", name="iris", message="first cut")
        ds.uri    # 'data:/iris@1'
    """
    check_name(name, "dataset name")
    if message is not None and (not isinstance(message, str) or "\x00" in message):
        raise InvalidInput(f"message must be text without NUL characters, got {message!r}.")
    ctx = current()
    settings = ctx.settings
    _check_not_project(Path(path), settings.project_root)
    kind, files = walk(path)
    table_profile = profile_files(files) if profile else None
    artifacts = ctx.artifacts

    with open_stat_cache(settings.state_dir) as cache:
        known = cache.known(files)
        with artifacts.batch():  # every object on the disk before the version is recorded
            entries, hashed = store_files(artifacts, files, known, progress)
            manifest = Manifest.build(kind, entries)
            manifest_digest = store_manifest(manifest, artifacts)
        cache.record(hashed)
    producer = active_runs().current()
    if producer is not None and producer.tracking_uri != ctx.metadata.uri:
        producer = None  # a run of another store: there is no edge to record

    source = _source_path(Path(path), settings.project_root)
    row = {
        "manifest_digest": manifest_digest,
        "kind": kind,
        "source_path": source,
        "n_files": len(entries),
        "total_bytes": manifest.total_bytes,
        "run_id": producer.id if producer is not None else None,
        "message": message,
        "schema": _common_schema(table_profile),
        "profile": table_profile.to_json() if table_profile else None,
    }
    digests = [manifest_digest, *manifest.digests]
    version, created = _repository.record_version(ctx.metadata, name, row, digests)
    version.is_new = created
    _bound(ctx, version)

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


def get_dataset(uri: str) -> DatasetVersion:
    """The version named by ``uri``: ``data:/iris@3``, ``data:/iris@latest``, ``iris@3``, ``iris``.

    Raises :class:`~loopml.errors.NotFound` for an unknown dataset or version
    and :class:`~loopml.errors.InvalidInput` for a malformed URI.
    """
    parsed = parse_data_uri(uri)
    ctx = current()
    return _bound(ctx, _repository.find_version(ctx.metadata, parsed.name, parsed.version))


def list_datasets() -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    ctx = current()
    return [_bound(ctx, v) for v in _repository.latest_versions(ctx.metadata)]


def dataset_versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first."""
    check_name(name, "dataset name")
    ctx = current()
    return [_bound(ctx, v) for v in _repository.versions_of(ctx.metadata, name)]


def _bound(ctx: Context, version: DatasetVersion) -> DatasetVersion:
    """``version``, reading its files from ``ctx`` from now on."""
    version._context = ctx
    return version


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
