"""Adding, finding and listing dataset versions.

``add_dataset`` does its checks first (name, path, profile), then stores the
files and the manifest, then records the version, its object references and
its lineage in one metadata transaction (``_repository.record_version``), and
finally pins it in ``loopml.lock``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Sequence
from pathlib import Path

from loopml import _validate
from loopml.context import Context, active_runs, current, ensure_state_dir
from loopml.data import _repository
from loopml.data._gitignore import check_ignorable, ignore_path
from loopml.data._lock import LockEntry, check_pin, pin, update_lock
from loopml.data._manifest import Manifest, store_manifest
from loopml.data._profile import MAX_PROFILED, profile_files, tabular_format
from loopml.data._progress import byte_progress
from loopml.data._records import DatasetProfile, DatasetVersion, ManifestEntry
from loopml.data._resolve import Resolution, resolve
from loopml.data._walk import FileStat, walk
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.store.artifacts import ArtifactStore
from loopml.store.statcache import open_stat_cache
from loopml.uri import DataURI, check_name, local_path

__all__ = [
    "add_dataset",
    "dataset_versions",
    "get_dataset",
    "list_datasets",
    "remove_dataset",
    "resolve_dataset",
    "store_files",
]


def add_dataset(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    message: str | None = None,
    profile: bool = True,
    progress: bool | None = None,
) -> DatasetVersion:
    """Version the file or folder at ``path`` as the next version of dataset ``name``
    (default: the file's name without its extension, ``iris.csv`` → ``iris``, or the
    folder's name).

    Identical bytes are stored once; adding a folder whose files are exactly
    those of the dataset's latest version returns that version (its
    ``is_new`` is False): a ``message`` is then recorded on it if it has none,
    and a different message than the one it has is refused
    (:class:`~loopml.errors.Conflict`), so a message is never dropped. Tabular files
    (CSV, TSV, Parquet) are profiled unless ``profile=False``. ``progress``
    shows a bar on stderr (default: only for large data on a terminal).

    The version is pinned in ``loopml.lock`` when ``path`` is inside the
    project (a path outside it is versioned but not pinned: checkout only
    writes inside the project); a path another pinned dataset's path holds or
    lies in is refused. A path inside the project is also added to the ``.gitignore``
    at the project root (one anchored line, ``/data/iris.csv``, unless git ignores it
    already; ``gitignored`` on the result says which line), so git tracks
    ``loopml.lock`` and not the data. A file that changes while it is read is read again
    (up to three times, then :class:`~loopml.errors.Conflict` names it), so the
    profile and the stored bytes are always of one state. Links to files are
    followed; a link to a folder, to nothing, or a loop is refused with
    :class:`~loopml.errors.InvalidInput` naming it.

    Example::

        ds = loopml.add_dataset("data/iris.csv", name="iris", message="first cut")
        ds.uri    # 'data:/iris@1'
    """
    if message is not None:
        _validate.text(message, "message", empty=True)
    path = _validate.path(path, "dataset path")
    name = _default_name(path) if name is None else name
    check_name(name, "dataset name")
    ctx = current()
    settings = ctx.settings
    _check_not_project(path, settings.project_root)
    source = _source_path(path, settings.project_root)
    pinned = not Path(source).is_absolute()
    if pinned:  # refuse a place that would make the lock unsafe, before storing anything
        check_pin(settings.lock_path, name, source)
        check_ignorable(settings.project_root, source)
    artifacts = ctx.artifacts
    stored_at = local_path(artifacts.uri)
    if stored_at is not None and Path(stored_at).is_relative_to(settings.state_dir):
        ensure_state_dir(settings.project_root)  # git-ignored before anything is stored

    for attempt in range(1, _ATTEMPTS + 1):
        kind, files = walk(path)
        table_profile = profile_files(files) if profile else None
        with open_stat_cache(settings.state_dir) as cache:
            known = cache.known(files)
            profiled = [f.abs for f in files if tabular_format(f.rel)] if table_profile else []
            watched = set(profiled[:MAX_PROFILED])
            try:
                with artifacts.batch():  # every object on the disk before the version is recorded
                    entries, hashed = store_files(artifacts, files, known, progress, watched)
                    manifest = Manifest.build(kind, entries)
                    manifest_digest = store_manifest(manifest, artifacts)
            except _Changed as exc:
                if attempt == _ATTEMPTS:
                    raise Conflict(
                        f"{exc.path} changed while it was being added (its size, modification "
                        f"or change time differ before and after it was read), {_ATTEMPTS} "
                        "times in a row, so its profile and its stored bytes could disagree. "
                        "Nothing was recorded. Add the data again once nothing is writing to "
                        "it, or add a copy of it."
                    ) from None
                cache.record(exc.hashed)
                time.sleep(0.05 * attempt)
                continue
            cache.record(hashed)
        break
    producer = active_runs().current()
    if producer is not None and producer.tracking_uri != ctx.metadata.uri:
        producer = None  # a run of another store: there is no edge to record

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
    if not created and message is not None and version.message != message:
        raise Conflict(
            f"{path} holds the same bytes as {version.uri}, so no new version was made, and "
            f"{version.uri} already has the message {version.message!r}: {message!r} was not "
            "recorded and nothing changed. Change the data to make a new version, or add it "
            "again without a message."
        )
    version.is_new = created
    _bound(ctx, version)

    if pinned:  # the lock pins working copies inside the project only
        pin(settings.lock_path, LockEntry(name, version.version, source, kind, manifest_digest))
        version.gitignored = ignore_path(settings.project_root, source)
    return version


def _default_name(path: Path) -> str:
    """The name a dataset gets from its path: a file's name without its extension
    (``iris.csv`` → ``iris``), a folder's name; InvalidInput when that is no valid name."""
    absolute = Path(os.path.abspath(path))
    candidate = absolute.stem if absolute.is_file() else absolute.name
    try:
        return check_name(candidate, "dataset name")
    except InvalidInput:
        raise InvalidInput(
            f"cannot name the dataset after {str(path)!r}: {candidate!r} is not a valid "
            "dataset name (letters, digits, '.', '_' or '-', starting with a letter or "
            "digit). Give one with --name NAME (name= in Python)."
        ) from None


#: How many times ``add_dataset`` reads a folder whose files change while it reads them.
_ATTEMPTS = 3


class _Changed(Exception):
    """A file changed while it was being stored or profiled."""

    def __init__(self, path: str, hashed: list[tuple[FileStat, str]]) -> None:
        super().__init__(path)
        self.path = path
        self.hashed = hashed


def store_files(
    artifacts: ArtifactStore,
    files: Sequence[FileStat],
    known: dict[str, str],
    progress: bool | None = None,
    watched: Collection[str] = (),
) -> tuple[list[ManifestEntry], list[tuple[FileStat, str]]]:
    """Store every file (skipping the read of those with a known hash that is stored).

    Returns the manifest entries and, for the stat cache, each file read with
    its hash. Every file that was read, and every one in ``watched`` (absolute
    paths, e.g. the files that were profiled), must still have the stat it had
    when it was listed: otherwise the bytes (or the profile) may be of another
    state than the listing, and ``_Changed`` names the first such file.
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
    fresh, changed = [], None
    for _, f, d in results:
        read = known.get(f.abs) != d
        if read or f.abs in watched:
            if _unchanged(f):
                if read:
                    fresh.append((f, d))
            elif changed is None:
                changed = f.abs
    if changed is not None:
        raise _Changed(changed, fresh)
    return entries, fresh


def _unchanged(f: FileStat) -> bool:
    """Whether ``f`` still has the stat it had when it was listed."""
    try:
        st = os.stat(f.abs)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) == (
        f.size,
        f.mtime_ns,
        f.inode,
        f.ctime_ns,
    )


def get_dataset(uri: str) -> DatasetVersion:
    """The version named by ``uri``: ``data:/iris@3`` (or ``iris@3``) is version 3,
    ``data:/iris@latest`` the newest, and ``data:/iris`` (or ``iris``) the version
    ``loopml.lock`` pins, or the newest with a :class:`DatasetNotice` when the lock
    pins none (see :func:`resolve_dataset`).

    Raises :class:`~loopml.errors.NotFound` for an unknown dataset or version, or a
    pinned version this database does not hold or whose manifest is not in the local
    store (``loopml data pull`` fetches it), and :class:`~loopml.errors.InvalidInput`
    for a malformed URI or lock file.
    """
    return resolve(current(), uri).version


def resolve_dataset(uri: str, *, notify: bool = True) -> Resolution:
    """How ``uri`` resolves, by the one rule every reader of data follows: the version
    used, the version ``loopml.lock`` pins, the newest, and the notice (also given as a
    :class:`DatasetNotice` warning unless ``notify=False``) when they may surprise.

    Example::

        r = loopml.data.resolve_dataset("data:/iris")
        r.uri, r.pinned, r.newest      # ('data:/iris@2', 2, 3)
    """
    return resolve(current(), uri, notify=notify)


def list_datasets() -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    ctx = current()
    return [_bound(ctx, v) for v in _repository.latest_versions(ctx.metadata)]


def dataset_versions(name: str) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first."""
    check_name(name, "dataset name")
    ctx = current()
    return [_bound(ctx, v) for v in _repository.versions_of(ctx.metadata, name)]


def remove_dataset(name: str) -> list[str]:
    """Remove dataset ``name``: unpin it from ``loopml.lock`` and mark it removed, so
    listings and references no longer see it; returns the ``data:/`` URIs of its versions.

    Nothing is deleted yet: the versions and their objects stay until ``loopml gc
    --force`` purges them, and adding data under the same name before that brings the
    dataset back, its new versions numbered after the old ones (after a purge the
    numbering starts again at 1). The working copy is left as it is.
    :class:`~loopml.errors.NotFound` when there is no dataset ``name``.

    Example::

        loopml.data.remove_dataset("iris")   # ['data:/iris@1', 'data:/iris@2']
    """
    check_name(name, "dataset name")
    ctx = current()
    numbers = _repository.soft_delete(ctx.metadata, name)

    def unpin(entries: dict[str, LockEntry]) -> None:
        entries.pop(name, None)

    lock_path = ctx.settings.lock_path
    if lock_path.exists():
        update_lock(lock_path, unpin)
    return [str(DataURI(name, n)) for n in numbers]


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
    real, real_root = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    absolute = Path(os.path.abspath(path))
    if absolute in (root, *root.parents) or real in (real_root, *real_root.parents):
        raise InvalidInput(
            f"cannot add {path}: it is the project folder {root} (or holds it). Expected a "
            "data file or a data folder inside the project, e.g. 'data/'."
        )
