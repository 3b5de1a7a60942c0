"""``loopml monitor``: add, list, run --once, status, alerts, delete; and the daemon's clean
shutdown on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from typer.testing import CliRunner

import loopml
from loopml.cli import app

from .conftest import Served, log_window

runner = CliRunner()


def _hours_ago(hours: int) -> datetime:
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours)


def test_add_run_status_alerts_and_delete(served: Served, project: Path) -> None:
    log_window(served, _hours_ago(2), 300, seed=11)
    log_window(served, _hours_ago(1), 300, seed=12, shift=1.5)
    result = runner.invoke(
        app,
        [
            "monitor",
            "add",
            "churn",
            "--window",
            "1h",
            "--slice",
            "plan",
            "--alert",
            "drift_share > 0.3",
            "--sink",
            "file:alerts.jsonl",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "against its training data" in result.output

    listed = runner.invoke(app, ["monitor", "list", "--format", "json"])
    assert json.loads(listed.stdout)[0]["alerts"] == "drift_share > 0.3"

    ran = runner.invoke(app, ["monitor", "run", "--once", "--format", "json"])
    assert ran.exit_code == 0, ran.output
    windows = json.loads(ran.stdout)
    assert [w["rows"] for w in windows] == [300, 300]
    assert [w["status"] for w in windows] == ["OK", "ALERT"]
    assert "FIRING alerts:/1" in ran.output

    status = runner.invoke(app, ["monitor", "status", "churn"])
    assert status.exit_code == 0 and "ALERT" in status.output and "FIRING" in status.output
    alerts = runner.invoke(app, ["monitor", "alerts", "--format", "json"])
    (alert,) = json.loads(alerts.stdout)
    assert alert["rule"] == "drift_share > 0.3" and alert["status"] == "FIRING"
    line = json.loads((project / "alerts.jsonl").read_text().splitlines()[0])
    assert line["alert"] == "alerts:/1" and line["status"] == "firing"

    gone = runner.invoke(app, ["monitor", "delete", "churn"])
    assert gone.exit_code == 0
    assert runner.invoke(app, ["monitor", "alerts"]).output.startswith("No firing alerts")


def test_run_once_exits_1_when_a_monitor_cannot_run(served: Served) -> None:
    log_window(served, _hours_ago(2), 200, seed=13)
    loopml.monitoring.add_monitor("churn")
    loopml.deployments.delete_deployment("churn")
    ran = runner.invoke(app, ["monitor", "run", "--once"])
    assert ran.exit_code == 1
    assert "monitor churn failed" in ran.output and "no deployment 'churn'" in ran.output


def test_bad_options_are_clear_errors(served: Served, project: Path) -> None:
    env = {**os.environ, "LOOPML_PROJECT_DIR": str(project)}
    for args, expected in (
        (["add", "churn", "--window", "sometimes"], "window must be a duration"),
        (["status", "nope"], "no monitor 'nope'"),
        (["add", "x", "--deployment", "nope"], "no deployment 'nope'"),
    ):
        bad = subprocess.run(
            [sys.executable, "-m", "loopml", "monitor", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert bad.returncode == 1 and expected in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr


def test_the_daemon_stops_cleanly_on_sigterm(served: Served, project: Path) -> None:
    log_window(served, _hours_ago(2), 150, seed=14)
    loopml.monitoring.add_monitor("churn")
    env = {**os.environ, "LOOPML_PROJECT_DIR": str(project)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopml", "monitor", "run", "--interval", "0.5"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not len(loopml.get_monitor_results("churn")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Stopped." in err
    assert len(loopml.get_monitor_results("churn")) == 2  # the two hours that had ended
