"""The content-addressed artifact store.

Every object is stored once under its BLAKE3 hash (64 hex characters)::

    <root>/objects/ab/cdef0123...      the object's bytes (read-only)
    <root>/tmp/                        writes in progress
    <root>/verified.db                 the stat of each large object when it was last hashed
    <root>/predictions/...             path-addressed files (the prediction log), never gc'd

Besides objects, a store keeps **path-addressed files** under reserved-free
prefixes such as ``predictions/`` (:meth:`ArtifactStore.write_path`,
:meth:`~ArtifactStore.list_paths`, :meth:`~ArtifactStore.read_path`,
:meth:`~ArtifactStore.remove_tree`): written whole (temporary file + rename, or
one atomic put), listed without the temporaries of writes in progress, and never
seen by the content-addressed gc, which walks ``objects/`` only.

A write goes to a temporary file first and is renamed into place, so a
process killed in the middle of a write never leaves a partial object where
a reader could see it; the next write of the same bytes simply succeeds.
Every read checks the hash and refuses a tampered or truncated object with
:class:`~loopml.errors.CorruptObject`.

**Objects are durable before anyone records them.** A write returns once the
object, its folder (and a new ``objects/xx`` folder) are flushed to the disk,
so a power cut never leaves a record pointing at bytes that never reached
it. Inside ``with store.batch():`` the flushes of every object written in the
block happen together at its end, in parallel (one flush for a folder of
thousands of files instead of one per file); callers record the objects
after the block.

**A corrupt object is repaired, never propagated.** A write that finds its
object already stored makes sure it is sound before re-using it: the size
always, and the hash too unless the object is large and ``verified.db``
vouches that its stat (size, mtime, ctime, inode) is what it was when it was
last hashed. A truncated or altered object is replaced by the bytes being
written.

Adding a small file reads it once into a buffer, hashes the buffer and
writes it. A large file is copied in the kernel (``copy_file_range``, which
shares the blocks where the filesystem can, as does ``FICLONE`` tried first)
slice by slice on a helper thread, while this thread hashes each copied
slice *of the copy* through ``mmap`` with BLAKE3's threads: the stored bytes
are the ones hashed, and the copy is flushed while it is hashed.

The backend is chosen by the URL's scheme (:func:`open_artifact_store`): a
folder or ``file://`` URL gives a :class:`LocalArtifactStore`, any other
fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``) an
:class:`FsspecArtifactStore`, with fsspec imported only then; a context can
register a backend of its own for a scheme.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import re
import stat
import sys
import threading
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import blake3

from loopml._validate import shown
from loopml.errors import (
    CorruptObject,
    InvalidInput,
    LoopmlError,
    MissingExtra,
    NotFound,
    StoreError,
    Unavailable,
)
from loopml.uri import local_path, redact, scrub

__all__ = [
    "CHUNK",
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "ObjectInfo",
    "check_relative_path",
    "hash_bytes",
    "hash_file",
    "open_artifact_store",
]

CHUNK = 8 << 20
_COPY_CHUNK = 1 << 20  # small enough to stay in cache between the write and the hash
_COPY_BUFFERS = 6
_HEX = frozenset("0123456789abcdef")


def _is_hex(name: str, length: int) -> bool:
    """Whether ``name`` is ``length`` lowercase hexadecimal characters (part of a hash)."""
    return len(name) == length and set(name) <= _HEX


#: Files at least this large are copied in the kernel and hashed through mmap.
_LARGE = 1 << 20
#: Objects at least this large are vouched for by ``verified.db``; smaller ones cost less
#: to hash again than to look up.
_VOUCHED = 64 << 10
#: The kernel copy and the mmap hashing go by slices of this size.
_SLICE = 64 << 20
#: A copy at least this large is flushed while it is hashed, not with the batch.
_FLUSH_AT_ONCE = 64 << 20
#: An object older than this (seconds) reached the disk long ago: re-using it needs no flush.
_SETTLED = 60.0
_DURABLE_KEPT = 100_000
_SYNC_THREADS = 32
_data_sync = getattr(os, "fdatasync", os.fsync)
_KERNEL_COPY = hasattr(os, "copy_file_range")  # Linux, FreeBSD; elsewhere through a buffer


@dataclass(frozen=True)
class ObjectInfo:
    """A stored object: its hash, its size in bytes, and whether this call stored it."""

    digest: str
    size: int
    created: bool = False


def hash_bytes(data: bytes | memoryview) -> str:
    """The BLAKE3 hex digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def hash_file(
    path: str | os.PathLike[str], progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """The BLAKE3 hex digest and size of the file at ``path``, read in large chunks."""
    with open(path, "rb", buffering=0) as fh:
        return _hash_read(fh, progress)


def _hash_read(fh: IO[bytes], progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    hasher = blake3.blake3()
    size = 0
    # one buffer of the file's size (plus a byte to see the end) when it is small
    buf = bytearray(min(CHUNK, os.fstat(fh.fileno()).st_size + 1))
    view = memoryview(buf)
    while n := fh.readinto(buf):  # type: ignore[attr-defined]
        hasher.update(view[:n])
        size += n
        if progress is not None:
            progress(n)
    return hasher.hexdigest(), size


class _NotRegular(Exception):
    """Something other than a regular file (a link, folder, FIFO, device) stands where an
    object should be: planted, never written by the store."""


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def _open_object(path: str | os.PathLike[str]) -> IO[bytes]:
    """The regular file at ``path`` opened for reading, never through a link, never waiting
    on a FIFO: FileNotFoundError when nothing is there, :class:`_NotRegular` when something
    else is (a read of a link to ``/dev/zero`` would never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.EISDIR, errno.ENXIO):
            raise _NotRegular(os.fspath(path)) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _NotRegular(os.fspath(path))
    return open(fd, "rb", buffering=0)


def _is_object_file(path: str | os.PathLike[str]) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _remove_entry(path: str | os.PathLike[str]) -> None:
    """Remove the file or link at ``path``; nothing there is fine, and a folder (planted:
    the store makes none of an object's name) is left alone."""
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        os.unlink(path)


def _hash_stored(
    path: str | os.PathLike[str], progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """The hash and size of a file nobody else writes (a stored object, a copy of ours):
    through mmap with BLAKE3's threads when it is large. Never through a link
    (:class:`_NotRegular`)."""
    with _open_object(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < _LARGE:
            return _hash_read(fh, progress)
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        _hash_mapped(hasher, fh.fileno(), 0, size, progress)
        return hasher.hexdigest(), size


def _hash_mapped(
    hasher: Any, fd: int, start: int, end: int, progress: Callable[[int], None] | None = None
) -> int:
    """Feed bytes ``start:end`` of the file ``fd`` to ``hasher`` through mmap, a slice at a
    time; returns ``end``."""
    pos = start
    while pos < end:
        stop = min(end, pos + _SLICE)
        base = pos - pos % mmap.ALLOCATIONGRANULARITY
        mm = mmap.mmap(fd, stop - base, offset=base, access=mmap.ACCESS_READ)
        with mm, memoryview(mm) as view:
            hasher.update(view[pos - base :])
        if progress is not None:
            progress(stop - pos)
        pos = stop
    return end


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a BLAKE3 hex digest, else raise :class:`InvalidInput`."""
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidInput(
            f"invalid object hash {shown(digest)}: expected 64 lowercase hexadecimal characters."
        )
    return digest


class ArtifactStore(ABC):
    """Objects keyed by the BLAKE3 hash of their bytes."""

    uri: str

    @abstractmethod
    def put_file(
        self,
        path: str | os.PathLike[str],
        digest: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        """Store the file at ``path``; ``digest``, when the caller knows it, skips reading
        the file if a sound copy of the object is already stored. ``progress(n)`` is called
        as bytes are copied."""

    @abstractmethod
    def put_bytes(self, data: bytes) -> ObjectInfo:
        """Store ``data``."""

    @abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether the object is stored (its bytes are not checked)."""

    @abstractmethod
    def get_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified against its hash."""

    @abstractmethod
    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        """Write the object to ``dest`` atomically, verified against its hash."""

    @abstractmethod
    def size(self, digest: str) -> int:
        """The object's size in bytes."""

    @abstractmethod
    def delete(self, digest: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    @abstractmethod
    def iter_objects(self) -> Iterator[tuple[str, int, float]]:
        """Every stored object as ``(digest, size, mtime)``."""

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Objects written in the block are durable when it ends (not each on its own);
        record them after it. Stores whose writes are durable at once do nothing."""
        yield

    def existing(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` that is stored."""
        return {d for d in digests if self.exists(d)}

    def verify(self, digest: str) -> bool:
        """Whether the object's bytes still match its hash."""
        return self.check(digest) is None

    def local_file(self, digest: str) -> Path | None:
        """The object's file when this store keeps it on this machine (NotFound when it is
        missing), else None: read it with :meth:`get_file` then."""
        return None

    def check(self, digest: str) -> str | None:
        """None when the object is stored and intact, else ``"missing"`` or ``"corrupt"``."""
        if not self.exists(digest):
            return "missing"
        try:
            self.get_bytes(digest)
        except NotFound:
            return "missing"
        except CorruptObject:
            return "corrupt"
        return None

    def delete_if_stale(self, digest: str, cutoff: float) -> bool:
        """Remove the object unless it was stored or re-used after ``cutoff`` (seconds since
        the epoch); True when it was removed. Stores that cannot tell remove it."""
        self.delete(digest)
        return True

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of writes killed more than ``older_than`` seconds ago."""
        return 0

    # -- path-addressed files (outside objects/, never gc'd) ------------------------------

    def write_path(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` (relative to the store's root, e.g.
        ``predictions/deployment=churn/hour=2026113017/w-1.parquet``) atomically: a
        reader sees the whole file or none."""
        raise _no_paths(self)

    def list_paths(self, prefix: str) -> list[str]:
        """The files under ``prefix`` (relative paths, sorted), without the temporary
        files of writes in progress (names starting with a dot)."""
        raise _no_paths(self)

    def read_path(self, path: str) -> bytes:
        """The bytes of the file at ``path`` (NotFound when it is missing)."""
        raise _no_paths(self)

    def remove_tree(self, prefix: str) -> bool:
        """Remove the folder ``prefix`` and everything under it; True when it existed."""
        raise _no_paths(self)

    def path_file(self, path: str) -> Path | None:
        """The local file behind ``path`` when the store keeps it on this machine, else
        None (read it with :meth:`read_path` then)."""
        return None


#: The first parts of a relative path that belong to the content-addressed store.
_RESERVED = frozenset({"objects", "tmp", "verified.db"})


def check_relative_path(path: str) -> str:
    """``path`` if it is a relative, forward-slash path of safe parts outside the
    content-addressed folders, else :class:`InvalidInput`: no empty, ``.`` or ``..``
    part, no backslash, NUL or leading slash, not under ``objects/`` or ``tmp/``."""
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"invalid store path {shown(path)}: expected a relative path.")
    parts = path.split("/")
    bad = (
        path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
        or parts[0] in _RESERVED
    )
    if bad:
        raise InvalidInput(
            f"invalid store path {shown(path)}: expected a relative path of plain names "
            "separated by '/' (no '..', no backslash), outside objects/ and tmp/."
        )
    return path


def _no_paths(store: ArtifactStore) -> StoreError:
    return StoreError(
        f"the artifact store {redact(store.uri)} keeps no path-addressed files (its backend "
        "has no write_path): use a local folder or an fsspec URL as artifact_uri."
    )


def _planted(uri: str, digest: str) -> CorruptObject:
    return CorruptObject(
        f"object {digest} in {redact(uri)} is not a regular file (a link, folder or device "
        "stands in its place), so it is not read. Repair it from a remote that has it with "
        "'loopml fsck --remote URL --repair', or add the same data again (the write "
        "replaces it)."
    )


def _corrupt(uri: str, digest: str, got: str, size: int) -> CorruptObject:
    return CorruptObject(
        f"object {digest} in {redact(uri)} is corrupt: its {size} bytes hash to {got}. "
        "It was changed or truncated after it was stored. Repair it from a remote that has "
        "it with 'loopml fsck --remote URL --repair', or add the same data again (the "
        "write replaces the corrupt copy)."
    )


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside loopml."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _linked(uri: str, path: str, link: str | None, verb: str) -> CorruptObject:
    where = f"{link!r} is a link" if link is not None else "a link on it leads out of the store"
    return CorruptObject(
        f"cannot {verb} {path!r} in the artifact store {redact(uri)}: {where}, and the "
        "store never goes through a link among its path-addressed files (one could lead "
        "out of it). Remove the link (it was not made by loopml), then try again."
    )


def _cannot_write(where: str | os.PathLike[str], exc: OSError, what: str) -> StoreError:
    reason = exc.strerror or type(exc).__name__
    return StoreError(
        f"cannot write {what} {os.fspath(where)}: {reason}. Free some space or fix the "
        "folder's permissions, or point loopml elsewhere (artifact_uri in loopml.toml)."
    )


def _unwritable(dest: str | os.PathLike[str], exc: OSError) -> InvalidInput:
    reason = exc.strerror or type(exc).__name__
    return InvalidInput(
        f"cannot write {os.fspath(dest)}: {reason}. Expected a destination this process "
        "can write: choose another one, or fix the folder's permissions."
    )


# -- durability and the verified record --------------------------------------------------


@dataclass
class _Flush:
    """What must reach the disk before the caller records the objects: files (path →
    digest) and folders; then the large objects to mark verified (digest, path)."""

    files: dict[str, str] = field(default_factory=dict)
    folders: dict[str, None] = field(default_factory=dict)
    verified: list[tuple[str, str]] = field(default_factory=list)


def _sync_file(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # taken by gc meanwhile: nothing of ours to flush
        return
    try:
        _data_sync(fd)
    finally:
        os.close(fd)


def _sync_folder(path: str) -> None:
    if os.name == "nt":  # pragma: no cover - folders cannot be opened there
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EROFS):  # filesystems that cannot
            raise
    finally:
        os.close(fd)


def _sync_all(files: Iterable[str], folders: Iterable[str]) -> None:
    """Flush the files' bytes, then the folders' entries, in parallel when there are many
    (the filesystem's journal then commits them together)."""
    files = list(files)
    if len(files) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(_SYNC_THREADS, len(files))) as pool:
            list(pool.map(_sync_file, files))
    else:
        for path in files:
            _sync_file(path)
    for path in folders:
        _sync_folder(path)


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class _VerifiedRecord:
    """``digest → (size, mtime_ns, ctime_ns, inode)`` of each large object when it was last
    hashed (or written): an object whose stat still matches is unchanged since, so a write
    that finds it need not hash it again. Only a record: unreadable, it is started afresh."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS verified (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, "
        "mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL) "
        "WITHOUT ROWID"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: Any = None
        self._pid = 0
        self._lock = threading.Lock()

    def _db(self) -> Any:
        import sqlite3

        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None
        for attempt in (1, 2):
            try:
                conn = sqlite3.connect(
                    self.path, timeout=5, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(self._SCHEMA)
            except sqlite3.DatabaseError:
                if attempt == 2:
                    return None
                self._remove()
            except (sqlite3.Error, OSError):
                return None
            else:
                self._conn, self._pid = conn, os.getpid()
                return conn
        return None  # pragma: no cover

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(f"{self.path}{suffix}")

    def vouches(self, digest: str, st: os.stat_result) -> bool:
        import sqlite3

        with self._lock:
            conn = self._db()
            if conn is None:
                return False
            try:
                row = conn.execute(
                    "SELECT size, mtime_ns, ctime_ns, inode FROM verified WHERE digest = ?",
                    (digest,),
                ).fetchone()
            except sqlite3.DatabaseError:
                self._conn = None
                self._remove()
                return False
            except sqlite3.Error:
                return False
        return row is not None and tuple(row) == _stat_key(st)

    def record(self, rows: list[tuple[str, os.stat_result]]) -> None:
        import sqlite3

        if not rows:
            return
        data = [(d, *_stat_key(st)) for d, st in rows]
        with self._lock:
            conn = self._db()
            if conn is None:
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(
                    "INSERT OR REPLACE INTO verified (digest, size, mtime_ns, ctime_ns, inode) "
                    "VALUES (?, ?, ?, ?, ?)",
                    data,
                )
                conn.execute("COMMIT")
            except sqlite3.Error:  # busy or damaged: a record only, the objects re-hash
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")


class LocalArtifactStore(ArtifactStore):
    """Objects in a local folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.uri = str(self.root)
        self._objects = self.root / "objects"
        self._reflinks = True  # until the filesystem says it cannot clone
        self._tmp = self.root / "tmp"
        self._record = _VerifiedRecord(self.root / "verified.db")
        self._local = threading.local()  # each thread's open batch
        self._durable: set[str] = set()  # objects this process flushed (or found flushed)
        self._new_folders: set[str] = set()  # folders made here whose entries need a flush

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.uri!r})"

    def path(self, digest: str) -> Path:
        """Where the object lives (whether or not it exists)."""
        check_digest(digest)
        return self._objects / digest[:2] / digest[2:]

    def _tmp_file(self) -> Path:
        if not self._tmp.is_dir():
            try:
                for folder in (self.root, self._tmp):
                    try:
                        folder.mkdir(parents=True)
                    except FileExistsError:
                        continue
                    self._new_folders.add(str(folder.parent))
            except OSError as exc:
                raise _cannot_write(self.root, exc, "to the artifact store") from None
        return self._tmp / f"{uuid.uuid4().hex}.part"

    # -- durability --------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Objects written in the block (by this thread) reach the disk together when it
        ends, in parallel, rather than one at a time; record them after the block. A block
        that raises flushes nothing (its objects are referenced by nothing)."""
        if getattr(self._local, "pending", None) is not None:
            yield  # nested: the outer block flushes
            return
        pending = self._local.pending = _Flush()
        try:
            yield
        finally:
            self._local.pending = None
        self._flush(pending)

    def _enlist(self) -> tuple[_Flush, bool]:
        """The open batch of this thread, or a new one to flush at once (then True)."""
        pending: _Flush | None = getattr(self._local, "pending", None)
        return (pending, False) if pending is not None else (_Flush(), True)

    def _flush(self, pending: _Flush) -> None:
        if not (pending.files or pending.folders or pending.verified):
            return
        folders = dict(pending.folders)
        if self._new_folders:
            folders.update(dict.fromkeys(self._new_folders))
            self._new_folders.clear()
        try:
            _sync_all(pending.files, folders)
        except OSError as exc:
            raise StoreError(
                f"could not flush objects of the artifact store {self.uri} to the disk: "
                f"{exc.strerror or exc}. Check the disk, then write the data again."
            ) from None
        if len(self._durable) > _DURABLE_KEPT:
            self._durable.clear()
        self._durable.update(pending.files.values())
        rows = []
        for digest, path in pending.verified:
            with contextlib.suppress(OSError):
                rows.append((digest, os.stat(path)))
        self._record.record(rows)

    # -- writing -----------------------------------------------------------------------

    def _sound(self, digest: str, size: int, pending: _Flush) -> bool:
        """Whether a sound copy of the object is stored (then it is re-used: its mtime is
        refreshed so a concurrent ``gc`` keeps it, and it joins ``pending`` unless it is
        known to be on the disk). False when it is missing, or truncated or altered (the
        caller then writes it anew, replacing it)."""
        final = self.path(digest)
        try:
            st = os.lstat(final)  # a link in its place is no copy: it is replaced
        except OSError:  # missing (or its store cannot be reached: writing it says why)
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return False
        large = size >= _VOUCHED
        vouched = large and self._record.vouches(digest, st)
        if not vouched:
            try:
                got, _ = _hash_stored(final)
            except (OSError, _NotRegular):
                return False
            if got != digest:
                return False
        try:
            os.utime(final)
        except FileNotFoundError:  # just taken by gc: write it anew
            return False
        except PermissionError:  # a store this process may read, not write: sound as it is
            return True
        if not vouched and digest not in self._durable and time.time() - st.st_ctime < _SETTLED:
            pending.files[str(final)] = digest  # perhaps still in flight from another writer
            pending.folders[str(final.parent)] = None
        if large:
            pending.verified.append((digest, str(final)))  # its stat changed with the utime
        return True

    def _place(self, tmp: Path, digest: str, size: int, pending: _Flush) -> None:
        """Rename the finished ``tmp`` into place (over a corrupt copy, if any)."""
        final = self.path(digest)
        try:
            os.chmod(tmp, 0o444)
            if not final.parent.is_dir():
                for folder in (self._objects, final.parent):
                    try:
                        folder.mkdir()
                    except FileExistsError:
                        continue
                    pending.folders[str(folder.parent)] = None
            if final.is_dir() and not final.is_symlink():
                raise StoreError(
                    f"a folder stands where the object {digest} belongs ({final}), so it "
                    "cannot be written. It is no part of the store: move it away (or remove "
                    "it), then try again."
                )
            os.replace(tmp, final)  # over a link or a FIFO: the link goes, not its target
        except OSError as exc:
            raise _cannot_write(final, exc, "the object") from None
        self._durable.discard(digest)
        pending.files[str(final)] = digest
        pending.folders[str(final.parent)] = None
        if size >= _VOUCHED:
            pending.verified.append((digest, str(final)))

    def exists(self, digest: str) -> bool:
        return _is_object_file(self.path(digest))

    def put_bytes(self, data: bytes) -> ObjectInfo:
        digest = hash_bytes(data)
        pending, at_once = self._enlist()
        created = not self._sound(digest, len(data), pending)
        if created:
            tmp = self._tmp_file()
            try:
                try:
                    with open(tmp, "wb") as fh:
                        fh.write(data)
                except OSError as exc:
                    raise _cannot_write(tmp, exc, "to the artifact store at") from None
                self._place(tmp, digest, len(data), pending)
            finally:
                tmp.unlink(missing_ok=True)
        if at_once:
            self._flush(pending)
        return ObjectInfo(digest, len(data), created)

    def put_file(
        self,
        path: str | os.PathLike[str],
        digest: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        src = Path(path)
        pending, at_once = self._enlist()
        if digest is not None:
            size = src.stat().st_size
            if self._sound(digest, size, pending):
                if progress is not None:
                    progress(size)
                if at_once:
                    self._flush(pending)
                return ObjectInfo(digest, size, False)
        with open(src, "rb", buffering=0) as fin:
            tmp = self._tmp_file()
            try:
                try:
                    fout = open(tmp, "w+b", buffering=0)  # noqa: SIM115 - closed below
                except OSError as exc:
                    raise _cannot_write(tmp, exc, "to the artifact store at") from None
                with fout:
                    got, size = self._copy(fin, fout, tmp, progress)
                created = not self._sound(got, size, pending)
                if created:
                    self._place(tmp, got, size, pending)
            finally:
                tmp.unlink(missing_ok=True)
        if at_once:
            self._flush(pending)
        return ObjectInfo(got, size, created)

    def _copy(
        self,
        fin: IO[bytes],
        fout: IO[bytes],
        tmp: Path,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int]:
        """Copy ``fin`` into our private ``fout`` (the file ``tmp``); the hash and size of
        what ``fout`` holds."""
        try:
            if self._reflinks and _reflink(fin, fout):
                # the clone shares the source's blocks: hash the clone, which nobody else
                # can change, so the hash matches what is stored
                return _hash_stored(tmp, progress)
            self._reflinks = False
            if _KERNEL_COPY and os.fstat(fin.fileno()).st_size >= _LARGE:
                return _kernel_copy(fin, fout, progress)
            return _hash_and_copy(fin, fout, progress)
        except OSError as exc:
            if exc.filename is None and exc.errno in _WRITE_ERRORS:
                raise _cannot_write(self.root, exc, "to the artifact store") from None
            raise

    # -- reading -----------------------------------------------------------------------

    def local_file(self, digest: str) -> Path:
        path = self.path(digest)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None
        if not stat.S_ISREG(st.st_mode):
            raise _planted(self.uri, digest)
        return path

    def check(self, digest: str) -> str | None:
        try:
            got, _ = _hash_stored(self.path(digest))
        except FileNotFoundError:
            return "missing"
        except _NotRegular:
            return "corrupt"
        return None if got == digest else "corrupt"

    def get_bytes(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            with _open_object(path) as fh:
                data = fh.read()
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None
        except _NotRegular:
            raise _planted(self.uri, digest) from None
        got = hash_bytes(data)
        if got != digest:
            raise _corrupt(self.uri, digest, got, len(data))
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        src = self.path(digest)
        dest = Path(dest)
        try:
            fin = _open_object(src)
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None
        except _NotRegular:
            raise _planted(self.uri, digest) from None
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
        try:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                fout = open(tmp, "w+b", buffering=0)  # noqa: SIM115 - closed below
            except OSError as exc:
                fin.close()
                raise _unwritable(dest, exc) from None
            with fin, fout:
                try:
                    if _KERNEL_COPY and os.fstat(fin.fileno()).st_size >= _LARGE:
                        got, size = _kernel_copy(fin, fout, flush=False)
                    else:
                        got, size = _hash_and_copy(fin, fout)
                except OSError as exc:
                    if exc.filename is None and exc.errno in _WRITE_ERRORS:
                        raise _unwritable(dest, exc) from None
                    raise
            if got != digest:
                raise _corrupt(self.uri, digest, got, size)
            try:
                os.replace(tmp, dest)
            except OSError as exc:
                raise _unwritable(dest, exc) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def size(self, digest: str) -> int:
        try:
            return os.lstat(self.path(digest)).st_size
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None

    def delete(self, digest: str) -> None:
        _remove_entry(self.path(digest))

    def delete_if_stale(self, digest: str, cutoff: float) -> bool:
        """Remove the object unless it was used (stored or re-used) after ``cutoff``.

        The object is first renamed away, then its mtime is read: a writer that
        re-used it before the rename has refreshed the mtime, so it is put back;
        a writer that comes after the rename finds it missing and stores it anew.
        """
        final = self.path(digest)
        trash = self._tmp_file().with_suffix(".gc")
        try:
            os.replace(final, trash)
        except FileNotFoundError:
            return False
        if os.lstat(trash).st_mtime > cutoff:
            os.replace(trash, final)
            return False
        _remove_entry(trash)
        return True

    def iter_objects(self) -> Iterator[tuple[str, int, float]]:
        # a file of another name is not an object, nor a link, folder or FIFO planted
        # under an object's name (see iter_planted)
        return self._entries(regular=True)

    def iter_planted(self) -> Iterator[tuple[str, int, float]]:
        """What stands under an object's name but is no regular file (a link, a folder, a
        FIFO), as ``(digest, size, mtime)``: never written by the store, refused by every
        read, reported by fsck, and left alone by gc."""
        return self._entries(regular=False)

    def _entries(self, *, regular: bool) -> Iterator[tuple[str, int, float]]:
        """``(digest, size, mtime)`` of every entry under an object's name that is (or,
        with ``regular=False``, is not) a regular file."""
        if not self._objects.is_dir():
            return
        with os.scandir(self._objects) as tops:
            for top in tops:
                if not _is_hex(top.name, 2) or not top.is_dir(follow_symlinks=False):
                    continue
                with os.scandir(top.path) as entries:
                    for entry in entries:
                        if (
                            _is_hex(entry.name, 62)
                            and entry.is_file(follow_symlinks=False) is regular
                        ):
                            try:
                                st = entry.stat(follow_symlinks=False)
                            except FileNotFoundError:  # removed while listing
                                continue
                            yield top.name + entry.name, st.st_size, st.st_mtime

    def clean_tmp(self, older_than: float = 3600.0) -> int:
        """Remove leftovers of writes killed more than ``older_than`` seconds ago."""
        removed = 0
        if not self._tmp.is_dir():
            return 0
        cutoff = time.time() - older_than
        for entry in os.scandir(self._tmp):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_dir(follow_symlinks=False):
                    continue  # not one of ours
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    _remove_entry(entry.path)
                    removed += 1
        return removed

    # -- path-addressed files ----------------------------------------------------------
    #
    # Nothing here goes through a link: every folder on a path (and the file itself) is
    # checked with lstat, and the resolved path must lie under the resolved root. A link
    # planted anywhere below the root (``predictions/deployment=x`` → /elsewhere) would
    # otherwise let a write, read, listing or removal reach outside the store. Writes and
    # reads refuse such a path; listings and removals skip it with a warning.

    def _link_on(self, parts: list[str]) -> str | None:
        """The first of the nested entries ``parts`` (below the root) that is a link, as
        a relative path; None when there is none (or the chain ends at something missing
        or at a file, where nothing can be followed)."""
        entry = self.root
        for i, name in enumerate(parts):
            entry = entry / name
            try:
                st = os.lstat(entry)
            except OSError:
                return None
            if stat.S_ISLNK(st.st_mode):
                return "/".join(parts[: i + 1])
            if not stat.S_ISDIR(st.st_mode):
                return None
        return None

    def _inside(self, target: Path) -> bool:
        """Whether ``target``, every link on it resolved, lies under the resolved root."""
        try:
            return target.resolve().is_relative_to(self.root.resolve())
        except (OSError, RuntimeError):  # a link loop
            return False

    def _checked(self, path: str, verb: str, *, file: bool) -> Path:
        """The local path of ``path`` once no entry on it is a link (its folders, and the
        file itself with ``file``) and it lies inside the store; else CorruptObject."""
        parts = check_relative_path(path).split("/")
        target = self.root.joinpath(*parts)
        link = self._link_on(parts if file else parts[:-1])
        if link is not None or not self._inside(target if file else target.parent):
            raise _linked(self.uri, path, link, verb)
        return target

    def write_path(self, path: str, data: bytes) -> None:
        target = self._checked(path, "write", file=False)
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.tmp"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # the folders made just now are checked too, against a link planted meanwhile
            target = self._checked(path, "write", file=False)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                _data_sync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)  # over a link at the file's place: the link goes
            _sync_folder(str(target.parent))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _cannot_write(target, exc, "the file") from None

    def _skipped(self, rel: str) -> None:
        warnings.warn(
            f"skipped {rel!r} in the artifact store {redact(self.uri)}: it is a link, and "
            "the store never follows a link among its path-addressed files (one could lead "
            "out of the store). Remove the link, or move what it points to into the store.",
            UserWarning,
            stacklevel=_caller_level(),
        )

    def list_paths(self, prefix: str) -> list[str]:
        parts = check_relative_path(prefix).split("/")
        top = self.root.joinpath(*parts)
        link = self._link_on(parts)
        if link is not None or (top.exists() and not self._inside(top)):
            self._skipped(link or prefix)
            return []
        found: list[str] = []
        folders = [(top, prefix)] if top.is_dir() else []
        while folders:
            folder, rel = folders.pop()
            try:
                entries = list(os.scandir(folder))
            except (FileNotFoundError, NotADirectoryError):  # removed while listing
                continue
            for entry in entries:
                if entry.name.startswith("."):  # a write in progress
                    continue
                name = f"{rel}/{entry.name}"
                if entry.is_symlink():
                    self._skipped(name)
                elif entry.is_dir(follow_symlinks=False):
                    folders.append((Path(entry.path), name))
                elif entry.is_file(follow_symlinks=False):
                    found.append(name)
        return sorted(found)

    def read_path(self, path: str) -> bytes:
        target = self._checked(path, "read", file=True)
        try:
            with _open_object(target) as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"no file {path!r} in the artifact store {redact(self.uri)}.") from None
        except _NotRegular:
            raise CorruptObject(
                f"{path!r} in the artifact store {redact(self.uri)} is not a regular file (a "
                "folder, FIFO or device stands there), so it is not read. Move it away."
            ) from None

    def remove_tree(self, prefix: str) -> bool:
        import shutil

        parts = check_relative_path(prefix).split("/")
        top = self.root.joinpath(*parts)
        link = self._link_on(parts)
        if link is not None:
            self._skipped(link)
            return False
        try:
            st = os.lstat(top)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            return False
        if not self._inside(top):
            self._skipped(prefix)
            return False
        shutil.rmtree(top)  # never follows a link inside the tree: it removes the link
        return True

    def path_file(self, path: str) -> Path | None:
        return self._checked(path, "read", file=True)


_WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}
)


class FsspecArtifactStore(ArtifactStore):
    """Objects under any fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``).

    A write streams the bytes and hashes them as they go, and publishes them only when
    they hash to what they are stored under. A write that finds its object already there
    checks its size, and its bytes unless this process wrote or checked that very copy
    (same size and modification time or ETag); a wrong copy is overwritten.
    """

    _ATOMIC_PUT = ("s3", "s3a", "gs", "gcs", "az", "abfs", "memory")

    def __init__(self, url: str, **storage_options: Any) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
            raise MissingExtra("a remote artifact store", "s3", "fsspec") from exc
        protocol = url.split("://", 1)[0]
        extra = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}.get(protocol)
        try:
            with _foreign_errors(url):
                fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except ImportError as exc:
            # fsspec names the package: 'SFTPFileSystem requires "paramiko" to be installed'
            named = re.search(r'"([\w.-]+)"|Install ([\w.-]+)', str(exc))
            guess = (named.group(1) or named.group(2)) if named else protocol
            module = {"s3": "s3fs", "gcs": "gcsfs"}.get(extra or "", guess)
            raise MissingExtra(f"the artifact URL {redact(url)!r}", extra or "", module) from None
        except ValueError as exc:
            raise InvalidInput(
                f"unknown storage protocol {protocol!r} in {redact(url)!r}: expected a local path "
                "or an fsspec URL such as 's3://bucket/prefix'."
            ) from exc
        except OSError as exc:  # a filesystem that connects on creation (ftp, sftp...)
            raise Unavailable(
                f"cannot reach the artifact store {redact(url)!r}: "
                f"{scrub(str(exc), url) or type(exc).__name__}. Check the host and the "
                "network, or use another artifact_uri."
            ) from None
        self.fs = _Guarded(fs, url)
        self.uri = url
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self._atomic_put = any(p in self._ATOMIC_PUT for p in protocols)
        self._checked: dict[str, tuple[int, str]] = {}  # digest → the copy this process saw

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({redact(self.uri)!r})"

    def path(self, digest: str) -> str:
        check_digest(digest)
        return f"{self.root}/objects/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def existing(self, digests: Iterable[str]) -> set[str]:
        wanted = set(digests)
        if len(wanted) < 16:
            return {d for d in wanted if self.exists(d)}
        return {d for d, _, _ in self.iter_objects() if d in wanted}

    def _info(self, digest: str) -> dict[str, Any] | None:
        try:
            info = self.fs.info(self.path(digest))
        except FileNotFoundError:
            return None
        return info if info.get("type", "file") == "file" else None

    def _sound(self, digest: str, size: int) -> bool:
        """Whether a sound copy of the object is stored: its size, then its bytes unless
        this process wrote or checked this very copy."""
        self.fs.invalidate_cache()
        info = self._info(digest)
        if info is None or int(info.get("size") or 0) != size:
            return False
        seen = _version(info)
        if self._checked.get(digest) == (size, seen) and seen:
            return True
        try:
            got, _ = self._hash_remote(digest)
        except (FileNotFoundError, CorruptObject):
            return False
        if got != digest:
            return False
        self._checked[digest] = (size, seen)
        return True

    def _hash_remote(self, digest: str) -> tuple[str, int]:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        size = 0
        with self.fs.open(self.path(digest), "rb", block_size=CHUNK) as fh:
            while chunk := fh.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        return hasher.hexdigest(), size

    def _publish(self, digest: str, size: int, write: Callable[[Any], str]) -> None:
        """Write the object with ``write(file)`` (which returns the hash of what it wrote)
        to a temporary path moved into place, or straight to its place where a put is
        atomic; nothing whose hash is not ``digest`` is left in place."""
        final = self.path(digest)
        target = final if self._atomic_put else f"{self.root}/tmp/{uuid.uuid4().hex}.part"
        folder = target.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        fh = self.fs.open(target, "wb")
        try:
            got = write(fh)
        except BaseException:
            _discard(fh)
            with contextlib.suppress(Exception):
                self.fs.rm_file(target)
            raise
        if got != digest:
            _discard(fh)
            with contextlib.suppress(Exception):
                self.fs.rm_file(target)
            raise CorruptObject(
                f"the bytes written for object {digest} to {redact(self.uri)} hash to {got}: "
                "the source changed or is corrupt, so nothing was stored. Check the source "
                "(e.g. 'loopml fsck'), then write it again."
            )
        fh.close()
        if target != final:
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(target, final)
        self.fs.invalidate_cache()
        info = self._info(digest)
        if info is not None:
            self._checked[digest] = (size, _version(info))

    def put_bytes(self, data: bytes) -> ObjectInfo:
        digest = hash_bytes(data)
        if self._sound(digest, len(data)):
            return ObjectInfo(digest, len(data), False)

        def write(fh: Any) -> str:
            fh.write(data)
            return digest

        self._publish(digest, len(data), write)
        return ObjectInfo(digest, len(data), True)

    def put_file(
        self,
        path: str | os.PathLike[str],
        digest: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        with open(path, "rb", buffering=0) as fin:
            size = os.fstat(fin.fileno()).st_size
            if digest is None:
                digest, size = _hash_read(fin)
                fin.seek(0)
            if self._sound(digest, size):
                if progress is not None:
                    progress(size)
                return ObjectInfo(digest, size, False)

            def write(fh: Any) -> str:
                hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
                while chunk := fin.read(CHUNK):
                    hasher.update(chunk)
                    fh.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
                return str(hasher.hexdigest())

            self._publish(digest, size, write)
        return ObjectInfo(digest, size, True)

    def get_bytes(self, digest: str) -> bytes:
        try:
            data = self.fs.cat_file(self.path(digest))
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None
        got = hash_bytes(data)
        if got != digest:
            raise _corrupt(self.uri, digest, got, len(data))
        return bytes(data)

    def check(self, digest: str) -> str | None:
        try:
            got, _ = self._hash_remote(digest)
        except FileNotFoundError:
            return "missing"
        return None if got == digest else "corrupt"

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        dest = Path(dest)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
        try:
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp.touch()
            except OSError as exc:
                raise _unwritable(dest, exc) from None
            try:
                self.fs.get_file(self.path(digest), str(tmp))
            except FileNotFoundError:
                raise _missing(self.uri, digest) from None
            got, size = hash_file(tmp)
            if got != digest:
                raise _corrupt(self.uri, digest, got, size)
            try:
                os.replace(tmp, dest)
            except OSError as exc:
                raise _unwritable(dest, exc) from None
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def size(self, digest: str) -> int:
        try:
            return int(self.fs.size(self.path(digest)))
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(digest))

    def delete_if_stale(self, digest: str, cutoff: float) -> bool:
        try:
            mtime = _mtime(self.fs.info(self.path(digest)))
        except FileNotFoundError:
            return False
        if mtime > cutoff:
            return False
        self.delete(digest)
        return True

    def write_path(self, path: str, data: bytes) -> None:
        final = f"{self.root}/{check_relative_path(path)}"
        folder, name = final.rsplit("/", 1)
        target = final if self._atomic_put else f"{folder}/.{name}.{uuid.uuid4().hex[:12]}.tmp"
        with self._path_errors("write", path):
            self.fs.makedirs(folder, exist_ok=True)
            try:
                self.fs.pipe_file(target, data)
                if target != final:
                    self.fs.mv(target, final)
            except BaseException:
                with contextlib.suppress(Exception):
                    self.fs.rm_file(target)
                raise
            self.fs.invalidate_cache()

    def list_paths(self, prefix: str) -> list[str]:
        base = f"{self.root}/{check_relative_path(prefix)}"
        with self._path_errors("list", prefix):
            self.fs.invalidate_cache()
            try:
                found = self.fs.find(base)
            except FileNotFoundError:
                return []
        out = []
        for name in found:
            rel = name.rstrip("/")
            rel = rel[len(self.root) + 1 :] if self.root else rel.lstrip("/")
            if rel.startswith(prefix + "/") and not any(p.startswith(".") for p in rel.split("/")):
                out.append(rel)
        return sorted(out)

    def read_path(self, path: str) -> bytes:
        with self._path_errors("read", path):
            try:
                return bytes(self.fs.cat_file(f"{self.root}/{check_relative_path(path)}"))
            except FileNotFoundError:
                raise NotFound(
                    f"no file {path!r} in the artifact store {redact(self.uri)}."
                ) from None

    def remove_tree(self, prefix: str) -> bool:
        base = f"{self.root}/{check_relative_path(prefix)}"
        with self._path_errors("remove", prefix):
            self.fs.invalidate_cache()
            if not self.fs.exists(base):
                return False
            self.fs.rm(base, recursive=True)
            self.fs.invalidate_cache()
        return True

    @contextlib.contextmanager
    def _path_errors(self, verb: str, path: str) -> Iterator[None]:
        """An OSError of the storage (which may quote the root, and the root the URL's
        user and password) as a StoreError with the URL's secrets blanked."""
        try:
            yield
        except OSError as exc:
            detail = scrub(" ".join(str(exc).split()), self.uri)
            raise StoreError(
                f"cannot {verb} {path!r} in the artifact store {redact(self.uri)}: "
                f"{detail[:300] or type(exc).__name__}. Check the store's permissions, space "
                "and network, then try again."
            ) from None

    def iter_objects(self) -> Iterator[tuple[str, int, float]]:
        base = f"{self.root}/objects"
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return
        for name, info in found.items():
            parts = name.rstrip("/").split("/")
            if len(parts) >= 2 and len(parts[-2]) == 2 and len(parts[-1]) == 62:
                yield parts[-2] + parts[-1], int(info.get("size") or 0), _mtime(info)


def _is_foreign(exc: BaseException) -> bool:
    """Whether ``exc`` is a storage library's own error (botocore's NoCredentialsError, an
    HTTP client's error...) rather than an OSError, a Python error or one of loopml's."""
    if isinstance(exc, (OSError, LoopmlError)) or not isinstance(exc, Exception):
        return False
    return type(exc).__module__.split(".")[0] not in ("builtins", "loopml")


@contextlib.contextmanager
def _foreign_errors(url: str) -> Iterator[None]:
    """Turn a storage library's own error into one :class:`Unavailable` line, with the
    URL's secrets blanked (a library may quote the URL, or its user part, in a message)."""
    try:
        yield
    except Exception as exc:
        if not _is_foreign(exc):
            raise
        detail = scrub(" ".join(str(exc).split()), url)
        if len(detail) > 300:
            detail = detail[:297] + "..."
        raise Unavailable(
            f"the storage at {redact(url)!r} refused the request: {type(exc).__name__}"
            f"{': ' + detail if detail else ''}. Check the URL, the credentials (in the "
            "environment or the library's config, not in the URL) and the network."
        ) from None


class _Guarded:
    """A storage library object (an fsspec filesystem, a file it opened) whose calls raise
    only OSError and loopml's errors (see :func:`_foreign_errors`)."""

    __slots__ = ("_target", "_url")

    def __init__(self, target: Any, url: str) -> None:
        self._target = target
        self._url = url

    def __getattr__(self, name: str) -> Any:
        try:
            target = object.__getattribute__(self, "_target")
        except AttributeError:  # being unpickled: the slots are not set yet
            raise AttributeError(name) from None
        attr = getattr(target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with _foreign_errors(self._url):
                out = attr(*args, **kwargs)
            if hasattr(out, "read") or hasattr(out, "write"):
                return _Guarded(out, self._url)
            return out

        return call

    def __enter__(self) -> _Guarded:
        with _foreign_errors(self._url):
            self._target.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        with _foreign_errors(self._url):
            return self._target.__exit__(*exc)


def _discard(fh: Any) -> None:
    """Abandon a file being written: abort its upload where the filesystem can, else
    close it (the caller removes what was written)."""
    discard = getattr(fh, "discard", None)
    if callable(discard):
        with contextlib.suppress(Exception):
            discard()
    with contextlib.suppress(Exception):
        fh.close()


def _version(info: Mapping[str, Any]) -> str:
    """What tells one stored copy of an object from a rewrite of it: its ETag or
    generation where the store has one, else its modification time."""
    for key in ("ETag", "etag", "generation", "md5Hash"):
        if info.get(key):
            return f"{key}:{info[key]}"
    mtime = _mtime(info)
    return f"mtime:{mtime!r}" if mtime else ""


def _mtime(info: Mapping[str, Any]) -> float:
    """An fsspec listing entry's modification time in seconds (0 when it has none)."""
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return float(mtime)


_FICLONE = 0x40049409  # linux/fs.h: share a file's blocks (btrfs, XFS, bcachefs, ...)


def _reflink(fin: IO[bytes], fout: IO[bytes]) -> bool:
    """Clone ``fin`` into ``fout`` without copying bytes, where the filesystem can."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return False
    import fcntl

    try:
        fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
    except OSError:
        return False
    return True


def _missing(uri: str, digest: str) -> NotFound:
    return NotFound(
        f"object {digest} is not in the artifact store {redact(uri)}. "
        "If it was pushed to a remote, fetch it with 'loopml data pull'."
    )


_NO_KERNEL_COPY = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EBADF}
)


def _copy_slice(src: int, dst: int, offset: int, count: int, kernel: list[bool]) -> int:
    """Copy up to ``count`` bytes at ``offset`` from ``src`` to ``dst``: in the kernel while
    it can (``kernel[0]``), else through a buffer. Returns the bytes copied (0 at the end)."""
    if kernel[0]:
        try:
            return os.copy_file_range(src, dst, count, offset, offset)
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
            kernel[0] = False  # another filesystem, an old kernel: copy through a buffer
    done = 0
    while done < count:
        data = os.pread(src, min(CHUNK, count - done), offset + done)
        if not data:
            break
        view = memoryview(data)
        while view:
            view = view[os.pwrite(dst, view, offset + done) :]
        done += len(data)
    return done


def _kernel_copy(
    fin: IO[bytes],
    fout: IO[bytes],
    progress: Callable[[int], None] | None = None,
    *,
    flush: bool | None = None,
) -> tuple[str, int]:
    """Copy ``fin`` into ``fout`` (opened for reading too) in the kernel, a slice at a time
    on a helper thread, while this thread hashes each copied slice of ``fout`` through mmap
    with BLAKE3's threads; returns the hash and size of the copy.

    ``flush`` (default: for a large copy) also flushes the copy to the disk on the helper
    thread once it is complete, while the last slices are being hashed.
    """
    src, dst = fin.fileno(), fout.fileno()
    if flush is None:
        flush = os.fstat(src).st_size >= _FLUSH_AT_ONCE
    copied: queue.SimpleQueue[int | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def copier() -> None:
        kernel = [True]
        offset = 0
        try:
            while not stop.is_set():
                n = _copy_slice(src, dst, offset, _SLICE, kernel)
                if n == 0:
                    break
                offset += n
                copied.put(offset)
            if flush and not stop.is_set():
                _data_sync(dst)
            copied.put(None)
        except BaseException as exc:  # handed to the hashing thread
            copied.put(exc)

    worker = threading.Thread(target=copier, name="loopml-copy", daemon=True)
    worker.start()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hashed = 0
    try:
        while (item := copied.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            hashed = _hash_mapped(hasher, dst, hashed, item, progress)
    finally:
        stop.set()
        worker.join()
    return hasher.hexdigest(), hashed


def _hash_and_copy(
    fin: IO[bytes], fout: IO[bytes], progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """Copy ``fin`` to ``fout`` in one pass over the bytes, returning their hash and size.

    A file that fits in one chunk is hashed and written on this thread. A
    larger one is written chunk by chunk here while a helper thread hashes
    the chunks already written (a few buffers circulate between the two), so
    the hashing overlaps the reads and writes.
    """
    hasher = blake3.blake3()
    buf = bytearray(_COPY_CHUNK)
    size = 0
    n = fin.readinto(buf)  # type: ignore[attr-defined]
    if n < len(buf):  # the whole file in one read: no helper thread
        while n:
            view = memoryview(buf)[:n]
            hasher.update(view)
            _write_all(fout, view)
            size += n
            if progress is not None:
                progress(n)
            n = fin.readinto(buf)  # type: ignore[attr-defined]
        return hasher.hexdigest(), size

    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(_COPY_BUFFERS - 1):
        free.put(bytearray(_COPY_CHUNK))
    todo: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
    failed: list[BaseException] = []

    def hash_chunks() -> None:
        while (item := todo.get()) is not None:
            chunk, k = item
            if not failed:
                try:
                    hasher.update(memoryview(chunk)[:k])
                except BaseException as exc:  # handed to the caller below
                    failed.append(exc)
            free.put(chunk)

    worker = threading.Thread(target=hash_chunks, name="loopml-hash", daemon=True)
    worker.start()
    try:
        while n:
            _write_all(fout, memoryview(buf)[:n])
            todo.put((buf, n))
            size += n
            if progress is not None:
                progress(n)
            buf = free.get()
            n = fin.readinto(buf)  # type: ignore[attr-defined]
    finally:
        todo.put(None)
        worker.join()
    if failed:
        raise failed[0]
    return hasher.hexdigest(), size


def _write_all(fout: IO[bytes], view: memoryview) -> None:
    written = 0
    while written < len(view):
        written += fout.write(view[written:]) or 0


def open_artifact_store(
    uri: str, backends: Mapping[str, Callable[[str], ArtifactStore]] | None = None
) -> ArtifactStore:
    """The artifact store at ``uri``: a backend registered for its scheme, a local folder
    for a path or ``file://`` URL, else fsspec."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    factory = (backends or {}).get(scheme)
    if factory is not None:
        return factory(uri)
    path = local_path(uri)
    if path is not None:
        return LocalArtifactStore(path)
    return FsspecArtifactStore(uri)
