"""Alerts: a monitor's rules applied to each window it computes, and the alerts found.

One incident is one alert. A window whose metric crosses a rule opens the rule's
alert (``alerts:/<id>``, linked from ``deployments:/<name>`` in lineage) and sends it
to every sink; the windows after it that still cross the rule update the same alert,
and send it again only once ``cooldown_seconds`` have passed since it was last sent.
The first window that no longer crosses the rule resolves the alert and sends
``resolved``; a later crossing is a new incident, a new alert.

A window that is TOO_FEW_ROWS or FAILED says nothing either way: no rule fires and no
alert is resolved. A rule whose metric the window lacks (no labels yet for
``live.f1``) is skipped the same way.

A sink that fails is recorded in the alert's deliveries and never raises; an alert is
counted as sent (its cooldown starts) only when at least one sink took it, so a
webhook that is down is tried again at the next window.

Example::

    import loopml

    loopml.monitoring.list_alerts(monitor="churn", status="firing")
    loopml.monitoring.get_alert(3).deliveries
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from loopml.errors import InvalidInput
from loopml.monitoring import _repository as repo
from loopml.monitoring._records import (
    Alert,
    AlertStatus,
    Delivery,
    Monitor,
    MonitorWindow,
    WindowStatus,
)
from loopml.monitoring._rules import Rule, parse_rule
from loopml.store.metadata import MetadataStore
from loopml.uri import parse_alert_uri

__all__ = ["apply_rules", "get_alert", "list_alerts", "payload_of"]

_SILENT = (WindowStatus.TOO_FEW_ROWS, WindowStatus.FAILED)
_WORDS = {
    ">": "above",
    ">=": "at or above",
    "<": "below",
    "<=": "at or below",
    "==": "equal to",
    "!=": "not equal to",
}


def apply_rules(
    meta: MetadataStore,
    monitor: Monitor,
    window: MonitorWindow,
    *,
    root: Path | None = None,
    again: bool = False,
) -> list[Alert]:
    """Apply ``monitor``'s alert rules to a stored ``window``: open, repeat or resolve
    its alerts and send them to its sinks (``file:`` paths relative to ``root``, default
    the current project's root).

    ``again=True`` applies them to a window they may have been applied to already (a
    runner killed between storing the window and applying its rules): an alert this
    window already fired is left as it is, and an alert is sent only by the runner that
    opens it, so nothing is sent twice.

    Returns the alerts this window touched, in rule order: FIRING ones (opened by it, or
    still crossing their rule: the window is an ALERT window when there is one) and
    RESOLVED ones (cleared by it), each as stored after its deliveries.
    """
    if window.status in _SILENT:
        return []
    touched: list[Alert] = []
    for text in monitor.settings.alerts:
        rule = parse_rule(text)
        value = rule.value(window.metrics)
        if value is None:
            continue
        if rule.crossed(value):
            if again:
                firing = repo.firing_alert(meta, monitor.name, rule.text)
                if firing is not None and firing.last_window == window.id:
                    continue  # applied to this window already
            touched.append(_fire(meta, monitor, window, rule, value, root, only_new=again))
        else:
            firing = repo.firing_alert(meta, monitor.name, rule.text)
            if firing is None:
                continue
            cleared = repo.clear_alert(meta, firing.id, window.id)
            if cleared is None:  # another runner resolved it first (and sent it)
                continue
            message = (
                f"{monitor.name}: {rule.metric} is {value:.4g}, rule {rule.text} no longer "
                f"holds; alert {cleared.uri} is resolved."
            )
            touched.append(
                _notify(meta, monitor, window, cleared, "resolved", value, message, root)
            )
    return touched


def _fire(
    meta: MetadataStore,
    monitor: Monitor,
    window: MonitorWindow,
    rule: Rule,
    value: float,
    root: Path | None,
    *,
    only_new: bool = False,
) -> Alert:
    message = (
        f"{monitor.name}: {rule.metric} is {value:.4g}, {_WORDS[rule.op]} {rule.threshold:g} "
        f"(rule {rule.text}) in the window from {_iso(window.start)} to {_iso(window.end)} "
        f"of deployment {monitor.deployment}."
    )
    alert, new = repo.open_alert(
        meta, monitor.name, monitor.deployment, rule.text, value, message, window.id
    )
    due = new or (
        not only_new
        and (
            alert.notified_at is None
            or time.time() - alert.notified_at >= monitor.settings.cooldown_seconds
        )
    )
    if not due:
        return alert
    return _notify(meta, monitor, window, alert, "firing", value, message, root)


def _notify(
    meta: MetadataStore,
    monitor: Monitor,
    window: MonitorWindow,
    alert: Alert,
    status: str,
    value: float,
    message: str,
    root: Path | None,
) -> Alert:
    """Send ``alert`` to every sink of ``monitor``, record the deliveries, and return the
    alert as stored now."""
    if root is None:
        from loopml.context import current

        root = current().settings.project_root
    payload = payload_of(monitor, window, alert, status, value, message)
    deliveries: list[Delivery] = []
    for sink in monitor.settings.sinks:
        try:
            deliveries.append(send(sink, payload, root=root))
        except Exception as exc:  # send never raises; a bug in it must not stop the monitor
            deliveries.append(Delivery(shown_sink(sink), False, 0, time.time(), repr(exc)[:200]))
    repo.record_deliveries(meta, alert.id, deliveries, notified=any(d.ok for d in deliveries))
    return repo.get_alert(meta, alert.id)


def send(sink: str, payload: dict[str, Any], *, root: Path) -> Delivery:
    """Send ``payload`` to ``sink`` (see :func:`loopml.monitoring._sinks.send`). The sinks,
    and the HTTP client they use, are imported here, on the first alert sent, so what
    only reads alerts (``list_alerts``, an idle ``loopml automate``) does not load them."""
    from loopml.monitoring import _sinks

    return _sinks.send(sink, payload, root=root)


def shown_sink(sink: str) -> str:
    """``sink`` as it may be shown and stored (see :func:`loopml.monitoring._sinks.shown_sink`)."""
    from loopml.monitoring import _sinks

    return _sinks.shown_sink(sink)


def payload_of(
    monitor: Monitor,
    window: MonitorWindow,
    alert: Alert,
    status: str,
    value: float | None,
    message: str,
) -> dict[str, Any]:
    """What every sink receives about ``alert`` (``status``: ``firing`` or ``resolved``)."""
    rule = parse_rule(alert.rule)
    return {
        "alert": str(alert.uri),
        "monitor": monitor.name,
        "deployment": monitor.deployment,
        "rule": alert.rule,
        "status": status,
        "value": value,
        "threshold": rule.threshold,
        "message": message,
        "window": {
            "id": window.id,
            "start": _iso(window.start),
            "end": _iso(window.end),
            "rows": window.rows,
        },
        "at": datetime.now(timezone.utc).isoformat(),
    }


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat()


# -- the SDK ------------------------------------------------------------------------


def list_alerts(monitor: str | None = None, status: AlertStatus | str | None = None) -> list[Alert]:
    """The alerts of every monitor (or of ``monitor``), newest first; ``status``
    ``"firing"`` or ``"resolved"`` keeps those only.

    Example::

        for alert in loopml.monitoring.list_alerts(status="firing"):
            print(alert.uri, alert.monitor, alert.rule, alert.value)
    """
    from loopml.context import current

    if monitor is not None and (not isinstance(monitor, str) or not monitor):
        raise InvalidInput(f"monitor must be a monitor's name, got {monitor!r}.")
    state: AlertStatus | None = None
    if status is not None:
        text = status.upper() if isinstance(status, str) else None
        if text not in {s.value for s in AlertStatus}:
            raise InvalidInput(
                f"status must be 'firing' or 'resolved', got {status!r}; leave it out for both."
            )
        state = AlertStatus(text)
    return repo.alerts_of(current().metadata, monitor, state)


def get_alert(alert_id: int | str) -> Alert:
    """Alert ``alert_id`` (its number, or its URI ``"alerts:/3"``), with its deliveries;
    NotFound when there is none."""
    from loopml.context import current

    if isinstance(alert_id, str):
        text = alert_id.strip()
        number = parse_alert_uri(text if ":/" in text else f"alerts:/{text}").id
    elif isinstance(alert_id, int) and not isinstance(alert_id, bool) and alert_id >= 1:
        number = alert_id
    else:
        raise InvalidInput(
            f"alert_id must be an alert's number (>= 1) or URI ('alerts:/3'), got {alert_id!r}."
        )
    return repo.get_alert(current().metadata, number)
