"""Storing a validation result, and ``validation:/`` in the URI registry."""

from __future__ import annotations

import json

import orjson

from loopml.context import Context, current
from loopml.errors import NotFound
from loopml.lineage import Node
from loopml.uri import ValidationURI, parse_validation_uri
from loopml.validation import _repository
from loopml.validation._result import ValidationResult

__all__ = ["describe", "resolve", "store_result"]

_ID_CHARS = 16


def store_result(result: ValidationResult) -> str:
    """Store ``result``'s JSON in the artifact store and link it; returns and sets its URI.

    The URI is ``validation:/<first 16 hex digits of the JSON's hash>``. A
    lineage edge ``source → uri`` (relation ``validated``) and a reference
    from the URI to the stored object are recorded in one transaction, so
    ``loopml gc`` keeps the report.
    """
    ctx = current()
    data = result.to_dict()
    data.pop("uri", None)
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()
    info = ctx.artifacts.put_bytes(payload)
    uri = str(ValidationURI(info.digest[:_ID_CHARS]))
    _repository.record_result(ctx.metadata, uri, info.digest, result.source)
    result.uri = uri
    return uri


def _load(ctx: Context, uri: str, digest: str) -> ValidationResult:
    result = ValidationResult.from_dict(orjson.loads(ctx.artifacts.get_bytes(digest)))
    result.uri = uri
    return result


def resolve(ctx: Context, uri: ValidationURI) -> Node:
    """The stored result ``uri`` names."""
    text = str(uri)
    digest = _repository.digests_of(ctx.metadata, [text]).get(text)
    if digest is None:
        raise NotFound(
            f"no stored validation result {text}: results of dataset versions are stored "
            "by loopml.validate('data:/name@N', ...) and listed in their lineage."
        )
    return Node(text, _load(ctx, text, digest))


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``passed``/``FAILED`` with counts, for each stored result."""
    labels: dict[str, str] = {}
    for uri, digest in _repository.digests_of(ctx.metadata, uris).items():
        parse_validation_uri(uri)
        try:
            result = _load(ctx, uri, digest)
        except NotFound:
            continue
        head = "passed" if result.passed else "FAILED"
        labels[uri] = (
            f"{head}: {len(result.failures)} error(s), {len(result.warnings)} warning(s), "
            f"{result.n_rows:,} rows"
        )
    return labels
