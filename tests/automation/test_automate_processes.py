"""Two ``loopml automate --once`` processes on one new dataset version cause one
retrain; the daemon stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.automation.conftest import automate_process, with_triggers, write_data

import loopml
from loopml.automation import EventStatus, automate, list_events

TRIGGER = '[triggers.fresh]\ndataset = "churn"\nparam = "data"\n'


def test_two_automation_processes_at_once_cause_one_retrain_per_event(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, TRIGGER)
    automate()
    write_data(retrain_project, seed=2)
    procs = [automate_process(retrain_project, "--once") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    (event,) = list_events("fresh")
    assert event.status is EventStatus.SUCCEEDED and event.model_version == "models:/churn/2"
    assert sum("triggers:/fresh/1" in out for out, _ in outs) == 1
    assert [v.version for v in loopml.search_model_versions("name = 'churn'")] == [2, 1]


def test_the_daemon_stops_cleanly_on_sigterm(retrain_project: Path) -> None:
    with_triggers(retrain_project, TRIGGER)
    proc = automate_process(retrain_project, "--interval", "1")
    assert proc.stderr is not None
    assert "Checking the triggers every 1 s" in proc.stderr.readline()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Stopped." in err
