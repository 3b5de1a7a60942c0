"""Every SQL statement of pipelines: the step cache's entries.

An entry maps a step's cache key to the outputs it produced (JSON), the
parts of the key (JSON, to explain a later miss) and the run that computed
them; its owner reference ``cache:/<key>`` keeps the outputs' objects alive,
written in the same transaction as the entry. Tuning keeps its studies in
``pipelines/tuning/_repository.py``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from loopml.store.metadata import Connection, MetadataStore
from loopml.store.refs import add_refs
from loopml.uri import CacheURI

__all__ = ["EntryRow", "entries", "find_entry", "save_entry"]

#: (key, step, components JSON, outputs JSON, run id, created at)
EntryRow = tuple[str, str, str, str, "str | None", float]

_COLUMNS = "key, step, components, outputs, run_id, created_at"


def find_entry(
    meta: MetadataStore, key: str, step: str, candidates: int
) -> tuple[EntryRow | None, list[EntryRow]]:
    """The entry stored under ``key``; when there is none, the step's newest
    ``candidates`` entries, newest first (to say what changed)."""
    with meta.read() as conn:
        found = conn.first(f"SELECT {_COLUMNS} FROM cache_entries WHERE key = ?", (key,))
        previous: list[tuple[Any, ...]] = []
        if found is None:
            previous = conn.all(
                f"SELECT {_COLUMNS} FROM cache_entries WHERE step = ? "
                "ORDER BY created_at DESC LIMIT ?",
                (step, candidates),
            )
    return _row(found), [r for r in map(_row, previous) if r is not None]


def entries(meta: MetadataStore, keys: Sequence[str]) -> list[EntryRow]:
    """The entries stored under these keys (those that exist)."""
    with meta.read() as conn:
        test, param = conn.in_list(list(keys))
        rows = conn.all(f"SELECT {_COLUMNS} FROM cache_entries WHERE key {test}", (param,))
    return [r for r in (_row(row) for row in rows) if r is not None]


def save_entry(
    meta: MetadataStore,
    key: str,
    step: str,
    components: str,
    outputs: str,
    run_id: str,
    digests: Sequence[str],
) -> None:
    """Insert (or replace) the entry for ``key`` and its references to the outputs."""
    row = {
        "key": key,
        "step": step,
        "components": components,
        "outputs": outputs,
        "run_id": run_id,
        "created_at": time.time(),
    }

    def tx(conn: Connection) -> None:
        conn.upsert(
            "cache_entries",
            [row],
            keys=("key",),
            update=("step", "components", "outputs", "run_id", "created_at"),
        )
        add_refs(conn, str(CacheURI(key)), digests)

    meta.write(tx)


def _row(row: tuple[Any, ...] | None) -> EntryRow | None:
    if row is None:
        return None
    key, step, components, outputs, run_id, created = row
    return (key, step, components, outputs, run_id, float(created))
