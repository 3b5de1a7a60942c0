"""A Rich progress bar in bytes, shown only when the work is large and someone is watching."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

__all__ = ["LARGE_BYTES", "LARGE_FILES", "byte_progress"]

LARGE_BYTES = 64 << 20
LARGE_FILES = 1000

Advance = Callable[[int], None]


def _noop(_n: int) -> None:
    return None


def wants_progress(progress: bool | None, total_bytes: int, n_files: int) -> bool:
    """``progress`` if given; otherwise only for large work with a terminal on stderr."""
    if progress is not None:
        return progress
    if total_bytes <= LARGE_BYTES and n_files <= LARGE_FILES:
        return False
    return sys.stderr.isatty()


@contextlib.contextmanager
def byte_progress(
    description: str, total_bytes: int, n_files: int, progress: bool | None
) -> Iterator[Advance]:
    """Yield ``advance(nbytes)``: it moves a bar on stderr, or does nothing."""
    if not wants_progress(progress, total_bytes, n_files):
        yield _noop
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=max(total_bytes, 1))

        def advance(n: int) -> None:
            bar.advance(task, n)

        yield advance
