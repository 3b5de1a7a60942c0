"""The lineage graph: edges producer → product, walked both ways from any node.

Nodes are URIs (``data:/iris@3``, ``runs:/<id>``, ``runs:/<id>/<artifact>``,
``validation:/<id>``...). Typical relations: ``input`` (a dataset version or
output a run read), ``output`` (what a run produced), ``parent`` (a run and
its child runs), ``validated`` (a dataset version and a check of it).

Example::

    lin = loopml.get_lineage("data:/iris@latest")
    [c.uri for c in lin.downstream.children]     # runs that used it
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from loopml.context import current
from loopml.errors import InvalidInput
from loopml.lineage import _registry
from loopml.store import edges as _edges_table

_RELATION = re.compile(r"[a-z][a-z0-9_]{0,63}")

__all__ = [
    "Edge",
    "Lineage",
    "LineageNode",
    "add_edge",
    "downstream",
    "get_lineage",
    "resolve",
    "upstream",
]


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
    children: list[LineageNode] = field(default_factory=list)


@dataclass
class Lineage:
    """The upstream and downstream trees of one node, named by its canonical URI, and a
    label for every node that still exists."""

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
            stack.extend(node.children)
        return found


def add_edge(src: str, dst: str, relation: str) -> None:
    """Record that ``src`` → ``dst`` with ``relation`` (idempotent). Both must name nodes
    that exist; they are stored by their canonical URIs (``data:/iris@latest`` →
    ``data:/iris@3``), as the graph walk finds them."""
    if not isinstance(relation, str) or not _RELATION.fullmatch(relation):
        raise InvalidInput(
            f"a relation is a lowercase word of at most 64 characters such as 'input', "
            f"'output' or 'reviewed_by', got {relation!r}."
        )
    ctx = current()
    ends = [_registry.resolve(ctx, uri).uri for uri in (src, dst)]
    store = ctx.metadata
    store.write(lambda conn: _edges_table.add_edges(conn, [(ends[0], ends[1], relation)]))


def upstream(uri: str) -> list[Edge]:
    """Edges that end at ``uri`` (what it came from), oldest first."""
    return _edges([uri], "up")


def downstream(uri: str) -> list[Edge]:
    """Edges that start at ``uri`` (what came from it), oldest first."""
    return _edges([uri], "down")


def _edges(uris: list[str], direction: str) -> list[Edge]:
    rows = _edges_table.edges_touching(current().metadata, uris, direction)
    return [Edge(*row) for row in rows]


def _tree(uri: str, direction: str, max_depth: int) -> LineageNode:
    """The tree reachable from ``uri`` going ``"up"`` or ``"down"``; one query per level,
    a node met twice on one path is not expanded again."""
    store = current().metadata
    root = LineageNode(uri)
    frontier: dict[str, list[LineageNode]] = {uri: [root]}
    seen = {uri}
    for _ in range(max_depth):
        if not frontier:
            break
        nxt: dict[str, list[LineageNode]] = {}
        for src, dst, relation, _ in _edges_table.edges_touching(store, list(frontier), direction):
            here, there = (dst, src) if direction == "up" else (src, dst)
            for parent in frontier.get(here, []):
                child = LineageNode(there, relation)
                parent.children.append(child)
                if there not in seen:
                    nxt.setdefault(there, []).append(child)
        seen.update(nxt)
        frontier = nxt
    return root


def get_lineage(uri: str, depth: int = 10) -> Lineage:
    """Walk the lineage graph from ``uri`` up to ``depth`` edges each way.

    The URI is first resolved to the node it names (``data:/iris@latest`` →
    ``data:/iris@3``, a run id prefix → the full id); one that does not
    exist is :class:`~loopml.errors.NotFound`. Every node in the result can
    be opened the same way (:func:`resolve`).

    Example::

        lin = loopml.get_lineage("data:/iris@latest")
        [c.uri for c in lin.downstream.children]   # runs that used it
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidInput(f"depth must be a positive whole number, got {depth!r}.")
    ctx = current()
    node = _registry.resolve(ctx, uri).uri
    result = Lineage(node, _tree(node, "up", depth), _tree(node, "down", depth))
    result.labels = _registry.describe(ctx, result.nodes())
    return result


def resolve(uri: str) -> object:
    """The object a URI names: a :class:`~loopml.data.DatasetVersion`, a
    :class:`~loopml.tracking.Run` (or an artifact entry), a
    :class:`~loopml.validation.ValidationResult`... NotFound when it does not exist."""
    return _registry.resolve(current(), uri).value
