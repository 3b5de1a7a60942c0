"""Hostile inputs and a tampered store: a monitor keeps computing what it can, says what
it could not, and a damaged record is a clear error with a way out, never a crash or a
silent wrong result."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

import loopml
from loopml.context import current
from loopml.errors import CorruptRecord

from .conftest import START, Served, log_window, make_served


def _tamper(sql: str, params: tuple[Any, ...] = ()) -> None:
    current().metadata.write(lambda conn: conn.execute(sql, params).close())


@pytest.fixture
def served_on(backend: str, project: Any) -> Served:
    return make_served(project)


def test_a_damaged_delivery_leaves_the_alert_readable(served_on: Served) -> None:
    log_window(served_on, START, 300, seed=22, shift=1.0)
    loopml.monitoring.add_monitor("churn", alerts=["drift_share > 0.1"])
    loopml.monitoring.run_monitors(now=START + timedelta(hours=1))
    (alert,) = loopml.monitoring.list_alerts("churn")
    stored = [
        {"sink": "x", "ok": True, "attempts": "many", "at": "later"},
        {"sink": "y", "ok": "yes", "attempts": 1, "at": 1e400},
        {"sink": "log", "ok": True, "attempts": 1, "at": 5.0},
        "not a delivery",
    ]
    _tamper("UPDATE alerts SET deliveries = ? WHERE id = ?", (json.dumps(stored), alert.id))

    (again,) = loopml.monitoring.list_alerts("churn")
    assert [(d.sink, d.ok, d.attempts) for d in again.deliveries] == [("log", True, 1)]

    _tamper("UPDATE alerts SET deliveries = ? WHERE id = ?", ("{garbage", alert.id))
    with pytest.raises(CorruptRecord, match="deliveries of alert"):
        loopml.monitoring.get_alert(alert.id)
