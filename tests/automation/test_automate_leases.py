"""A claim is a lease: renewed while the retrain runs, taken over by exactly one later
pass once it expired or its process is gone, and the takeover is recorded. Proven with a
``loopml automate --once`` killed by SIGKILL in the middle of its retrain."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

from tests.automation.conftest import automate_process, with_triggers, write_data

import loopml
from loopml.automation import EventStatus, automate, list_events
from loopml.automation import _repository as repo
from loopml.context import current

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

TRIGGER = '[triggers.fresh]\ndataset = "churn"\nparam = "data"\n'


def _claim(meta: Any, owner: str, lease_until: float) -> Any:
    return repo.claim(
        meta,
        "fresh",
        "data:/churn@4",
        cause="data:/churn@4",
        dataset="data:/churn@4",
        owner=owner,
        lease_until=lease_until,
    )


def test_of_many_threads_taking_over_an_expired_claim_exactly_one_wins(backend: str) -> None:
    meta = current().metadata
    meta.upgrade()
    stale = _claim(meta, "elsewhere:1", time.time() - 1)
    start = threading.Barrier(6)
    won: list[Any] = []

    def take(n: int) -> None:
        start.wait()
        won.append(
            repo.take_over(
                meta,
                stale,
                f"p{n}",
                lease_until=time.time() + 60,
                now=time.time(),
                gone=False,
                why="its lease expired",
            )
        )

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (winner,) = [w for w in won if w is not None]
    assert len(won) == 6
    assert (winner.status, winner.attempts) == (EventStatus.RUNNING, 2)
    assert winner.taken_from == "elsewhere:1 (its lease expired)"
    (stored,) = repo.events_of(meta, "fresh")
    assert stored.owner == winner.owner


def test_a_lease_its_owner_renews_is_not_taken_over_and_a_lost_owner_cannot_finish(
    backend: str,
) -> None:
    meta = current().metadata
    meta.upgrade()
    held = _claim(meta, "elsewhere:1", time.time() + 60)
    taking = {"lease_until": time.time() + 60, "gone": False, "why": "expired"}
    assert repo.take_over(meta, held, "me:2", now=time.time(), **taking) is None
    assert repo.renew(meta, held.id, "elsewhere:1", time.time() - 1)
    # renewed (here: into the past) after this pass read it: the read is stale
    taken = repo.take_over(meta, held, "me:2", now=time.time(), **taking)
    assert taken is not None and taken.owner == "me:2"
    assert not repo.renew(meta, held.id, "elsewhere:1", time.time() + 60)
    # the old owner's outcome is not written over the new owner's claim
    after = repo.finish(meta, held, EventStatus.FAILED, error="too late")
    assert (after.owner, after.status, after.error) == ("me:2", EventStatus.RUNNING, None)
    done = repo.finish(meta, taken, EventStatus.SUCCEEDED)
    assert (done.status, done.lease_until) == (EventStatus.SUCCEEDED, None)


def test_a_claim_of_another_host_is_taken_over_only_once_its_lease_expired(
    retrain_project: Path,
) -> None:
    with_triggers(retrain_project, TRIGGER)
    automate()
    new = write_data(retrain_project, seed=2)
    meta = current().metadata
    claimed = repo.claim(
        meta,
        "fresh",
        new,
        cause=new,
        dataset=new,
        owner="elsewhere:1",
        lease_until=time.time() + 60,
    )
    assert claimed is not None
    assert automate().events == []  # its owner may still be retraining on its host
    (waiting,) = list_events("fresh")
    assert (waiting.status, waiting.owner) == (EventStatus.RUNNING, "elsewhere:1")

    repo.renew(meta, claimed.id, "elsewhere:1", time.time() - 1)  # the lease ran out
    (event,) = automate().events
    assert event.id == claimed.id
    assert event.status is EventStatus.SUCCEEDED, event.error
    assert (event.attempts, event.model_version) == (2, "models:/churn/2")
    assert (event.taken_from or "").startswith("elsewhere:1 (its lease expired at ")
    assert "taken over from elsewhere:1" in event.message
    assert automate().events == []


def test_an_event_left_running_by_a_killed_process_is_finished_once_by_the_next_run(
    retrain_project: Path,
) -> None:
    (retrain_project / "slow_pipe.py").write_text(SLOW)
    with_triggers(retrain_project, TRIGGER + 'pipeline = "slow_pipe:retrain"\n')
    automate()
    write_data(retrain_project, seed=2)
    (retrain_project / "hold").write_text("")
    killed = automate_process(retrain_project, "--once")
    try:
        deadline = time.monotonic() + 240
        while not (retrain_project / "started").exists():
            assert killed.poll() is None, killed.communicate()
            assert time.monotonic() < deadline, "the retrain never started"
            time.sleep(0.05)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=60)
    finally:
        if killed.poll() is None:
            killed.kill()
            killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    (left,) = list_events("fresh")
    assert left.status is EventStatus.RUNNING
    assert left.owner == f"{socket.gethostname()}:{killed.pid}"

    (retrain_project / "hold").unlink()
    second = automate_process(retrain_project, "--once")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert "SUCCEEDED triggers:/fresh/1 (data:/churn@2)" in out
    assert f"taken over from {left.owner}" in out
    (event,) = list_events("fresh")
    assert event.status is EventStatus.SUCCEEDED, event.error
    assert event.attempts == 2 and event.owner != left.owner
    assert event.taken_from == f"{left.owner} (process {killed.pid} of this host is gone)"
    assert event.model_version == "models:/churn/2"

    third = automate_process(retrain_project, "--once")
    out, err = third.communicate(timeout=300)
    assert third.returncode == 0 and "triggers:/fresh" not in out, err
    assert [e.id for e in list_events("fresh")] == [event.id]
    assert [v.version for v in loopml.search_model_versions("name = 'churn'")] == [2, 1]
