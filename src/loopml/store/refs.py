"""Who holds which stored object, and garbage collection of the rest.

Whatever keeps an object alive — a dataset version's manifest and files, a
run's artifacts and its git diff, later a model version or a cache entry —
records a reference ``(digest, owner)`` in the same transaction that records
the thing itself. ``gc`` removes objects nobody references.

Safe while other processes write: an object is only removed when it is
unreferenced *and* older than a grace period (one hour by default). Writers
refresh an object's modification time whenever they store or re-use it,
before they commit its reference, so an object a concurrent writer is about
to reference is always younger than the grace period.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, select

from loopml.store import schema
from loopml.store.artifacts import ArtifactStore, LocalArtifactStore
from loopml.store.metadata import MetadataStore

__all__ = ["GcReport", "add_refs", "collect_garbage", "referenced_digests", "remove_refs"]

DEFAULT_GRACE_SECONDS = 3600.0


def add_refs(conn: Connection, store: MetadataStore, owner: str, digests: Iterable[str]) -> None:
    """Record that ``owner`` holds every object in ``digests`` (inside a write transaction)."""
    rows = [{"digest": d, "owner": owner} for d in set(digests)]
    for i in range(0, len(rows), 5000):
        store.upsert(conn, schema.object_refs, rows[i : i + 5000], keys=("digest", "owner"))


def remove_refs(conn: Connection, owner: str) -> None:
    """Forget every reference ``owner`` holds."""
    conn.execute(delete(schema.object_refs).where(schema.object_refs.c.owner == owner))


def referenced_digests(store: MetadataStore) -> set[str]:
    """Every digest some owner references."""
    with store.read() as conn:
        return set(conn.execute(select(schema.object_refs.c.digest).distinct()).scalars())


@dataclass
class GcReport:
    """What a garbage collection found (and, unless ``dry_run``, removed)."""

    dry_run: bool
    kept: int = 0
    kept_bytes: int = 0
    young: int = 0
    removed: list[tuple[str, int]] = field(default_factory=list)

    @property
    def removed_bytes(self) -> int:
        return sum(size for _, size in self.removed)


def collect_garbage(
    meta: MetadataStore,
    artifacts: ArtifactStore,
    *,
    dry_run: bool = True,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> GcReport:
    """Remove (or with ``dry_run`` only list) objects that nothing references.

    The object listing is taken *before* the references are read, so an
    object stored and referenced while gc runs is either young (kept by the
    grace period) or already in the reference set.
    """
    report = GcReport(dry_run=dry_run)
    objects = list(artifacts.iter_objects())
    refs = referenced_digests(meta)
    cutoff = time.time() - grace_seconds
    for digest, size, mtime in objects:
        if digest in refs:
            report.kept += 1
            report.kept_bytes += size
        elif mtime > cutoff:
            report.young += 1
        else:
            report.removed.append((digest, size))
    if not dry_run:
        still = referenced_digests(meta)
        removed = []
        for digest, size in report.removed:
            if digest in still:
                report.kept += 1
                report.kept_bytes += size
                continue
            if isinstance(artifacts, LocalArtifactStore):
                if not artifacts.delete_if_stale(digest, cutoff):
                    report.young += 1
                    continue
            else:
                artifacts.delete(digest)
            removed.append((digest, size))
        report.removed = removed
        if isinstance(artifacts, LocalArtifactStore):
            artifacts.clean_tmp(older_than=grace_seconds)
    return report
