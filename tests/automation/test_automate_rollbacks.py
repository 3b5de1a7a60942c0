"""The rollout a trigger started, followed to its end: rolled back or aborted (by the
server's controller or a person), its event becomes ROLLED_BACK and raises one alert
under the trigger's name; promoted, it settles and resolves that alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.automation.conftest import with_triggers, write_data
from typer.testing import CliRunner

import loopml
from loopml.automation import ROLLED_BACK_RULE, EventStatus, automate, list_events
from loopml.cli import app

TRIGGER = """
[triggers.fresh]
dataset = "churn"
param = "data"
environment = "prod"
deployment = "churn"
steps = "10,100"
interval = "5s"
sinks = ["file:alerts.jsonl"]
"""


def _rollout_started(project: Path, seed: int) -> loopml.automation.TriggerEvent:
    write_data(project, seed=seed)
    (event,) = automate().events
    assert event.status is EventStatus.SUCCEEDED and event.rollout_id is not None, event.error
    return event


def _sent(project: Path) -> list[dict[str, object]]:
    path = project / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("end", "words"), [("rollback", "rolled back"), ("abort", "aborted")])
def test_a_rollout_ended_by_the_controller_marks_its_event_rolled_back_and_alerts_once(
    retrain_project: Path, end: str, words: str
) -> None:
    with_triggers(retrain_project, TRIGGER)
    automate()
    event = _rollout_started(retrain_project, seed=2)
    idle = automate()
    assert (idle.events, idle.settled) == ([], [])
    (watched,) = list_events("fresh")
    assert (watched.status, watched.rollout_status) == (EventStatus.SUCCEEDED, "PROGRESSING")

    ended = loopml.rollback if end == "rollback" else loopml.deployments.abort
    ended("churn", reason="p99 doubled")
    done = CliRunner().invoke(app, ["automate", "--once"])
    assert done.exit_code == 1, done.output
    assert "ROLLED_BACK triggers:/fresh/1 (data:/churn@2)" in done.output

    (back,) = list_events("fresh")
    assert (back.id, back.status) == (event.id, EventStatus.ROLLED_BACK)
    assert back.rollout_status == ("ROLLED_BACK" if end == "rollback" else "ABORTED")
    assert f"rollout:/{event.rollout_id} of models:/churn/2" in (back.error or "")
    assert f"{words} (p99 doubled); churn serves models:/churn/1 again" in (back.error or "")
    alert = loopml.monitoring.get_alert(back.alert_id or 0)
    assert (alert.monitor, alert.rule, str(alert.status)) == ("fresh", ROLLED_BACK_RULE, "FIRING")
    up = loopml.lineage.upstream(str(alert.uri))
    assert (back.uri, "raised") in {(e.src, e.relation) for e in up}
    served = loopml.get_deployment("churn")
    assert served.version == 1

    again = automate()
    assert (again.events, again.settled, again.failures) == ([], [], [])
    assert [a["rule"] for a in _sent(retrain_project)] == [ROLLED_BACK_RULE]  # once

    shown = CliRunner().invoke(app, ["automate", "status"])
    assert shown.exit_code == 0, shown.output
    assert "1 rolled_back" in shown.output and "ROLLED_BACK" in shown.output
    assert f"alerts:/{alert.id}" in shown.output


def test_a_promoted_rollout_settles_and_resolves_the_triggers_rolled_back_alert(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, TRIGGER)
    automate()
    _rollout_started(retrain_project, seed=2)
    loopml.rollback("churn", reason="p99 doubled")
    (back,) = automate().settled
    assert back.status is EventStatus.ROLLED_BACK

    event = _rollout_started(retrain_project, seed=3)
    loopml.promote_rollout("churn", reason="looks good")
    report = automate()
    (promoted,) = report.settled
    assert report.failures == []
    assert (promoted.id, promoted.status) == (event.id, EventStatus.SUCCEEDED)
    assert promoted.rollout_status == "PROMOTED" and promoted.settled_at is not None
    assert f"rollout:/{event.rollout_id} (PROMOTED)" in promoted.message
    alert = loopml.monitoring.get_alert(back.alert_id or 0)
    assert str(alert.status) == "RESOLVED"
    assert loopml.get_deployment("churn").version == 3
    assert automate().settled == []


def test_two_triggers_that_retrain_the_same_model_follow_one_rollout(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, TRIGGER + TRIGGER.replace("[triggers.fresh]", "[triggers.also]"))
    automate()
    write_data(retrain_project, seed=2)
    report = automate()
    assert len(report.events) == 2 and report.failures == [], [e.error for e in report.events]
    first, second = report.events
    # the second retrain registered nothing new (the same bytes) and follows the rollout
    # the first one started, instead of failing against it
    assert first.model_version == second.model_version == "models:/churn/2"
    assert first.rollout_id is not None and second.rollout_id == first.rollout_id
    assert len(loopml.deployments.list_rollouts("churn")) == 1
    loopml.rollback("churn", reason="p99 doubled")
    settled = automate().settled
    assert {e.trigger for e in settled} == {"fresh", "also"}
    assert {e.status for e in settled} == {EventStatus.ROLLED_BACK}
    assert loopml.get_deployment("churn").version == 1
