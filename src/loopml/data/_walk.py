"""Listing the files of a dataset path with ``os.scandir`` (one ``stat`` per file)."""

from __future__ import annotations

import os
import stat as _stat
from pathlib import Path
from typing import NamedTuple

from loopml.errors import InvalidInput, NotFound

__all__ = ["SKIP_DIRS", "FileStat", "walk"]

#: Folders never taken into a dataset (version control and loopml's own state).
SKIP_DIRS = frozenset({".git", ".loopml", ".hg", ".svn", ".dvc"})


class FileStat(NamedTuple):
    """A file found on disk: POSIX path relative to the dataset root, absolute path, stat."""

    rel: str
    abs: str
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


def walk(root: str | os.PathLike[str]) -> tuple[str, list[FileStat]]:
    """``("file" | "folder", files)`` for a file or a folder, files sorted by path.

    A single file is listed under its own name. Symbolic links to files are
    followed; links to folders are not (so a loop of links cannot recurse).
    """
    path = os.path.abspath(os.fspath(root))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NotFound(
            f"no file or folder at {Path(root)}: expected a path to a data file or a folder "
            "of files. Check the path (relative paths start at the working directory)."
        ) from None
    if _stat.S_ISREG(st.st_mode):
        return "file", [
            FileStat(
                os.path.basename(path), path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns
            )
        ]
    if not _stat.S_ISDIR(st.st_mode):
        raise InvalidInput(f"{root} is neither a regular file nor a folder.")
    out: list[FileStat] = []
    _scan(path, "", out)
    out.sort()
    return "folder", out


def _scan(folder: str, prefix: str, out: list[FileStat]) -> None:
    # the hot loop of `status`: one stat() per file and little else
    append = out.append
    with os.scandir(folder) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    _scan(entry.path, f"{prefix}{entry.name}/", out)
            elif entry.is_file():  # known from the directory entry; a link is followed
                try:
                    st = entry.stat()
                except FileNotFoundError:  # removed while listing
                    continue
                append(
                    FileStat(
                        prefix + entry.name,
                        entry.path,
                        st.st_size,
                        st.st_mtime_ns,
                        st.st_ino,
                        st.st_ctime_ns,
                    )
                )
