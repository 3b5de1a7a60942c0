"""What a run records about where it ran: git state, command line, user, environment.

Everything here is cheap and never fails a run: git is asked with short
timeouts (one ``git status`` for commit, branch and dirty flag; ``git diff
HEAD`` only when the tree is dirty), and a missing git, a folder outside a
repository or a slow file system simply leaves the fields None. The git
state is that of the repository holding the working directory; untracked
files are not part of the dirty flag or the diff.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from loopml._user import current_user
from loopml.uri import redact

__all__ = [
    "KEY_PACKAGES",
    "Capture",
    "GitState",
    "capture",
    "environment",
    "git_state",
    "redact_argv",
]

#: Packages whose installed versions every run records.
KEY_PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "torch",
    "xgboost",
    "lightgbm",
    "pyarrow",
)

_GIT_TIMEOUT = 3.0
_DIFF_TIMEOUT = 10.0


@dataclass(frozen=True)
class GitState:
    """The commit, branch and dirty flag of a working tree, with its diff when dirty."""

    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None
    diff: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Capture:
    """Everything recorded about the process that starts a run."""

    git: GitState
    user: str | None
    entry_point: str | None
    command: str | None
    environment: dict[str, str]
    pid: int
    host: str


def capture(cwd: Path | None = None, *, with_git: bool = True) -> Capture:
    """Capture git state (unless ``with_git`` is false), command line, user and environment."""
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    return Capture(
        git=git_state(cwd or Path.cwd()) if with_git else GitState(),
        user=current_user(),
        entry_point=sys.argv[0] if sys.argv and sys.argv[0] else None,
        command=shlex.join(redact_argv(argv)) if argv else None,
        environment=dict(environment()),
        pid=os.getpid(),
        host=socket.gethostname(),
    )


_SECRET_FLAGS = ("password", "passwd", "secret", "token", "apikey", "api-key", "api_key",
                 "credential")  # fmt: skip


def redact_argv(argv: list[str]) -> list[str]:
    """The command line as a run records it: passwords and keys in URLs blanked, and the
    value of a ``--password``/``--token``/``--secret``/``--api-key`` option too."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if arg.startswith("-") and any(w in name.lower() for w in _SECRET_FLAGS):
            out.append(f"{name}=***" if eq else arg)
            hide_next = not eq
            continue
        out.append(redact(arg))
    return out


def git_state(cwd: Path) -> GitState:
    """The git state of the repository holding ``cwd``; all None outside one or without git."""
    out = _git(cwd, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if out is None:
        return GitState()
    commit = branch = None
    dirty = False
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            value = line[len("# branch.oid ") :].strip()
            commit = None if value == "(initial)" else value
        elif line.startswith("# branch.head "):
            value = line[len("# branch.head ") :].strip()
            branch = None if value == "(detached)" else value
        elif line and not line.startswith("#"):
            dirty = True
    diff = None
    if dirty and commit is not None:
        diff = _git(
            cwd, "diff", "HEAD", "--no-color", "--no-ext-diff", "--binary", timeout=_DIFF_TIMEOUT
        )
    return GitState(commit=commit, branch=branch, dirty=dirty, diff=diff or None)


@functools.lru_cache(maxsize=1)
def environment() -> tuple[tuple[str, str], ...]:
    """Python version, platform and versions of the key packages that are installed."""
    items = [
        ("python", platform.python_version()),
        ("platform", f"{platform.system()}-{platform.release()}-{platform.machine()}"),
    ]
    for name in KEY_PACKAGES:
        try:
            items.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    from loopml import __version__

    items.append(("loopml", __version__))
    return tuple(items)


def _git(cwd: Path, *args: str, timeout: float = _GIT_TIMEOUT) -> bytes | None:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None
