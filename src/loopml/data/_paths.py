"""Paths read back from stored records (``loopml.lock``, manifests) are untrusted input.

A lock file comes with a ``git pull``, a manifest with a ``loopml data pull``:
either may have been written by someone else, by hand, or by an attacker. Before
any file is written or removed, every such path must be a clean relative POSIX
path that stays where it belongs: no ``..``, no absolute path, no empty or
``.`` parts, no NUL, and never into version control or loopml's own state.

Also here: the names of the temporary files loopml leaves next to a file while
it writes it, which a killed checkout or pull may leave behind and which are
never data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["RESERVED", "clean_paths_problem", "is_leftover", "overlaps", "path_problem"]

#: Folders never taken into a dataset, never written into by a checkout (version control
#: and loopml's own state).
RESERVED = frozenset({".git", ".loopml", ".hg", ".svn", ".dvc"})

#: ``.<name>.<8 hex>.checkout`` (a checkout's staged file) and ``.<name>.<8 hex>.part``
#: (an object being copied out of a store), as left by a process killed mid-write.
_LEFTOVER = re.compile(r"\..+\.[0-9a-f]{8}\.(?:checkout|part)\Z")
#: ``.tmp-<32 hex>``: a folder being built (a local copy of a dataset version).
_LEFTOVER_DIR = re.compile(r"\.tmp-[0-9a-f]{32}\Z")


def is_leftover(name: str, folder: bool = False) -> bool:
    """Whether the file (or ``folder``) ``name`` is a temporary loopml writes and removes."""
    return (_LEFTOVER_DIR if folder else _LEFTOVER).match(name) is not None


def path_problem(path: str, *, leaf_may_be_reserved: bool = False) -> str | None:
    """Why ``path`` is not a clean relative POSIX path inside its folder; None when it is.

    Anything :func:`~loopml.data._walk.walk` lists passes (a file may be named
    ``.git`` with ``leaf_may_be_reserved``; only folders of those names are skipped).
    """
    if not isinstance(path, str):
        return f"it is a {type(path).__name__}, not text"
    if not path:
        return "it is empty"
    if "\x00" in path:
        return "it holds a NUL character"
    if path[0] == "/":
        return "it is absolute"
    if "//" in path or path[-1] == "/":
        return "it has an empty part ('//' or a trailing '/')"
    if "/." in "/" + path:  # some part starts with a dot: look closer
        parts = path.split("/")
        for i, part in enumerate(parts):
            if part == "..":
                return "it has a '..' part, which leads out of its folder"
            if part == ".":
                return "it has a '.' part"
            if part in RESERVED and not (leaf_may_be_reserved and i == len(parts) - 1):
                return f"it goes into {part}, which holds version control or loopml's own state"
    return None


def clean_paths_problem(paths: Sequence[str]) -> tuple[str, str] | None:
    """``(path, why)`` for the first of a manifest's ``paths`` that is unclean, listed
    twice, or both a file and a folder of another; None when all are fine. Fast for many
    paths: the common case is checked on one joined string."""
    blob = "\n" + "\n".join(paths) + "\n"
    suspicious = (
        blob.count("\n") != len(paths) + 1
        or "\n\n" in blob
        or "\n/" in blob
        or "\x00" in blob
        or "//" in blob
        or "/\n" in blob
        or "/." in blob
        or "\n." in blob
    )
    if suspicious:
        for p in paths:
            why = path_problem(p, leaf_may_be_reserved=True)
            if why is not None:
                return p, why
    names = set(paths)
    if len(names) != len(paths):
        seen: set[str] = set()
        for p in paths:
            if p in seen:
                return p, "it is listed more than once"
            seen.add(p)
    clash = overlaps(paths, names)
    if clash is not None:
        return clash, "it is both a file and a folder of other files"
    return None


def overlaps(paths: Sequence[str], names: set[str] | None = None) -> str | None:
    """The first of ``paths`` that is a folder holding another of them, else None."""
    names = set(paths) if names is None else names
    parents = {p.rpartition("/")[0] for p in paths}
    parents.discard("")
    folders: set[str] = set()
    for folder in parents:  # few: one per folder, not per file
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    common = folders & names
    return min(common) if common else None
