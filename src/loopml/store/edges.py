"""The lineage edges table (producer → product, with a relation): writes and reads.

Domain-free like the object references beside it: every package records its
edges here inside its own write transactions, and :mod:`loopml.lineage` walks
them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from loopml.store.metadata import Connection, MetadataStore

__all__ = ["add_edges", "edges_touching", "remove_nodes"]

_EDGE_KEYS = ("src", "dst", "relation")


def add_edges(conn: Connection, edges: Iterable[tuple[str, str, str]]) -> None:
    """Record edges inside an open write transaction; an edge already recorded is kept."""
    now = time.time()
    rows = [
        {"src": s, "dst": d, "relation": r, "created_at": now} for s, d, r in dict.fromkeys(edges)
    ]
    conn.upsert("lineage", rows, keys=_EDGE_KEYS)


def edges_touching(
    store: MetadataStore, uris: list[str], direction: str
) -> list[tuple[str, str, str, float]]:
    """``(src, dst, relation, created_at)`` of the edges ending at ``uris`` (``"up"``) or
    starting at them (``"down"``), oldest first."""
    column = "dst" if direction == "up" else "src"
    with store.read() as conn:
        test, param = conn.in_list(uris)
        return conn.all(
            f"SELECT src, dst, relation, created_at FROM lineage WHERE {column} {test} "
            "ORDER BY created_at, id",
            (param,),
        )


def remove_nodes(conn: Connection, uris: Iterable[str]) -> None:
    """Forget every edge from or to ``uris`` (inside a write transaction): the nodes are
    gone for good."""
    wanted = sorted(set(uris))
    if wanted:
        test, param = conn.in_list(wanted)
        conn.execute(f"DELETE FROM lineage WHERE src {test} OR dst {test}", (param, param))
