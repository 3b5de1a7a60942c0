"""Runners at once and runners killed: every window is stored exactly once and every
incident is sent once, whatever the processes do. On every metadata backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.monitoring import WindowStatus

from .conftest import Served, log_window, make_served

RULE = "drift_share > 0.1"

# As `kill -9` at the worst moment: right after the drifted window was stored (its
# cursor moved) and before its rules were applied.
_DIE_BEFORE_RULES = """
import os
import loopml
from loopml.monitoring import _monitor

def dying(monitor, window):
    if window.metrics.get("drift_share", 0.0) > 0.1:
        os._exit(9)
    raise AssertionError("the drifted window comes first")

_monitor._rules = dying
loopml.monitoring.run_monitors()
"""


@pytest.fixture
def served_on(backend: str, project: Path) -> Served:
    return make_served(project)


def _hour(hours_ago: int) -> datetime:
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "LOOPML_PROJECT_DIR": str(project)}


def _sent(project: Path) -> list[dict[str, Any]]:
    path = project / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _check_windows_once(hours: int) -> None:
    windows = loopml.monitoring.get_monitor_windows("churn")
    starts = [w.start for w in windows]
    assert len(starts) == len(set(starts)) >= hours  # one more if an hour ended meanwhile
    assert all(a.end == b.start for a, b in pairwise(windows))


def test_runners_at_once_store_each_window_once_and_send_each_alert_once(
    served_on: Served, project: Path
) -> None:
    log_window(served_on, _hour(3), 300, seed=31, shift=1.0)
    log_window(served_on, _hour(2), 300, seed=32, shift=1.0)
    loopml.monitoring.add_monitor("churn", alerts=[RULE], sinks=["file:alerts.jsonl"])

    runners = [
        subprocess.Popen(
            [sys.executable, "-m", "loopml", "monitor", "run", "--once"],
            cwd=project,
            env=_env(project),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for runner in runners:
        _, err = runner.communicate(timeout=300)
        assert runner.returncode == 0, err

    _check_windows_once(3)  # the two drifted hours and the empty last one
    (alert,) = loopml.monitoring.list_alerts("churn")
    assert alert.rule == RULE and str(alert.status) == "FIRING"
    assert [(m["alert"], m["status"]) for m in _sent(project)] == [(str(alert.uri), "firing")]


def test_a_runner_killed_before_applying_rules_loses_no_incident(
    served_on: Served, project: Path
) -> None:
    log_window(served_on, _hour(3), 300, seed=33, shift=1.0)
    log_window(served_on, _hour(2), 300, seed=34, shift=1.0)
    loopml.monitoring.add_monitor("churn", alerts=[RULE], sinks=["file:alerts.jsonl"])

    killed = subprocess.run(
        [sys.executable, "-c", _DIE_BEFORE_RULES],
        cwd=project,
        env=_env(project),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr
    (stored,) = loopml.monitoring.get_monitor_windows("churn")  # stored, rules not applied
    assert stored.status == WindowStatus.OK and loopml.monitoring.list_alerts("churn") == []

    for _ in range(2):  # the next run raises the incident; the one after sends nothing more
        report = loopml.monitoring.run_monitors()
        assert report.failures == {}
    _check_windows_once(3)
    (alert,) = loopml.monitoring.list_alerts("churn")
    assert alert.first_window == stored.id
    assert loopml.monitoring.get_monitor_windows("churn")[0].status == WindowStatus.ALERT
    assert [(m["alert"], m["status"]) for m in _sent(project)] == [(str(alert.uri), "firing")]
