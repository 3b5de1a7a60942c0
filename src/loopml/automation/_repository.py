"""Every SQL statement of automation: ``triggers`` and ``trigger_events``; and
``triggers:/`` in the URI registry.

Claiming an event is one ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` on the
``(trigger_name, event_key)`` key: of two processes that see the same event, exactly
one gets a row back and acts on it; the other gets nothing and moves on. The winner
holds the event until ``lease_until``, which it renews while the retrain runs
(:func:`renew`); a later process takes over an event whose lease expired, or whose
owner is gone, by compare-and-set on its owner and attempt (:func:`take_over`): of
several, exactly one gets it. What the owner writes afterwards is written only while
it still holds the event (a process that lost it cannot overwrite the new owner's
outcome). A trigger's
row is written the same way (the first process to see it sets its baseline), and
moved to a new baseline by compare-and-set on its ``spec`` when loopml.toml changes
what it watches.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from loopml.automation._records import RELEASED, EventStatus, TriggerEvent
from loopml.context import Context
from loopml.errors import NotFound
from loopml.lineage import Node
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore
from loopml.uri import TriggerURI, parse_trigger_uri

__all__ = [
    "add_edges",
    "baseline",
    "baselines",
    "claim",
    "describe_events",
    "event_keys",
    "events_of",
    "finish",
    "get_event",
    "last_events",
    "pass_state",
    "release",
    "renew",
    "resolve_event",
    "set_alert",
    "set_baseline",
    "settle",
    "status_counts",
    "take_over",
    "update",
    "watch_rollout",
]

_EVENT_COLUMNS = (
    "id, trigger_name, event_key, cause, dataset, status, owner, run_id, model_version, "
    "rollout_id, alert_id, error, created_at, updated_at, finished_at, lease_until, "
    "attempts, taken_from, rollout_status, settled_at"
)


def _event(row: tuple[Any, ...]) -> TriggerEvent:
    return TriggerEvent(
        id=int(row[0]),
        trigger=row[1],
        key=row[2],
        cause=row[3],
        dataset=row[4],
        status=EventStatus(row[5]),
        owner=row[6],
        run_id=row[7],
        model_version=row[8],
        rollout_id=None if row[9] is None else int(row[9]),
        alert_id=None if row[10] is None else int(row[10]),
        error=row[11],
        created_at=float(row[12]),
        updated_at=float(row[13]),
        finished_at=None if row[14] is None else float(row[14]),
        lease_until=None if row[15] is None else float(row[15]),
        attempts=int(row[16]),
        taken_from=row[17],
        rollout_status=row[18],
        settled_at=None if row[19] is None else float(row[19]),
    )


# -- triggers -------------------------------------------------------------------------


def baseline(meta: MetadataStore, name: str) -> tuple[str, float, float] | None:
    """``(spec, baseline, created_at)`` of trigger ``name``, or None before it was seen."""
    with meta.read() as conn:
        row = conn.first("SELECT spec, baseline, created_at FROM triggers WHERE name = ?", (name,))
    return None if row is None else (str(row[0]), float(row[1]), float(row[2]))


def baselines(meta: MetadataStore) -> dict[str, tuple[str, float, float]]:
    """Every trigger seen so far: ``name → (spec, baseline, created_at)``."""
    with meta.read() as conn:
        rows = conn.all("SELECT name, spec, baseline, created_at FROM triggers")
    return {str(r[0]): (str(r[1]), float(r[2]), float(r[3])) for r in rows}


def set_baseline(
    meta: MetadataStore, name: str, spec: str, value: float, seen: str | None
) -> float:
    """Store where trigger ``name`` (watching ``spec``) starts: ``value``, when no process
    stored it first (``seen`` None) or when the stored spec is still ``seen`` (another
    spec: loopml.toml changed what it watches). Returns the baseline in force."""

    def tx(conn: Connection) -> float:
        now = time.time()
        if seen is None:
            conn.execute(
                "INSERT INTO triggers (name, spec, baseline, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, spec, value, now, now),
            ).close()
        else:
            conn.execute(
                "UPDATE triggers SET spec = ?, baseline = ?, updated_at = ? "
                "WHERE name = ? AND spec = ?",
                (spec, value, now, name, seen),
            ).close()
        return float(conn.scalar("SELECT baseline FROM triggers WHERE name = ?", (name,)))

    return meta.write(tx)


# -- events ---------------------------------------------------------------------------


def event_keys(meta: MetadataStore, trigger: str) -> set[str]:
    """The keys of every event of ``trigger`` claimed so far."""
    with meta.read() as conn:
        return set(
            conn.column("SELECT event_key FROM trigger_events WHERE trigger_name = ?", (trigger,))
        )


def claim(
    meta: MetadataStore,
    trigger: str,
    key: str,
    *,
    cause: str | None,
    dataset: str | None,
    owner: str,
    lease_until: float,
) -> TriggerEvent | None:
    """Claim the event ``key`` of ``trigger`` as RUNNING for ``owner``, held until
    ``lease_until``: the new event, or None when another process claimed it first (it is
    that process' to act on)."""

    def tx(conn: Connection) -> TriggerEvent | None:
        now = time.time()
        new_id = conn.scalar(
            "INSERT INTO trigger_events (trigger_name, event_key, cause, dataset, status, "
            "owner, created_at, updated_at, lease_until, attempts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1) "
            "ON CONFLICT (trigger_name, event_key) DO NOTHING RETURNING id",
            (
                trigger,
                key,
                cause,
                dataset,
                EventStatus.RUNNING.value,
                owner,
                now,
                now,
                lease_until,
            ),
        )
        if new_id is None:
            return None
        row = conn.first(
            f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ?", (int(new_id),)
        )
        assert row is not None
        return _event(row)

    return meta.write(tx)


def pass_state(
    meta: MetadataStore,
) -> tuple[dict[str, tuple[str, float, float]], list[TriggerEvent], list[TriggerEvent]]:
    """What a pass of automation starts from, read in one transaction: every trigger seen
    so far (``name → (spec, baseline, created_at)``), the RUNNING events (their owner's,
    or left by a process gone) and the SUCCEEDED events whose rollout has not settled
    yet, each oldest first."""
    with meta.read() as conn:
        seen = conn.all("SELECT name, spec, baseline, created_at FROM triggers")
        rows = conn.all(
            f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE status = ? OR (status = ? "
            "AND rollout_id IS NOT NULL AND settled_at IS NULL) ORDER BY id",
            (EventStatus.RUNNING.value, EventStatus.SUCCEEDED.value),
        )
    events = [_event(r) for r in rows]
    return (
        {str(r[0]): (str(r[1]), float(r[2]), float(r[3])) for r in seen},
        [e for e in events if e.status is EventStatus.RUNNING],
        [e for e in events if e.status is EventStatus.SUCCEEDED],
    )


def renew(meta: MetadataStore, event_id: int, owner: str, lease_until: float) -> bool:
    """Extend ``owner``'s hold on RUNNING event ``event_id`` to ``lease_until``; False when
    it no longer holds it (another process took it over)."""

    def tx(conn: Connection) -> bool:
        cursor = conn.execute(
            "UPDATE trigger_events SET lease_until = ? WHERE id = ? AND owner = ? AND status = ?",
            (lease_until, event_id, owner, EventStatus.RUNNING.value),
        )
        try:
            return bool(cursor.rowcount == 1)
        finally:
            cursor.close()

    return meta.write(tx)


def take_over(
    meta: MetadataStore,
    stale: TriggerEvent,
    owner: str,
    *,
    lease_until: float,
    now: float,
    gone: bool,
    why: str,
) -> TriggerEvent | None:
    """Take RUNNING event ``stale`` (as read) over for ``owner``, held until
    ``lease_until``: when it still has the owner and attempt it was read with, and its
    lease expired by ``now`` (or its owner is ``gone``: a process of this host that no
    longer exists). The event as taken (its attempts counted, ``taken_from`` naming the
    old owner and ``why``), or None when another process took it first, its owner
    renewed the lease, or it finished."""

    def tx(conn: Connection) -> TriggerEvent | None:
        sql = (
            "UPDATE trigger_events SET owner = ?, lease_until = ?, attempts = attempts + 1, "
            "taken_from = ?, updated_at = ?, error = NULL WHERE id = ? AND status = ? "
            "AND attempts = ? AND owner = ?"
        )
        params: list[Any] = [
            owner,
            lease_until,
            f"{stale.owner} ({why})",
            time.time(),
            stale.id,
            EventStatus.RUNNING.value,
            stale.attempts,
            stale.owner,
        ]
        if not gone:
            sql += " AND (lease_until IS NULL OR lease_until < ?)"
            params.append(now)
        cursor = conn.execute(sql, params)
        try:
            if cursor.rowcount != 1:
                return None
        finally:
            cursor.close()
        row = conn.first(f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ?", (stale.id,))
        return None if row is None else _event(row)

    return meta.write(tx)


def release(meta: MetadataStore, event: TriggerEvent) -> bool:
    """Let RUNNING ``event`` go, while its owner still holds it: its lease ends at once
    (:data:`~loopml.automation._records.RELEASED`), so the next pass takes it over
    without waiting. False when the owner no longer held it."""

    def tx(conn: Connection) -> bool:
        cursor = conn.execute(
            "UPDATE trigger_events SET lease_until = ?, updated_at = ? "
            "WHERE id = ? AND owner = ? AND attempts = ? AND status = ?",
            (
                RELEASED,
                time.time(),
                event.id,
                event.owner,
                event.attempts,
                EventStatus.RUNNING.value,
            ),
        )
        try:
            return bool(cursor.rowcount == 1)
        finally:
            cursor.close()

    return meta.write(tx)


def watch_rollout(meta: MetadataStore, event_id: int, rollout_status: str) -> None:
    """Record the status the rollout of unsettled event ``event_id`` was last seen in."""
    meta.write(
        lambda conn: conn.execute(
            "UPDATE trigger_events SET rollout_status = ? WHERE id = ? AND settled_at IS NULL",
            (rollout_status, event_id),
        ).close()
    )


def settle(
    meta: MetadataStore,
    event: TriggerEvent,
    rollout_status: str,
    *,
    status: EventStatus | None = None,
    error: str | None = None,
) -> TriggerEvent | None:
    """Record that the rollout of SUCCEEDED ``event`` settled in ``rollout_status``, the
    event becoming ``status`` (when given) with ``error``: the event as settled, or None
    when another process settled it first (so one pass, of any number, acts on it)."""

    def tx(conn: Connection) -> TriggerEvent | None:
        now = time.time()
        cursor = conn.execute(
            "UPDATE trigger_events SET status = ?, rollout_status = ?, settled_at = ?, "
            "error = coalesce(?, error), updated_at = ? "
            "WHERE id = ? AND status = ? AND settled_at IS NULL",
            (
                (status or EventStatus.SUCCEEDED).value,
                rollout_status,
                now,
                error,
                now,
                event.id,
                EventStatus.SUCCEEDED.value,
            ),
        )
        try:
            if cursor.rowcount != 1:
                return None
        finally:
            cursor.close()
        row = conn.first(f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ?", (event.id,))
        return None if row is None else _event(row)

    return meta.write(tx)


def set_alert(meta: MetadataStore, event_id: int, alert_id: int) -> TriggerEvent:
    """Record the alert a settled event raised; the event as stored."""

    def tx(conn: Connection) -> TriggerEvent:
        conn.execute(
            "UPDATE trigger_events SET alert_id = ?, updated_at = ? WHERE id = ?",
            (alert_id, time.time(), event_id),
        ).close()
        row = conn.first(f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ?", (event_id,))
        if row is None:
            raise NotFound(f"no trigger event {event_id}.")
        return _event(row)

    return meta.write(tx)


_UPDATABLE = ("cause", "dataset", "run_id", "model_version", "rollout_id", "alert_id", "error")


def update(meta: MetadataStore, event: TriggerEvent, **values: Any) -> TriggerEvent:
    """Record what ``event`` caused so far (``run_id=...``, ``model_version=...``), while
    its owner still holds it; the event as stored."""
    return _write(meta, event, None, values)


def finish(
    meta: MetadataStore, event: TriggerEvent, status: EventStatus, **values: Any
) -> TriggerEvent:
    """Record how ``event`` ended: ``status`` and what it caused, while its owner still
    holds it; the event as stored (another owner's, when it was taken over meanwhile)."""
    return _write(meta, event, status, values)


def _write(
    meta: MetadataStore, event: TriggerEvent, status: EventStatus | None, values: dict[str, Any]
) -> TriggerEvent:
    unknown = set(values) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not a column of an event: {sorted(unknown)}")
    event_id = event.id

    def tx(conn: Connection) -> TriggerEvent:
        now = time.time()
        sets = [f"{k} = ?" for k in values] + ["updated_at = ?"]
        params: list[Any] = [*values.values(), now]
        if status is not None:
            sets += ["status = ?", "finished_at = ?", "lease_until = ?"]
            params += [status.value, now, None]
        conn.execute(
            f"UPDATE trigger_events SET {', '.join(sets)} "
            "WHERE id = ? AND owner = ? AND attempts = ? AND status = ?",
            (*params, event_id, event.owner, event.attempts, EventStatus.RUNNING.value),
        ).close()
        row = conn.first(f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ?", (event_id,))
        if row is None:
            raise NotFound(f"no trigger event {event_id}.")
        return _event(row)

    return meta.write(tx)


def add_edges(meta: MetadataStore, edges: Iterable[tuple[str, str, str]]) -> None:
    """Record lineage edges ``(src, dst, relation)`` of what an event caused."""
    found = list(edges)
    if found:
        meta.write(lambda conn: lineage_edges.add_edges(conn, found))


def get_event(meta: MetadataStore, trigger: str, event_id: int) -> TriggerEvent:
    """Event ``event_id`` of ``trigger``; NotFound otherwise."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ? AND trigger_name = ?",
            (event_id, trigger),
        )
    if row is None:
        raise NotFound(
            f"no event {event_id} of trigger {trigger!r}; loopml automate status lists them."
        )
    return _event(row)


def events_of(
    meta: MetadataStore, trigger: str | None = None, limit: int = 50
) -> list[TriggerEvent]:
    """Events (of one trigger), newest first."""
    sql = f"SELECT {_EVENT_COLUMNS} FROM trigger_events"
    params: tuple[Any, ...] = ()
    if trigger is not None:
        sql += " WHERE trigger_name = ?"
        params = (trigger,)
    with meta.read() as conn:
        rows = conn.all(f"{sql} ORDER BY id DESC LIMIT {int(limit)}", params)
    return [_event(r) for r in rows]


def last_events(meta: MetadataStore) -> dict[str, TriggerEvent]:
    """Each trigger's newest event."""
    with meta.read() as conn:
        rows = conn.all(
            f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id IN "
            "(SELECT max(id) FROM trigger_events GROUP BY trigger_name)"
        )
    return {r[1]: _event(r) for r in rows}


def status_counts(meta: MetadataStore) -> dict[str, dict[str, int]]:
    """``trigger → status → number of events``."""
    with meta.read() as conn:
        rows = conn.all(
            "SELECT trigger_name, status, count(*) FROM trigger_events "
            "GROUP BY trigger_name, status"
        )
    counts: dict[str, dict[str, int]] = {}
    for name, status, n in rows:
        counts.setdefault(name, {})[status] = int(n)
    return counts


# -- the URI registry -----------------------------------------------------------------


def resolve_event(ctx: Context, uri: TriggerURI) -> Node:
    """The trigger event ``uri`` names."""
    return Node(str(uri), get_event(ctx.metadata, uri.name, uri.id))


def describe_events(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``triggers:/nightly/3 → nightly: schedule:2026-... (SUCCEEDED)`` for each event that
    exists."""
    ids = {parse_trigger_uri(u).id: u for u in uris}
    if not ids:
        return {}
    with ctx.metadata.read() as conn:
        test, param = conn.in_list(list(ids))
        rows = conn.all(f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id {test}", (param,))
    labels = {}
    for row in rows:
        event = _event(row)
        uri = ids[event.id]
        if parse_trigger_uri(uri).name == event.trigger:
            labels[uri] = f"{event.trigger}: {event.key} ({event.status})"
    return labels
