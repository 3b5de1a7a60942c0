"""``status`` and ``checkout``: working copies against the manifests pinned in ``loopml.lock``.

Both compare a working copy with a manifest the same way: list the files
with ``os.scandir``, look each up in the stat cache (one query per dataset),
and read a file only when its stat changed and its size still matches. With
nothing changed that is one ``stat()`` per file and no reads.

``checkout`` copies the objects of every file that differs next to its
destination first (each verified against its hash), and only when all of
them are there renames them into place and removes files the manifest does
not list, so a missing or corrupt object leaves the working copy as it was.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loopml import _validate
from loopml.context import current
from loopml.data._lock import LockEntry, check_pin, lock_path_problem, pin, read_lock
from loopml.data._manifest import Manifest, load_manifest
from loopml.data._paths import is_leftover, overlaps
from loopml.data._records import CheckoutResult, CopyState, DatasetStatus, ManifestEntry
from loopml.data._resolve import pinned_entry
from loopml.data._walk import SKIP_DIRS, FileStat
from loopml.errors import InvalidInput, NotFound
from loopml.store.artifacts import ArtifactStore, hash_file
from loopml.store.statcache import Row, StatCache, open_stat_cache
from loopml.uri import DataURI, parse_data_uri

__all__ = ["checkout", "status"]


@dataclass
class _Comparison:
    """A working copy against a manifest."""

    missing: bool = False
    added: list[FileStat] = field(default_factory=list)
    modified: list[ManifestEntry] = field(default_factory=list)
    deleted: list[ManifestEntry] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # temporaries of a killed checkout
    same: int = 0


def _compare(dest: Path, manifest: Manifest, cache: StatCache) -> _Comparison:
    result = _Comparison()
    if manifest.kind == "file":
        entry = manifest.entries[0]
        try:
            st = os.stat(dest)
        except FileNotFoundError:
            result.missing = True
            result.deleted.append(entry)
            return result
        if not os.path.isfile(dest):
            raise InvalidInput(
                f"{dest} is a folder, but the dataset is a single file ({entry.path}). "
                "Move the folder away, or check the dataset out elsewhere with --to."
            )
        f = FileStat(entry.path, str(dest), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        _Matcher({entry.path: entry}, cache.get_many([f.abs]), result).match(f)
        return result
    if dest.exists() and not dest.is_dir():
        raise InvalidInput(
            f"{dest} is a file, but the dataset is a folder. "
            "Move the file away, or check the dataset out elsewhere with --to."
        )
    if not dest.is_dir():
        result.missing = True
        result.deleted.extend(manifest.entries)
        return result
    folder = str(dest)
    matcher = _Matcher({e.path: e for e in manifest.entries}, cache.under(folder), result)
    matcher.scan(folder, "")
    if matcher.to_hash:
        cache.record(matcher.hash_pending())
    if len(matcher.seen) < len(matcher.expected):
        result.deleted.extend(e for p, e in matcher.expected.items() if p not in matcher.seen)
    return result


class _Matcher:
    """Walks a working copy once, sorting each file by the stat cache and the manifest."""

    def __init__(
        self, expected: dict[str, ManifestEntry], cached: dict[str, Row], result: _Comparison
    ) -> None:
        self.expected = expected
        self.cached = cached
        self.result = result
        self.seen: set[str] = set()
        self.to_hash: list[tuple[FileStat, ManifestEntry]] = []

    def match(self, f: FileStat) -> None:
        e = self.expected.get(f.rel)
        if e is None:
            name = os.path.basename(f.abs)
            if name[0] == "." and is_leftover(name):
                self.result.leftovers.append(f.abs)
            else:
                self.result.added.append(f)
            return
        self.seen.add(f.rel)
        hit = self.cached.get(f.abs)
        if (
            hit is not None
            and hit[1] == f.size
            and hit[2] == f.mtime_ns
            and hit[3] == f.inode
            and hit[5] == f.ctime_ns
        ):
            if hit[4] == e.digest:
                self.result.same += 1
            else:
                self.result.modified.append(e)
        elif f.size != e.size:
            self.result.modified.append(e)
        else:
            self.to_hash.append((f, e))

    def scan(self, folder: str, prefix: str) -> None:
        """The hot loop of ``status``: one ``stat()`` per file, no object for a clean one."""
        expected, cached, result, seen = self.expected, self.cached, self.result, self.seen
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        self.scan(entry.path, f"{prefix}{entry.name}/")
                    continue
                try:
                    if not entry.is_file():  # links to folders or to nothing: not data
                        continue
                    st = entry.stat()
                except OSError:  # removed while listing, or a loop of links: not data
                    continue
                rel = prefix + entry.name
                e = expected.get(rel)
                if e is not None:
                    hit = cached.get(entry.path)
                    if (
                        hit is not None
                        and hit[4] == e.digest
                        and hit[1] == st.st_size
                        and hit[2] == st.st_mtime_ns
                        and hit[3] == st.st_ino
                        and hit[5] == st.st_ctime_ns
                    ):
                        seen.add(rel)
                        result.same += 1
                        continue
                self.match(
                    FileStat(rel, entry.path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
                )

    def hash_pending(self) -> list[tuple[FileStat, str]]:
        """Hash the files whose stat changed but whose size did not."""
        hashed = []
        for f, e in self.to_hash:
            digest, _ = hash_file(f.abs)
            hashed.append((f, digest))
            if digest == e.digest:
                self.result.same += 1
            else:
                self.result.modified.append(e)
        return hashed


def status(names: Sequence[str] | None = None) -> list[DatasetStatus]:
    """Each locked dataset's working copy against its locked version.

    With nothing changed this costs one ``stat()`` per file (the stat cache
    knows every hash). Example::

        for s in loopml.data.status():
            print(s.name, s.state, s.modified)
    """
    ctx = current()
    ctx.check_project()
    settings = ctx.settings
    lock = _select(read_lock(settings.lock_path), _validate.texts(names, "names"))
    store = ctx.artifacts
    out = []
    with open_stat_cache(settings.state_dir, create=False) as cache:
        for entry in lock:
            manifest = _manifest(entry.manifest, str(DataURI(entry.name, entry.version)), store)
            cmp = _compare(entry.local_path(settings.project_root), manifest, cache)
            changed = cmp.added or cmp.modified or cmp.deleted
            state = (
                CopyState.MISSING
                if cmp.missing
                else CopyState.MODIFIED
                if changed
                else CopyState.UNCHANGED
            )
            out.append(
                DatasetStatus(
                    name=entry.name,
                    version=entry.version,
                    path=entry.path,
                    state=state,
                    added=sorted(f.rel for f in cmp.added),
                    modified=sorted(e.path for e in cmp.modified),
                    deleted=sorted(e.path for e in cmp.deleted),
                )
            )
    return out


def _select(lock: dict[str, LockEntry], names: Sequence[str] | None) -> list[LockEntry]:
    if not names:
        return [lock[n] for n in sorted(lock)]
    unknown = [n for n in names if n not in lock]
    if unknown:
        pinned = ", ".join(sorted(lock)) or "none"
        raise NotFound(
            f"dataset(s) {', '.join(unknown)} are not in loopml.lock (pinned: {pinned}). "
            "Add them with 'loopml data add', or check one out with NAME@VERSION."
        )
    return [lock[n] for n in names]


def _manifest(digest: str, label: str, store: ArtifactStore, remote: str | None = None) -> Manifest:
    try:
        return load_manifest(digest, store)
    except NotFound:
        pass
    _pull_missing([digest], label, remote)
    return load_manifest(digest, store)


def _pull_missing(digests: list[str], label: str, remote: str | None) -> None:
    """Fetch objects from the configured remote, or explain that they are missing."""
    url = remote or current().settings.data.remote
    if not url:
        raise NotFound(
            f"{len(digests)} object(s) of {label} are not in the local store (e.g. {digests[0]}), "
            "and no data remote is configured to fetch them from. Set [data] remote in "
            "loopml.toml (or pass --remote) and run 'loopml data pull'."
        )
    from loopml.data._remote import fetch_objects, open_remote

    fetch_objects(digests, open_remote(url))


def checkout(
    name_or_uri: str | None = None,
    to: str | os.PathLike[str] | None = None,
    *,
    remote: str | None = None,
) -> list[CheckoutResult]:
    """Make working copies hold exactly the bytes of dataset versions.

    - ``checkout()``: every dataset in ``loopml.lock``, at its locked path. This
      needs only the lock file and the objects (pulled from the data remote if
      they are missing), not the metadata database, so
      ``git checkout <old commit> && loopml data checkout`` restores old data.
    - ``checkout("iris@2")``: that version at the dataset's locked path (the lock
      is updated), or at ``to`` (the lock is left alone).

    Only files that differ are written; files the manifest does not list are
    removed, but only inside the dataset's own folder. Paths from the lock and
    the manifests are checked first (relative, no ``..``, inside the project,
    not through a link that leads elsewhere, no two datasets in one place), so
    a bad one is refused with :class:`InvalidInput` or
    :class:`~loopml.errors.CorruptObject` before any file is touched. Temporary
    files a killed checkout left in a working copy are removed.
    """
    ctx = current()
    settings = ctx.settings
    root = settings.project_root
    lock = read_lock(settings.lock_path)
    if name_or_uri is None:
        if to is not None:
            raise InvalidInput(
                "--to needs a dataset: expected 'checkout NAME[@VERSION] --to DIR', "
                "since every locked dataset has its own path."
            )
        if not lock:
            raise NotFound(
                f"{settings.lock_path.name} pins no datasets, so there is nothing to check out. "
                "Add one with 'loopml data add PATH --name NAME'."
            )
        jobs = [(e, e.local_path(root), False) for e in (lock[n] for n in sorted(lock))]
        _check_in_project([(e, dest) for e, dest, _ in jobs], root, settings.lock_path)
    else:
        jobs = [_job(name_or_uri, to, lock, root, settings.lock_path)]
    store = ctx.artifacts
    with _exclusive(settings.state_dir), open_stat_cache(settings.state_dir) as cache:
        manifests = [
            _manifest(e.manifest, str(DataURI(e.name, e.version)), store, remote)
            for e, _, _ in jobs
        ]
        plans = [
            _plan(entry, dest, manifest, cache)
            for (entry, dest, _), manifest in zip(jobs, manifests, strict=True)
        ]
        results = []
        for (entry, _, relock), plan in zip(jobs, plans, strict=True):
            results.append(_apply(plan, cache, store, remote))
            if relock:
                pin(settings.lock_path, entry)
    return results


def _job(
    name_or_uri: str,
    to: str | os.PathLike[str] | None,
    lock: dict[str, LockEntry],
    root: Path,
    lock_path: Path,
) -> tuple[LockEntry, Path, bool]:
    parsed = parse_data_uri(name_or_uri)
    pinned = lock.get(parsed.name)
    if pinned is not None and pinned_entry(parsed, lock) is pinned:  # bare: the pinned one
        entry = pinned
    else:
        from loopml.data._datasets import get_dataset

        v = get_dataset(name_or_uri)
        where = pinned.path if pinned is not None else (v.source_path or v.name)
        entry = LockEntry(v.name, v.version, where, v.kind, v.manifest_digest)
    if to is None:
        why = lock_path_problem(entry.path)
        if why is not None:
            raise InvalidInput(
                f"{entry.name}@{entry.version} was added from {entry.path}, which cannot be "
                f"its place in the project ({why}). Expected a destination: check it out with "
                "--to DIR (or to=...) instead."
            )
        relock = entry != pinned
        if relock:
            check_pin(lock_path, entry.name, entry.path)
        dest = entry.local_path(root)
        _check_in_project([(entry, dest)], root, lock_path)
        return entry, dest, relock
    dest = Path(os.path.abspath(to))
    real, real_root = os.path.realpath(dest), os.path.realpath(root)
    if real == real_root or real_root.startswith(real.rstrip(os.sep) + os.sep):
        raise InvalidInput(
            f"cannot check {entry.name}@{entry.version} out to {to}: it is the project folder "
            f"{root} (or holds it), and a checkout removes every file the version does not "
            "list. Expected a folder of its own, e.g. --to restored/."
        )
    if entry.kind == "file" and (dest.is_dir() or os.fspath(to).endswith("/")):
        dest = dest / Path(entry.path).name
    return entry, dest, False


def _check_in_project(jobs: list[tuple[LockEntry, Path]], root: Path, lock_path: Path) -> None:
    """Refuse working copies that resolve (through links) outside the project, onto the
    project folder itself, into version control or loopml's state, or onto each other."""
    real_root = os.path.realpath(root)
    seen: dict[str, str] = {}
    for entry, dest in jobs:
        real = os.path.realpath(dest)
        rel = os.path.relpath(real, real_root)
        if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise InvalidInput(
                f"{lock_path}: the path {entry.path!r} of dataset {entry.name!r} resolves to "
                f"{real}, outside the project {real_root} (through a symbolic link): a checkout "
                "only writes inside the project. Replace the link with a folder, or check the "
                f"dataset out elsewhere with 'loopml data checkout {entry.name} --to DIR'."
            )
        rel = rel.replace(os.sep, "/")
        why = lock_path_problem(rel)
        if why is not None:
            raise InvalidInput(
                f"{lock_path}: the path {entry.path!r} of dataset {entry.name!r} resolves to "
                f"{real} (through a symbolic link), but {why}. Replace the link with a folder."
            )
        seen[rel] = entry.name
    clash = overlaps(sorted(seen)) if len(seen) > 1 else None
    if clash is not None or len(seen) < len(jobs):
        raise InvalidInput(
            f"{lock_path}: the paths of datasets {', '.join(sorted(e.name for e, _ in jobs))} "
            "overlap once symbolic links are followed: checking out one would remove or "
            "overwrite the files of another. Expected separate places; replace the links with "
            "folders."
        )


@dataclass
class _Plan:
    """What a checkout of one version will do, decided before anything is written."""

    entry: LockEntry
    dest: Path
    manifest: Manifest
    cmp: _Comparison
    targets: list[tuple[Path, ManifestEntry]]


def _plan(entry: LockEntry, dest: Path, manifest: Manifest, cache: StatCache) -> _Plan:
    cmp = _compare(dest, manifest, cache)
    todo = [*cmp.modified, *cmp.deleted]
    if manifest.kind == "file":
        return _Plan(entry, dest, manifest, cmp, [(dest, e) for e in todo])
    targets = [(dest / e.path, e) for e in todo]
    inside = os.path.realpath(dest)
    checked: set[str] = set()
    for final, e in targets:
        parent = os.path.dirname(final)
        if parent in checked:
            continue
        real = os.path.realpath(parent)
        if real != inside and not real.startswith(inside + os.sep):
            raise InvalidInput(
                f"cannot restore {e.path} of {entry.name}@{entry.version}: its folder "
                f"{parent} leads (through a symbolic link) to {real}, outside {dest}, and a "
                "checkout never writes through a link. Remove the link (or move it away) "
                "and check out again."
            )
        checked.add(parent)
    return _Plan(entry, dest, manifest, cmp, targets)


def _apply(
    plan: _Plan, cache: StatCache, store: ArtifactStore, remote: str | None
) -> CheckoutResult:
    entry, dest, cmp = plan.entry, plan.dest, plan.cmp
    label = str(DataURI(entry.name, entry.version))
    leftovers = cmp.leftovers if plan.manifest.kind == "folder" else _leftovers_beside(dest)
    for leftover in leftovers:  # of a killed checkout (checkouts run one at a time)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)
    result = CheckoutResult(entry.name, entry.version, str(dest), unchanged=cmp.same)
    if not plan.targets and not cmp.added:
        return result
    needed = sorted({e.digest for _, e in plan.targets})
    absent = sorted(set(needed) - store.existing(needed))
    if absent:
        _pull_missing(absent, label, remote)

    staged: list[tuple[Path, Path, ManifestEntry]] = []
    try:
        for final, e in plan.targets:
            tmp = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.checkout"
            staged.append((tmp, final, e))
            store.get_file(e.digest, tmp)
    except BaseException:
        for tmp, _, _ in staged:
            with contextlib.suppress(OSError):  # e.g. its folder cannot be written
                tmp.unlink(missing_ok=True)
        raise
    for f in cmp.added:
        os.unlink(f.abs)
        result.removed.append(f.rel)
    _prune_empty(dest, {os.path.dirname(f.abs) for f in cmp.added})
    fresh = []
    for tmp, final, e in staged:
        os.replace(tmp, final)
        st = os.stat(final)
        fresh.append(
            (
                FileStat(e.path, str(final), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns),
                e.digest,
            )
        )
        result.restored.append(e.path)
    cache.record(fresh)
    result.restored.sort()
    result.removed.sort()
    return result


def _leftovers_beside(dest: Path) -> list[str]:
    """The temporary files a killed checkout of the single file ``dest`` left beside it."""
    prefixes = (f".{dest.name}.", f"..{dest.name}.")
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return []
    return [str(dest.parent / n) for n in names if n.startswith(prefixes) and is_leftover(n)]


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """One checkout at a time in a project (a file lock in ``.loopml/``), so that one may
    remove the temporary files another left when it was killed. Where the lock cannot be
    taken (a read-only project), the checkout goes ahead unguarded."""
    from filelock import FileLock

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(state_dir / "checkout.flock")
        lock.acquire()
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _prune_empty(root: Path, folders: set[str]) -> None:
    """Remove folders left empty by removed files, up to (not including) ``root``."""
    top = str(root)
    for folder in sorted(folders, key=len, reverse=True):
        while folder.startswith(top + os.sep) and folder != top:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
            if os.path.isdir(folder):
                break
            folder = os.path.dirname(folder)
