"""Every SQL statement of the registry: ``registered_models``, ``model_versions``,
``model_version_tags``, ``model_aliases`` and ``model_transitions``.

Version numbers are allocated in the store: one past ``registered_models.last_version``,
inserted under the ``(name, version)`` key; a writer that clashes with another
one's insert tries again with the next number, so a number is never taken from
memory and never given twice (not even after a deleted version is purged).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.registry._filter import And, Comparison, Field, Node, Not, Or
from loopml.registry._records import ModelStatus, ModelVersion, RegisteredModel, Transition
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.store.refs import add_refs, holders, release_owners
from loopml.uri import ModelURI, RunURI

__all__ = [
    "delete_alias",
    "find_alias",
    "get_version",
    "history",
    "latest_version",
    "list_models",
    "lock_version",
    "move_environment",
    "purge_deleted",
    "register",
    "search",
    "set_alias",
    "set_status",
    "soft_delete",
    "version_labels",
]

_COLUMNS = (
    "v.name, v.version, v.run_id, v.source, v.manifest_digest, v.status, v.created_at, "
    "v.description"
)
_LIVE = "v.deleted_at IS NULL"
#: the owners of object references that serve a version: a deployment holds references
#: on its version's package (owner ``deployments:/<name>``), and while one does the
#: version is neither deleted nor archived. The registry asks the store who holds the
#: package, so it never imports the package that deploys.
_SERVING = "deployments:/"
_ATTEMPTS = 100


# -- reading ------------------------------------------------------------------------


def _versions(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[ModelVersion]:
    """Model versions of ``rows`` (of :data:`_COLUMNS`), with their tags and aliases."""
    if not rows:
        return []
    names = sorted({r[0] for r in rows})
    params: tuple[Any, ...]
    if len(names) == 1:  # one model's versions: read theirs only, not every version's
        test, param = conn.in_list(sorted({int(r[1]) for r in rows}))
        where, params = f"name = ? AND version {test}", (names[0], param)
    else:
        test, param = conn.in_list(names)
        where, params = f"name {test}", (param,)
    tags: dict[tuple[str, int], dict[str, str]] = {}
    for name, version, key, value in conn.all(
        f"SELECT name, version, key, value FROM model_version_tags WHERE {where} ORDER BY key",
        params,
    ):
        tags.setdefault((name, int(version)), {})[key] = value
    aliases: dict[tuple[str, int], list[str]] = {}
    for name, version, alias in conn.all(
        f"SELECT name, version, alias FROM model_aliases WHERE {where} ORDER BY alias", params
    ):
        aliases.setdefault((name, int(version)), []).append(alias)
    return [
        ModelVersion(
            name=r[0],
            version=int(r[1]),
            run_id=r[2],
            source=r[3],
            manifest_digest=r[4],
            status=ModelStatus(r[5]),
            created_at=float(r[6]),
            description=r[7],
            tags=tags.get((r[0], int(r[1])), {}),
            aliases=tuple(aliases.get((r[0], int(r[1])), ())),
        )
        for r in rows
    ]


def _unknown_model(conn: Connection, name: str) -> str:
    known = conn.column("SELECT name FROM registered_models ORDER BY updated_at DESC, name LIMIT 5")
    return (
        f"no registered model {name!r}; "
        + (f"recent models: {', '.join(known)}" if known else "none is registered yet")
        + ". Register one with loopml.register_model('runs:/<run id>/model', name)."
    )


def _lock_model(conn: Connection, name: str) -> None:
    """Take the write lock of model ``name`` for the rest of the transaction, so writers of
    one model run one after the other and what one checked (no alias points at the
    version it deletes; the version it points an alias at is live and READY) still
    holds when it commits. SQLite's write transactions hold the database already; on
    PostgreSQL, whose transactions see each other's commits as they happen, the model's
    row is locked."""
    if conn.dialect == "postgresql":
        conn.execute("SELECT 1 FROM registered_models WHERE name = ? FOR UPDATE", (name,)).close()


def _check_model(conn: Connection, name: str) -> None:
    if conn.first("SELECT 1 FROM registered_models WHERE name = ?", (name,)) is None:
        raise NotFound(_unknown_model(conn, name))


def _version_row(conn: Connection, name: str, version: int) -> tuple[Any, ...]:
    row = conn.first(
        f"SELECT {_COLUMNS} FROM model_versions v WHERE v.name = ? AND v.version = ? AND {_LIVE}",
        (name, version),
    )
    if row is None:
        _check_model(conn, name)
        known = conn.column(
            f"SELECT v.version FROM model_versions v WHERE v.name = ? AND {_LIVE} "
            "ORDER BY v.version DESC LIMIT 5",
            (name,),
        )
        raise NotFound(
            f"model {name!r} has no version {version}; "
            + (f"its newest versions: {', '.join(map(str, known))}." if known else "")
            + " List them with: loopml models show "
            + name
        )
    return row


def get_version(meta: MetadataStore, name: str, version: int) -> ModelVersion:
    """Version ``version`` of ``name``; NotFound naming the versions there are."""
    with meta.read() as conn:
        return _versions(conn, [_version_row(conn, name, version)])[0]


def latest_version(meta: MetadataStore, name: str) -> ModelVersion:
    """The newest version of ``name``."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_COLUMNS} FROM model_versions v WHERE v.name = ? AND {_LIVE} "
            "ORDER BY v.version DESC LIMIT 1",
            (name,),
        )
        if row is None:
            _check_model(conn, name)
            raise NotFound(f"model {name!r} has no versions left (all were deleted).")
        return _versions(conn, [row])[0]


def find_alias(meta: MetadataStore, name: str, alias: str) -> ModelVersion:
    """The version alias ``alias`` of ``name`` points at."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_COLUMNS} FROM model_aliases a JOIN model_versions v "
            "ON v.name = a.name AND v.version = a.version "
            f"WHERE a.name = ? AND a.alias = ? AND {_LIVE}",
            (name, alias),
        )
        if row is None:
            _check_model(conn, name)
            known = conn.column(
                "SELECT alias FROM model_aliases WHERE name = ? ORDER BY alias", (name,)
            )
            raise NotFound(
                f"model {name!r} has no alias {alias!r}; "
                + (f"its aliases: {', '.join(known)}." if known else "it has no aliases.")
                + f" Set one with loopml.set_alias({name!r}, {alias!r}, <version>)."
            )
        return _versions(conn, [row])[0]


def current_alias(meta: MetadataStore, name: str, alias: str) -> int | None:
    """The version ``alias`` of ``name`` points at now, or None."""
    return _alias_now(meta, name, alias)


def _alias_now(meta: MetadataStore, name: str, alias: str) -> int | None:
    with meta.read() as conn:
        found = conn.scalar(
            "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", (name, alias)
        )
    return None if found is None else int(found)


def list_models(meta: MetadataStore) -> list[RegisteredModel]:
    """Every registered model with a version left, most recently changed first."""
    with meta.read() as conn:
        rows = conn.all(
            "SELECT m.name, MAX(v.version), COUNT(v.version), m.created_at, m.updated_at "
            "FROM registered_models m JOIN model_versions v ON v.name = m.name "
            f"WHERE {_LIVE} GROUP BY m.name, m.created_at, m.updated_at "
            "ORDER BY m.updated_at DESC, m.name"
        )
        aliases: dict[str, dict[str, int]] = {}
        for name, alias, version in conn.all(
            "SELECT name, alias, version FROM model_aliases ORDER BY name, alias"
        ):
            aliases.setdefault(name, {})[alias] = int(version)
    return [
        RegisteredModel(r[0], int(r[1]), int(r[2]), aliases.get(r[0], {}), r[3], r[4]) for r in rows
    ]


def history(meta: MetadataStore, name: str, environment: str | None) -> list[Transition]:
    """The moves of ``name``'s environments (of ``environment`` only), newest first."""
    sql = (
        'SELECT name, environment, from_version, to_version, "user", reason, created_at, id '
        "FROM model_transitions WHERE name = ?"
    )
    params: list[Any] = [name]
    if environment is not None:
        sql += " AND environment = ?"
        params.append(environment)
    with meta.read() as conn:
        _check_model(conn, name)
        rows = conn.all(sql + " ORDER BY id DESC", params)
    return [
        Transition(
            r[0], r[1], None if r[2] is None else int(r[2]), int(r[3]), r[4], r[5], r[6], int(r[7])
        )
        for r in rows
    ]


def version_labels(meta: MetadataStore, pairs: Iterable[tuple[str, int]]) -> list[ModelVersion]:
    """The live versions among ``pairs`` of (name, version)."""
    by_name: dict[str, list[int]] = {}
    for name, version in sorted(set(pairs)):
        by_name.setdefault(name, []).append(version)
    found: list[ModelVersion] = []
    with meta.read() as conn:
        for name, versions in by_name.items():
            test, param = conn.in_list(versions)
            rows = conn.all(
                f"SELECT {_COLUMNS} FROM model_versions v WHERE v.name = ? "
                f"AND v.version {test} AND {_LIVE}",
                (name, param),
            )
            found.extend(_versions(conn, rows))
    return found


# -- search -------------------------------------------------------------------------

_ATTRIBUTE_COLUMNS = {
    "name": "v.name",
    "version": "v.version",
    "status": "v.status",
    "run_id": "v.run_id",
    "source": "v.source",
    "description": "v.description",
    "created_at": "v.created_at",
}
_NEGATIVE = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "NOT ILIKE": "ILIKE"}


def _like_to_glob(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            c = pattern[i]
            out.append(f"[{c}]" if c in "*?[" else c)
        elif c == "%":
            out.append("*")
        elif c == "_":
            out.append("?")
        elif c in "*?[":
            out.append(f"[{c}]")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _test(col: str, op: str, value: Any, dialect: str, params: list[Any]) -> str:
    """``col op value`` in SQL, its values appended to ``params``."""
    if op in ("IS NULL", "IS NOT NULL"):
        return f"{col} {op}"
    if op in ("IN", "NOT IN"):
        params.extend(value)
        return f"{col} {op} ({', '.join('?' * len(value))})"
    negate = "NOT " if op.startswith("NOT ") else ""
    if op.endswith("ILIKE"):
        params.append(value)
        return f"{negate}(lower({col}) LIKE lower(?) ESCAPE '\\')"
    if op.endswith("LIKE"):
        if dialect == "sqlite":
            params.append(_like_to_glob(str(value)))
            return f"{negate}({col} GLOB ?)"
        params.append(value)
        return f"{negate}({col} LIKE ? ESCAPE '\\')"
    params.append(value)
    return f"{col} {op} ?"


def _sql(node: Node, dialect: str, params: list[Any]) -> str:
    if isinstance(node, And):
        return "(" + " AND ".join(_sql(n, dialect, params) for n in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_sql(n, dialect, params) for n in node.items) + ")"
    if isinstance(node, Not):
        return f"NOT ({_sql(node.item, dialect, params)})"
    return _comparison(node, dialect, params)


def _comparison(c: Comparison[Field], dialect: str, params: list[Any]) -> str:
    if c.field.tag is not None:
        params.append(c.field.tag)
        head = (
            "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.name = v.name "
            "AND t.version = v.version AND t.key = ?"
        )
        if c.op == "IS NULL":
            return f"NOT {head})"
        if c.op == "IS NOT NULL":
            return f"{head})"
        return f"{head} AND {_test('t.value', c.op, c.value, dialect, params)})"
    if c.field.name == "alias":
        head = (
            "EXISTS (SELECT 1 FROM model_aliases a WHERE a.name = v.name AND a.version = v.version"
        )
        if c.op in ("IS NULL", "IS NOT NULL"):
            return ("NOT " if c.op == "IS NULL" else "") + head + ")"
        positive = _NEGATIVE.get(c.op, c.op)
        test = _test("a.alias", positive, c.value, dialect, params)
        return ("NOT " if positive != c.op else "") + f"{head} AND {test})"
    return _test(_ATTRIBUTE_COLUMNS[c.field.name], c.op, c.value, dialect, params)


def search(
    meta: MetadataStore,
    node: Node | None,
    order: Sequence[tuple[str, bool]],
    limit: int,
) -> list[ModelVersion]:
    """The live versions matching ``node``, sorted by ``order`` (then name, newest
    version first), at most ``limit``."""
    with meta.read() as conn:
        params: list[Any] = []
        where = _LIVE + (f" AND {_sql(node, conn.dialect, params)}" if node is not None else "")
        keys = [f"{_ATTRIBUTE_COLUMNS[f]} {'DESC' if d else 'ASC'}" for f, d in order]
        keys += ["v.name ASC", "v.version DESC"]
        rows = conn.all(
            f"SELECT {_COLUMNS} FROM model_versions v WHERE {where} "
            f"ORDER BY {', '.join(keys)} LIMIT ?",
            (*params, limit),
        )
        return _versions(conn, rows)


# -- writing ------------------------------------------------------------------------


def register(
    meta: MetadataStore,
    *,
    name: str,
    run_id: str,
    source: str,
    manifest_digest: str,
    digests: Iterable[str],
    description: str | None,
    tags: dict[str, str],
) -> ModelVersion:
    """Record a new version of ``name`` for the package ``manifest_digest`` (its objects
    referenced by the version's URI, an edge from its run), or return the live version
    of ``name`` that holds that package already (``is_new`` False)."""
    objects = sorted({*digests, manifest_digest})

    def tx(conn: Connection) -> ModelVersion:
        now = time.time()
        conn.upsert(
            "registered_models",
            [{"name": name, "last_version": 0, "created_at": now, "updated_at": now}],
            keys=("name",),
        )
        held = conn.first(
            f"SELECT {_COLUMNS} FROM model_versions v WHERE v.name = ? "
            f"AND v.manifest_digest = ? AND {_LIVE} ORDER BY v.version LIMIT 1",
            (name, manifest_digest),
        )
        if held is not None:
            found = _versions(conn, [held])[0]
            return _same(found)
        version = (
            int(conn.scalar("SELECT last_version FROM registered_models WHERE name = ?", (name,)))
            + 1
        )
        conn.execute(
            "INSERT INTO model_versions (name, version, run_id, source, manifest_digest, "
            "status, description, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                version,
                run_id,
                source,
                manifest_digest,
                ModelStatus.READY.value,
                description,
                now,
            ),
        ).close()
        conn.execute(
            "UPDATE registered_models SET last_version = ?, updated_at = ? WHERE name = ?",
            (version, now, name),
        ).close()
        conn.executemany(
            "INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
            [(name, version, k, v) for k, v in sorted(tags.items())],
        )
        uri = str(ModelURI(name, version))
        add_refs(conn, uri, objects)
        lineage_edges.add_edges(conn, [(str(RunURI(run_id)), uri, "registered")])
        return ModelVersion(
            name,
            version,
            run_id,
            source,
            manifest_digest,
            ModelStatus.READY,
            now,
            description,
            dict(sorted(tags.items())),
        )

    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return meta.write(tx)
        except Conflict:
            if attempt == _ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.002 * min(attempt, 50)))
    raise AssertionError("unreachable")  # pragma: no cover


def _same(found: ModelVersion) -> ModelVersion:
    from dataclasses import replace

    note = (
        f"this model package is already registered as {found.name} v{found.version} "
        f"({found.source}); no new version was made."
    )
    return replace(found, is_new=False, note=note)


def set_alias(meta: MetadataStore, name: str, alias: str, version: int) -> ModelVersion:
    """Point ``alias`` of ``name`` at ``version`` (a READY, live version)."""

    def tx(conn: Connection) -> ModelVersion:
        _lock_model(conn, name)
        row = _version_row(conn, name, version)
        _check_ready(row)
        now = time.time()
        conn.upsert(
            "model_aliases",
            [{"name": name, "alias": alias, "version": version, "updated_at": now}],
            keys=("name", "alias"),
            update=("version", "updated_at"),
        )
        _touch(conn, name, now)
        return _versions(conn, [row])[0]

    return meta.write(tx)


def _check_ready(row: tuple[Any, ...]) -> None:
    if row[5] != ModelStatus.READY.value:
        raise InvalidInput(
            f"{row[0]} v{row[1]} is {str(row[5]).lower()}: an alias or environment points "
            "only at a READY version. Register the model again to get a new version."
        )


def _touch(conn: Connection, name: str, now: float) -> None:
    conn.execute("UPDATE registered_models SET updated_at = ? WHERE name = ?", (now, name)).close()


def delete_alias(meta: MetadataStore, name: str, alias: str) -> None:
    """Remove ``alias`` of ``name``; NotFound when it has none such."""

    def tx(conn: Connection) -> None:
        _lock_model(conn, name)
        _check_model(conn, name)
        cur = conn.execute("DELETE FROM model_aliases WHERE name = ? AND alias = ?", (name, alias))
        gone = cur.rowcount
        cur.close()
        if not gone:
            known = conn.column(
                "SELECT alias FROM model_aliases WHERE name = ? ORDER BY alias", (name,)
            )
            raise NotFound(
                f"model {name!r} has no alias {alias!r}"
                + (f"; its aliases: {', '.join(known)}." if known else "; it has no aliases.")
            )
        _touch(conn, name, time.time())

    meta.write(tx)


class _Moved(Exception):
    pass


def move_environment(
    meta: MetadataStore,
    *,
    name: str,
    environment: str,
    expected: int | None,
    version: int,
    user: str | None,
    reason: str | None,
    on_move: Callable[[Connection, Transition], object] | None = None,
) -> Transition:
    """Move ``environment`` of ``name`` from ``expected`` (None: unset) to ``version`` and
    record the transition, in one transaction (with ``on_move(conn, transition)``);
    :class:`~loopml.errors.Conflict` when the environment no longer points at
    ``expected`` (another writer moved it first)."""

    def tx(conn: Connection) -> Transition:
        _lock_model(conn, name)
        _check_ready(_version_row(conn, name, version))
        now = time.time()
        if expected is None:
            if conn.first(
                "SELECT 1 FROM model_aliases WHERE name = ? AND alias = ?", (name, environment)
            ):
                raise _Moved
            conn.execute(
                "INSERT INTO model_aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?)",
                (name, environment, version, now),
            ).close()
        else:
            cur = conn.execute(
                "UPDATE model_aliases SET version = ?, updated_at = ? "
                "WHERE name = ? AND alias = ? AND version = ?",
                (version, now, name, environment, expected),
            )
            moved = cur.rowcount
            cur.close()
            if moved != 1:
                raise _Moved
        moved_id = conn.scalar(
            'INSERT INTO model_transitions (name, environment, from_version, to_version, "user", '
            "reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (name, environment, expected, version, user, reason, now),
        )
        _touch(conn, name, now)
        made = Transition(name, environment, expected, version, user, reason, now, int(moved_id))
        if on_move is not None:
            on_move(conn, made)
        return made

    try:
        return meta.write(tx)
    except (_Moved, Conflict):
        now_at = _alias_now(meta, name, environment)
        was = "nothing" if expected is None else f"v{expected}"
        is_now = "nothing" if now_at is None else f"v{now_at}"
        raise Conflict(
            f"{environment} of {name} was moved by another writer while this promote moved "
            f"it from {was} to v{version}: it now points at {is_now}, and nothing was "
            f"changed. See loopml models history {name} --env {environment}, then promote "
            "again if it should still move."
        ) from None


def lock_version(conn: Connection, name: str, version: int) -> ModelVersion:
    """Inside ``conn``'s write transaction: take model ``name``'s write lock and return its
    live version ``version``, checked READY (:class:`~loopml.errors.NotFound` when there
    is none such, :class:`~loopml.errors.InvalidInput` when it is archived).

    For a package above the registry that starts holding a version in its own
    transaction (a deployment takes references on its package): what is checked here
    still holds when that transaction commits, since archive and delete take the same
    lock and refuse a version whose package a deployment holds.
    """
    _lock_model(conn, name)
    row = _version_row(conn, name, version)
    if row[5] != ModelStatus.READY.value:
        raise InvalidInput(
            f"{name} v{version} is {str(row[5]).lower()}: only a READY version is served. "
            f"Deploy another version (loopml models show {name} lists them)."
        )
    return _versions(conn, [row])[0]


def _check_not_served(conn: Connection, found: ModelVersion, doing: str) -> None:
    served = holders(conn, [found.manifest_digest], _SERVING)
    if served:
        raise Conflict(
            f"{found.name} v{found.version} is served by {', '.join(served)}: it cannot be "
            f"{doing}. Deploy another version there or delete the deployment first "
            f"(loopml deployments delete {served[0].removeprefix(_SERVING)})."
        )


def set_status(meta: MetadataStore, name: str, version: int, status: ModelStatus) -> ModelVersion:
    """Set the status of a live version (not to ARCHIVED while a deployment serves it)."""

    def tx(conn: Connection) -> ModelVersion:
        _lock_model(conn, name)
        row = _version_row(conn, name, version)
        if status is ModelStatus.ARCHIVED:
            _check_not_served(conn, _versions(conn, [row])[0], "archived")
        conn.execute(
            "UPDATE model_versions SET status = ? WHERE name = ? AND version = ?",
            (status.value, name, version),
        ).close()
        _touch(conn, name, time.time())
        return _versions(conn, [_version_row(conn, name, version)])[0]

    return meta.write(tx)


def soft_delete(meta: MetadataStore, name: str, version: int) -> ModelVersion:
    """Mark a version deleted (gc purges it); Conflict while an alias points at it."""

    def tx(conn: Connection) -> ModelVersion:
        _lock_model(conn, name)
        found = _versions(conn, [_version_row(conn, name, version)])[0]
        if found.aliases:
            raise Conflict(
                f"{name} v{version} is pointed at by {', '.join(found.aliases)}: it cannot be "
                "deleted, only archived (loopml models archive "
                f"{name}/{version}). Move or delete those aliases first to delete it."
            )
        _check_not_served(conn, found, "deleted")
        now = time.time()
        conn.execute(
            "UPDATE model_versions SET deleted_at = ? WHERE name = ? AND version = ?",
            (now, name, version),
        ).close()
        _touch(conn, name, now)
        return found

    return meta.write(tx)


def purge_deleted(meta: MetadataStore, dry_run: bool) -> list[str]:
    """Remove for good the deleted versions, their tags, the object references and
    lineage edges they hold; returns their ``models:/`` URIs (with ``dry_run``, those
    that would be removed)."""

    def doomed(conn: Connection) -> list[tuple[str, int]]:
        rows = conn.all(
            "SELECT name, version FROM model_versions WHERE deleted_at IS NOT NULL "
            "ORDER BY name, version"
        )
        return [(r[0], int(r[1])) for r in rows]

    if dry_run:
        with meta.read() as conn:
            return [str(ModelURI(n, v)) for n, v in doomed(conn)]

    def purge(conn: Connection) -> list[str]:
        pairs = doomed(conn)
        uris = [str(ModelURI(n, v)) for n, v in pairs]
        if pairs:
            release_owners(conn, uris)
            lineage_edges.remove_nodes(conn, uris)
            for table in ("model_version_tags", "model_versions"):
                conn.executemany(f"DELETE FROM {table} WHERE name = ? AND version = ?", pairs)
        return uris

    return meta.write(purge)
