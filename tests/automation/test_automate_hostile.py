"""Hostile triggers and interruptions: what a rollout or croniter would refuse (or read
at random) only after a retrain ran, a rule that would never fire and a sink that would
drop every alert are refused when the triggers are read; a long traceback keeps its
cause; a pass interrupted, stopped or killed leaves its events to the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.automation.conftest import BASE_TOML, with_triggers, write_data
from tests.automation.test_automate_leases import SLOW

import loopml
from loopml.automation import EventStatus, automate, list_events, read_triggers
from loopml.automation._records import RELEASED
from loopml.errors import InvalidInput

ROLLOUT = 'dataset = "churn"\nparam = "data"\nenvironment = "prod"\ndeployment = "churn"\n'


def _read(project: Path, table: str) -> list[loopml.automation.Trigger]:
    (project / "loopml.toml").write_text(f"{BASE_TOML}\n[triggers.t]\n{table}\n")
    loopml.context.reset()
    return read_triggers()


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('schedule = "0 0 31 2 *"', "schedule '0 0 31 2 *' names no time that exists"),
        ('schedule = "R 3 * * *"', "schedule 'R 3 * * *' picks a random time"),
        ('schedule = "0 r(0-5) * * *"', "picks a random time"),
        (ROLLOUT + 'steps = "100"', "steps '100': a canary needs a step below 100"),
        (ROLLOUT + 'interval = "0s"', "interval '0s' is 0 seconds"),
        (ROLLOUT + 'steps = "abc"', "steps must be whole percents"),
        (
            ROLLOUT + 'strategy = "shadow"\nsteps = "10,100"',
            "steps belong to a canary, not to strategy 'shadow'",
        ),
        (ROLLOUT + 'strategy = "replace"\ninterval = "30s"', 'strategy "replace" switches'),
        (
            'dataset = "churn"\nparam = "data"\nparams = { data = "data:/churn@1" }',
            "params sets 'data', the parameter param fills",
        ),
        ('dataset = "churn"\nparam = "data"\nsinks = ["slack"]', "sink 'slack' cannot be sent"),
    ],
    ids=[
        "31-february",
        "random-minute",
        "random-hour-range",
        "steps-100",
        "interval-0s",
        "steps-abc",
        "steps-of-shadow",
        "interval-of-replace",
        "params-set-param",
        "unknown-sink",
    ],
)
def test_what_would_fail_after_the_retrain_or_fire_at_random_is_refused_when_read(
    project: Path, table: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        _read(project, table)
    text = " ".join(str(raised.value).split())
    assert text.startswith("[triggers.t] ") and words in text, text


def test_a_sink_with_a_password_is_refused_without_showing_it(project: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        _read(project, 'dataset = "churn"\nparam = "data"\nsinks = ["ftp://u:s3cr3t@host/x"]')
    assert "ftp://u:***@host/x" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_a_huge_schedule_is_named_cut_short(project: Path) -> None:
    with pytest.raises(InvalidInput) as raised:
        _read(project, f'schedule = "{"* " * 5000}"')
    assert len(str(raised.value)) < 400


def test_an_alert_rule_is_read_as_the_monitor_writes_it_and_one_it_lacks_is_refused(
    retrain_project: Path,
) -> None:
    loopml.monitoring.add_monitor("watch", "churn", alerts=["drift_share > 0.3"])
    table = '[triggers.drift]\nalert = "watch"\ndataset = "churn"\nparam = "data"\n'
    with_triggers(retrain_project, table + 'rule = "drift_share>0.30"\n')
    (trigger,) = read_triggers()
    assert trigger.rule == "drift_share > 0.3"
    assert automate().events == []
    drift = loopml.monitoring.raise_alert("watch", "drift_share > 0.3", "drifted")
    (event,) = automate().events
    assert event.cause == str(drift.uri)

    with_triggers(retrain_project, table + 'rule = "drift_share > 0.5"\n')
    with pytest.raises(InvalidInput, match="which monitor 'watch' does not have"):
        automate()


DEEP = "\n".join(
    [
        "import loopml",
        "import pandas as pd",
        "",
        "@loopml.step",
        "def load(data: str) -> pd.DataFrame:",
        "    return loopml.get_dataset(data).to_pandas()",
        "",
        "def f40():",
        "    raise RuntimeError('the cause: column tenure holds NaN')",
        *(f"def f{i}():\n    return f{i + 1}()  # library frame {i}" for i in range(40)),
        "",
        "@loopml.step(name='train')",
        "def fit(frame: pd.DataFrame) -> None:",
        "    f0()",
        "",
        "@loopml.pipeline",
        "def retrain(data: str = 'data:/churn'):",
        "    return fit(load(data))",
        "",
    ]
)


def test_a_long_traceback_keeps_the_exception_that_ended_the_retrain(
    retrain_project: Path,
) -> None:
    (retrain_project / "deep_pipe.py").write_text(DEEP)
    with_triggers(
        retrain_project,
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\npipeline = "deep_pipe:retrain"\n',
    )
    automate()
    write_data(retrain_project, seed=2)
    (event,) = automate().events
    error = event.error or ""
    assert event.status is EventStatus.FAILED and len(error) <= 2000
    # the step and the exception that ended it; the deep traceback stays with the step run
    assert error.startswith(
        "the retrain failed: step 'train' of pipeline 'retrain' raised "
        "RuntimeError: the cause: column tenure holds NaN"
    )
    assert "its traceback is stored with step run" in error and "Traceback" not in error
    alert = loopml.monitoring.get_alert(event.alert_id or 0)
    assert "the cause: column tenure holds NaN" in alert.message


INTERRUPTED = """
from pathlib import Path

import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def load(data: str) -> pd.DataFrame:
    return loopml.get_dataset(data).to_pandas()

@loopml.step(name="train")
def fit(frame: pd.DataFrame) -> LogisticRegression:
    if Path("interrupt").exists():
        raise KeyboardInterrupt  # as Ctrl-C in the middle of the training
    return LogisticRegression().fit(frame[["tenure", "charges"]], frame["churned"])

@loopml.pipeline
def retrain(data: str = "data:/churn"):
    return fit(load(data))
"""


def test_an_interrupted_retrain_is_released_not_failed_and_the_next_pass_retrains_it(
    retrain_project: Path,
) -> None:
    (retrain_project / "interrupted_pipe.py").write_text(INTERRUPTED)
    with_triggers(
        retrain_project,
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\n'
        'pipeline = "interrupted_pipe:retrain"\n',
    )
    automate()
    write_data(retrain_project, seed=2)
    (retrain_project / "interrupt").write_text("")
    with pytest.raises(KeyboardInterrupt):
        automate()
    (left,) = list_events("fresh")
    assert (left.status, left.lease_until, left.alert_id) == (EventStatus.RUNNING, RELEASED, None)
    assert loopml.monitoring.list_alerts("fresh") == []  # an interruption is no failure

    (retrain_project / "interrupt").unlink()
    (event,) = automate().events
    assert event.status is EventStatus.SUCCEEDED and event.error is None
    assert event.attempts == 2 and "interrupted and released" in (event.taken_from or "")
    assert event.model_version == "models:/churn/2"


def test_a_stopped_pass_claims_no_further_event(retrain_project: Path) -> None:
    import threading

    with_triggers(retrain_project, '[triggers.fresh]\ndataset = "churn"\nparam = "data"\n')
    automate()
    write_data(retrain_project, seed=2)
    write_data(retrain_project, seed=3)
    stop = threading.Event()
    stop.set()
    assert automate(stop=stop).events == []
    assert [e.key for e in automate().events] == ["data:/churn@2", "data:/churn@3"]


def _command(project: Path, *args: str) -> subprocess.Popen[str]:
    src = str(Path(loopml.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "loopml", "automate", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_started(project: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 240
    while not (project / "started").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the retrain never started"
        time.sleep(0.05)
    (project / "started").unlink()


def test_sigterm_stops_the_daemon_after_the_retrain_under_way_and_a_second_at_once(
    retrain_project: Path,
) -> None:
    (retrain_project / "slow_pipe.py").write_text(SLOW)
    with_triggers(
        retrain_project,
        '[triggers.fresh]\ndataset = "churn"\nparam = "data"\npipeline = "slow_pipe:retrain"\n',
    )
    automate()
    for seed in (2, 3, 4):
        write_data(retrain_project, seed=seed)
    (retrain_project / "hold").write_text("")
    daemon = _command(retrain_project, "--interval", "1")
    try:
        _wait_started(retrain_project, daemon)
        daemon.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        (retrain_project / "hold").unlink()  # the retrain under way ends...
        _, err = daemon.communicate(timeout=120)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode == 0 and "Stopped." in err, err
    # ...and no other event was claimed: they wait for the next start
    assert [(e.key, e.status) for e in list_events("fresh")] == [
        ("data:/churn@2", EventStatus.SUCCEEDED)
    ]

    (retrain_project / "hold").write_text("")
    daemon = _command(retrain_project, "--interval", "1")
    try:
        _wait_started(retrain_project, daemon)
        daemon.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        daemon.send_signal(signal.SIGTERM)  # asked twice: it stops now
        daemon.communicate(timeout=120)
    finally:
        (retrain_project / "hold").unlink()
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()
    assert daemon.returncode != 0
    left = list_events("fresh")[0]
    assert (left.key, left.status, left.lease_until) == (
        "data:/churn@3",
        EventStatus.RUNNING,
        RELEASED,
    )
    done = automate().events
    assert [(e.key, e.status, e.attempts) for e in done] == [
        ("data:/churn@3", EventStatus.SUCCEEDED, 2),
        ("data:/churn@4", EventStatus.SUCCEEDED, 1),
    ]


KILLED_AFTER_DEPLOY = """
import os

import loopml.automation._repository as repo
from loopml.automation import automate

def killed(*args, **kwargs):
    os._exit(9)  # killed between starting the rollout and recording it

repo.finish = killed
automate()
"""


def test_a_rollout_the_killed_process_started_is_kept_by_the_pass_that_takes_over(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, f"[triggers.fresh]\n{ROLLOUT}")
    automate()
    write_data(retrain_project, seed=2)
    src = str(Path(loopml.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_DEPLOY],
        cwd=retrain_project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 9, killed.stderr
    (started,) = loopml.deployments.list_rollouts("churn")
    assert str(started.status) == "PROGRESSING"

    (event,) = automate().events
    assert event.status is EventStatus.SUCCEEDED, event.error
    assert (event.attempts, event.rollout_id, event.alert_id) == (2, started.id, None)
    assert len(loopml.deployments.list_rollouts("churn")) == 1
    assert loopml.monitoring.list_alerts("fresh") == []

    loopml.deployments.rollback("churn")  # the event follows the rollout it kept
    (settled,) = automate().settled
    assert settled.status is EventStatus.ROLLED_BACK


def test_status_without_triggers_says_how_to_declare_one_in_every_format(project: Path) -> None:
    from typer.testing import CliRunner

    from loopml.cli import app

    runner = CliRunner()
    shown = runner.invoke(app, ["automate", "status"])
    assert shown.exit_code == 0, shown.output
    said = " ".join(shown.output.split())
    assert 'e.g. [triggers.nightly] with schedule = "0 3 * * *"' in said, said
    for fmt, start in (("json", "[]"), ("csv", "trigger,watches,")):
        out = runner.invoke(app, ["automate", "status", "--format", fmt])
        assert out.exit_code == 0 and out.stdout.startswith(start), out.output
        out = runner.invoke(app, ["automate", "status", "--history", "--format", fmt])
        assert out.exit_code == 0, out.output
