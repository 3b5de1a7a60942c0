"""The stat cache: absolute path → (size, mtime_ns, inode, ctime_ns, hash), machine-local.

Part of content addressing rather than of any package: the data layer asks it
which files it need not read again.

A file whose size, modification time (ns), inode and status-change time (ns)
are what they were when it was last hashed is not read again: ``status``
becomes ``stat()`` calls only, and re-adding an unchanged folder skips the
hashing. The change time is there for the same reason git keeps it: rewriting
a file in place and putting its old modification time back (``cp -p``,
``touch -r``) keeps size, mtime and inode, but the kernel always moves ctime.

The cache lives in ``<project>/.loopml/cache/stat.db`` (stdlib ``sqlite3``);
it is only a cache, so an unreadable file, or one of another layout (an older
loopml's), is replaced by an empty one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

__all__ = ["FileStat", "StatCache", "open_stat_cache"]


class FileStat(Protocol):
    """What the cache keys a file by: its absolute path and its ``stat()``."""

    @property
    def abs(self) -> str: ...

    @property
    def size(self) -> int: ...

    @property
    def mtime_ns(self) -> int: ...

    @property
    def inode(self) -> int: ...

    @property
    def ctime_ns(self) -> int: ...


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS stat (path TEXT PRIMARY KEY, size INTEGER NOT NULL, "
    "mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL, digest TEXT NOT NULL, "
    "ctime_ns INTEGER NOT NULL) WITHOUT ROWID"
)
#: The layout of the file (``PRAGMA user_version``): 2 added ``ctime_ns``. A file of any
#: other layout is emptied and made anew.
_LAYOUT = 2
_COLUMNS = "path, size, mtime_ns, inode, digest, ctime_ns"

#: A cached row: (absolute path, size, mtime_ns, inode, hash, ctime_ns).
Row = tuple[str, int, int, int, str, int]


class StatCache:
    """Look up and record the hashes of files by their ``stat()``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.broken = False  # a damaged file: it answers nothing, and is replaced at close

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Row]:
        if self.broken:
            return []
        try:
            return list(self._conn.execute(sql, params))
        except sqlite3.DatabaseError:
            self.broken = True
            return []

    def under(self, folder: str) -> dict[str, Row]:
        """Every cached row below the absolute folder path ``folder``, in one query."""
        lo = folder.rstrip("/") + "/"
        hi = lo[:-1] + "0"  # '0' sorts right after '/'
        rows = self._rows(
            f"SELECT {_COLUMNS} FROM stat WHERE path >= ? AND path < ?",
            (lo, hi),
        )
        return {row[0]: row for row in rows}

    def get_many(self, paths: Iterable[str]) -> dict[str, Row]:
        """The cached rows of the given absolute paths."""
        found: dict[str, Row] = {}
        items = list(paths)
        for i in range(0, len(items), 500):
            chunk = items[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                f"SELECT {_COLUMNS} FROM stat WHERE path IN ({marks})",
                chunk,
            )
            found.update({row[0]: row for row in rows})
        return found

    def known(self, files: Iterable[FileStat]) -> dict[str, str]:
        """Absolute path → hash for each of ``files`` whose stat matches the cache."""
        items = list(files)
        if not items:
            return {}
        common = os.path.commonpath([f.abs for f in items])
        cached = self.under(common) if len(items) > 50 else self.get_many(f.abs for f in items)
        out: dict[str, str] = {}
        for f in items:
            hit = cached.get(f.abs)
            if (
                hit is not None
                and hit[1] == f.size
                and hit[2] == f.mtime_ns
                and hit[3] == f.inode
                and hit[5] == f.ctime_ns
            ):
                out[f.abs] = hit[4]
        return out

    def record(self, rows: Iterable[tuple[FileStat, str]]) -> None:
        """Remember that each file, with its stat, hashes to the given digest."""
        data = [(f.abs, f.size, f.mtime_ns, f.inode, d, f.ctime_ns) for f, d in rows]
        if not data or self.broken:
            return
        try:
            with self._conn:
                self._conn.executemany(
                    f"INSERT OR REPLACE INTO stat ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                    data,
                )
        except sqlite3.DatabaseError:
            self.broken = True


def _connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    if _layout(conn) != _LAYOUT:
        conn.execute("BEGIN IMMEDIATE")  # one process rebuilds; the others then see it done
        try:
            if _layout(conn) != _LAYOUT:
                conn.execute("DROP TABLE IF EXISTS stat")
                conn.execute(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {_LAYOUT}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    conn.isolation_level = "DEFERRED"
    return conn


def _layout(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextlib.contextmanager
def open_stat_cache(state_dir: Path, *, create: bool = True) -> Iterator[StatCache]:
    """The stat cache under ``state_dir`` (``.loopml``), created on first use; replaced if
    it is unreadable. With ``create=False`` (a read-only command) a missing ``state_dir``
    is not made: the cache then lives in memory for the call."""
    path = state_dir / "cache" / "stat.db"
    if not create and not state_dir.is_dir():
        conn = _connect(":memory:")
        cache = StatCache(conn)
        try:
            yield cache
        finally:
            conn.close()
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(path)
        except sqlite3.DatabaseError:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            conn = _connect(path)
    except (OSError, sqlite3.Error):
        conn = _connect(":memory:")
    cache = StatCache(conn)
    try:
        yield cache
    finally:
        conn.close()
        if cache.broken:  # only a cache: start it afresh next time
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
