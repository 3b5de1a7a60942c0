"""``loopml.lock``: the dataset versions a project uses, pinned by manifest hash.

A small TOML file at the project root, committed to git like any lock file::

    format = 1

    [datasets.iris]
    version = 3
    path = "data/iris.csv"           # where it is checked out, relative to the root
    kind = "file"
    manifest = "9f2c…"               # BLAKE3 of the version's manifest

``loopml data checkout`` needs nothing but this file and the objects, so
``git checkout <old commit> && loopml data checkout`` brings back old data.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from loopml.errors import InvalidInput
from loopml.store.artifacts import check_digest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["LockEntry", "pin", "read_lock", "update_lock"]

LOCK_FORMAT = 1
_HEADER = """\
# loopml.lock: the dataset versions this project uses, pinned by content hash.
# Commit it with your code. 'loopml data checkout' restores every dataset below
# to exactly these bytes; 'loopml data add' and 'loopml data checkout NAME@V'
# update it. Paths are relative to this file's folder.

"""


@dataclass(frozen=True)
class LockEntry:
    """One pinned dataset: its version, where it lives, and its manifest hash."""

    name: str
    version: int
    path: str
    kind: str
    manifest: str

    def local_path(self, root: Path) -> Path:
        """The absolute path of the working copy."""
        p = Path(self.path)
        return p if p.is_absolute() else root / p


def read_lock(path: Path | None = None) -> dict[str, LockEntry]:
    """The entries of the lock file at ``path`` (the project's ``loopml.lock`` by default)
    by dataset name; empty when there is none."""
    if path is None:
        from loopml.context import current

        path = current().settings.lock_path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
        if doc.get("format", LOCK_FORMAT) != LOCK_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {LOCK_FORMAT}")
        entries = {}
        for name, item in (doc.get("datasets") or {}).items():
            entries[name] = LockEntry(
                name=name,
                version=int(item["version"]),
                path=str(item["path"]),
                kind=str(item.get("kind", "folder")),
                manifest=check_digest(str(item["manifest"])),
            )
        return entries
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{path} is not a valid loopml lock file: {exc}. Restore it from git "
            "(git checkout -- loopml.lock) or remove it and add the datasets again."
        ) from exc


def _render(entries: dict[str, LockEntry]) -> str:
    doc = {
        "format": LOCK_FORMAT,
        "datasets": {
            name: {"version": e.version, "path": e.path, "kind": e.kind, "manifest": e.manifest}
            for name, e in sorted(entries.items())
        },
    }
    return _HEADER + tomli_w.dumps(doc)


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialize read-modify-write of the lock file between processes (a file lock in
    ``.loopml/``; where it cannot be created, e.g. a read-only checkout, writes go ahead
    unguarded and stay atomic)."""
    guard = lock_path.parent / ".loopml" / "lock.flock"
    try:
        guard.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        yield
        return
    from filelock import FileLock

    lock = FileLock(guard)
    try:
        lock.acquire()
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.release()


def update_lock(lock_path: Path, change: Callable[[dict[str, LockEntry]], None]) -> None:
    """Apply ``change`` to the entries and write the file atomically (temp + rename)."""
    with _exclusive(lock_path):
        entries = read_lock(lock_path)
        before = dict(entries)
        change(entries)
        if entries == before and lock_path.exists():
            return
        tmp = lock_path.with_name(f".{lock_path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(_render(entries), encoding="utf-8")
            os.replace(tmp, lock_path)
        finally:
            tmp.unlink(missing_ok=True)


def pin(lock_path: Path, entry: LockEntry) -> None:
    """Record ``entry`` in the lock file (replacing the dataset's previous pin)."""

    def change(entries: dict[str, LockEntry]) -> None:
        entries[entry.name] = entry

    update_lock(lock_path, change)
