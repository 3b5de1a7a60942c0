"""Listing the files of a dataset path with ``os.scandir`` (one ``stat`` per file)."""

from __future__ import annotations

import errno
import os
import stat as _stat
from pathlib import Path
from typing import NamedTuple

from loopml import _validate
from loopml.data._paths import RESERVED, is_leftover
from loopml.errors import InvalidInput, NotFound

__all__ = ["SKIP_DIRS", "FileStat", "walk"]

#: Folders never taken into a dataset (version control and loopml's own state).
SKIP_DIRS = RESERVED


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
    followed. A link to a folder inside a folder, a link to nothing and a loop
    of links are refused with :class:`InvalidInput` naming them (a dataset holds
    files; a checkout never writes through a link). The temporary files a
    killed checkout or pull leaves (``.<name>.<8 hex>.checkout`` or ``.part``)
    are not data and are not listed.
    """
    path = os.path.abspath(os.fspath(root))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise _broken_link(path) from None
        raise NotFound(
            f"no file or folder at {Path(root)}: expected a path to a data file or a folder "
            "of files. Check the path (relative paths start at the working directory)."
        ) from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    _validate.file_names([path], "the path")
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
    _validate.file_names([f.rel for f in out], path)
    out.sort()
    return "folder", out


def _scan(folder: str, prefix: str, out: list[FileStat]) -> None:
    # the hot loop of `add`: one stat() per file and little else
    append = out.append
    try:
        it = os.scandir(folder)
    except OSError as exc:
        raise _unreadable(folder, exc) from None
    with it:
        for entry in it:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS and not is_leftover(entry.name, folder=True):
                        _scan(entry.path, f"{prefix}{entry.name}/", out)
                elif entry.is_file():  # known from the directory entry; a link is followed
                    if entry.name[0] == "." and is_leftover(entry.name):
                        continue
                    st = entry.stat()
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
                elif entry.is_symlink():
                    if entry.is_dir():
                        raise InvalidInput(
                            f"{entry.path} is a link to a folder ({os.readlink(entry.path)}): "
                            "loopml does not follow links to folders inside a dataset, so that "
                            "a loop of links cannot recurse and a checkout never writes through "
                            "a link. Add the linked folder as a dataset of its own, or replace "
                            "the link with a copy of the folder."
                        )
                    raise _broken_link(entry.path)
            except FileNotFoundError:  # removed while listing
                continue
            except OSError as exc:
                raise _unreadable(entry.path, exc) from None


def _broken_link(path: str) -> InvalidInput:
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    return InvalidInput(
        f"{path} is a symbolic link to {target}, which does not exist: expected a file or a "
        "folder. Remove the link, or point it at the data."
    )


def _unreadable(path: str, exc: OSError) -> InvalidInput:
    if exc.errno == errno.ELOOP:
        return InvalidInput(
            f"{path} is a loop of symbolic links (it leads back to itself): expected a file "
            "or a folder. Remove the link, or point it at the data."
        )
    return InvalidInput(
        f"cannot read {path}: {exc.strerror or exc}. Expected a readable file or folder; fix "
        "the permissions or leave it out."
    )
