"""Storing a validation result and linking it to the dataset version it checked."""

from __future__ import annotations

import json

from loopml.validation._result import ValidationResult

__all__ = ["store_result"]


def store_result(result: ValidationResult) -> str:
    """Store ``result``'s JSON in the artifact store and link it; returns and sets its URI.

    The URI is ``validation:/<first 16 hex digits of the JSON's hash>``. In one
    transaction, a lineage edge ``source → uri`` (relation ``validated``) and a
    reference from the URI to the stored object are recorded, so ``loopml gc``
    keeps the report.
    """
    from loopml.store.artifacts import get_artifact_store
    from loopml.store.lineage import add_edges
    from loopml.store.metadata import get_metadata_store
    from loopml.store.refs import add_refs

    data = result.to_dict()
    data.pop("uri", None)
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()
    info = get_artifact_store().put_bytes(payload)
    uri = f"validation:/{info.digest[:16]}"
    meta = get_metadata_store()

    def record(conn: object) -> None:
        if result.source is not None:
            add_edges(conn, meta, [(result.source, uri, "validated")])  # type: ignore[arg-type]
        add_refs(conn, meta, uri, [info.digest])  # type: ignore[arg-type]

    meta.write(record)
    result.uri = uri
    return uri
