"""Schedule and alert triggers: when they fire, what they pass, what lineage records; and
``loopml automate`` / ``loopml automate status`` on the command line."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from tests.automation.conftest import with_triggers, write_data
from typer.testing import CliRunner

import loopml
from loopml.automation import EventStatus, automate, trigger_status
from loopml.cli import app

T0 = datetime(2031, 5, 4, 12, 30, tzinfo=timezone.utc).timestamp()


def test_a_schedule_fires_once_at_the_newest_cron_time_with_the_newest_dataset_version(
    retrain_project: Path,
) -> None:
    with_triggers(
        retrain_project,
        '[triggers.nightly]\nschedule = "0 3 * * *"\ndataset = "churn"\nparam = "data"\n',
    )
    assert automate(now=T0).events == []  # first seen at 12:30: 03:00 today is before it
    (state,) = trigger_status(now=T0)
    assert state.next == datetime(2031, 5, 5, 3, 0, tzinfo=timezone.utc)

    newest = write_data(retrain_project, seed=2)
    two_days = T0 + 2 * 86400
    (event,) = automate(now=two_days).events  # two 03:00s passed: one retrain
    assert event.key == "schedule:2031-05-06T03:00:00+00:00"
    assert (event.status, event.dataset, event.cause) == (EventStatus.SUCCEEDED, newest, None)
    assert loopml.get_run(event.run_id or "").params["data"] == newest
    assert automate(now=two_days + 60).events == []
    up = loopml.lineage.upstream(f"runs:/{event.run_id}")
    assert (event.uri, "triggered") in {(e.src, e.relation) for e in up}


def test_an_alert_of_the_monitor_fires_the_trigger_with_the_alert_as_its_cause(
    retrain_project: Path,
) -> None:
    loopml.monitoring.add_monitor("watch", "churn", alerts=["drift_share > 0.3"])
    with_triggers(
        retrain_project,
        '[triggers.on-drift]\nalert = "watch"\nrule = "drift_share > 0.3"\n'
        'dataset = "churn"\nparam = "data"\n',
    )
    old = loopml.monitoring.raise_alert("watch", "drift_share > 0.3", "before the trigger")
    loopml.monitoring.resolve_raised("watch", "drift_share > 0.3")
    assert automate().events == []  # an alert from before the trigger was seen
    other = loopml.monitoring.raise_alert("watch", "live.f1 < 0.8", "another rule")
    drift = loopml.monitoring.raise_alert("watch", "drift_share > 0.3", "drifted")
    (event,) = automate().events
    assert event.key == event.cause == str(drift.uri) != str(old.uri) != str(other.uri)
    assert event.status is EventStatus.SUCCEEDED, event.error
    assert event.dataset == "data:/churn@1"
    assert event.model_version == "models:/churn/1"  # the same data: the same bytes
    model_up = loopml.get_lineage(event.model_version).upstream

    def uris(node: loopml.lineage.LineageNode) -> set[str]:
        return {node.uri}.union(*(uris(c) for c in node.children))

    assert {str(drift.uri), event.uri} <= uris(model_up)


def test_the_command_runs_once_and_status_shows_the_triggers_and_their_history(
    retrain_project: Path,
) -> None:
    with_triggers(
        retrain_project,
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\n\n'
        '[triggers.nightly]\nschedule = "0 3 * * *"\n',
    )
    runner = CliRunner()
    idle = runner.invoke(app, ["automate", "--once"])
    assert idle.exit_code == 0, idle.output
    assert "Nothing to do: 2 trigger(s) checked" in idle.output
    write_data(retrain_project, seed=2)
    done = runner.invoke(app, ["automate", "--once", "--trigger", "fresh"])
    assert done.exit_code == 0, done.output
    assert "SUCCEEDED triggers:/fresh/1 (data:/churn@2)" in done.output
    assert "models:/churn/2" in done.output

    shown = runner.invoke(app, ["automate", "status"])
    assert shown.exit_code == 0, shown.output
    text = shown.output
    for words in ("new versions of data:/churn", "cron 0 3 * * *", "1 succeeded", "History"):
        assert words in text, text
    assert "triggers:/fresh/1" in text and "data:/churn@2" in text

    as_json = runner.invoke(app, ["automate", "status", "--history", "--format", "json"])
    assert '"event": "triggers:/fresh/1"' in as_json.output
    unknown = runner.invoke(app, ["automate", "--once", "--trigger", "nope"])
    assert isinstance(unknown.exception, loopml.NotFound)
    assert "no trigger 'nope'" in str(unknown.exception)
