"""Reading and writing the small files users keep (a suite, ``params.yaml``, ``loopml.lock``).

Such a file may arrive with ``git pull``, so reading it is bounded: a link to a device
(``/dev/zero``), a FIFO or a folder in its place is one :class:`~loopml.errors.InvalidInput`
line, never a hang or a MemoryError.

Writing is atomic.
The text goes to a temporary file beside the target, is flushed to the disk, and
is renamed over the target: a reader sees the old file or the new one, never half
of one, and a crash leaves at most a stray ``.tmp`` file. A place that cannot be
written is one :class:`~loopml.errors.StoreError` line naming it.
"""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

from loopml.errors import InvalidInput, StoreError

__all__ = ["MAX_SMALL_FILE", "read_small", "write_text"]

#: The largest lock, settings or parameters file read (they are a few kilobytes).
MAX_SMALL_FILE = 16 * 2**20


def read_small(path: Path, what: str = "file", limit: int = MAX_SMALL_FILE) -> bytes | None:
    """The bytes of the regular file at ``path`` (links followed); None when there is none.

    A folder, FIFO, socket or device in its place, a file over ``limit`` bytes, or one that
    cannot be read is an :class:`InvalidInput` naming it: opening never blocks (a FIFO), and
    reading never takes more than ``limit`` bytes (``/dev/zero``)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == 20:  # ENOTDIR: a file where a parent folder should be
            return None
        raise InvalidInput(
            f"cannot read the {what} {path}: {exc.strerror or type(exc).__name__}. Expected "
            "a regular file this process may read."
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInput(
                f"the {what} {path} is not a regular file (a folder, device, FIFO or socket, "
                "or a link to one). Replace it with the file (e.g. git checkout -- "
                f"{path.name}) or remove it."
            )
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(2**20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the {what} {path}: {exc.strerror or type(exc).__name__}."
        ) from None
    finally:
        os.close(fd)
    if size > limit:
        raise InvalidInput(
            f"the {what} {path} is over {limit // 2**20} MiB, far more than such a file "
            f"holds. Restore it (e.g. git checkout -- {path.name}) or remove it."
        )
    return b"".join(chunks)


def write_text(target: Path, text: str, what: str = "file") -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and durably; returns ``target``."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise StoreError(
            f"cannot write the {what} {target}: {exc.strerror or type(exc).__name__}. Expected "
            "a place this process may write: check the path and its permissions (or free "
            "some space), then try again."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
