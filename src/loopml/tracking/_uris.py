"""``runs:/`` in the URI registry: open a run (or one of its artifacts) and describe runs."""

from __future__ import annotations

from loopml.context import Context
from loopml.errors import NotFound
from loopml.lineage import Node
from loopml.tracking import _repository
from loopml.uri import RunURI, parse_run_uri

__all__ = ["describe", "purge", "resolve"]


def resolve(ctx: Context, uri: RunURI) -> Node:
    """The run (its full id), or the artifact entries under ``uri.path`` of it."""
    store = ctx.metadata
    run = _repository.get_run(store, uri.run_id)
    if not uri.path:
        return Node(run.uri, run)
    entries = [
        e
        for e in _repository.list_artifacts(store, run.id)
        if e.path == uri.path or e.path.startswith(uri.path + "/")
    ]
    if not entries:
        raise NotFound(f"run {run.id} ({run.name}) has no artifact {uri.path!r}.")
    return Node(str(RunURI(run.id, uri.path)), entries[0] if len(entries) == 1 else entries)


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``name (experiment, status)`` for runs; the size for artifacts of runs."""
    parsed = {u: parse_run_uri(u) for u in uris}
    store = ctx.metadata
    runs = _repository.describe_runs(store, sorted({p.run_id for p in parsed.values()}))
    pairs = [(p.run_id, p.path) for p in parsed.values() if p.path]
    sizes = {(e.run_id, e.path): e.size for e in _repository.artifact_entries(store, pairs)}
    labels: dict[str, str] = {}
    for uri, p in parsed.items():
        found = runs.get(p.run_id)
        if found is None:
            continue
        name, experiment, status = found
        if not p.path:
            labels[uri] = f"{name} ({experiment}, {status.lower()})"
        elif (p.run_id, p.path) in sizes:
            labels[uri] = f"{sizes[p.run_id, p.path]:,} bytes, from {name}"
    return labels


def purge(ctx: Context, dry_run: bool) -> list[str]:
    """Remove deleted runs and experiments for good (for ``loopml.gc``); see
    :func:`loopml.tracking._lifecycle.purge`."""
    from loopml.tracking._lifecycle import purge as purge_runs

    return purge_runs(ctx, dry_run)
