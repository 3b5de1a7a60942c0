"""What tracking keeps per process: the open runs, the flusher, and the exit hooks.

These are the process's by nature: one background thread writes every
run's buffered metrics, and ``atexit``, signal handlers and ``fork`` act on
the whole process. Which run each thread has active lives in
:class:`loopml.context.ActiveRuns`.

Every run still open when the interpreter exits is flushed and marked
FINISHED (``atexit``). On SIGTERM — when no other handler was installed and
runs were started from the main thread — open runs are flushed and marked
KILLED, then the process dies of SIGTERM as it would have. A forked child
starts with no open runs, and the run objects it inherits refuse to log
(their runs belong to the parent).

:func:`reset` forgets everything without writing (``loopml.context.reset``
calls it, for tests).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from loopml import context
from loopml.tracking._flusher import Flusher

if TYPE_CHECKING:
    from loopml.tracking._runs import ActiveRun

__all__ = ["State", "flush", "get", "install_exit_hooks", "reset"]

_SIGTERM_CLEANUP_SECONDS = 20.0


class State:
    """The open runs and the flusher of this process."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.open: dict[str, ActiveRun] = {}
        self.flusher = Flusher()
        self.writing: set[int] = set()
        self.atexit_installed = False
        self.mp_finalizer_installed = False
        self.sigterm_installed: Callable[[int, FrameType | None], Any] | None = None

    def activate(self, run: ActiveRun) -> list[ActiveRun]:
        """Register a new run as open and active in this thread; returns its stack."""
        with self.lock:
            stack: list[ActiveRun] = context.active_runs().own_stack()
            stack.append(run)
            self.open[run.id] = run
        return stack

    def add(self, run: ActiveRun) -> None:
        """Register a run as open without making it active."""
        with self.lock:
            self.open[run.id] = run

    def discard(self, run: ActiveRun, stack: list[ActiveRun]) -> None:
        """Forget an ended run."""
        with self.lock:
            self.open.pop(run.id, None)
            if run in stack:
                stack.remove(run)

    @contextmanager
    def marking_write(self) -> Iterator[None]:
        """Mark the current thread as inside a metadata write transaction."""
        ident = threading.get_ident()
        self.writing.add(ident)
        try:
            yield
        finally:
            self.writing.discard(ident)


class _Process:
    """Holds the one :class:`State` of this process (replaced on fork and reset)."""

    state = State()


def get() -> State:
    """The state of this process."""
    return _Process.state


def current_run() -> ActiveRun | None:
    """The active run of this thread (else of the main thread), or None."""
    run: ActiveRun | None = context.active_runs().current()
    return run


def flush() -> int:
    """Write every live run's buffered metrics now; returns the number of rows written."""
    state = _Process.state
    if not state.open:
        return 0
    return state.flusher.flush()


def install_exit_hooks() -> None:
    """Register the exit hooks once, and the SIGTERM handler when it is safe to.

    Besides ``atexit``, a process that uses :mod:`multiprocessing` gets a
    multiprocessing finalizer: a forked worker leaves through ``os._exit``,
    which skips ``atexit`` but runs those.
    """
    state = _Process.state
    if not state.atexit_installed:
        atexit.register(_at_exit)
        state.atexit_installed = True
    mp_util = sys.modules.get("multiprocessing.util")
    if not state.mp_finalizer_installed and mp_util is not None:
        mp_util.Finalize(None, _at_exit, exitpriority=100)
        state.mp_finalizer_installed = True
    if state.sigterm_installed is None and threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
                state.sigterm_installed = _on_sigterm
        except (ValueError, OSError):  # not the main interpreter, or no signals here
            pass


def _end_open_runs(status: str) -> None:
    from loopml.tracking._records import RunStatus

    state = _Process.state
    with state.lock:
        runs = list(state.open.values())
    if not runs:
        return
    try:
        state.flusher.flush()
    finally:
        for run in reversed(runs):
            try:
                run.end(RunStatus(status))
            except Exception as exc:
                print(f"loopml: could not end run {run.id}: {exc}", file=sys.stderr)


def _at_exit() -> None:
    try:
        _end_open_runs("FINISHED")
    except Exception as exc:
        print(f"loopml: could not flush runs at exit: {exc}", file=sys.stderr)
    finally:
        _Process.state.flusher.stop(timeout=1.0)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Flush and mark open runs KILLED, then die of SIGTERM as the default handler would.

    The signal interrupts the main thread between two bytecodes. When that
    thread was inside a metadata write, its transaction can never finish, so
    the runs are left as they are (RUNNING, as after SIGKILL). Otherwise the
    cleanup runs on a helper thread, given at most 20 seconds.
    """
    state = _Process.state
    ident = threading.get_ident()
    if state.open and ident not in state.writing and state.flusher.owner != ident:
        helper = threading.Thread(target=_end_open_runs, args=("KILLED",), daemon=True)
        helper.start()
        helper.join(_SIGTERM_CLEANUP_SECONDS)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def reset() -> None:
    """Forget every open run and buffered metric, stop the flusher; writes nothing.

    A forgotten run refuses further logging, as an ended one does.
    """
    old = _Process.state
    _Process.state = State()
    _Process.state.atexit_installed = old.atexit_installed
    _Process.state.mp_finalizer_installed = old.mp_finalizer_installed
    _disown(old, "was forgotten by loopml.context.reset()")
    old.flusher.stop(timeout=2.0)
    if old.sigterm_installed is not None and threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) is old.sigterm_installed:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        except (ValueError, OSError):
            pass


def _disown(old: State, why: str) -> None:
    for run in list(old.open.values()):
        run._disown(why)


def _after_fork_in_child() -> None:
    old = _Process.state
    _Process.state = State()
    _Process.state.atexit_installed = old.atexit_installed
    _disown(old, f"belongs to process {os.getppid()}, this process's parent")


context.on_reset(reset)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
