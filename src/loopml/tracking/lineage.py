"""Lineage of a URI: resolved to the node it names, then walked both ways."""

from __future__ import annotations

from dataclasses import dataclass

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
    return Lineage(node, graph(store, node, "up", depth), graph(store, node, "down", depth))
