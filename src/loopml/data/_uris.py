"""``data:/`` in the URI registry: open a dataset version, describe versions, and name
the objects gc must keep."""

from __future__ import annotations

from loopml.context import Context
from loopml.data import _repository
from loopml.data._lock import read_lock
from loopml.data._manifest import load_manifest
from loopml.data._resolve import resolve as resolve_reference
from loopml.errors import NotFound
from loopml.lineage import Node
from loopml.uri import DataURI, parse_data_uri

__all__ = ["describe", "live_objects", "purge", "resolve"]


def resolve(ctx: Context, uri: DataURI) -> Node:
    """The version ``uri`` names, by the rule of :mod:`loopml.data._resolve` (``@latest``
    the newest, a bare name the version ``loopml.lock`` pins)."""
    version = resolve_reference(ctx, uri).version
    return Node(version.uri, version)


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``N files, B bytes[, message]`` for each version that exists."""
    labels: dict[str, str] = {}
    for uri in uris:
        parsed = parse_data_uri(uri)
        if parsed.version is None:
            continue  # edges hold versions; a reference without one names no node
        try:
            ds = _repository.find_version(ctx.metadata, parsed.name, parsed.version)
        except NotFound:
            continue
        files = "1 file" if ds.n_files == 1 else f"{ds.n_files} files"
        labels[uri] = f"{files}, {ds.total_bytes:,} bytes" + (
            f", {ds.message}" if ds.message else ""
        )
    return labels


def live_objects(ctx: Context) -> set[str]:
    """The manifest and every file of each version pinned by the project's ``loopml.lock``
    and of each dataset version the metadata store holds.

    Dataset versions own references to their objects, but a fresh clone's
    ``loopml data pull`` stores the pinned objects with no version recorded,
    and a version must not lose its files to a lost reference. A lock that
    cannot be read stops gc (:class:`~loopml.errors.InvalidInput`): what it
    pins is not known.
    """
    store = ctx.artifacts
    # a removed dataset's versions are purged before gc collects (a dry run skips them too)
    manifests = set(_repository.manifest_digests(ctx.metadata, removed=False))
    manifests.update(e.manifest for e in read_lock(ctx.settings.lock_path).values())
    live = set(manifests)
    for digest in sorted(store.existing(manifests)):
        live.update(e.digest for e in load_manifest(digest, store).entries)
    return live


def purge(ctx: Context, dry_run: bool) -> list[str]:
    """Remove for good the datasets users removed (``loopml data remove``): their
    versions, and the object references and lineage edges those hold; returns the
    ``data:/`` URIs of the versions purged (with ``dry_run``, that would be)."""
    return _repository.purge_deleted(ctx.metadata, dry_run)
