"""Every SQL statement of validation: finding a stored result by its URI.

A result is stored as an object whose owner reference is its URI; the
lineage edge ``data:/<dataset>@<version> → validation:/<id>`` (relation
``validated``) and that reference are written in one transaction.
"""

from __future__ import annotations

from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.store.refs import add_refs

__all__ = ["digests_of", "record_result"]


def record_result(meta: MetadataStore, uri: str, digest: str, source: str | None) -> None:
    """Reference the stored result from its URI, and link it to the data it checked."""

    def tx(conn: Connection) -> None:
        if source is not None:
            lineage_edges.add_edges(conn, [(source, uri, "validated")])
        add_refs(conn, uri, [digest])

    meta.write(tx)


def digests_of(meta: MetadataStore, uris: list[str]) -> dict[str, str]:
    """The stored object of each of these result URIs that exists."""
    with meta.read() as conn:
        test, param = conn.in_list(uris)
        return dict(conn.all(f"SELECT owner, digest FROM object_refs WHERE owner {test}", (param,)))
