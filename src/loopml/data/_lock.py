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

The file arrives with ``git pull``, so its paths are untrusted: every reader
refuses (with :class:`InvalidInput`, before any file is touched) a path that
is absolute, empty or the project folder itself, has a ``..``, ``.`` or empty
part, goes into ``.git`` or ``.loopml``, names ``loopml.toml`` or
``loopml.lock``, or that another dataset's path equals or contains.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from loopml import _files, _validate
from loopml._validate import shown
from loopml.data._paths import overlaps, path_problem
from loopml.errors import InvalidInput
from loopml.store.artifacts import check_digest
from loopml.uri import check_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["LockEntry", "check_pin", "pin", "read_lock", "update_lock"]

LOCK_FORMAT = 1
#: The largest version number a lock may pin (the database stores 64-bit integers).
MAX_VERSION = 2**63 - 1
_HEADER = """\
# loopml.lock: the dataset versions this project uses, pinned by content hash.
# Commit it with your code. 'loopml data checkout' restores every dataset below
# to exactly these bytes; 'loopml data add' and 'loopml data checkout NAME@V'
# update it. Paths are relative to this file's folder and stay inside it.

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
        """The absolute path of the working copy (``path`` is checked to be relative)."""
        return root / self.path


def read_lock(path: Path | None = None) -> dict[str, LockEntry]:
    """The entries of the lock file at ``path`` (the project's ``loopml.lock`` by default)
    by dataset name; empty when there is none."""
    if path is None:
        from loopml.context import current

        path = current().settings.lock_path
    else:
        path = _validate.path(path, "path")
    raw = _files.read_small(path, "lock file")
    if raw is None:
        return {}
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
        fmt = doc.get("format", LOCK_FORMAT)
        if type(fmt) is not int or fmt != LOCK_FORMAT:
            raise ValueError(f"format {fmt!r}, expected {LOCK_FORMAT}")
        datasets = doc.get("datasets", {})
        if not isinstance(datasets, dict):
            raise ValueError(f"'datasets' is {shown(datasets)}, not a table of datasets")
        entries = {name: _entry(name, item) for name, item in datasets.items()}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, ValueError, InvalidInput) as exc:
        raise InvalidInput(
            f"{path} is not a valid loopml lock file: {str(exc).rstrip('.')}. Restore it from "
            "git (git checkout -- loopml.lock) or remove it and add the datasets again."
        ) from None
    except RecursionError:
        raise InvalidInput(
            f"{path} nests tables or arrays too deeply to be a loopml lock file. Restore it "
            "from git (git checkout -- loopml.lock) or remove it and add the datasets again."
        ) from None
    check_paths(entries, path)
    return entries


def _entry(name: str, item: object) -> LockEntry:
    """One ``[datasets.NAME]`` table, every field checked: the file is untrusted."""
    try:
        check_name(name, "dataset name")
    except InvalidInput as exc:
        raise ValueError(f"{str(exc).rstrip('.')} (a [datasets.NAME] table)") from None
    if not isinstance(item, dict):
        raise ValueError(f"dataset {name!r} is {shown(item)}, not a table")
    missing = [k for k in ("version", "path", "manifest") if k not in item]
    if missing:
        raise ValueError(f"dataset {name!r} has no {', '.join(missing)}")
    version = item["version"]
    if type(version) is not int or not 1 <= version <= MAX_VERSION:
        raise ValueError(
            f"the version of {name!r} is {shown(version)}, expected a whole number from 1 "
            f"to {MAX_VERSION}"
        )
    path = item["path"]
    if not isinstance(path, str):
        raise ValueError(f"the path of {name!r} is {shown(path)}, not text")
    kind = item.get("kind", "folder")
    if kind not in ("file", "folder"):
        raise ValueError(f"the kind of {name!r} is {shown(kind)}, not file or folder")
    manifest = item["manifest"]
    if not isinstance(manifest, str):
        raise ValueError(f"the manifest of {name!r} is {shown(manifest)}, not text")
    return LockEntry(name, version, path, kind, check_digest(manifest))


_OWN_FILES = frozenset({"loopml.toml", "loopml.lock"})


def lock_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be where a dataset is checked out; None when it can."""
    if path in ("", ".", "./"):
        return "it is the project folder itself"
    why = path_problem(path)
    if why is not None:
        return why
    if path in _OWN_FILES:
        return "it is loopml's own file"
    return None


def check_paths(entries: dict[str, LockEntry], lock_path: Path) -> None:
    """Refuse a lock whose paths are unsafe, or overlap (one dataset's folder holding
    another's, or two datasets at one path), before anything is written."""
    by_path: dict[str, str] = {}
    for name, e in sorted(entries.items()):
        why = lock_path_problem(e.path)
        if why is not None:
            raise InvalidInput(
                f"{lock_path}: dataset {name!r} has path {e.path!r}, but {why}. Expected a "
                "path relative to the project folder that stays inside it, such as "
                "'data/iris.csv'. Fix the entry, or restore the file from git "
                "(git checkout -- loopml.lock)."
            )
        other = by_path.setdefault(e.path, name)
        if other != name:
            raise InvalidInput(
                f"{lock_path}: datasets {other!r} and {name!r} both have path {e.path!r}; "
                "checking out one would overwrite the other. Expected one path per dataset: "
                "remove one of the entries, or restore the file from git."
            )
    if len(by_path) > 1:
        folder = overlaps(sorted(by_path))
        if folder is not None:
            inner = sorted(p for p in by_path if p.startswith(folder + "/"))[0]
            raise InvalidInput(
                f"{lock_path}: the paths of datasets {by_path[folder]!r} ({folder}) and "
                f"{by_path[inner]!r} ({inner}) overlap: checking out the first would remove "
                "or overwrite the files of the second. Expected separate places, e.g. "
                "'data/a/' and 'data/b/'; fix the entries, or restore the file from git."
            )


def check_pin(lock_path: Path, name: str, path: str) -> None:
    """Refuse, before anything is stored, to pin dataset ``name`` at ``path`` when that
    would make the lock unsafe (see :func:`check_paths`): a path that holds, or lies in,
    another dataset's path. (Another dataset at the very same path loses its pin to
    ``name``: see :func:`pin`.)"""
    why = lock_path_problem(path)
    if why is not None:
        raise InvalidInput(
            f"cannot pin dataset {name!r} at {path!r} in {lock_path.name}: {why}. Expected a "
            "data file or folder inside the project, such as 'data/iris.csv'."
        )
    entries = read_lock(lock_path)
    for other in sorted(entries.values(), key=lambda e: e.name):
        if other.name == name or other.path == path:  # the latter's pin moves to ``name``
            continue
        if path.startswith(other.path + "/") or other.path.startswith(path + "/"):
            raise InvalidInput(
                f"cannot pin dataset {name!r} at {path!r} in {lock_path.name}: it overlaps "
                f"the path {other.path!r} of dataset {other.name!r}, and checking out one "
                "would remove or overwrite the files of the other. Expected a place of its "
                f"own: add a file or folder that neither holds nor lies in {other.path!r}, "
                f"or add it as {other.name!r}."
            )
    entries = {n: e for n, e in entries.items() if e.path != path}
    entries[name] = LockEntry(name, 0, path, "folder", "0" * 64)
    check_paths(entries, lock_path)


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
        check_paths(entries, lock_path)
        _files.write_text(lock_path, _render(entries), "lock file")


def pin(lock_path: Path, entry: LockEntry) -> None:
    """Record ``entry`` in the lock file, replacing the dataset's previous pin and the pin of
    any other dataset at the same path (that path now holds ``entry``'s version)."""

    def change(entries: dict[str, LockEntry]) -> None:
        for other in [e for e in entries.values() if e.path == entry.path]:
            del entries[other.name]
        entries[entry.name] = entry

    update_lock(lock_path, change)
