"""Local copies of dataset versions under ``<project>/.loopml/cache/data/<manifest hash>/``.

A copy is built in a temporary folder, every file verified against its hash
as it is copied out of the artifact store, then renamed into place in one
step; a copy that is already there is re-used. Temporary folders older than
an hour (of a process killed while building one) are removed when the next
copy is built.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from pathlib import Path

from loopml.context import Context, current
from loopml.data._manifest import load_manifest
from loopml.errors import NotFound

__all__ = ["materialize"]


def materialize(manifest_digest: str, context: Context | None = None, label: str = "") -> Path:
    """The local path holding exactly the version's bytes (the file itself for one file),
    from the artifact store of ``context`` (default: the current one); ``label`` (such
    as ``data:/iris@3``) names the version in a NotFound for a missing object."""
    ctx = context or current()
    try:
        manifest = load_manifest(manifest_digest, ctx.artifacts)
    except NotFound as exc:
        raise _missing(label, manifest_digest, "its manifest", exc) from None
    base = ctx.settings.state_dir / "cache" / "data"
    final = base / manifest_digest
    target = final / manifest.entries[0].path if manifest.kind == "file" else final
    if final.is_dir():
        return target
    store = ctx.artifacts
    _remove_stale(base)
    tmp = base / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    try:
        for entry in manifest.entries:
            dest = tmp / entry.path
            try:
                store.get_file(entry.digest, dest)
            except NotFound as exc:
                raise _missing(label, entry.digest, repr(entry.path), exc) from None
            os.chmod(dest, 0o444)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _missing(label: str, digest: str, what: str, exc: NotFound) -> NotFound:
    if not label:
        return exc
    return NotFound(
        f"{label} is not complete in the local store: {what} (object {digest}) is missing. "
        "Fetch it with 'loopml data pull' (from the data remote the project pushes to)."
    )


def _remove_stale(base: Path, older_than: float = 3600.0) -> None:
    """Remove the temporary folders of copies whose builder was killed."""
    cutoff = time.time() - older_than
    with contextlib.suppress(FileNotFoundError), os.scandir(base) as it:
        for entry in it:
            if entry.name.startswith(".tmp-") and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry.path, ignore_errors=True)
