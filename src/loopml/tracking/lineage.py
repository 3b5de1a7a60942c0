"""Lineage of a URI: resolved to the node it names, then walked both ways."""

from __future__ import annotations

from dataclasses import dataclass, field

from loopml.store.lineage import LineageNode, graph
from loopml.store.metadata import get_metadata_store
from loopml.uri import DataURI, ModelURI, RunURI, parse_uri

__all__ = ["Lineage", "get_lineage"]


@dataclass
class Lineage:
    """The upstream and downstream trees of one node, named by its canonical URI."""

    uri: str
    upstream: LineageNode
    downstream: LineageNode
    labels: dict[str, str] = field(default_factory=dict)

    def nodes(self) -> set[str]:
        """Every URI in both trees."""
        found: set[str] = set()
        stack = [self.upstream, self.downstream]
        while stack:
            node = stack.pop()
            found.add(node.uri)
            stack.extend(node.children or [])
        return found


def canonical_uri(uri: str) -> str:
    """The URI of the node ``uri`` names: ``data:/iris@latest`` → ``data:/iris@3``.

    Raises :class:`~loopml.errors.NotFound` for a run or dataset that does not exist.
    """
    parsed = parse_uri(uri)
    if isinstance(parsed, DataURI):
        from loopml.data import get_dataset

        return get_dataset(str(parsed)).uri
    if isinstance(parsed, RunURI):
        from loopml.tracking import get_run

        return f"runs:/{get_run(parsed.run_id).id}"
    assert isinstance(parsed, ModelURI)
    return str(parsed)


def get_lineage(uri: str, depth: int = 10) -> Lineage:
    """Walk the lineage graph from ``uri`` up to ``depth`` edges each way.

    Example::

        lin = loopml.get_lineage("data:/iris@latest")
        [c.uri for c in lin.downstream.children]   # runs that used it
    """
    node = canonical_uri(uri)
    store = get_metadata_store()
    result = Lineage(node, graph(store, node, "up", depth), graph(store, node, "down", depth))
    result.labels = describe(result.nodes())
    return result


def describe(uris: set[str]) -> dict[str, str]:
    """A short description of each node people can recognise: a run's name and status,
    a dataset version's size and message. Nodes that no longer exist get none."""
    from loopml.tracking._search import search_runs

    labels: dict[str, str] = {}
    run_ids = sorted(u[len("runs:/") :] for u in uris if u.startswith("runs:/"))
    for i in range(0, len(run_ids), 500):
        chunk = ", ".join(f"'{rid}'" for rid in run_ids[i : i + 500] if rid.isalnum())
        if chunk:
            for run in search_runs(f"id IN ({chunk})"):
                labels[run.uri] = f"{run.name} ({run.experiment}, {run.status.lower()})"
    for uri in uris:
        if uri.startswith("data:/"):
            from loopml.data import get_dataset
            from loopml.errors import NotFound

            try:
                ds = get_dataset(uri)
            except NotFound:
                continue
            files = "1 file" if ds.n_files == 1 else f"{ds.n_files} files"
            labels[uri] = f"{files}, {ds.total_bytes:,} bytes" + (
                f", {ds.message}" if ds.message else ""
            )
    return labels
