"""Every SQL statement of monitoring: ``monitors``, ``monitor_windows`` and ``alerts``;
and ``alerts:/`` in the URI registry.

A window is stored in the transaction that moves its monitor's cursor, by
compare-and-set on the cursor: two ``loopml monitor run`` at once compute the same
window at most twice and store it once (the second finds the cursor moved, and the
``(monitor, window_start)`` key refuses a second row all the same). An alert is opened
only while no alert of its monitor and rule is FIRING (checked in the write
transaction, under SQLite's write lock or a row lock on PostgreSQL), so one incident is
one alert; its lineage edge (``deployments:/<name>`` → ``alerts:/<id>``, ``raised``) is
written with it.

Times are seconds since the epoch; a cursor read back is rounded to the microsecond,
the resolution of the prediction log.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from typing import Any

from loopml.context import Context
from loopml.errors import CorruptRecord, NotFound
from loopml.lineage import Node
from loopml.monitoring._records import (
    Alert,
    AlertStatus,
    Delivery,
    Monitor,
    MonitorSettings,
    MonitorWindow,
    WindowStatus,
)
from loopml.store import edges as lineage_edges
from loopml.store.metadata import Connection, MetadataStore, unknown_name
from loopml.uri import AlertURI, DeploymentURI, parse_alert_uri

__all__ = [
    "alerts_of",
    "clear_alert",
    "delete_monitor",
    "describe_alerts",
    "find_monitor",
    "firing_alert",
    "get_alert",
    "get_monitor",
    "get_window",
    "list_monitors",
    "monitor_names",
    "open_alert",
    "record_deliveries",
    "resolve_alert",
    "save_monitor",
    "store_window",
    "touch_alert",
    "update_window",
    "windows_of",
]

_MONITOR_COLUMNS = "name, deployment, config, created_at, updated_at, cursor_at"
_WINDOW_COLUMNS = (
    "id, monitor, window_start, window_end, row_count, status, reference, metrics, details, "
    "error, created_at, feedback_mark"
)
_ALERT_COLUMNS = (
    "id, monitor, rule, status, value, message, first_window, last_window, opened_at, "
    "updated_at, resolved_at, notified_at, deliveries"
)


def _when(seconds: float | None) -> datetime | None:
    if seconds is None:
        return None
    micros = round(float(seconds) * 1_000_000)
    return datetime.fromtimestamp(micros // 1_000_000, timezone.utc).replace(
        microsecond=micros % 1_000_000
    )


def _seconds(at: datetime) -> float:
    return at.timestamp()


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptRecord(
            f"the stored {what} is not JSON ({exc}); the metadata store was changed outside "
            "loopml. Run: loopml fsck"
        ) from None


def _settings(name: str, text: str) -> MonitorSettings:
    from loopml.monitoring._settings import settings_from_mapping

    raw = _json(text, f"settings of monitor {name!r}")
    try:
        return settings_from_mapping(raw, f"stored monitor {name!r}")
    except Exception as exc:
        raise CorruptRecord(
            f"the stored settings of monitor {name!r} are not valid ({exc}); add the monitor "
            "again with: loopml monitor add NAME --deployment DEPLOYMENT --replace"
        ) from None


def _monitor(row: tuple[Any, ...]) -> Monitor:
    name, _deployment, config, created, updated, cursor = row
    return Monitor(name, _settings(name, config), float(created), float(updated), _when(cursor))


def _window(row: tuple[Any, ...]) -> MonitorWindow:
    wid, monitor, start, end, rows, status, reference, metrics, details, error, created = row[:11]
    try:
        state = WindowStatus(status)
    except ValueError:
        raise CorruptRecord(
            f"window {wid} of monitor {monitor!r} has an unknown status {status!r}; the "
            "metadata store was changed outside loopml. Run: loopml fsck"
        ) from None
    values = _json(metrics, f"metrics of window {wid}")
    if not isinstance(values, dict):
        raise CorruptRecord(f"the stored metrics of window {wid} are not an object.")
    clean = {str(k): float(v) for k, v in values.items() if isinstance(v, (int, float))}
    extra = _json(details, f"details of window {wid}")
    start_at, end_at = _when(start), _when(end)
    assert start_at is not None and end_at is not None
    return MonitorWindow(
        int(wid),
        monitor,
        start_at,
        end_at,
        int(rows),
        state,
        reference,
        clean,
        extra if isinstance(extra, dict) else {},
        error,
        float(created),
        row[11],
    )


def _delivery(raw: Any) -> Delivery | None:
    """One stored delivery; None when it is not one (a store changed outside loopml: the
    alert is still shown, without the delivery that cannot be read)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("sink"), str):
        return None
    attempts, at = raw.get("attempts", 0), raw.get("at", 0.0)
    if not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in (attempts, at)
    ):
        return None
    return Delivery(
        raw["sink"],
        raw.get("ok") is True,
        int(attempts),
        float(at),
        raw.get("error") if isinstance(raw.get("error"), str) else None,
    )


def _alert(row: tuple[Any, ...]) -> Alert:
    aid, monitor, rule, status, value, message, first, last, opened, updated = row[:10]
    resolved, notified, deliveries = row[10:]
    try:
        state = AlertStatus(status)
    except ValueError:
        raise CorruptRecord(
            f"alert {aid} has an unknown status {status!r}; the metadata store was changed "
            "outside loopml. Run: loopml fsck"
        ) from None
    raw = _json(deliveries, f"deliveries of alert {aid}")
    sent = tuple(d for d in map(_delivery, raw if isinstance(raw, list) else []) if d)
    return Alert(
        int(aid),
        monitor,
        rule,
        state,
        None if value is None else float(value),
        message,
        first,
        last,
        float(opened),
        float(updated),
        None if resolved is None else float(resolved),
        None if notified is None else float(notified),
        sent,
    )


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """JSON has no NaN: an undefined metric is left out."""
    return {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}


# -- monitors -----------------------------------------------------------------------


def _unknown(conn: Connection, name: str) -> NotFound:
    return unknown_name(
        conn,
        "monitors",
        "monitor",
        name,
        "Add one with: loopml monitor add NAME --deployment DEPLOYMENT",
    )


def find_monitor(meta: MetadataStore, name: str) -> Monitor | None:
    """Monitor ``name``, or None."""
    with meta.read() as conn:
        row = conn.first(f"SELECT {_MONITOR_COLUMNS} FROM monitors WHERE name = ?", (name,))
    return None if row is None else _monitor(row)


def get_monitor(meta: MetadataStore, name: str) -> Monitor:
    """Monitor ``name``; NotFound naming the monitors there are."""
    with meta.read() as conn:
        row = conn.first(f"SELECT {_MONITOR_COLUMNS} FROM monitors WHERE name = ?", (name,))
        if row is None:
            raise _unknown(conn, name)
    return _monitor(row)


def list_monitors(meta: MetadataStore) -> list[Monitor]:
    """Every monitor, by name."""
    with meta.read() as conn:
        rows = conn.all(f"SELECT {_MONITOR_COLUMNS} FROM monitors ORDER BY name")
    return [_monitor(r) for r in rows]


def save_monitor(meta: MetadataStore, name: str, settings: MonitorSettings) -> Monitor:
    """Add monitor ``name`` or change its settings (its cursor and windows stay, unless
    the deployment or the window changed: then it starts again from the log's start)."""
    config = json.dumps(settings.to_dict(), sort_keys=True)

    def tx(conn: Connection) -> Monitor:
        now = time.time()
        row = conn.first(f"SELECT {_MONITOR_COLUMNS} FROM monitors WHERE name = ?", (name,))
        if row is None:
            conn.execute(
                f"INSERT INTO monitors ({_MONITOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
                (name, settings.deployment, config, now, now),
            ).close()
            return Monitor(name, settings, now, now, None)
        old = _json(row[2], f"settings of monitor {name!r}")
        same_windows = isinstance(old, dict) and all(
            old.get(k) == v
            for k, v in settings.to_dict().items()
            if k in ("deployment", "window_rows", "window_seconds")
        )
        cursor = row[5] if same_windows else None
        if not same_windows:
            conn.execute("DELETE FROM monitor_windows WHERE monitor = ?", (name,)).close()
        conn.execute(
            "UPDATE monitors SET deployment = ?, config = ?, updated_at = ?, cursor_at = ? "
            "WHERE name = ?",
            (settings.deployment, config, now, cursor, name),
        ).close()
        return Monitor(name, settings, float(row[3]), now, _when(cursor))

    return meta.write(tx)


def monitor_names(meta: MetadataStore) -> list[str]:
    """The name of every monitor, sorted (their settings are not read)."""
    with meta.read() as conn:
        return [str(n) for n in conn.column("SELECT name FROM monitors ORDER BY name")]


def _removed(row: tuple[Any, ...]) -> Monitor:
    """The monitor a deleted row held; one whose stored settings cannot be read is
    described by its name and deployment only, so it can still be removed."""
    try:
        return _monitor(row)
    except CorruptRecord:
        from loopml.monitoring._settings import settings_from_mapping

        name, deployment = row[0], row[1]
        settings = settings_from_mapping({"deployment": deployment}, f"monitor {name!r}")
        return Monitor(name, settings, float(row[3]), float(row[4]), None)


def delete_monitor(meta: MetadataStore, name: str) -> Monitor:
    """Remove monitor ``name`` and its windows (its alerts stay, resolved); a monitor
    whose stored settings are damaged is removed all the same."""

    def tx(conn: Connection) -> Monitor:
        row = conn.first(f"SELECT {_MONITOR_COLUMNS} FROM monitors WHERE name = ?", (name,))
        if row is None:
            raise _unknown(conn, name)
        now = time.time()
        conn.execute("DELETE FROM monitor_windows WHERE monitor = ?", (name,)).close()
        conn.execute(
            "UPDATE alerts SET status = ?, resolved_at = ?, updated_at = ? "
            "WHERE monitor = ? AND status = ?",
            (AlertStatus.RESOLVED.value, now, now, name, AlertStatus.FIRING.value),
        ).close()
        conn.execute("DELETE FROM monitors WHERE name = ?", (name,)).close()
        return _removed(row)

    return meta.write(tx)


# -- windows ------------------------------------------------------------------------


def store_window(
    meta: MetadataStore,
    monitor: str,
    expected_cursor: datetime | None,
    window: MonitorWindow,
) -> MonitorWindow | None:
    """Store ``window`` (its ``id`` is ignored) and move the monitor's cursor to its end,
    if the cursor is still ``expected_cursor``; None when another runner moved it first
    (the window is not stored)."""
    old = None if expected_cursor is None else _seconds(expected_cursor)

    def tx(conn: Connection) -> MonitorWindow | None:
        cursor = conn.first("SELECT cursor_at FROM monitors WHERE name = ?", (monitor,))
        if cursor is None:
            raise _unknown(conn, monitor)
        stored = cursor[0]
        if (stored is None) != (old is None) or (
            stored is not None and old is not None and abs(float(stored) - old) > 5e-7
        ):
            return None
        if conn.first(
            "SELECT id FROM monitor_windows WHERE monitor = ? AND window_start = ?",
            (monitor, _seconds(window.start)),
        ):
            return None
        now = time.time()
        values = (
            monitor,
            _seconds(window.start),
            _seconds(window.end),
            window.rows,
            window.status.value,
            window.reference,
            json.dumps(_finite(window.metrics), sort_keys=True),
            json.dumps(window.details, default=str, allow_nan=False),
            window.error,
            now,
            window.feedback_mark,
        )
        wid = conn.scalar(
            "INSERT INTO monitor_windows (monitor, window_start, window_end, row_count, status, "
            "reference, metrics, details, error, created_at, feedback_mark) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            values,
        )
        conn.execute(
            "UPDATE monitors SET cursor_at = ? WHERE name = ?", (_seconds(window.end), monitor)
        ).close()
        return MonitorWindow(
            int(wid),
            monitor,
            window.start,
            window.end,
            window.rows,
            window.status,
            window.reference,
            _finite(window.metrics),
            window.details,
            window.error,
            now,
            window.feedback_mark,
        )

    return meta.write(tx)


def update_window(
    meta: MetadataStore,
    window_id: int,
    *,
    metrics: dict[str, float] | None = None,
    details: dict[str, Any] | None = None,
    status: WindowStatus | None = None,
    feedback_mark: str | None = None,
) -> None:
    """Change a stored window's metrics, details, status or feedback mark (live
    performance computed again once late feedback arrived, a rule that fired)."""
    sets: list[str] = []
    params: list[Any] = []
    if metrics is not None:
        sets.append("metrics = ?")
        params.append(json.dumps(_finite(metrics), sort_keys=True))
    if details is not None:
        sets.append("details = ?")
        params.append(json.dumps(details, default=str, allow_nan=False))
    if status is not None:
        sets.append("status = ?")
        params.append(status.value)
    if feedback_mark is not None:
        sets.append("feedback_mark = ?")
        params.append(feedback_mark)
    if not sets:
        return

    def tx(conn: Connection) -> None:
        conn.execute(
            f"UPDATE monitor_windows SET {', '.join(sets)} WHERE id = ?", (*params, window_id)
        ).close()

    meta.write(tx)


def windows_of(
    meta: MetadataStore,
    monitor: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    details: bool = True,
) -> list[MonitorWindow]:
    """The stored windows of ``monitor`` that start in [start, end), oldest first (the
    newest ``limit`` of them when given); ``details=False`` leaves their details out
    (empty), which spares parsing them."""
    where = ["monitor = ?"]
    params: list[Any] = [monitor]
    if start is not None:
        where.append("window_start >= ?")
        params.append(_seconds(start))
    if end is not None:
        where.append("window_start < ?")
        params.append(_seconds(end))
    columns = _WINDOW_COLUMNS if details else _WINDOW_COLUMNS.replace("details", "'{}'")
    sql = f"SELECT {columns} FROM monitor_windows WHERE {' AND '.join(where)}"
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY window_start DESC LIMIT {int(limit)}) AS newest"
    with meta.read() as conn:
        if conn.first("SELECT name FROM monitors WHERE name = ?", (monitor,)) is None:
            raise _unknown(conn, monitor)
        rows = conn.all(f"{sql} ORDER BY window_start", params)
    return [_window(r) for r in rows]


def get_window(meta: MetadataStore, window_id: int) -> MonitorWindow:
    """Stored window ``window_id``; NotFound otherwise."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_WINDOW_COLUMNS} FROM monitor_windows WHERE id = ?", (window_id,)
        )
    if row is None:
        raise NotFound(f"no monitor window {window_id}.")
    return _window(row)


# -- alerts -------------------------------------------------------------------------


def firing_alert(meta: MetadataStore, monitor: str, rule: str) -> Alert | None:
    """The FIRING alert of ``monitor``'s ``rule``, or None."""
    with meta.read() as conn:
        row = conn.first(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE monitor = ? AND rule = ? AND status = ?",
            (monitor, rule, AlertStatus.FIRING.value),
        )
    return None if row is None else _alert(row)


def open_alert(
    meta: MetadataStore,
    monitor: str,
    deployment: str | None,
    rule: str,
    value: float | None,
    message: str,
    window_id: int | None,
) -> tuple[Alert, bool]:
    """The FIRING alert of ``monitor``'s ``rule``: a new one (``True``) with its lineage
    edge from the deployment (when there is one), or the one already firing, its value
    and last window brought up to date (``False``)."""

    def tx(conn: Connection) -> tuple[Alert, bool]:
        if conn.dialect == "postgresql":
            conn.execute("LOCK TABLE alerts IN SHARE ROW EXCLUSIVE MODE").close()
        now = time.time()
        row = conn.first(
            f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE monitor = ? AND rule = ? AND status = ?",
            (monitor, rule, AlertStatus.FIRING.value),
        )
        if row is not None:
            conn.execute(
                "UPDATE alerts SET value = ?, message = ?, last_window = ?, updated_at = ? "
                "WHERE id = ?",
                (value, message, window_id, now, row[0]),
            ).close()
            return _alert(
                (
                    row[0],
                    monitor,
                    rule,
                    row[3],
                    value,
                    message,
                    row[6],
                    window_id,
                    row[8],
                    now,
                    *tuple(row[10:]),
                )
            ), False
        alert = _alert(
            conn.all(
                f"INSERT INTO alerts ({_ALERT_COLUMNS.replace('id, ', '', 1)}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, '[]') "
                f"RETURNING {_ALERT_COLUMNS}",
                (
                    monitor,
                    rule,
                    AlertStatus.FIRING.value,
                    value,
                    message,
                    window_id,
                    window_id,
                    now,
                    now,
                ),
            )[0]
        )
        if deployment is not None:
            lineage_edges.add_edges(
                conn, [(str(DeploymentURI(deployment)), str(alert.uri), "raised")]
            )
        return alert, True

    return meta.write(tx)


def touch_alert(meta: MetadataStore, alert_id: int, value: float | None) -> None:
    """Bring a firing alert's value up to date (a window that still crosses its rule)."""

    def tx(conn: Connection) -> None:
        conn.execute(
            "UPDATE alerts SET value = ?, updated_at = ? WHERE id = ?",
            (value, time.time(), alert_id),
        ).close()

    meta.write(tx)


def clear_alert(meta: MetadataStore, alert_id: int, window_id: int | None) -> Alert | None:
    """Resolve a FIRING alert (a window's results no longer cross its rule); None when it
    was resolved already."""

    def tx(conn: Connection) -> Alert | None:
        now = time.time()
        cur = conn.execute(
            "UPDATE alerts SET status = ?, resolved_at = ?, updated_at = ?, last_window = ? "
            "WHERE id = ? AND status = ?",
            (
                AlertStatus.RESOLVED.value,
                now,
                now,
                window_id,
                alert_id,
                AlertStatus.FIRING.value,
            ),
        )
        changed = cur.rowcount
        cur.close()
        if not changed:
            return None
        row = conn.first(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
        return None if row is None else _alert(row)

    return meta.write(tx)


def record_deliveries(
    meta: MetadataStore, alert_id: int, deliveries: list[Delivery], *, notified: bool
) -> None:
    """Record each sink's last attempt for an alert (and, when ``notified``, that it was
    sent now: the cooldown counts from here)."""
    text = json.dumps([d.to_dict() for d in deliveries])

    def tx(conn: Connection) -> None:
        now = time.time()
        if notified:
            conn.execute(
                "UPDATE alerts SET deliveries = ?, notified_at = ? WHERE id = ?",
                (text, now, alert_id),
            ).close()
        else:
            conn.execute("UPDATE alerts SET deliveries = ? WHERE id = ?", (text, alert_id)).close()

    meta.write(tx)


def get_alert(meta: MetadataStore, alert_id: int) -> Alert:
    """Alert ``alert_id``; NotFound otherwise."""
    with meta.read() as conn:
        row = conn.first(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,))
    if row is None:
        raise NotFound(f"no alert {alert_id}; loopml monitor alerts lists them.")
    return _alert(row)


def alerts_of(
    meta: MetadataStore,
    monitor: str | None = None,
    status: AlertStatus | None = None,
    limit: int = 1000,
) -> list[Alert]:
    """Alerts (of one monitor, in one status), newest first."""
    where: list[str] = []
    params: list[Any] = []
    if monitor is not None:
        where.append("monitor = ?")
        params.append(monitor)
    if status is not None:
        where.append("status = ?")
        params.append(status.value)
    sql = f"SELECT {_ALERT_COLUMNS} FROM alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    with meta.read() as conn:
        rows = conn.all(f"{sql} ORDER BY id DESC LIMIT {int(limit)}", params)
    return [_alert(r) for r in rows]


# -- the URI registry ---------------------------------------------------------------


def resolve_alert(ctx: Context, uri: AlertURI) -> Node:
    """The alert ``uri`` names."""
    return Node(str(uri), get_alert(ctx.metadata, uri.id))


def describe_alerts(ctx: Context, uris: list[str]) -> dict[str, str]:
    """``alerts:/3 → churn: drift_share > 0.3 (FIRING, 0.42)`` for each alert that exists."""
    ids = {parse_alert_uri(u).id: u for u in uris}
    if not ids:
        return {}
    with ctx.metadata.read() as conn:
        test, param = conn.in_list(list(ids))
        rows = conn.all(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id {test}", (param,))
    labels = {}
    for row in rows:
        alert = _alert(row)
        value = "" if alert.value is None else f", {alert.value:.4g}"
        labels[ids[alert.id]] = f"{alert.monitor}: {alert.rule} ({alert.status}{value})"
    return labels
