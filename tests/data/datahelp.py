"""Helpers for the data tests: small folders, and a snapshot of everything stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def make_folder(root: Path, n: int, prefix: str = "f", size: int = 64) -> Path:
    """``n`` small distinct files spread over a few sub-folders."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sub = root / f"part{i % 4}"
        sub.mkdir(exist_ok=True)
        (sub / f"{prefix}{i:05d}.txt").write_bytes(f"{prefix}-{i}\n".encode().ljust(size, b"."))
    return root


def object_files(project: Path) -> set[str]:
    """Every object file in the project's local artifact store."""
    objects = project / ".loopml" / "artifacts" / "objects"
    if not objects.is_dir():
        return set()
    return {p.parent.name + p.name for p in objects.glob("*/*")}


@dataclass(frozen=True)
class Snapshot:
    """What the stores hold: row counts of the data tables, object files, the lock file."""

    rows: tuple[int, ...]
    objects: frozenset[str]
    lock: bytes | None


def snapshot(project: Path) -> Snapshot:
    from loopml.context import current

    tables = ("datasets", "dataset_versions", "object_refs", "lineage")
    with current().metadata.read() as conn:
        rows = tuple(int(conn.scalar(f"SELECT count(*) FROM {t}")) for t in tables)
    lock = project / "loopml.lock"
    return Snapshot(
        rows, frozenset(object_files(project)), lock.read_bytes() if lock.exists() else None
    )
