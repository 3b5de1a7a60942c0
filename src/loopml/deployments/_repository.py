"""Every SQL statement of the deployments: ``deployments`` and ``deployment_history``;
and ``deployments:/`` in the URI registry.

A change is one write transaction: the deployment's row, its history row, the object
references it holds on its version's package (owner ``deployments:/<name>``, so gc
keeps the package and the registry refuses to delete or archive the version) and its
lineage edge. Changes are numbered by one ``generation`` for all deployments, taken
under the write lock (SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL a lock on the history
table), so generations follow commit order and a reader that saw generation G has
seen every change up to G.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from loopml.context import Context
from loopml.deployments._records import (
    Deployment,
    DeploymentAction,
    DeploymentChange,
    DeploymentStatus,
    Strategy,
)
from loopml.errors import Conflict, NotFound
from loopml.lineage import Node
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.store.refs import add_refs, release_owners
from loopml.uri import DeploymentURI, ModelURI, parse_deployment_uri

__all__ = [
    "apply",
    "changes_since",
    "current_generation",
    "delete",
    "describe",
    "find",
    "get",
    "history",
    "list_all",
    "resolve",
]

_COLUMNS = (
    "name, model_name, version, model_uri, strategy, config, generation, created_at, updated_at"
)
_CHANGE_COLUMNS = (
    'generation, name, action, model_name, from_version, to_version, model_uri, "user", '
    "reason, created_at"
)
_MAX_CHANGES = 10_000


class _Changed(Exception):
    """The deployment's generation is not the one the caller read."""


def _deployment(row: tuple[Any, ...]) -> Deployment:
    return Deployment(
        name=row[0],
        model_name=row[1],
        version=int(row[2]),
        model_uri=row[3],
        strategy=Strategy(row[4]),
        config=json.loads(row[5]),
        generation=int(row[6]),
        created_at=float(row[7]),
        updated_at=float(row[8]),
    )


def _change(row: tuple[Any, ...]) -> DeploymentChange:
    return DeploymentChange(
        generation=int(row[0]),
        name=row[1],
        action=DeploymentAction(row[2]),
        model_name=row[3],
        from_version=None if row[4] is None else int(row[4]),
        to_version=None if row[5] is None else int(row[5]),
        model_uri=row[6],
        user=row[7],
        reason=row[8],
        created_at=float(row[9]),
    )


def _row(conn: Connection, name: str) -> tuple[Any, ...] | None:
    return conn.first(f"SELECT {_COLUMNS} FROM deployments WHERE name = ?", (name,))


def _unknown(conn: Connection, name: str) -> NotFound:
    known = conn.column("SELECT name FROM deployments ORDER BY name LIMIT 5")
    return NotFound(
        f"no deployment {name!r}; "
        + (f"deployments: {', '.join(known)}" if known else "there are no deployments yet")
        + ". Create one with: loopml deploy NAME --model models:/<model>@<alias>"
    )


# -- reading ------------------------------------------------------------------------


def find(meta: MetadataStore, name: str) -> Deployment | None:
    """Deployment ``name``, or None."""
    with meta.read() as conn:
        row = _row(conn, name)
    return None if row is None else _deployment(row)


def get(meta: MetadataStore, name: str) -> Deployment:
    """Deployment ``name``; NotFound naming the deployments there are."""
    with meta.read() as conn:
        row = _row(conn, name)
        if row is None:
            raise _unknown(conn, name)
    return _deployment(row)


def list_all(meta: MetadataStore) -> list[Deployment]:
    """Every deployment, by name."""
    with meta.read() as conn:
        rows = conn.all(f"SELECT {_COLUMNS} FROM deployments ORDER BY name")
    return [_deployment(r) for r in rows]


def history(meta: MetadataStore, name: str) -> list[DeploymentChange]:
    """The changes of deployment ``name`` (a deleted one's too), newest first."""
    with meta.read() as conn:
        rows = conn.all(
            f"SELECT {_CHANGE_COLUMNS} FROM deployment_history WHERE name = ? "
            "ORDER BY generation DESC",
            (name,),
        )
        if not rows:
            raise _unknown(conn, name)
    return [_change(r) for r in rows]


def changes_since(meta: MetadataStore, generation: int) -> list[DeploymentChange]:
    """The changes of every deployment after ``generation``, oldest first (at most
    10,000: ask again from the last one's generation for more)."""
    with meta.read() as conn:
        rows = conn.all(
            f"SELECT {_CHANGE_COLUMNS} FROM deployment_history WHERE generation > ? "
            f"ORDER BY generation LIMIT {_MAX_CHANGES}",
            (generation,),
        )
    return [_change(r) for r in rows]


def current_generation(meta: MetadataStore) -> int:
    """The generation of the newest change of any deployment (0: none yet)."""
    with meta.read() as conn:
        found = conn.scalar("SELECT MAX(generation) FROM deployment_history")
    return 0 if found is None else int(found)


# -- writing ------------------------------------------------------------------------


def _next_generation(conn: Connection) -> int:
    """The next generation, under a lock that makes writers of deployments take their
    turns (SQLite's write transaction holds the database already)."""
    if conn.dialect == "postgresql":
        conn.execute("LOCK TABLE deployment_history IN EXCLUSIVE MODE").close()
    return int(conn.scalar("SELECT COALESCE(MAX(generation), 0) FROM deployment_history")) + 1


def _record(conn: Connection, generation: int, values: dict[str, Any]) -> DeploymentChange:
    row = (
        generation,
        values["name"],
        values["action"].value,
        values.get("model_name"),
        values.get("from_version"),
        values.get("to_version"),
        values.get("model_uri"),
        values.get("user"),
        values.get("reason"),
        values["created_at"],
    )
    conn.execute(
        f"INSERT INTO deployment_history ({_CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    ).close()
    return _change(row)


def apply(
    meta: MetadataStore,
    *,
    name: str,
    model_name: str,
    version: int,
    model_uri: str,
    config: dict[str, Any],
    expected: int | None,
    digests: frozenset[str],
    user: str | None,
    reason: str | None,
    hold: Callable[[Connection], object],
) -> Deployment:
    """Create deployment ``name`` (``expected`` None) or update it from generation
    ``expected`` to serve ``model_name`` v``version``, in one transaction with
    ``hold(conn)`` (which locks and checks the version); Conflict when another writer
    changed (or created) the deployment since ``expected`` was read."""
    uri = str(DeploymentURI(name))
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)

    def tx(conn: Connection) -> Deployment:
        hold(conn)
        generation = _next_generation(conn)
        row = _row(conn, name)
        now = time.time()
        if (None if row is None else int(row[6])) != expected:
            raise _Changed
        if row is None:
            conn.execute(
                f"INSERT INTO deployments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    model_name,
                    version,
                    model_uri,
                    Strategy.REPLACE.value,
                    text,
                    generation,
                    now,
                    now,
                ),
            ).close()
            action, was = DeploymentAction.CREATE, None
        else:
            conn.execute(
                "UPDATE deployments SET model_name = ?, version = ?, model_uri = ?, "
                "strategy = ?, config = ?, generation = ?, updated_at = ? "
                "WHERE name = ? AND generation = ?",
                (
                    model_name,
                    version,
                    model_uri,
                    Strategy.REPLACE.value,
                    text,
                    generation,
                    now,
                    name,
                    expected,
                ),
            ).close()
            action, was = DeploymentAction.UPDATE, int(row[2])
            release_owners(conn, [uri])
        add_refs(conn, uri, digests)
        lineage_edges.add_edges(conn, [(str(ModelURI(model_name, version)), uri, "deployed")])
        _record(
            conn,
            generation,
            {
                "name": name,
                "action": action,
                "model_name": model_name,
                "from_version": was,
                "to_version": version,
                "model_uri": model_uri,
                "user": user,
                "reason": reason,
                "created_at": now,
            },
        )
        found = _row(conn, name)
        assert found is not None
        return _deployment(found)

    try:
        return meta.write(tx)
    except (_Changed, Conflict):  # a clash on the name's key: created meanwhile
        now_at = find(meta, name)
        is_now = (
            "it does not exist"
            if now_at is None
            else f"it serves {now_at.version_uri} (generation {now_at.generation})"
        )
        raise Conflict(
            f"deployment {name!r} was changed by another writer while this deploy ran: "
            f"{is_now}, and this deploy changed nothing. See loopml deployments status "
            f"{name}, then deploy again if it should still change."
        ) from None


def delete(meta: MetadataStore, name: str, *, user: str | None, reason: str | None) -> Deployment:
    """Remove deployment ``name``, release the references it held and record the change;
    NotFound when there is none such. Its history and lineage edges stay."""
    uri = str(DeploymentURI(name))

    def tx(conn: Connection) -> Deployment:
        generation = _next_generation(conn)
        row = _row(conn, name)
        if row is None:
            raise _unknown(conn, name)
        gone = _deployment(row)
        conn.execute("DELETE FROM deployments WHERE name = ?", (name,)).close()
        release_owners(conn, [uri])
        now = time.time()
        _record(
            conn,
            generation,
            {
                "name": name,
                "action": DeploymentAction.DELETE,
                "model_name": gone.model_name,
                "from_version": gone.version,
                "to_version": None,
                "model_uri": gone.model_uri,
                "user": user,
                "reason": reason,
                "created_at": now,
            },
        )
        from dataclasses import replace

        return replace(gone, generation=generation, updated_at=now, status=DeploymentStatus.DELETED)

    return meta.write(tx)


# -- the URI registry ---------------------------------------------------------------


def resolve(ctx: Context, uri: DeploymentURI) -> Node:
    """The deployment ``uri`` names."""
    return Node(str(uri), get(ctx.metadata, uri.name))


def describe(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``churn → churn v3 (models:/churn@prod, generation 7)`` for each deployment that
    exists."""
    names = {parse_deployment_uri(u).name: u for u in uris}
    labels: dict[str, str] = {}
    for d in list_all(ctx.metadata):
        if d.name in names:
            labels[names[d.name]] = (
                f"{d.name} → {d.model_name} v{d.version} ({d.model_uri}, generation {d.generation})"
            )
    return labels
