"""Manifests: the small, canonical list of files that *is* a dataset version.

A manifest is serialized as sorted-key JSON with its entries sorted by path::

    {"files": [["a.csv", "<blake3>", 1234], ...], "format": 1, "kind": "folder"}

and stored as an object itself, so equal folders have equal manifest hashes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from loopml.context import current
from loopml.data._paths import clean_paths_problem
from loopml.data._records import ManifestEntry
from loopml.errors import CorruptObject, InvalidInput
from loopml.store.artifacts import ArtifactStore

__all__ = ["FORMAT", "Manifest", "load_manifest", "store_manifest"]

FORMAT = 1
KINDS = ("file", "folder")


@dataclass(frozen=True)
class Manifest:
    """A dataset version's files (sorted by path) and whether it is one file or a folder."""

    kind: str
    entries: tuple[ManifestEntry, ...]

    @classmethod
    def build(cls, kind: str, entries: Iterable[ManifestEntry]) -> Manifest:
        if kind not in KINDS:
            raise InvalidInput(f"manifest kind must be one of {KINDS}, got {kind!r}")
        return cls(kind, tuple(sorted(entries, key=lambda e: e.path)))

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def digests(self) -> set[str]:
        return {e.digest for e in self.entries}

    def by_path(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.entries}

    def to_bytes(self) -> bytes:
        files = [[e.path, e.digest, e.size] for e in self.entries]
        return orjson.dumps(
            {"format": FORMAT, "kind": self.kind, "files": files}, option=orjson.OPT_SORT_KEYS
        )

    @classmethod
    def from_bytes(cls, data: bytes, digest: str = "?") -> Manifest:
        try:
            doc = orjson.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT}")
            entries = tuple(ManifestEntry(p, d, int(s)) for p, d, s in doc["files"])
            kind = doc["kind"]
            if kind not in KINDS:
                raise ValueError(f"kind {kind!r}, expected one of {KINDS}")
            _check_entries(entries)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CorruptObject(
                f"object {digest} is not a dataset manifest ({exc}). "
                "Expected the manifest hash from loopml.lock or 'loopml data show'."
            ) from exc
        _check_paths(kind, entries, digest)
        return cls(kind, entries)


def _check_entries(entries: tuple[ManifestEntry, ...]) -> None:
    """Paths are text, hashes are 64 lowercase hex digits, sizes are not negative (checked
    on the joined columns: a manifest may list many thousands of files)."""
    if not entries:
        return
    paths, digests, sizes = zip(*entries, strict=True)
    "".join(paths)  # TypeError unless every path is text
    joined = "".join(digests)
    try:
        ok = len(joined) == 64 * len(digests) and len(bytes.fromhex(joined)) == 32 * len(digests)
    except ValueError:
        ok = False
    if not ok or joined.lower() != joined:
        bad = next(d for d in digests if not _is_digest(d))
        raise ValueError(f"invalid object hash {bad!r}, expected 64 hexadecimal characters")
    if min(sizes) < 0:
        raise ValueError(f"negative size {min(sizes)}")


def _is_digest(d: str) -> bool:
    return len(d) == 64 and d.lower() == d and all(c in "0123456789abcdef" for c in d)


def _check_paths(kind: str, entries: tuple[ManifestEntry, ...], digest: str) -> None:
    """Refuse a manifest whose paths would write anywhere but inside the dataset's folder
    (untrusted: it may come from a remote or from a hand-edited lock)."""
    if kind == "file" and (len(entries) != 1 or "/" in entries[0].path):
        raise CorruptObject(
            f"manifest {digest} is of a single file, but lists {[e.path for e in entries]!r}: "
            "expected exactly one file name without '/'. Nothing was written. Check the "
            "manifest hash in loopml.lock (restore it from git), or pull the data again from "
            "a remote you trust."
        )
    found = clean_paths_problem([e.path for e in entries])
    if found is not None:
        path, why = found
        raise CorruptObject(
            f"manifest {digest} lists {path!r}, which is not a clean relative path inside the "
            f"dataset ({why}). Expected paths such as 'train/part-0.csv'. Nothing was written. "
            "Check the manifest hash in loopml.lock (restore it from git), or pull the data "
            "again from a remote you trust."
        )


def store_manifest(manifest: Manifest, store: ArtifactStore | None = None) -> str:
    """Store ``manifest`` as an object; returns its hash."""
    store = store or current().artifacts
    return store.put_bytes(manifest.to_bytes()).digest


@functools.lru_cache(maxsize=64)
def _load_cached(digest: str, store: ArtifactStore) -> Manifest:
    return Manifest.from_bytes(store.get_bytes(digest), digest)


def load_manifest(digest: str, store: ArtifactStore | None = None) -> Manifest:
    """The manifest stored under ``digest`` (verified, and parsed once per process and store)."""
    return _load_cached(digest, store or current().artifacts)
