"""Every SQL statement of the data layer: datasets and their versions.

A version is one ``dataset_versions`` row (manifest hash, kind, size, schema
and profile as JSON, the run that made it); its objects are held by
references from ``data:/<name>@<version>`` and the producing run is linked
in lineage, in the transaction that records it.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from loopml.data._records import DatasetProfile, DatasetVersion
from loopml.errors import Conflict, NotFound, StoreError
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.store.refs import add_refs, release_owners
from loopml.uri import DataURI, RunURI

__all__ = [
    "dataset_names",
    "find_version",
    "latest_versions",
    "purge_deleted",
    "record_version",
    "soft_delete",
    "versions_of",
]

_ALLOC_RETRIES = 20
_COLUMNS = (
    "v.version, v.manifest_digest, v.n_files, v.total_bytes, v.kind, v.created_at, "
    "v.source_path, v.message, v.run_id, CAST(v.schema AS TEXT), CAST(v.profile AS TEXT)"
)


def record_version(
    meta: MetadataStore,
    name: str,
    row: Mapping[str, Any],
    digests: Sequence[str],
) -> tuple[DatasetVersion, bool]:
    """Record the next version of ``name`` (with references to ``digests`` and the
    producing run's lineage edge) unless its newest version has the same manifest;
    returns the version and whether it is new. A message given for the same manifest
    is recorded on that newest version when it has none (the caller refuses a
    different one). Version numbers are allocated in the
    transaction; a clash with a concurrent writer is retried."""
    for _ in range(_ALLOC_RETRIES):
        try:
            return meta.write(lambda conn: _record(conn, name, row, digests))
        except Conflict:
            time.sleep(0.01)  # a concurrent writer took the number; allocate again
    raise StoreError(
        f"could not allocate a version number for dataset {name!r} after "
        f"{_ALLOC_RETRIES} attempts: too many concurrent writers. Retry the add."
    )


def _record(
    conn: Connection,
    name: str,
    row: Mapping[str, Any],
    digests: Sequence[str],
) -> tuple[DatasetVersion, bool]:
    now = time.time()
    conn.upsert("datasets", [{"name": name, "created_at": now}], keys=("name",))
    # a removed dataset added again comes back, its new versions numbered after the old
    conn.execute(
        "UPDATE datasets SET deleted_at = NULL WHERE name = ? AND deleted_at IS NOT NULL",
        (name,),
    ).close()
    dataset_id = conn.scalar("SELECT id FROM datasets WHERE name = ?", (name,))
    latest = conn.first(
        f"SELECT {_COLUMNS} FROM dataset_versions v WHERE v.dataset_id = ? "
        "ORDER BY v.version DESC LIMIT 1",
        (dataset_id,),
    )
    if latest is not None and latest[1] == row["manifest_digest"]:
        same = _version(name, latest)
        if row.get("message") is not None and same.message is None:
            conn.execute(
                "UPDATE dataset_versions SET message = ? WHERE dataset_id = ? AND version = ?",
                (row["message"], dataset_id, same.version),
            ).close()
            same.message = row["message"]
        return same, False
    number = (int(latest[0]) if latest is not None else 0) + 1
    values = {
        **row,
        "schema": None if row.get("schema") is None else orjson.dumps(row["schema"]).decode(),
        "profile": None if row.get("profile") is None else orjson.dumps(row["profile"]).decode(),
        "dataset_id": dataset_id,
        "version": number,
        "created_at": now,
    }
    columns = list(values)
    conn.execute(
        f"INSERT INTO dataset_versions ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))})",
        [values[c] for c in columns],
    ).close()
    uri = str(DataURI(name, number))
    add_refs(conn, owner=uri, digests=digests)
    if row.get("run_id"):
        lineage_edges.add_edges(conn, [(str(RunURI(row["run_id"])), uri, "output")])
    found = conn.first(
        f"SELECT {_COLUMNS} FROM dataset_versions v WHERE v.dataset_id = ? AND v.version = ?",
        (dataset_id, number),
    )
    assert found is not None
    return _version(name, found), True


def find_version(meta: MetadataStore, name: str, version: int | None) -> DatasetVersion:
    """Version ``version`` of ``name`` (the newest for None), or a NotFound that says what
    exists."""
    with meta.read() as conn:
        dataset_id = _live_id(conn, name)
        sql = f"SELECT {_COLUMNS} FROM dataset_versions v WHERE v.dataset_id = ?"
        if version is None:
            row = conn.first(sql + " ORDER BY v.version DESC LIMIT 1", (dataset_id,))
        else:
            row = conn.first(sql + " AND v.version = ?", (dataset_id, version))
        if row is None:
            numbers = conn.column(
                "SELECT version FROM dataset_versions WHERE dataset_id = ? ORDER BY version",
                (dataset_id,),
            )
            raise NotFound(
                f"dataset {name!r} has no version {version}; it has "
                f"{_describe_versions([int(n) for n in numbers])}. "
                f"List them with 'loopml data show {name}'."
            )
    return _version(name, row)


def latest_versions(meta: MetadataStore) -> list[DatasetVersion]:
    """The newest version of every dataset, by name."""
    with meta.read() as conn:
        rows = conn.all(
            f"SELECT d.name, {_COLUMNS} FROM datasets d JOIN dataset_versions v "
            "ON v.dataset_id = d.id WHERE d.deleted_at IS NULL AND v.version = (SELECT "
            "max(version) FROM dataset_versions WHERE dataset_id = d.id) ORDER BY d.name"
        )
    return [_version(r[0], r[1:]) for r in rows]


def versions_of(meta: MetadataStore, name: str) -> list[DatasetVersion]:
    """Every version of ``name``, oldest first."""
    with meta.read() as conn:
        dataset_id = _live_id(conn, name)
        rows = conn.all(
            f"SELECT {_COLUMNS} FROM dataset_versions v WHERE v.dataset_id = ? ORDER BY v.version",
            (dataset_id,),
        )
    return [_version(name, r) for r in rows]


def manifest_digests(meta: MetadataStore, *, removed: bool = True) -> list[str]:
    """The manifest hash of every dataset version (for gc); with ``removed=False`` not
    those of removed datasets (which gc purges first)."""
    with meta.read() as conn:
        if removed:
            return conn.column("SELECT DISTINCT manifest_digest FROM dataset_versions")
        return conn.column(
            "SELECT DISTINCT v.manifest_digest FROM dataset_versions v JOIN datasets d "
            "ON d.id = v.dataset_id WHERE d.deleted_at IS NULL"
        )


def dataset_names(meta: MetadataStore) -> list[str]:
    """Every dataset's name (but removed ones), sorted."""
    with meta.read() as conn:
        return conn.column("SELECT name FROM datasets WHERE deleted_at IS NULL ORDER BY name")


def soft_delete(meta: MetadataStore, name: str) -> list[int]:
    """Mark dataset ``name`` removed (its versions and their references stay until gc
    purges it); returns its version numbers. NotFound when there is no such dataset."""

    def mark(conn: Connection) -> list[int]:
        dataset_id = _live_id(conn, name)
        conn.execute(
            "UPDATE datasets SET deleted_at = ? WHERE id = ?", (time.time(), dataset_id)
        ).close()
        return [
            int(n)
            for n in conn.column(
                "SELECT version FROM dataset_versions WHERE dataset_id = ? ORDER BY version",
                (dataset_id,),
            )
        ]

    return meta.write(mark)


def purge_deleted(meta: MetadataStore, dry_run: bool) -> list[str]:
    """Remove for good every removed dataset, its versions, the object references and
    lineage edges they hold; returns their ``data:/`` URIs (with ``dry_run``, those that
    would be removed, and nothing changes)."""

    def doomed(conn: Connection) -> tuple[list[int], list[str]]:
        rows = conn.all(
            "SELECT d.id, d.name, v.version FROM datasets d LEFT JOIN dataset_versions v "
            "ON v.dataset_id = d.id WHERE d.deleted_at IS NOT NULL ORDER BY d.name, v.version"
        )
        ids = sorted({int(r[0]) for r in rows})
        uris = [str(DataURI(r[1], int(r[2]))) for r in rows if r[2] is not None]
        return ids, uris

    if dry_run:
        with meta.read() as conn:
            return doomed(conn)[1]

    def purge(conn: Connection) -> list[str]:
        ids, uris = doomed(conn)
        if ids:
            release_owners(conn, uris)
            lineage_edges.remove_nodes(conn, uris)
            test, param = conn.in_list(ids)
            conn.execute(f"DELETE FROM dataset_versions WHERE dataset_id {test}", (param,))
            conn.execute(f"DELETE FROM datasets WHERE id {test}", (param,))
        return uris

    return meta.write(purge)


def _live_id(conn: Connection, name: str) -> int:
    """The id of dataset ``name``, or a NotFound that says which datasets there are (a
    removed dataset is not there)."""
    dataset_id = conn.scalar(
        "SELECT id FROM datasets WHERE name = ? AND deleted_at IS NULL", (name,)
    )
    if dataset_id is None:
        raise NotFound(_unknown_dataset(conn, name))
    return int(dataset_id)


def _unknown_dataset(conn: Connection, name: str) -> str:
    removed = conn.scalar(
        "SELECT count(*) FROM datasets WHERE name = ? AND deleted_at IS NOT NULL", (name,)
    )
    if removed:
        return (
            f"no dataset named {name!r}: it was removed ('loopml data remove'). Add data "
            f"under that name again to bring it back ('loopml data add PATH --name {name}')."
        )
    names = conn.column("SELECT name FROM datasets WHERE deleted_at IS NULL ORDER BY name")
    if not names:
        known = "there are no datasets yet; add one with 'loopml data add PATH --name NAME'"
    else:
        shown = ", ".join(repr(n) for n in names[:20]) + (" …" if len(names) > 20 else "")
        known = f"known datasets: {shown}"
    return f"no dataset named {name!r}: {known}."


def _describe_versions(numbers: list[int]) -> str:
    if not numbers:
        return "no versions"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        if len(numbers) == 1:
            return f"only version {numbers[0]}"
        return f"versions {numbers[0]}–{numbers[-1]}"
    return "versions " + ", ".join(str(n) for n in numbers)


def _version(name: str, row: Sequence[Any]) -> DatasetVersion:
    (number, digest, n_files, total, kind, created, source, message, run_id, schema,
     profile) = row  # fmt: skip
    return DatasetVersion(
        name=name,
        version=int(number),
        manifest_digest=digest,
        n_files=int(n_files),
        total_bytes=int(total),
        kind=kind,
        created_at=_dt.datetime.fromtimestamp(float(created), tz=_dt.timezone.utc),
        source_path=source,
        message=message,
        run_id=run_id,
        schema=orjson.loads(schema) if schema else None,
        profile=DatasetProfile.from_json(orjson.loads(profile) if profile else None),
    )
