"""``models:/`` in the URI registry: open a version (by number or alias), describe
versions, purge deleted ones."""

from __future__ import annotations

from loopml.context import Context
from loopml.lineage import Node
from loopml.registry import _repository
from loopml.uri import ModelURI, parse_model_uri

__all__ = ["describe", "purge", "resolve"]


def resolve(ctx: Context, uri: ModelURI) -> Node:
    """The version ``uri`` names: ``models:/churn@prod`` → ``models:/churn/3``."""
    meta = ctx.metadata
    if uri.version is not None:
        version = _repository.get_version(meta, uri.name, uri.version)
    else:
        assert uri.alias is not None
        version = _repository.find_alias(meta, uri.name, uri.alias)
    return Node(version.uri, version)


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``churn v3 (staging) ← run 1a2b3c4d`` for each version that exists."""
    parsed = {u: parse_model_uri(u) for u in uris}
    pairs = {(p.name, p.version) for p in parsed.values() if p.version is not None}
    found = {(v.name, v.version): v for v in _repository.version_labels(ctx.metadata, pairs)}
    labels: dict[str, str] = {}
    for uri, p in parsed.items():
        v = found.get((p.name, p.version)) if p.version is not None else None
        if v is None:
            continue
        aliases = f" ({', '.join(v.aliases)})" if v.aliases else ""
        archived = " [archived]" if v.status == "ARCHIVED" else ""
        labels[uri] = f"{v.name} v{v.version}{aliases}{archived} ← run {v.run_id[:8]}"
    return labels


def purge(ctx: Context, dry_run: bool) -> list[str]:
    """Remove deleted versions for good (for ``loopml.gc``)."""
    return _repository.purge_deleted(ctx.metadata, dry_run)
