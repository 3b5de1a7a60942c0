"""Who holds which stored object, and garbage collection of the rest.

Whatever keeps an object alive — a dataset version's manifest and files, a
run's artifacts and its git diff, a step's cache entry, later a model
version — records a reference ``(digest, owner)`` in the same transaction
that records the thing itself; the owner is the URI of that thing
(``data:/iris@3``, ``runs:/<id>``, ``cache:/<key>``). ``gc`` removes objects
nobody references, and nothing the caller names as live beyond the references
(objects a package keeps without owning a reference: what ``loopml.lock`` pins in a
fresh clone, whose database knows nothing of the data it pulled).

Safe while other processes write: an object is only removed when it is
unreferenced *and* older than a grace period (one hour by default). Writers
refresh an object's modification time whenever they store or re-use it,
before they commit its reference, so an object a concurrent writer is about
to reference is always younger than the grace period.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from loopml.store.artifacts import ArtifactStore
from loopml.store.metadata import Connection, MetadataStore

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "GcReport",
    "add_refs",
    "collect_garbage",
    "holders",
    "release_owners",
    "release_refs",
]

DEFAULT_GRACE_SECONDS = 3600.0
_CHUNK = 5000


def add_refs(conn: Connection, owner: str, digests: Iterable[str]) -> None:
    """Record that ``owner`` holds every object in ``digests`` (inside a write transaction)."""
    rows = [{"digest": d, "owner": owner} for d in sorted(set(digests))]
    for i in range(0, len(rows), _CHUNK):
        conn.upsert("object_refs", rows[i : i + _CHUNK], keys=("digest", "owner"))


def release_refs(conn: Connection, owner: str, digests: Iterable[str]) -> None:
    """Forget that ``owner`` holds ``digests`` (inside a write transaction)."""
    wanted = sorted(set(digests))
    if wanted:
        test, param = conn.in_list(wanted)
        conn.execute(f"DELETE FROM object_refs WHERE owner = ? AND digest {test}", (owner, param))


def release_owners(conn: Connection, owners: Iterable[str]) -> None:
    """Forget every object ``owners`` hold (inside a write transaction)."""
    wanted = sorted(set(owners))
    if wanted:
        test, param = conn.in_list(wanted)
        conn.execute(f"DELETE FROM object_refs WHERE owner {test}", (param,))


def holders(conn: Connection, digests: Iterable[str], prefix: str) -> list[str]:
    """The owners whose URI starts with ``prefix`` that hold any of ``digests``, sorted
    (a package asks who else keeps its objects, e.g. ``deployments:/``, without knowing
    them)."""
    wanted = sorted(set(digests))
    if not wanted:
        return []
    test, param = conn.in_list(wanted)
    return list(
        conn.column(
            f"SELECT DISTINCT owner FROM object_refs WHERE digest {test} "
            "AND substr(owner, 1, ?) = ? ORDER BY owner",
            (param, len(prefix), prefix),
        )
    )


def _referenced(store: MetadataStore, ignore: frozenset[str] = frozenset()) -> set[str]:
    with store.read() as conn:
        if not ignore:
            return set(conn.column("SELECT DISTINCT digest FROM object_refs"))
        return {
            d
            for d, owner in conn.all("SELECT digest, owner FROM object_refs")
            if owner not in ignore
        }


@dataclass
class GcReport:
    """What a garbage collection found (and, unless ``dry_run``, removed)."""

    dry_run: bool
    kept: int = 0
    kept_bytes: int = 0
    young: int = 0
    removed: list[tuple[str, int]] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    """URIs of deleted runs, experiments and datasets removed for good (or, on a dry
    run, that would be)."""

    @property
    def removed_bytes(self) -> int:
        return sum(size for _, size in self.removed)


def collect_garbage(
    meta: MetadataStore,
    artifacts: ArtifactStore,
    *,
    dry_run: bool = True,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    live: Callable[[], Iterable[str]] | None = None,
    ignore_owners: Iterable[str] = (),
) -> GcReport:
    """Remove (or with ``dry_run`` only list) objects that nothing references.

    ``live`` returns further objects to keep (it is asked twice, like the
    references, so that what it learns of while gc runs is kept too).

    The object listing is taken *before* the references are read, so an
    object stored and referenced while gc runs is either young (kept by the
    grace period) or already in the reference set. Before anything is
    removed the references are read again, and each object is removed only
    if it is still older than the grace period (see
    :meth:`~loopml.store.artifacts.ArtifactStore.delete_if_stale`).

    References held by ``ignore_owners`` do not count (a dry run's view of owners
    that would be purged first).
    """
    report = GcReport(dry_run=dry_run)
    objects = list(artifacts.iter_objects())
    refs = _referenced(meta, frozenset(ignore_owners))
    if live is not None:
        refs.update(live())
    cutoff = time.time() - grace_seconds
    for digest, size, mtime in objects:
        if digest in refs:
            report.kept += 1
            report.kept_bytes += size
        elif mtime > cutoff:
            report.young += 1
        else:
            report.removed.append((digest, size))
    if dry_run:
        return report
    still = _referenced(meta)
    if live is not None:
        still.update(live())
    removed = []
    for digest, size in report.removed:
        if digest in still:
            report.kept += 1
            report.kept_bytes += size
        elif artifacts.delete_if_stale(digest, cutoff):
            removed.append((digest, size))
        else:
            report.young += 1
    report.removed = removed
    artifacts.clean_tmp(older_than=grace_seconds)
    return report
