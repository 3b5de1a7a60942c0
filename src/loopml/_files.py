"""Writing a small file users keep (a suite, ``params.yaml``, ``loopml.lock``) atomically.

The text goes to a temporary file beside the target, is flushed to the disk, and
is renamed over the target: a reader sees the old file or the new one, never half
of one, and a crash leaves at most a stray ``.tmp`` file. A place that cannot be
written is one :class:`~loopml.errors.StoreError` line naming it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from loopml.errors import StoreError

__all__ = ["write_text"]


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
