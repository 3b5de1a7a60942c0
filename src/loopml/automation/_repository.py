"""Every SQL statement of automation: ``triggers`` and ``trigger_events``; and
``triggers:/`` in the URI registry.

Claiming an event is one ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` on the
``(trigger_name, event_key)`` key: of two processes that see the same event, exactly
one gets a row back and acts on it; the other gets nothing and moves on. A trigger's
row is written the same way (the first process to see it sets its baseline), and
moved to a new baseline by compare-and-set on its ``spec`` when loopml.toml changes
what it watches.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from loopml.automation._records import EventStatus, TriggerEvent
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
    "resolve_event",
    "set_baseline",
    "status_counts",
    "update",
]

_EVENT_COLUMNS = (
    "id, trigger_name, event_key, cause, dataset, status, owner, run_id, model_version, "
    "rollout_id, alert_id, error, created_at, updated_at, finished_at"
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
) -> TriggerEvent | None:
    """Claim the event ``key`` of ``trigger`` as RUNNING for ``owner``: the new event, or
    None when another process claimed it first (it is that process' to act on)."""

    def tx(conn: Connection) -> TriggerEvent | None:
        now = time.time()
        new_id = conn.scalar(
            "INSERT INTO trigger_events (trigger_name, event_key, cause, dataset, status, "
            "owner, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (trigger_name, event_key) DO NOTHING RETURNING id",
            (trigger, key, cause, dataset, EventStatus.RUNNING.value, owner, now, now),
        )
        if new_id is None:
            return None
        row = conn.first(
            f"SELECT {_EVENT_COLUMNS} FROM trigger_events WHERE id = ?", (int(new_id),)
        )
        assert row is not None
        return _event(row)

    return meta.write(tx)


_UPDATABLE = ("cause", "dataset", "run_id", "model_version", "rollout_id", "alert_id", "error")


def update(meta: MetadataStore, event_id: int, **values: Any) -> TriggerEvent:
    """Record what event ``event_id`` caused so far (``run_id=...``, ``model_version=...``)."""
    return _write(meta, event_id, None, values)


def finish(meta: MetadataStore, event_id: int, status: EventStatus, **values: Any) -> TriggerEvent:
    """Record how event ``event_id`` ended: ``status`` and what it caused."""
    return _write(meta, event_id, status, values)


def _write(
    meta: MetadataStore, event_id: int, status: EventStatus | None, values: dict[str, Any]
) -> TriggerEvent:
    unknown = set(values) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not a column of an event: {sorted(unknown)}")

    def tx(conn: Connection) -> TriggerEvent:
        now = time.time()
        sets = [f"{k} = ?" for k in values] + ["updated_at = ?"]
        params: list[Any] = [*values.values(), now]
        if status is not None:
            sets += ["status = ?", "finished_at = ?"]
            params += [status.value, now]
        conn.execute(
            f"UPDATE trigger_events SET {', '.join(sets)} WHERE id = ?", (*params, event_id)
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
