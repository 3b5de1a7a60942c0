"""Every SQL statement of the deployments: ``deployments``, ``deployment_history``,
``rollouts`` and ``rollout_analyses``; and ``deployments:/`` and ``rollout:/`` in the
URI registry.

A change is one write transaction: the deployment's row, its history row, the object
references it holds on its version's package (owner ``deployments:/<name>``, so gc
keeps the package and the registry refuses to delete or archive the version) and its
lineage edge. Changes are numbered by one ``generation`` for all deployments, taken
under the write lock (SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL a lock on the history
table), so generations follow commit order and a reader that saw generation G has
seen every change up to G.

A rollout's changes are changes of its deployment: starting it, each step, the
promotion, the rollback or abort each write a history row (with the rollout and the
candidate's weight) under a new generation, in the transaction that changes the
rollout's row, by compare-and-set on its status and step. While a rollout is active
the deployment holds references on both versions' packages; when it ends, on the one
it serves, except a promoted blue-green one: while a rollback may still flip the
deployment back to its primary, the primary's package is held too, until the
deployment's next change.

A rollout row that cannot be read (JSON that does not parse, a value out of range:
see ``_stored``) raises :class:`~loopml.errors.CorruptRecord`; aborting the deployment's
rollout ends such a row all the same.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from loopml.context import Context
from loopml.deployments import _stored
from loopml.deployments._records import (
    Analysis,
    Deployment,
    DeploymentAction,
    DeploymentChange,
    DeploymentStatus,
    Rollout,
    RolloutStatus,
    Strategy,
    Verdict,
)
from loopml.errors import Conflict, CorruptRecord, InvalidInput, NotFound
from loopml.lineage import Node
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore, unknown_name
from loopml.store.refs import add_refs, release_owners
from loopml.uri import DeploymentURI, ModelURI, RolloutURI, parse_deployment_uri

__all__ = [
    "Stale",
    "active",
    "active_rollout",
    "advance",
    "analyses",
    "apply",
    "changes_since",
    "current_generation",
    "delete",
    "describe",
    "describe_rollouts",
    "failures",
    "find",
    "finish",
    "finish_in",
    "flip",
    "flippable",
    "get",
    "get_rollout",
    "history",
    "keep",
    "last_analysis_at",
    "latest_rollout",
    "lease",
    "list_all",
    "list_rollouts",
    "promote",
    "promote_in",
    "resolve",
    "resolve_rollout",
    "start_rollout",
    "take_lease",
]

_COLUMNS = (
    "name, model_name, version, model_uri, strategy, config, generation, created_at, "
    "updated_at, rollout_id"
)
_CHANGE_COLUMNS = (
    'generation, name, action, model_name, from_version, to_version, model_uri, "user", '
    "reason, created_at, rollout_id, weight"
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
        rollout_id=None if row[9] is None else int(row[9]),
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
        rollout_id=None if row[10] is None else int(row[10]),
        weight=None if row[11] is None else int(row[11]),
    )


def _row(conn: Connection, name: str) -> tuple[Any, ...] | None:
    return conn.first(f"SELECT {_COLUMNS} FROM deployments WHERE name = ?", (name,))


def _unknown(conn: Connection, name: str) -> NotFound:
    return unknown_name(
        conn,
        "deployments",
        "deployment",
        name,
        "Create one with: loopml deploy NAME --model models:/<model>@<alias>",
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
        values.get("rollout_id"),
        values.get("weight"),
    )
    conn.execute(
        f"INSERT INTO deployment_history ({_CHANGE_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        _busy(conn, name, "This deploy changed nothing; deploy again after the abort.")
        if row is None:
            conn.execute(
                f"INSERT INTO deployments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
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
                "strategy = ?, config = ?, generation = ?, updated_at = ?, rollout_id = NULL "
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
    except _Busy as busy:
        raise _busy_error(busy.rollout) from None
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
        now = time.time()
        busy = _active_raw(conn, name)  # read or not, it goes with the deployment
        if busy is not None:
            _set_finished(
                conn, int(busy[0]), RolloutStatus.ABORTED, "the deployment was deleted", now
            )
        conn.execute("DELETE FROM deployments WHERE name = ?", (name,)).close()
        release_owners(conn, [uri])
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


# -- rollouts -----------------------------------------------------------------------

_ROLLOUT_COLUMNS = (
    "id, deployment, strategy, status, primary_model, primary_version, candidate_model, "
    "candidate_version, candidate_uri, steps, step, interval_seconds, split, sticky, policy, "
    'reason, "user", created_at, updated_at, step_started_at, finished_at, finish_reason, '
    "environment"
)
_ANALYSIS_COLUMNS = (
    "id, rollout_id, step, verdict, checks, primary_count, candidate_count, created_at"
)
_ACTIVE = (RolloutStatus.PENDING.value, RolloutStatus.PROGRESSING.value)


class _Busy(Exception):
    """The deployment has an active rollout."""

    def __init__(self, rollout: Rollout) -> None:
        super().__init__(rollout.uri)
        self.rollout = rollout


class Stale(Exception):
    """The rollout is no longer in the state the caller read (another controller or a
    person changed it)."""


def _busy_error(rollout: Rollout) -> Conflict:
    return Conflict(
        f"deployment {rollout.deployment!r} has {rollout.strategy} rollout {rollout.uri} of "
        f"{rollout.candidate} {rollout.status}: promote, roll back or abort it first "
        f"(loopml deployments promote|rollback|abort {rollout.deployment}). Nothing was "
        "changed."
    )


def _rollout(row: tuple[Any, ...]) -> Rollout:
    return _stored.rollout(row)


def _analysis(row: tuple[Any, ...]) -> Analysis:
    return _stored.analysis(row)


def _rollout_raw(conn: Connection, rollout_id: int) -> tuple[Any, ...] | None:
    return conn.first(f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE id = ?", (rollout_id,))


def _rollout_row(conn: Connection, rollout_id: int) -> Rollout | None:
    row = _rollout_raw(conn, rollout_id)
    return None if row is None else _rollout(row)


def _active_raw(conn: Connection, name: str) -> tuple[Any, ...] | None:
    return conn.first(
        f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = ? AND status IN (?, ?) "
        "ORDER BY id DESC LIMIT 1",
        (name, *_ACTIVE),
    )


def _active(conn: Connection, name: str) -> Rollout | None:
    row = _active_raw(conn, name)
    return None if row is None else _rollout(row)


def _busy(conn: Connection, name: str, then: str) -> None:
    """:class:`_Busy` when deployment ``name`` has an active rollout; CorruptRecord, with
    ``then`` (what changed nothing, what to do after the abort), when it has one that
    cannot be read."""
    try:
        busy = _active(conn, name)
    except CorruptRecord as exc:
        raise CorruptRecord(f"{exc} {then}") from None
    if busy is not None:
        raise _Busy(busy)


def _no_rollout(name: str, verb: str) -> InvalidInput:
    return InvalidInput(
        f"deployment {name!r} has no active rollout to {verb}: start one with loopml deploy "
        f"{name} --strategy canary --candidate models:/<model>/<version> (loopml deployments "
        f"status {name} shows its rollouts)."
    )


def get_rollout(meta: MetadataStore, rollout_id: int) -> Rollout | None:
    """Rollout ``rollout_id``, or None."""
    with meta.read() as conn:
        return _rollout_row(conn, rollout_id)


def latest_rollout(meta: MetadataStore, name: str) -> Rollout | None:
    """Deployment ``name``'s active rollout, else its newest one, or None."""
    with meta.read() as conn:
        found = _active(conn, name)
        if found is not None:
            return found
        row = conn.first(
            f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = ? "
            "ORDER BY id DESC LIMIT 1",
            (name,),
        )
    return None if row is None else _rollout(row)


def list_rollouts(meta: MetadataStore, name: str | None) -> list[Rollout]:
    """The rollouts (of deployment ``name``), newest first."""
    with meta.read() as conn:
        if name is None:
            rows = conn.all(f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts ORDER BY id DESC")
        else:
            rows = conn.all(
                f"SELECT {_ROLLOUT_COLUMNS} FROM rollouts WHERE deployment = ? ORDER BY id DESC",
                (name,),
            )
    return [_rollout(r) for r in rows]


def analyses(meta: MetadataStore, rollout_id: int) -> list[Analysis]:
    """The stored analyses of rollout ``rollout_id``, oldest first."""
    with meta.read() as conn:
        rows = conn.all(
            f"SELECT {_ANALYSIS_COLUMNS} FROM rollout_analyses WHERE rollout_id = ? ORDER BY id",
            (rollout_id,),
        )
    return [_analysis(r) for r in rows]


def _version_refs(conn: Connection, model_name: str, version: int) -> list[str]:
    """The objects registered version ``model_name`` v``version`` holds (its package)."""
    return list(
        conn.column(
            "SELECT digest FROM object_refs WHERE owner = ?", (str(ModelURI(model_name, version)),)
        )
    )


def _serve(conn: Connection, name: str, *versions: tuple[str, int]) -> None:
    """The deployment's references: on the packages of ``versions`` (``(model name,
    version)`` pairs) alone."""
    uri = str(DeploymentURI(name))
    release_owners(conn, [uri])
    for model_name, version in versions:
        add_refs(conn, uri, _version_refs(conn, model_name, version))


def _bump(conn: Connection, name: str, generation: int, now: float, **sets: Any) -> None:
    """Give deployment ``name`` generation ``generation`` (and the other ``sets``)."""
    extra = "".join(f", {k} = ?" for k in sets)
    conn.execute(
        f"UPDATE deployments SET generation = ?, updated_at = ?{extra} WHERE name = ?",
        (generation, now, *sets.values(), name),
    ).close()


def _insert_analysis(conn: Connection, rollout_id: int, analysis: Analysis, now: float) -> None:
    """Store ``analysis``; it takes the place of a NOT_YET analysis of the same step
    stored last (the same window, judged again as it grew), so a window keeps one row."""
    last = conn.first(
        "SELECT id, step, verdict FROM rollout_analyses WHERE rollout_id = ? "
        "ORDER BY id DESC LIMIT 1",
        (rollout_id,),
    )
    if last is not None and int(last[1]) == analysis.step and last[2] == Verdict.NOT_YET.value:
        conn.execute("DELETE FROM rollout_analyses WHERE id = ?", (last[0],)).close()
    conn.execute(
        "INSERT INTO rollout_analyses (rollout_id, step, verdict, checks, primary_count, "
        "candidate_count, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            rollout_id,
            analysis.step,
            analysis.verdict.value,
            json.dumps([c.to_dict() for c in analysis.checks], allow_nan=False),
            analysis.counts.get("primary", 0),
            analysis.counts.get("candidate", 0),
            now,
        ),
    ).close()


def _set_finished(
    conn: Connection, rollout_id: int, status: RolloutStatus, reason: str | None, now: float
) -> None:
    conn.execute(
        "UPDATE rollouts SET status = ?, finished_at = ?, finish_reason = ?, updated_at = ?, "
        "lease_owner = NULL, lease_expires = NULL WHERE id = ?",
        (status.value, now, reason, now, rollout_id),
    ).close()


def _change_row(
    conn: Connection,
    generation: int,
    rollout: Rollout,
    action: DeploymentAction,
    *,
    weight: int,
    user: str | None,
    reason: str | None,
    now: float,
    from_version: int | None = None,
    to_version: int | None = None,
) -> None:
    _record(
        conn,
        generation,
        {
            "name": rollout.deployment,
            "action": action,
            "model_name": rollout.candidate_model,
            "from_version": rollout.primary_version if from_version is None else from_version,
            "to_version": rollout.candidate_version if to_version is None else to_version,
            "model_uri": rollout.candidate_uri,
            "user": user,
            "reason": reason,
            "created_at": now,
            "rollout_id": rollout.id,
            "weight": weight,
        },
    )


def start_rollout(
    meta: MetadataStore,
    *,
    name: str,
    expected: int,
    values: dict[str, Any],
    digests: frozenset[str],
    hold: Callable[[Connection], object],
) -> Rollout:
    """Record a rollout on deployment ``name`` (read at generation ``expected``) with
    ``values`` (the rollout's columns), point the deployment at it, hold the candidate's
    package and record the change, in one transaction. Conflict when the deployment has
    an active rollout or was changed since ``expected``."""
    uri = str(DeploymentURI(name))

    def tx(conn: Connection) -> Rollout:
        hold(conn)
        generation = _next_generation(conn)
        row = _row(conn, name)
        if row is None:
            raise _unknown(conn, name)
        _busy(conn, name, "No rollout was started; start it again after the abort.")
        if int(row[6]) != expected:
            raise _Changed
        now = time.time()
        stored = {
            **values,
            "deployment": name,
            "steps": json.dumps(list(values["steps"])),
            "policy": json.dumps(values["policy"].to_dict(), sort_keys=True),
            "created_at": now,
            "updated_at": now,
            "step_started_at": now,
        }
        keys = list(stored)
        quoted = ", ".join('"user"' if k == "user" else k for k in keys)
        new_id = int(
            conn.scalar(
                f"INSERT INTO rollouts ({quoted}) VALUES ({', '.join('?' * len(keys))}) "
                "RETURNING id",
                [stored[k] for k in keys],
            )
        )
        rollout = _rollout_row(conn, new_id)
        assert rollout is not None
        _bump(conn, name, generation, now, rollout_id=new_id, strategy=rollout.strategy.value)
        _serve(conn, name, (row[1], int(row[2])))  # a flipped blue-green's primary goes
        add_refs(conn, uri, digests)
        lineage_edges.add_edges(
            conn, [(rollout.candidate, rollout.uri, "candidate"), (rollout.uri, uri, "rollout")]
        )
        _change_row(
            conn,
            generation,
            rollout,
            DeploymentAction.ROLLOUT,
            weight=rollout.weight,
            user=rollout.user,
            reason=rollout.reason,
            now=now,
        )
        return rollout

    try:
        return meta.write(tx)
    except _Busy as busy:
        raise _busy_error(busy.rollout) from None
    except _Changed:
        raise Conflict(
            f"deployment {name!r} was changed by another writer while this rollout was "
            f"prepared, and nothing was changed. See loopml deployments status {name}, then "
            "deploy again."
        ) from None


def _current(
    conn: Connection, name: str, verb: str, rollout_id: int | None, step: int | None
) -> Rollout:
    """Deployment ``name``'s active rollout (the one ``rollout_id`` names, at ``step``
    when given: :class:`Stale` otherwise)."""
    if _row(conn, name) is None:
        raise _unknown(conn, name)
    found = _active(conn, name)
    if found is None:
        if rollout_id is not None:
            raise Stale
        raise _no_rollout(name, verb)
    if rollout_id is not None and found.id != rollout_id:
        raise Stale
    if step is not None and found.step != step:
        raise Stale
    return found


def promote_in(
    conn: Connection,
    name: str,
    *,
    user: str | None,
    reason: str | None,
    rollout_id: int | None = None,
    step: int | None = None,
    analysis: Analysis | None = None,
    now: float | None = None,
) -> Rollout:
    """In the caller's transaction: the active rollout of ``name`` is PROMOTED, the
    deployment serves its candidate (and holds its package alone), and the change is
    recorded. :class:`Stale` when ``rollout_id``/``step`` are given and no longer hold."""
    when = time.time() if now is None else now
    generation = _next_generation(conn)
    rollout = _current(conn, name, "promote", rollout_id, step)
    if analysis is not None:
        _insert_analysis(conn, rollout.id, analysis, when)
    _set_finished(conn, rollout.id, RolloutStatus.PROMOTED, reason, when)
    _bump(
        conn,
        name,
        generation,
        when,
        model_name=rollout.candidate_model,
        version=rollout.candidate_version,
        model_uri=rollout.candidate_uri,
    )
    held = [(rollout.candidate_model, rollout.candidate_version)]
    if rollout.strategy == Strategy.BLUE_GREEN:  # a rollback may flip back to the primary
        held.append((rollout.primary_model, rollout.primary_version))
    _serve(conn, name, *held)
    lineage_edges.add_edges(conn, [(rollout.candidate, str(DeploymentURI(name)), "deployed")])
    _change_row(
        conn,
        generation,
        rollout,
        DeploymentAction.PROMOTE,
        weight=100,
        user=user,
        reason=reason,
        now=when,
    )
    found = _rollout_row(conn, rollout.id)
    assert found is not None
    return found


def promote(meta: MetadataStore, name: str, **kwargs: Any) -> Rollout:
    """:func:`promote_in` in a transaction of its own."""
    return meta.write(lambda conn: promote_in(conn, name, **kwargs))


def active(meta: MetadataStore, name: str, verb: str) -> Rollout:
    """Deployment ``name``'s active rollout; NotFound / InvalidInput saying what to do."""
    with meta.read() as conn:
        return _current(conn, name, verb, None, None)


def _flippable(conn: Connection, row: tuple[Any, ...]) -> Rollout | None:
    """The blue-green rollout deployment row ``row`` may flip back from: its latest
    rollout, PROMOTED, while the deployment serves that rollout's candidate."""
    if row[9] is None:
        return None
    last = _rollout_row(conn, int(row[9]))
    if (
        last is not None
        and last.strategy == Strategy.BLUE_GREEN
        and last.status == RolloutStatus.PROMOTED
        and (row[1], int(row[2])) == (last.candidate_model, last.candidate_version)
    ):
        return last
    return None


def flippable(meta: MetadataStore, name: str) -> Rollout | None:
    """Deployment ``name``'s PROMOTED blue-green rollout that a rollback would flip back
    from, or None (as when a rollout is active: a rollback ends that one)."""
    with meta.read() as conn:
        row = _row(conn, name)
        if row is None:
            raise _unknown(conn, name)
        if _active_raw(conn, name) is not None:
            return None
        return _flippable(conn, row)


def active_rollout(meta: MetadataStore, name: str) -> Rollout | None:
    """Deployment ``name``'s active rollout, or None (finished rollouts are not read)."""
    with meta.read() as conn:
        return _active(conn, name)


def _unreadable_rollout(conn: Connection, row: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The row of deployment row ``row``'s rollout when it cannot be read: its active one,
    else the latest one it points at; None when that reads (or there is none)."""
    raw = _active_raw(conn, row[0])
    if raw is None and row[9] is not None:
        raw = _rollout_raw(conn, int(row[9]))
    if raw is None or not _stored.unreadable(raw):
        return None
    return raw


def _abort_unreadable(
    conn: Connection,
    row: tuple[Any, ...],
    raw: tuple[Any, ...],
    generation: int,
    *,
    user: str | None,
    reason: str | None,
    now: float,
) -> Rollout:
    """Abort rollout row ``raw`` of deployment row ``row``, which cannot be read: unless
    its status says it is over, it is ABORTED; the deployment keeps serving the version
    its own row names, holds that version's package alone, lets go of the rollout when
    its row still cannot be read, and the change is recorded with the columns that
    could be read."""
    name, rollout_id = row[0], int(raw[0])
    note = f"its record could not be read ({', '.join(_stored.unreadable(raw))})"
    why = f"{reason} ({note})" if reason else note
    if raw[3] not in {s.value for s in RolloutStatus if s.finished}:
        _set_finished(conn, rollout_id, RolloutStatus.ABORTED, why, now)
    after = _rollout_raw(conn, rollout_id)
    assert after is not None
    let_go = {"rollout_id": None} if _stored.unreadable(after) else {}
    _bump(conn, name, generation, now, **let_go)
    _serve(conn, name, (row[1], int(row[2])))
    seen = _stored.rollout(after, lenient=True)
    _record(
        conn,
        generation,
        {
            "name": name,
            "action": DeploymentAction.ABORT,
            "model_name": seen.candidate_model or None,
            "from_version": seen.candidate_version or None,
            "to_version": int(row[2]),
            "model_uri": seen.candidate_uri or None,
            "user": user,
            "reason": why,
            "created_at": now,
            "rollout_id": rollout_id,
            "weight": 0,
        },
    )
    return seen


def finish_in(
    conn: Connection,
    name: str,
    status: RolloutStatus,
    *,
    user: str | None,
    reason: str | None,
    rollout_id: int | None = None,
    step: int | None = None,
    analysis: Analysis | None = None,
    now: float | None = None,
    flip_back: bool = False,
    window: float | None = None,
) -> Rollout:
    """In the caller's transaction: end deployment ``name``'s active rollout as
    ``status`` (ROLLED_BACK or ABORTED): traffic returns to the primary, the deployment
    holds the primary's package alone, and the change is recorded. With ``flip_back``, a
    blue-green rollout PROMOTED by its smoke test, while the deployment still serves its
    candidate, is flipped back to the primary the same way. Aborting (``rollout_id``
    not given) also ends a rollout whose record cannot be read: the deployment keeps
    the version its own record names; the rollout returned holds what could be read.
    :class:`Stale` when ``rollout_id``/``step`` are given and no longer hold."""
    action = (
        DeploymentAction.ROLLBACK if status == RolloutStatus.ROLLED_BACK else DeploymentAction.ABORT
    )
    verb = "roll back" if status == RolloutStatus.ROLLED_BACK else "abort"
    when = time.time() if now is None else now
    generation = _next_generation(conn)
    row = _row(conn, name)
    if row is None:
        raise _unknown(conn, name)
    if status == RolloutStatus.ABORTED and rollout_id is None:
        broken = _unreadable_rollout(conn, row)
        if broken is not None:
            return _abort_unreadable(
                conn, row, broken, generation, user=user, reason=reason, now=when
            )
    rollout = _active(conn, name)
    if rollout is None and flip_back:
        rollout = _flippable(conn, row)
    if rollout is None:
        if rollout_id is not None:
            raise Stale
        raise _no_rollout(name, verb)
    if (
        (rollout_id is not None and rollout.id != rollout_id)
        or (step is not None and rollout.step != step)
        or (window is not None and window_of(rollout) != window)
    ):
        raise Stale
    if analysis is not None:
        _insert_analysis(conn, rollout.id, analysis, when)
    _set_finished(conn, rollout.id, status, reason, when)
    _bump(
        conn,
        name,
        generation,
        when,
        model_name=rollout.primary_model,
        version=rollout.primary_version,
    )
    if (row[1], int(row[2])) != (rollout.primary_model, rollout.primary_version):
        conn.execute(  # a flipped blue-green: the version asked for is the primary now
            "UPDATE deployments SET model_uri = ? WHERE name = ?", (rollout.primary, name)
        ).close()
    _serve(conn, name, (rollout.primary_model, rollout.primary_version))
    _change_row(
        conn,
        generation,
        rollout,
        action,
        weight=0,
        user=user,
        reason=reason,
        now=when,
        from_version=rollout.candidate_version,
        to_version=rollout.primary_version,
    )
    found = _rollout_row(conn, rollout.id)
    assert found is not None
    return found


def finish(meta: MetadataStore, name: str, status: RolloutStatus, **kwargs: Any) -> Rollout:
    """:func:`finish_in` in a transaction of its own."""
    return meta.write(lambda conn: finish_in(conn, name, status, **kwargs))


def advance(
    meta: MetadataStore,
    rollout_id: int,
    step: int,
    analysis: Analysis,
    *,
    user: str | None,
    reason: str | None,
    now: float,
) -> Rollout:
    """Move rollout ``rollout_id`` from ``step`` to the next one (storing ``analysis``)
    and record the change; :class:`Stale` when it is no longer at ``step``."""

    def tx(conn: Connection) -> Rollout:
        generation = _next_generation(conn)
        rollout = _rollout_row(conn, rollout_id)
        if rollout is None or not rollout.active or rollout.step != step:
            raise Stale
        _insert_analysis(conn, rollout_id, analysis, now)
        conn.execute(
            "UPDATE rollouts SET step = ?, step_started_at = ?, updated_at = ? WHERE id = ?",
            (step + 1, now, now, rollout_id),
        ).close()
        moved = _rollout_row(conn, rollout_id)
        assert moved is not None
        _bump(conn, rollout.deployment, generation, now)
        _change_row(
            conn,
            generation,
            moved,
            DeploymentAction.STEP,
            weight=moved.weight,
            user=user,
            reason=reason,
            now=now,
        )
        return moved

    return meta.write(tx)


def window_of(rollout: Rollout) -> float:
    """When the rollout's current window started (its step's start, or its own)."""
    return rollout.step_started_at if rollout.step_started_at is not None else rollout.created_at


def keep(
    meta: MetadataStore,
    rollout_id: int,
    step: int,
    analysis: Analysis,
    *,
    now: float,
    new_window: bool,
    window: float | None = None,
) -> int:
    """Store ``analysis`` of rollout ``rollout_id`` at ``step`` without changing its
    traffic (a window waiting for traffic keeps one NOT_YET row, replaced as it grows);
    ``new_window`` starts the step's window again at ``now``. Returns the number of
    failing analyses the rollout has; :class:`Stale` when it is no longer active at
    ``step``."""

    def tx(conn: Connection) -> int:
        rollout = _rollout_row(conn, rollout_id)
        if rollout is None or not rollout.active or rollout.step != step:
            raise Stale
        if window is not None and window_of(rollout) != window:
            raise Stale  # judged on a window another owner has since closed
        _insert_analysis(conn, rollout_id, analysis, now)
        if new_window:
            conn.execute(
                "UPDATE rollouts SET step_started_at = ?, updated_at = ? WHERE id = ?",
                (now, now, rollout_id),
            ).close()
        return _failures(conn, rollout_id)

    return meta.write(tx)


def _failures(conn: Connection, rollout_id: int) -> int:
    return int(
        conn.scalar(
            "SELECT count(*) FROM rollout_analyses WHERE rollout_id = ? AND verdict = ?",
            (rollout_id, Verdict.FAIL.value),
        )
    )


def failures(meta: MetadataStore, rollout_id: int) -> int:
    """How many stored analyses of rollout ``rollout_id`` failed."""
    with meta.read() as conn:
        return _failures(conn, rollout_id)


def last_analysis_at(meta: MetadataStore, rollout_id: int) -> float | None:
    """When rollout ``rollout_id`` was last analysed (None: never)."""
    with meta.read() as conn:
        found = conn.scalar(
            "SELECT MAX(created_at) FROM rollout_analyses WHERE rollout_id = ?", (rollout_id,)
        )
    return None if found is None else float(found)


def flip(
    meta: MetadataStore, name: str, rollout_id: int, *, user: str | None, reason: str | None
) -> Rollout:
    """A PENDING blue-green rollout passed its smoke test: it takes all traffic
    (PROGRESSING at weight 100) and the change is recorded; :class:`Stale` when it is
    no longer PENDING."""

    def tx(conn: Connection) -> Rollout:
        now = time.time()
        generation = _next_generation(conn)
        rollout = _rollout_row(conn, rollout_id)
        if rollout is None or rollout.deployment != name:
            raise Stale
        if rollout.status != RolloutStatus.PENDING:
            raise Stale
        conn.execute(
            "UPDATE rollouts SET status = ?, step_started_at = ?, updated_at = ? WHERE id = ?",
            (RolloutStatus.PROGRESSING.value, now, now, rollout_id),
        ).close()
        moved = _rollout_row(conn, rollout_id)
        assert moved is not None
        _bump(conn, name, generation, now)
        _change_row(
            conn,
            generation,
            moved,
            DeploymentAction.STEP,
            weight=100,
            user=user,
            reason=reason,
            now=now,
        )
        return moved

    return meta.write(tx)


def take_lease(
    meta: MetadataStore, rollout_id: int, owner: str, now: float, seconds: float
) -> bool:
    """Compare-and-set: ``owner`` holds rollout ``rollout_id``'s lease until ``now +
    seconds`` when it is free, expired or its own already; False when another owner
    holds it (or the rollout is over)."""

    def tx(conn: Connection) -> bool:
        cur = conn.execute(
            "UPDATE rollouts SET lease_owner = ?, lease_expires = ? WHERE id = ? "
            "AND status IN (?, ?) AND (lease_owner IS NULL OR lease_owner = ? "
            "OR lease_expires IS NULL OR lease_expires < ?)",
            (owner, now + seconds, rollout_id, *_ACTIVE, owner, now),
        )
        changed = cur.rowcount
        cur.close()
        return bool(changed == 1)

    return meta.write(tx)


def lease(meta: MetadataStore, rollout_id: int) -> tuple[str | None, float | None]:
    """Who holds rollout ``rollout_id``'s lease, and until when."""
    with meta.read() as conn:
        row = conn.first(
            "SELECT lease_owner, lease_expires FROM rollouts WHERE id = ?", (rollout_id,)
        )
    if row is None:
        return None, None
    return row[0], None if row[1] is None else float(row[1])


def resolve_rollout(ctx: Context, uri: RolloutURI) -> Node:
    """The rollout ``uri`` names."""
    found = get_rollout(ctx.metadata, uri.id)
    if found is None:
        raise NotFound(f"no rollout {uri}: loopml deployments status NAME lists a deployment's.")
    return Node(str(uri), found)


def describe_rollouts(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``canary of models:/churn/5 on churn: PROMOTED`` for each rollout that exists."""
    from loopml.uri import parse_rollout_uri

    labels: dict[str, str] = {}
    for u in uris:
        found = get_rollout(ctx.metadata, parse_rollout_uri(u).id)
        if found is not None:
            labels[u] = (
                f"{found.strategy} of {found.candidate} on {found.deployment}: {found.status}"
            )
    return labels
