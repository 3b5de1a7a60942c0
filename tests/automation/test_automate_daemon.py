"""The ``loopml automate`` daemon outlives a failing check (reported on one line, tried
again at the next interval), stops at once on SIGTERM even while it waits, and refuses a
wrong loopml.toml at its start; a takeover ends the runs the killed owner left RUNNING."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
from tests.automation.conftest import BASE_TOML, automate_process, with_triggers, write_data

import loopml
from loopml.automation import EventStatus, automate, list_events
from loopml.tracking import RunStatus, child_runs, get_run, search_runs

TRIGGER = '[triggers.fresh]\ndataset = "churn"\nparam = "data"\n'

SLOW = """
import time
from pathlib import Path

import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def load(data: str) -> pd.DataFrame:
    return loopml.get_dataset(data).to_pandas()

@loopml.step(name="train")
def fit(frame: pd.DataFrame) -> LogisticRegression:
    if Path("hold").exists():
        Path("started").write_text("yes")
        while Path("hold").exists():  # until the test kills the process
            time.sleep(0.05)
    return LogisticRegression().fit(frame[["tenure", "charges"]], frame["churned"])

@loopml.pipeline
def retrain(data: str = "data:/churn"):
    return fit(load(data))
"""


class _Command:
    """``loopml automate ARGS`` in ``project``, its output read line by line as it comes."""

    def __init__(self, project: Path, *args: str) -> None:
        self.proc = automate_process(project, *args)
        self.lines: dict[str, queue.Queue[str]] = {"out": queue.Queue(), "err": queue.Queue()}
        self.seen: dict[str, list[str]] = {"out": [], "err": []}
        for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            assert stream is not None
            threading.Thread(target=self._read, args=(stream, name), daemon=True).start()

    def _read(self, stream: IO[str], name: str) -> None:
        for line in stream:
            self.lines[name].put(line.rstrip("\n"))

    def wait_for(self, name: str, *words: str, timeout: float = 240) -> str:
        """The first line of stream ``name`` (``out`` or ``err``) holding every one of
        ``words``; fails the test when none comes in time or the process ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines[name].get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines[name].empty():
                    time.sleep(0.2)  # the reader may still hold the last lines
                    if self.lines[name].empty():
                        break
                continue
            self.seen[name].append(line)
            if all(w in line for w in words):
                return line
        self.stop()
        raise AssertionError(f"no line with {words} on std{name}; seen: {self.seen}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        """Wait for the process to end: its exit code and the rest of its output."""
        self.proc.wait(timeout=timeout)
        time.sleep(0.2)
        for name in ("out", "err"):
            while not self.lines[name].empty():
                self.seen[name].append(self.lines[name].get())
        return self.proc.returncode, "\n".join(self.seen["out"]), "\n".join(self.seen["err"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def commands() -> Any:
    started: list[_Command] = []

    def start(project: Path, *args: str) -> _Command:
        command = _Command(project, *args)
        started.append(command)
        return command

    yield start
    for command in started:
        command.stop()


def test_the_daemon_reports_a_failing_check_and_acts_once_the_cause_is_gone(
    retrain_project: Path, commands: Any
) -> None:
    with_triggers(retrain_project, TRIGGER)
    automate()
    daemon = commands(retrain_project, "--interval", "1")
    daemon.wait_for("err", "Checking the triggers every 1 s")

    # loopml.toml edited into a mistake: each check fails, naming it, and the next follows
    (retrain_project / "loopml.toml").write_text(
        BASE_TOML + '[triggers.fresh]\ndataset = "churn"\n'
    )
    first = daemon.wait_for("err", "this check of the triggers failed")
    assert first.startswith("error: this check of the triggers failed: InvalidInput: ")
    assert "[triggers.fresh] names dataset 'churn' but no param" in first
    assert first.endswith("(checking again in 1 s)")
    daemon.wait_for("err", "[triggers.fresh] names dataset 'churn' but no param")  # again

    # the dataset the trigger watches removed: the checks fail, the daemon goes on
    loopml.data.remove_dataset("churn")
    with_triggers(retrain_project, TRIGGER)
    gone = daemon.wait_for("err", "NotFound: [triggers.fresh] names dataset 'churn'")
    assert "which does not exist" in gone and gone.endswith("(checking again in 1 s)")

    # back, with a new version: the next check retrains on it
    new = write_data(retrain_project, seed=2)
    done = daemon.wait_for("out", "SUCCEEDED triggers:/fresh/1")
    assert f"({new})" in done
    assert daemon.proc.poll() is None

    daemon.proc.send_signal(signal.SIGTERM)
    code, _, err = daemon.finish()
    assert code == 0, err
    assert err.splitlines()[-1] == "Stopped."
    (event,) = list_events("fresh")
    assert (event.status, event.dataset) == (EventStatus.SUCCEEDED, new)


def test_sigterm_stops_the_daemon_at_once_while_it_waits(
    retrain_project: Path, commands: Any
) -> None:
    with_triggers(retrain_project, TRIGGER)
    automate()
    write_data(retrain_project, seed=2)
    daemon = commands(retrain_project, "--interval", "3600")
    daemon.wait_for("out", "SUCCEEDED triggers:/fresh/1")  # the first check is over
    time.sleep(0.5)  # it sleeps until the next one, an hour away
    asked = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    code, _, err = daemon.finish(timeout=30)
    assert time.monotonic() - asked < 5
    assert code == 0, err
    assert "Stopped." in err


@pytest.mark.parametrize(
    ("table", "words"),
    [
        (
            '[triggers.t]\ndataset = "nope"\nparam = "data"\n',
            "[triggers.t] names dataset 'nope', which does not exist",
        ),
        ('[triggers.t]\nschedule = "61 3 * * *"\n', "[triggers.t] schedule '61 3 * * *'"),
    ],
)
def test_a_mistake_in_loopml_toml_stops_the_daemon_at_its_start(
    retrain_project: Path, commands: Any, table: str, words: str
) -> None:
    with_triggers(retrain_project, table)
    daemon = commands(retrain_project, "--interval", "1")
    code, out, err = daemon.finish(timeout=120)
    assert code == 1, (out, err)
    assert words in err and "error:" in err
    assert "Checking the triggers" not in err


def test_a_check_that_raises_in_the_daemon_is_reported_and_the_next_one_runs(
    retrain_project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from loopml import automation
    from loopml.automation import AutomateReport
    from loopml.cli import main
    from loopml.errors import StoreError

    with_triggers(retrain_project, TRIGGER)
    calls: list[float] = []
    before = signal.getsignal(signal.SIGTERM)

    def flaky(names: Any = None, **options: Any) -> AutomateReport:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise StoreError("the metadata store\ndid not answer")
        os.kill(os.getpid(), signal.SIGTERM)  # handled: the daemon stops after this check
        return AutomateReport(["fresh"], [])

    monkeypatch.setattr(automation, "automate", flaky)
    with pytest.raises(SystemExit) as stopped:
        main(["automate", "--interval", "1"])
    assert stopped.value.code == 0
    assert len(calls) == 2 and calls[1] - calls[0] >= 1
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "failed" in x]
    assert line == (
        "error: this check of the triggers failed: StoreError: the metadata store did not "
        "answer (checking again in 1 s)"
    )
    assert err.splitlines()[-1] == "Stopped."
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_takeover_ends_the_runs_the_killed_process_left_running(
    retrain_project: Path, commands: Any
) -> None:
    (retrain_project / "slow_pipe.py").write_text(SLOW)
    with_triggers(retrain_project, TRIGGER + 'pipeline = "slow_pipe:retrain"\n')
    automate()
    write_data(retrain_project, seed=2)
    (retrain_project / "hold").write_text("")
    killed = commands(retrain_project, "--once")
    deadline = time.monotonic() + 240
    while not (retrain_project / "started").exists():
        assert killed.proc.poll() is None, killed.finish()
        assert time.monotonic() < deadline, "the retrain never started"
        time.sleep(0.05)
    killed.proc.send_signal(signal.SIGKILL)
    assert killed.finish()[0] == -signal.SIGKILL

    tagged = "tags.loopml.trigger_event = 'triggers:/fresh/1'"
    (orphan,) = search_runs(tagged)
    assert orphan.status == RunStatus.RUNNING and orphan.is_alive is False
    steps = {s.name: s for s in child_runs(orphan.id)}
    assert steps["train"].status == RunStatus.RUNNING
    assert steps["load"].status == RunStatus.FINISHED

    (retrain_project / "hold").unlink()
    (event,) = automate().events
    assert event.status is EventStatus.SUCCEEDED, event.error
    assert event.attempts == 2 and event.run_id != orphan.id

    ended = get_run(orphan.id)
    assert ended.status == RunStatus.KILLED
    assert ended.error is not None
    assert ended.error.startswith(f"triggers:/fresh/1 was taken over by {event.owner} (attempt 2)")
    assert f"(process {killed.proc.pid} of this host is gone)" in ended.error
    after = {s.name: s for s in child_runs(orphan.id)}
    assert after["train"].status == RunStatus.KILLED and after["train"].error == ended.error
    assert after["load"].status == RunStatus.FINISHED and after["load"].error is None
    assert get_run(event.run_id or "").status == RunStatus.FINISHED
    assert {r.id for r in search_runs(tagged)} == {orphan.id, event.run_id}
    assert search_runs("status = 'RUNNING'") == []


MARKED = """
from pathlib import Path

import loopml
import pandas as pd
from sklearn.linear_model import LogisticRegression

@loopml.step
def load(data: str) -> pd.DataFrame:
    return loopml.get_dataset(data).to_pandas()

@loopml.step(name="train")
def fit(frame: pd.DataFrame) -> LogisticRegression:
    Path("trained-by.txt").write_text("code one")
    return LogisticRegression().fit(frame[["tenure", "charges"]], frame["churned"])

@loopml.pipeline
def retrain(data: str = "data:/churn"):
    return fit(load(data))
"""


def test_the_daemon_runs_the_code_on_disk_after_an_edit(
    retrain_project: Path, commands: Any
) -> None:
    (retrain_project / "retrain_pipe.py").write_text(MARKED)
    with_triggers(retrain_project, TRIGGER)
    automate()
    (retrain_project / "trained-by.txt").unlink(missing_ok=True)
    write_data(retrain_project, seed=2)
    daemon = commands(retrain_project, "--interval", "1")
    daemon.wait_for("out", "SUCCEEDED triggers:/fresh/1")
    assert (retrain_project / "trained-by.txt").read_text() == "code one"

    # the pipeline edited while the daemon runs: the next retrain runs the new code (not
    # the module imported before, under a cache key computed from the new file)
    (retrain_project / "retrain_pipe.py").write_text(MARKED.replace("code one", "code two"))
    write_data(retrain_project, seed=3)
    said = daemon.wait_for("err", "The project's code changed")
    assert "retrain_pipe.py" in said
    daemon.wait_for("out", "SUCCEEDED triggers:/fresh/2")
    assert (retrain_project / "trained-by.txt").read_text() == "code two"
    daemon.proc.send_signal(signal.SIGTERM)
    code, _, err = daemon.finish()
    assert code == 0, err
