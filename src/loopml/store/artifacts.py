"""The content-addressed artifact store.

Every object is stored once under its BLAKE3 hash (64 hex characters)::

    <root>/objects/ab/cdef0123...      the object's bytes
    <root>/tmp/                        writes in progress

A write goes to a temporary file first and is renamed into place, so a
process killed in the middle of a write never leaves a partial object where
a reader could see it; the next write of the same bytes simply succeeds.
Every read checks the hash and refuses a tampered or truncated object with
:class:`~loopml.errors.CorruptObject`.

Adding a file reads it once: each chunk is written by the calling thread and
then hashed by a helper thread (BLAKE3 and file I/O release the GIL) while
the next chunks are read and written, so on two cores the copy costs about
as much as the hashing alone.

The backend is chosen by the URL's scheme (:func:`open_artifact_store`): a
folder or ``file://`` URL gives a :class:`LocalArtifactStore`, any other
fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``) an
:class:`FsspecArtifactStore`, with fsspec imported only then; a context can
register a backend of its own for a scheme.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import blake3

from loopml.errors import CorruptObject, InvalidInput, MissingExtra, NotFound
from loopml.uri import local_path, redact

__all__ = [
    "CHUNK",
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "ObjectInfo",
    "hash_bytes",
    "hash_file",
    "open_artifact_store",
]

CHUNK = 8 << 20
_COPY_CHUNK = 1 << 20  # small enough to stay in cache between the write and the hash
_COPY_BUFFERS = 6
_HEX = frozenset("0123456789abcdef")


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
    hasher = blake3.blake3()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        # one buffer of the file's size (plus a byte to see the end) when it is small
        buf = bytearray(min(CHUNK, os.fstat(fh.fileno()).st_size + 1))
        view = memoryview(buf)
        while n := fh.readinto(buf):
            hasher.update(view[:n])
            size += n
            if progress is not None:
                progress(n)
    return hasher.hexdigest(), size


def check_digest(digest: str) -> str:
    """Return ``digest`` if it is a BLAKE3 hex digest, else raise :class:`InvalidInput`."""
    if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidInput(
            f"invalid object hash {digest!r}: expected 64 lowercase hexadecimal characters."
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
        """Store the file at ``path``; ``digest``, when the caller knows it, skips re-hashing
        if the object is already stored. ``progress(n)`` is called as bytes are copied."""

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

    def existing(self, digests: Iterable[str]) -> set[str]:
        """The subset of ``digests`` that is stored."""
        return {d for d in digests if self.exists(d)}

    def verify(self, digest: str) -> bool:
        """Whether the object's bytes still match its hash."""
        try:
            self.get_bytes(digest)
        except CorruptObject:
            return False
        return True

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


def _corrupt(uri: str, digest: str, got: str, size: int) -> CorruptObject:
    return CorruptObject(
        f"object {digest} in {redact(uri)} is corrupt: its {size} bytes hash to {got}. "
        "It was changed or truncated after it was stored; restore it with "
        "'loopml data pull' from a remote, or remove it and add the data again."
    )


class LocalArtifactStore(ArtifactStore):
    """Objects in a local folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.uri = str(self.root)
        self._objects = self.root / "objects"
        self._reflinks = True  # until the filesystem says it cannot clone
        self._tmp = self.root / "tmp"

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.uri!r})"

    def path(self, digest: str) -> Path:
        """Where the object lives (whether or not it exists)."""
        check_digest(digest)
        return self._objects / digest[:2] / digest[2:]

    def _tmp_file(self) -> Path:
        self._tmp.mkdir(parents=True, exist_ok=True)
        return self._tmp / f"{uuid.uuid4().hex}.part"

    def _publish(self, tmp: Path, digest: str) -> bool:
        """Rename ``tmp`` into place; False (and ``tmp`` removed) if it was there already."""
        final = self.path(digest)
        if _reuse(final):
            tmp.unlink(missing_ok=True)
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
        return True

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def put_bytes(self, data: bytes) -> ObjectInfo:
        digest = hash_bytes(data)
        if _reuse(self.path(digest)):
            return ObjectInfo(digest, len(data), False)
        tmp = self._tmp_file()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            created = self._publish(tmp, digest)
        finally:
            tmp.unlink(missing_ok=True)
        return ObjectInfo(digest, len(data), created)

    def put_file(
        self,
        path: str | os.PathLike[str],
        digest: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        src = Path(path)
        if digest is not None and _reuse(self.path(digest)):
            size = src.stat().st_size
            if progress is not None:
                progress(size)
            return ObjectInfo(digest, size, False)
        tmp = self._tmp_file()
        try:
            with open(src, "rb", buffering=0) as fin, open(tmp, "wb", buffering=0) as fout:
                if self._reflinks and _reflink(fin, fout):
                    # the clone shares the source's blocks: hash the clone, which
                    # nobody else can change, so the hash matches what is stored
                    got, size = hash_file(tmp, progress)
                else:
                    self._reflinks = False
                    got, size = _hash_and_copy(fin, fout, progress)
            created = self._publish(tmp, got)
        finally:
            tmp.unlink(missing_ok=True)
        return ObjectInfo(got, size, created)

    def local_file(self, digest: str) -> Path:
        path = self.path(digest)
        if not path.is_file():
            raise _missing(self.uri, digest)
        return path

    def check(self, digest: str) -> str | None:
        try:
            got, _ = hash_file(self.path(digest))
        except FileNotFoundError:
            return "missing"
        return None if got == digest else "corrupt"

    def get_bytes(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None
        got = hash_bytes(data)
        if got != digest:
            raise _corrupt(self.uri, digest, got, len(data))
        return data

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        src = self.path(digest)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
        try:
            if not src.is_file():
                raise _missing(self.uri, digest)
            with open(src, "rb", buffering=0) as fin, open(tmp, "wb", buffering=0) as fout:
                got, size = _hash_and_copy(fin, fout)
            if got != digest:
                raise _corrupt(self.uri, digest, got, size)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

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
        if trash.stat().st_mtime > cutoff:
            os.replace(trash, final)
            return False
        trash.unlink(missing_ok=True)
        return True

    def iter_objects(self) -> Iterator[tuple[str, int, float]]:
        if not self._objects.is_dir():
            return
        with os.scandir(self._objects) as tops:
            for top in tops:
                if len(top.name) != 2 or not top.is_dir():
                    continue
                with os.scandir(top.path) as entries:
                    for entry in entries:
                        # a link or a folder planted among the objects is not an object
                        if len(entry.name) == 62 and entry.is_file(follow_symlinks=False):
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
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
        return removed


class FsspecArtifactStore(ArtifactStore):
    """Objects under any fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``)."""

    _ATOMIC_PUT = ("s3", "s3a", "gs", "gcs", "az", "abfs", "memory")

    def __init__(self, url: str, **storage_options: Any) -> None:
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec is a core dependency
            raise MissingExtra("a remote artifact store", "s3", "fsspec") from exc
        protocol = url.split("://", 1)[0]
        extra = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}.get(protocol)
        try:
            fs, root = fsspec.core.url_to_fs(url, **storage_options)
        except ImportError as exc:
            module = {"s3": "s3fs", "gcs": "gcsfs"}.get(extra or "", protocol)
            raise MissingExtra(
                f"the artifact URL {redact(url)!r}", extra or protocol, module
            ) from exc
        except ValueError as exc:
            raise InvalidInput(
                f"unknown storage protocol {protocol!r} in {redact(url)!r}: expected a local path "
                "or an fsspec URL such as 's3://bucket/prefix'."
            ) from exc
        self.fs = fs
        self.uri = url
        self.root = root.rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self._atomic_put = any(p in self._ATOMIC_PUT for p in protocols)

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

    def _upload(self, write: Any, digest: str) -> bool:
        final = self.path(digest)
        if self.fs.exists(final):
            return False
        if self._atomic_put:
            write(final)
        else:
            tmp = f"{self.root}/tmp/{uuid.uuid4().hex}.part"
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
            write(tmp)
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.mv(tmp, final)
        return True

    def put_bytes(self, data: bytes) -> ObjectInfo:
        digest = hash_bytes(data)
        created = self._upload(lambda p: self.fs.pipe_file(p, data), digest)
        return ObjectInfo(digest, len(data), created)

    def put_file(
        self,
        path: str | os.PathLike[str],
        digest: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ObjectInfo:
        if digest is None:
            digest, size = hash_file(path)
        else:
            size = os.stat(path).st_size
        created = self._upload(lambda p: self.fs.put_file(os.fspath(path), p), digest)
        if progress is not None:
            progress(size)
        return ObjectInfo(digest, size, created)

    def get_bytes(self, digest: str) -> bytes:
        try:
            data = self.fs.cat_file(self.path(digest))
        except FileNotFoundError:
            raise _missing(self.uri, digest) from None
        got = hash_bytes(data)
        if got != digest:
            raise _corrupt(self.uri, digest, got, len(data))
        return bytes(data)

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> None:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.part"
        try:
            try:
                self.fs.get_file(self.path(digest), str(tmp))
            except FileNotFoundError:
                raise _missing(self.uri, digest) from None
            got, size = hash_file(tmp)
            if got != digest:
                raise _corrupt(self.uri, digest, got, size)
            os.replace(tmp, dest)
        finally:
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


def _reuse(path: Path) -> bool:
    """Refresh an existing object's mtime so a concurrent ``gc`` keeps it.

    False when the object is not there (never stored, or just taken by gc):
    the caller then writes it anew. See :meth:`LocalArtifactStore.delete_if_stale`.
    """
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except PermissionError:
        return path.exists()
    return True


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
