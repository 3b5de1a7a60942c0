"""``data:/`` in the URI registry: open a dataset version and describe versions."""

from __future__ import annotations

from loopml.context import Context
from loopml.data import _repository
from loopml.data._resolve import resolve as resolve_reference
from loopml.errors import NotFound
from loopml.lineage import Node
from loopml.uri import DataURI, parse_data_uri

__all__ = ["describe", "resolve"]


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
