"""Alerts raised by other parts of loopml than a monitor's window (a retrain that failed,
a gate that refused a retrained model): the same ``alerts`` rows, sinks and lineage.

``source`` stands where a monitor's name stands (``loopml monitor alerts SOURCE`` lists
them); an alert of one ``source`` and ``rule`` is one incident while it is FIRING, as
for a monitor: raising it again updates it and sends it again; :func:`resolve_raised`
ends it.

Example::

    alert = raise_alert("nightly", "retrain failed", "nightly: step train failed ...")
    resolve_raised("nightly", "retrain failed")
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from loopml.monitoring import _repository as repo
from loopml.monitoring._records import Alert, Delivery
from loopml.monitoring._sinks import send, shown_sink

__all__ = ["raise_alert", "resolve_raised"]


def raise_alert(
    source: str,
    rule: str,
    message: str,
    *,
    deployment: str | None = None,
    sinks: Sequence[str] = ("log",),
    value: float | None = None,
    details: dict[str, Any] | None = None,
) -> Alert:
    """Open (or repeat) the FIRING alert of ``source``'s ``rule`` with ``message``, linked
    from ``deployments:/<deployment>`` in lineage when given, and send it to ``sinks``
    (``log``, ``file:<path>``, a webhook); returns it as stored after its deliveries."""
    from loopml.context import current

    ctx = current()
    alert, _ = repo.open_alert(ctx.metadata, source, deployment, rule, value, message, None)
    payload = {
        "alert": str(alert.uri),
        "monitor": source,
        "deployment": deployment,
        "rule": rule,
        "status": "firing",
        "value": value,
        "message": message,
        **(details or {}),
        "at": datetime.now(timezone.utc).isoformat(),
    }
    deliveries: list[Delivery] = []
    for sink in sinks:
        try:
            deliveries.append(send(sink, payload, root=ctx.settings.project_root))
        except Exception as exc:  # send never raises; a bug in it must not stop the caller
            deliveries.append(Delivery(shown_sink(sink), False, 0, time.time(), repr(exc)[:200]))
    repo.record_deliveries(
        ctx.metadata, alert.id, deliveries, notified=any(d.ok for d in deliveries)
    )
    return repo.get_alert(ctx.metadata, alert.id)


def resolve_raised(source: str, rule: str) -> Alert | None:
    """Resolve the FIRING alert of ``source``'s ``rule`` (None when none is firing)."""
    from loopml.context import current

    meta = current().metadata
    firing = repo.firing_alert(meta, source, rule)
    return None if firing is None else repo.clear_alert(meta, firing.id, None)
