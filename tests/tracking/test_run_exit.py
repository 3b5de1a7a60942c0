"""What a run looks like after its process exits, is terminated, or is killed."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

from loopml.tracking import get_metric_history, get_run

KILLED_CHILD = """
import time, loopml
run = loopml.start_run("crash", params={"seed": 1})
for i in range(100):
    loopml.log_metric("m", float(i))
time.sleep(0.5)  # several flush intervals: the first 100 are written
for i in range(100, 150):
    loopml.log_metric("m", float(i))
print(run.id, flush=True)
time.sleep(60)
"""


def test_sigkill_loses_at_most_the_last_interval_and_leaves_run_running(
    backend: str, spawn_python: Callable[..., subprocess.Popen[str]]
) -> None:
    child = spawn_python(KILLED_CHILD, LOOPML_FLUSH_INTERVAL="0.1")
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    assert run_id, child.stderr.read() if child.stderr else ""
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    history = get_metric_history(run_id, "m")
    values = [m.value for m in history]
    assert 100 <= len(values) <= 150
    assert values == [float(i) for i in range(len(values))]  # a prefix, nothing torn
    run = get_run(run_id)
    assert run.status == "RUNNING" and run.end_time is None
    assert run.pid == child.pid and run.host
    assert run.params == {"seed": 1}
    assert run.is_alive is False
    assert run.display_status == "RUNNING (process gone)"
    if backend.startswith("sqlite"):
        from loopml.context import current

        with current().metadata.read() as conn:
            assert conn.scalar("PRAGMA integrity_check") == "ok"


def test_uncaught_exception_fails_its_run_and_exit_finishes_the_open_one(
    backend: str, run_python: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    code = """
import loopml
outer = loopml.start_run("atexit")  # never ended: atexit must flush and finish it
for i in range(1000):
    loopml.log_metric("m", float(i))
with loopml.start_run(nested=True) as inner:
    print(outer.id, inner.id, flush=True)
    for i in range(300):
        loopml.log_metric("m", float(i))
    raise RuntimeError("diverged")
"""
    result = run_python(code, LOOPML_FLUSH_INTERVAL="600")
    assert result.returncode == 1 and "diverged" in result.stderr
    outer_id, inner_id = result.stdout.split()
    outer = get_run(outer_id)
    assert outer.status == "FINISHED" and outer.end_time is not None
    assert outer.metrics == {"m": 999.0}
    assert len(get_metric_history(outer_id, "m")) == 1000
    inner = get_run(inner_id)
    assert inner.status == "FAILED" and inner.error and "RuntimeError: diverged" in inner.error
    assert len(get_metric_history(inner_id, "m")) == 300


def test_sigterm_flushes_marks_killed_and_exits_by_the_signal(
    backend: str, spawn_python: Callable[..., subprocess.Popen[str]]
) -> None:
    code = """
import time, loopml
run = loopml.start_run("term")
child = loopml.start_run(nested=True)
for i in range(500):
    loopml.log_metric("m", float(i))
print(run.id, child.id, flush=True)
time.sleep(60)
"""
    child = spawn_python(code, LOOPML_FLUSH_INTERVAL="600")
    assert child.stdout is not None
    line = child.stdout.readline().split()
    assert len(line) == 2, child.stderr.read() if child.stderr else ""
    parent_id, child_id = line
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM
    assert len(get_metric_history(child_id, "m")) == 500
    for run_id in (parent_id, child_id):
        run = get_run(run_id)
        assert run.status == "KILLED" and run.end_time is not None


def test_existing_sigterm_handler_is_left_alone(
    backend: str, spawn_python: Callable[..., subprocess.Popen[str]]
) -> None:
    code = """
import signal, sys, time, loopml
signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
run = loopml.start_run("own-handler")
print(run.id, flush=True)
time.sleep(60)
"""
    child = spawn_python(code)
    assert child.stdout is not None
    run_id = child.stdout.readline().strip()
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == 3
    assert get_run(run_id).status == "FINISHED"  # their sys.exit ran atexit
