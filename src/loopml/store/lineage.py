"""Lineage: one table of edges, producer → product, each with a relation name.

Nodes are URIs (``data:/iris@3``, ``runs:/<id>``, later ``models:/m/2``...).
Typical relations: ``input`` (a dataset version a run read), ``output`` (what
a run produced), ``parent`` (a run and its child runs).

Example::

    add_edge(store, "data:/iris@3", "runs:/4f…", "input")
    upstream(store, "runs:/4f…")   # [Edge(src='data:/iris@3', ...)]
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, or_, select

from loopml.store import schema
from loopml.store.metadata import MetadataStore

__all__ = ["Edge", "LineageNode", "add_edge", "add_edges", "downstream", "graph", "upstream"]


@dataclass(frozen=True)
class Edge:
    """``src`` produced, or was used by, ``dst``; ``relation`` says how."""

    src: str
    dst: str
    relation: str
    created_at: float = 0.0


@dataclass
class LineageNode:
    """A node of a lineage tree: its URI, the relation to its parent, and its children."""

    uri: str
    relation: str | None = None
    children: list[LineageNode] | None = None


def add_edges(
    conn: Connection, store: MetadataStore, edges: Iterable[tuple[str, str, str]]
) -> None:
    """Record edges inside an open write transaction; an edge already recorded is kept as is."""
    now = time.time()
    rows = [{"src": s, "dst": d, "relation": r, "created_at": now} for s, d, r in edges]
    store.upsert(conn, schema.lineage, rows, keys=("src", "dst", "relation"))


def add_edge(store: MetadataStore, src: str, dst: str, relation: str) -> None:
    """Record that ``src`` → ``dst`` with ``relation`` (idempotent)."""
    store.write(lambda conn: add_edges(conn, store, [(src, dst, relation)]))


def _edges(store: MetadataStore, uris: list[str], direction: str) -> list[Edge]:
    t = schema.lineage
    col = t.c.dst if direction == "up" else t.c.src
    with store.read() as conn:
        rows = conn.execute(
            select(t.c.src, t.c.dst, t.c.relation, t.c.created_at)
            .where(col.in_(uris))
            .order_by(t.c.created_at, t.c.id)
        ).all()
    return [Edge(*row) for row in rows]


def upstream(store: MetadataStore, uri: str) -> list[Edge]:
    """Edges that end at ``uri`` (what it came from)."""
    return _edges(store, [uri], "up")


def downstream(store: MetadataStore, uri: str) -> list[Edge]:
    """Edges that start at ``uri`` (what came from it)."""
    return _edges(store, [uri], "down")


def graph(store: MetadataStore, uri: str, direction: str, max_depth: int = 20) -> LineageNode:
    """The tree reachable from ``uri`` going ``"up"`` (ancestors) or ``"down"`` (descendants).

    Each level is one query; a node met twice on one path is not expanded again.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    root = LineageNode(uri, None, [])
    frontier: dict[str, list[LineageNode]] = {uri: [root]}
    seen = {uri}
    for _ in range(max_depth):
        if not frontier:
            break
        edges = _edges(store, list(frontier), direction)
        nxt: dict[str, list[LineageNode]] = {}
        for e in edges:
            here, there = (e.dst, e.src) if direction == "up" else (e.src, e.dst)
            for parent in frontier.get(here, []):
                child = LineageNode(there, e.relation, [])
                assert parent.children is not None
                parent.children.append(child)
                if there not in seen:
                    nxt.setdefault(there, []).append(child)
        seen.update(nxt)
        frontier = nxt
    return root


def related(store: MetadataStore, uris: Iterable[str]) -> list[Edge]:
    """Every edge touching any of ``uris``."""
    t = schema.lineage
    items = list(uris)
    with store.read() as conn:
        rows = conn.execute(
            select(t.c.src, t.c.dst, t.c.relation, t.c.created_at).where(
                or_(t.c.src.in_(items), t.c.dst.in_(items))
            )
        ).all()
    return [Edge(*row) for row in rows]
