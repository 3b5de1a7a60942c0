"""Helpers for tracking tests: run Python in a child process against the test's store."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this one's (with the test's LOOPML_*) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _prepare_store() -> None:
    """Create the test's database here, so children do not each pay for the migrations."""
    from loopml.context import current

    current().metadata.schema_revision()  # opening the store migrates it


@pytest.fixture
def run_python(project: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a Python snippet in a child process in the project folder."""

    def run(code: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        _prepare_store()
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=project,
            env=child_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def spawn_python(project: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start a Python snippet in a child process in the project folder (stdout piped)."""
    children: list[subprocess.Popen[str]] = []

    def spawn(code: str, **env: str) -> subprocess.Popen[str]:
        _prepare_store()
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=project,
            env=child_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
