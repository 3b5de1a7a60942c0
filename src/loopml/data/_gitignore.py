"""Keep versioned data out of git: ``data add`` lists its path in the project's
``.gitignore``, as DVC does, so only ``loopml.lock`` is committed for it.

One anchored line per dataset (``/data/iris.csv``, ``/images``), appended to the
``.gitignore`` at the project root, unless git already ignores the path (asked
of git when the project is a repository, else read from that file). The file
is rewritten whole and renamed into place, so it is never half written.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from loopml import _files

__all__ = ["ignore_path"]

GITIGNORE = ".gitignore"


def ignore_path(root: Path, rel: str) -> str | None:
    """Add ``/rel`` to ``root/.gitignore`` unless the path is ignored already; returns the
    line added, or None."""
    line = "/" + rel.strip("/")
    target = root / GITIGNORE
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if _listed(text, rel) or _git_ignores(root, rel):
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    _files.write_text(target, text + line + "\n", GITIGNORE)
    return line


def _listed(text: str, rel: str) -> bool:
    """Whether a line of ``text`` names ``rel`` or a folder holding it, plainly."""
    parts = rel.strip("/").split("/")
    wanted = set()
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        wanted.update({prefix, f"/{prefix}", f"{prefix}/", f"/{prefix}/"})
    for raw in text.splitlines():
        entry = raw.strip()
        if entry and not entry.startswith("#") and entry in wanted:
            return True
    return False


def _git_ignores(root: Path, rel: str) -> bool:
    """Whether git, in the repository holding ``root``, ignores ``rel`` (False when git is
    missing or ``root`` is in no repository)."""
    git = shutil.which("git")
    if git is None:
        return False
    try:
        result = subprocess.run(
            [git, "check-ignore", "-q", "--", rel],
            cwd=root,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0
