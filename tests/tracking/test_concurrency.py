"""Several processes logging into one store at the same time."""

from __future__ import annotations

import multiprocessing
import time
import traceback
from typing import Any

import pytest

from loopml.context import current
from loopml.tracking import search_runs

WORKERS = 8
PER_WORKER = 500


def _log_from_child(index: int, errors: Any) -> None:
    import loopml

    try:
        with loopml.start_run("concurrent", run_name=f"worker-{index}") as run:
            for i in range(PER_WORKER):
                run.log_metric("m", float(i))
                if i % 50 == 49:
                    time.sleep(0.01)  # let several flushes of all workers interleave
            run.log_param("worker", index)
    except BaseException:
        errors.put((index, traceback.format_exc()))
        raise


def test_eight_processes_logging_at_once_lose_nothing_and_see_no_error(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "0.02")
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_log_from_child, args=(i, errors)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert not reported, "\n".join(f"worker {i}:\n{tb}" for i, tb in reported)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    with current().metadata.read() as conn:
        total = conn.scalar("SELECT count(*) FROM metrics")
        per_run = conn.column("SELECT count(DISTINCT step) FROM metrics GROUP BY run_id")
        assert total == WORKERS * PER_WORKER
        assert per_run == [PER_WORKER] * WORKERS
    runs = search_runs(experiment="concurrent")
    assert sorted(r.name for r in runs) == sorted(f"worker-{i}" for i in range(WORKERS))
    for run in runs:
        assert run.status == "FINISHED"
        assert run.metrics == {"m": float(PER_WORKER - 1)}
        assert run.params == {"worker": int(run.name.split("-")[1])}


def _start_without_with(queue: Any) -> None:
    import loopml

    run = loopml.start_run("forked", run_name="left-open")
    for i in range(200):
        loopml.log_metric("m", float(i))
    queue.put(run.id)  # the worker returns without ending the run


def test_run_left_open_in_a_forked_worker_is_finished_when_it_exits(
    backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.tracking import get_metric_history, get_run

    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "600")
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_start_without_with, args=(queue,))
    proc.start()
    run_id = queue.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    assert get_run(run_id).status == "FINISHED"
    assert len(get_metric_history(run_id, "m")) == 200


def _log_to_inherited(queue: Any) -> None:
    import loopml
    from loopml.errors import Conflict

    run = loopml.active_run()
    try:
        inherited = _INHERITED[0]
        inherited.log_metric("m", 1.0)
    except Conflict as exc:
        queue.put(("conflict", str(exc), run is None))
    else:
        queue.put(("logged", "", run is None))


_INHERITED: list[Any] = []


def test_forked_child_cannot_log_to_the_parents_run(backend: str) -> None:
    from loopml.tracking import get_run, start_run

    with start_run("exp") as run:
        _INHERITED[:] = [run]
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        proc = ctx.Process(target=_log_to_inherited, args=(queue,))
        proc.start()
        outcome, message, no_active_run = queue.get(timeout=60)
        proc.join(60)
        run.log_metric("m", 2.0)
    _INHERITED.clear()
    assert outcome == "conflict" and "this process's parent" in message
    assert no_active_run
    assert get_run(run.id).status == "FINISHED" and get_run(run.id).metrics == {"m": 2.0}
