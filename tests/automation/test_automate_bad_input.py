"""``loopml automate`` on bad input: a clear error before anything runs, or a recorded,
alerted failure with the champion untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.automation.conftest import with_triggers, write_data

import loopml
from loopml.automation import FAILED_RULE, REFUSED_RULE, EventStatus, automate
from loopml.errors import InvalidInput, NotFound


def test_a_cron_expression_that_does_not_parse_is_an_error_naming_the_trigger(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, '[triggers.nightly]\nschedule = "61 3 * * *"\n')
    with pytest.raises(InvalidInput, match=r"\[triggers.nightly\] schedule '61 3 \* \* \*'"):
        automate()


@pytest.mark.parametrize(
    ("table", "error", "words"),
    [
        ('dataset = "nope"\nparam = "data"', NotFound, "names dataset 'nope', which does not"),
        (
            'dataset = "churn"\nparam = "data"\nenvironment = "prod"\ndeployment = "nope"',
            NotFound,
            "rolls out on deployment 'nope', which does not exist",
        ),
        ('alert = "nope"', NotFound, "alerts of monitor 'nope', which does not exist"),
        ('dataset = "churn"', InvalidInput, "but no param to pass its version in"),
        ('dataset = "churn"\nparam = "data"\ndeployment = "churn"', InvalidInput, "environment"),
        ('dataset = "churn"\nparam = "data"\nstrategy = "big_bang"', InvalidInput, "strategy"),
    ],
)
def test_a_trigger_naming_what_does_not_exist_stops_before_anything_runs(
    retrain_project: Path, table: str, error: type[Exception], words: str
) -> None:
    with_triggers(retrain_project, f"[triggers.t]\n{table}\n")
    with pytest.raises(error, match=words):
        automate()
    assert loopml.automation.list_events() == []


def _gated_trigger(gate: str) -> str:
    return (
        f'[gates.prod]\n{gate}\n[gates.prod.options]\ndata = "data:/churn@1"\n'
        'target = "churned"\n\n[triggers.fresh]\ndataset = "churn"\nparam = "data"\n'
        'environment = "prod"\ndeployment = "churn"\n'
    )


@pytest.mark.parametrize(
    ("gate", "words"),
    [
        ('"metrics.accuracy" = ">= banana"', "'metrics.accuracy' = '>= banana': 'banana' is not"),
        ('"metrics.nope" = ">= 0.5"', "'metrics.nope': unknown metric 'nope'"),
    ],
)
def test_a_trigger_whose_gates_do_not_parse_is_refused_before_anything_runs(
    retrain_project: Path, gate: str, words: str
) -> None:
    with_triggers(retrain_project, _gated_trigger(gate))
    write_data(retrain_project, seed=2)  # an event is due
    with pytest.raises(InvalidInput) as raised:
        automate()
    text = str(raised.value)
    assert text.startswith(
        "[triggers.fresh] promotes its retrained model through the gates of environment "
        "'prod', which do not parse: loopml.toml [gates.prod] "
    ), text
    assert words in text and "no trigger ran" in text
    assert loopml.automation.list_events() == []  # not a FAILED event: nothing ran
    assert [v.version for v in loopml.search_model_versions("name = 'churn'")] == [1]


def test_the_daemon_with_gates_that_do_not_parse_stops_at_its_start_naming_them(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, _gated_trigger('"metrics.accuracy" = ">= banana"'))
    src = str(Path(loopml.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "loopml", "automate", "--interval", "1"],
        cwd=retrain_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    error = " ".join(done.stderr.split())
    assert "error: [triggers.fresh] promotes its retrained model through the gates" in error
    assert "'metrics.accuracy' = '>= banana'" in error
    assert loopml.automation.list_events() == []


def test_an_unknown_key_or_nothing_that_fires_is_refused_when_loopml_toml_is_read(
    retrain_project: Path,
) -> None:
    for table, words in (
        ('dataset = "churn"\nparam = "data"\ncron = "x"', "unknown key 'cron'"),
        ('param = "data"', "says nothing that fires it"),
        ('schedule = "@daily"\nalert = "m"', "both schedule and alert"),
    ):
        with_triggers(retrain_project, f"[triggers.t]\n{table}\n")
        with pytest.raises(InvalidInput, match=words):
            loopml.context.current().settings  # noqa: B018


def test_a_retrain_that_fails_is_recorded_alerted_and_leaves_the_champion_serving(
    retrain_project: Path,
) -> None:
    with_triggers(
        retrain_project,
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\nenvironment = "prod"\n'
        'deployment = "churn"\nsinks = ["log", "file:alerts.jsonl"]\n'
        "[triggers.fresh.params]\nc = -1.0\n",
    )
    automate()
    write_data(retrain_project, seed=2)
    report = automate()
    (event,) = report.events
    assert report.failures == [event]
    assert event.status is EventStatus.FAILED
    assert "the retrain failed" in (event.error or "") and "c must be positive" in event.error
    # the failing step and its exception, not the whole traceback (stored with the step run)
    assert "step 'train'" in event.error and "ValueError: c must be positive" in event.error
    assert "Traceback" not in event.error and 'File "' not in event.error
    assert event.run_id is not None and event.model_version is None
    alert = loopml.monitoring.get_alert(event.alert_id or 0)
    assert (alert.monitor, alert.rule, str(alert.status)) == ("fresh", FAILED_RULE, "FIRING")
    assert "keeps serving its champion" in alert.message
    assert "fresh" in (retrain_project / "alerts.jsonl").read_text()
    served = loopml.get_deployment("churn")
    assert (served.version, served.rollout_id) == (1, None)
    assert loopml.get_model_version("churn", alias="prod").version == 1

    # the next event that succeeds resolves the trigger's alert
    with_triggers(
        retrain_project,
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\nenvironment = "prod"\n'
        'deployment = "churn"\n',
    )
    write_data(retrain_project, seed=3)
    (ok,) = automate().events
    assert ok.status is EventStatus.SUCCEEDED, ok.error
    assert str(loopml.monitoring.get_alert(alert.id).status) == "RESOLVED"


def test_a_gate_that_refuses_is_recorded_alerted_and_nothing_is_rolled_out(
    retrain_project: Path,
) -> None:
    with_triggers(
        retrain_project,
        '[gates.prod]\n"metrics.accuracy" = ">= 1.01"\n'
        '[gates.prod.options]\ndata = "data:/churn@1"\ntarget = "churned"\n\n'
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\nenvironment = "prod"\n'
        'deployment = "churn"\n',
    )
    automate()
    write_data(retrain_project, seed=2)
    (event,) = automate().events
    assert event.status is EventStatus.REFUSED
    assert event.model_version == "models:/churn/2"  # registered, not promoted
    assert "metrics.accuracy" in (event.error or "")
    alert = loopml.monitoring.get_alert(event.alert_id or 0)
    assert (alert.monitor, alert.rule) == ("fresh", REFUSED_RULE)
    served = loopml.get_deployment("churn")
    assert (served.version, served.rollout_id) == (1, None)
    assert loopml.get_model_version("churn", alias="prod").version == 1
