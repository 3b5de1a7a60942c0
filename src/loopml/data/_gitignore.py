"""Keep versioned data out of git: ``data add`` lists its path in the project's
``.gitignore``, as DVC does, so only ``loopml.lock`` is committed for it.

One anchored line per dataset (``/data/iris.csv``, ``/images``), appended to the
``.gitignore`` at the project root, unless git already ignores the path (asked
of git when the project is a repository, else read from that file). The file
is rewritten whole and renamed into place, so it is never half written; a
``.gitignore`` that is a link is written where it points.

The line names that one path and nothing else: characters git reads as a
pattern (``*``, ``?``, ``[``, ``\\``, a trailing space) are escaped with a
backslash. A path with a line break cannot be written as one line, so
:func:`check_ignorable` refuses it before anything is stored.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from loopml import _files
from loopml.errors import InvalidInput

__all__ = ["check_ignorable", "ignore_path"]

GITIGNORE = ".gitignore"


_SPECIAL = re.compile(r"([\\*?\[])")


def pattern(rel: str) -> str:
    """The ``.gitignore`` line that matches the project path ``rel`` alone."""
    line = "/" + _SPECIAL.sub(r"\\\1", rel.strip("/"))
    stripped = line.rstrip(" ")
    return stripped + "\\ " * (len(line) - len(stripped))  # git drops unescaped trailing spaces


def check_ignorable(root: Path, rel: str) -> None:
    """Refuse, before a dataset is stored, a path :func:`ignore_path` cannot list: one
    with a line break, or a project whose ``.gitignore`` is not a file."""
    if "\n" in rel or "\r" in rel:
        raise InvalidInput(
            f"cannot version {rel!r}: a path with a line break cannot be listed in "
            ".gitignore (it would become two patterns). Rename it without the line break."
        )
    target = root / GITIGNORE
    if target.exists() and not target.is_file():
        raise InvalidInput(
            f"{target} is not a file, so {rel!r} cannot be listed in it. Make it a file (or "
            "remove it), then add the data again."
        )


def ignore_path(root: Path, rel: str) -> str | None:
    """Add the line for ``rel`` (:func:`pattern`) to ``root/.gitignore`` unless the path is
    ignored already; returns the line added, or None."""
    check_ignorable(root, rel)
    line = pattern(rel)
    target = root / GITIGNORE
    if target.is_symlink():
        target = target.resolve()
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
        prefix = pattern("/".join(parts[:i]))[1:]
        wanted.update({prefix, f"/{prefix}", f"{prefix}/", f"/{prefix}/"})
    for raw in text.splitlines():
        entry = raw.lstrip()
        entry = entry if entry.endswith("\\ ") else entry.rstrip()
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
