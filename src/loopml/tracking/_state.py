"""Process-wide tracking state: the active runs, the flusher, and the exit hooks.

Each thread has its own stack of active runs; a thread that has started
none logs to the main thread's active run. Every run still open when the
interpreter exits is flushed and marked FINISHED (``atexit``). On SIGTERM —
when no other handler was installed and runs were started from the main
thread — open runs are flushed and marked KILLED, then the process dies of
SIGTERM as it would have. A forked child starts with no active runs, and
the run objects it inherits refuse to log (their runs belong to the parent).

:func:`reset` forgets everything without writing (tests call it between tests).
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

from loopml.tracking._flusher import Flusher

if TYPE_CHECKING:
    from loopml.tracking._runs import ActiveRun

__all__ = ["State", "flush_all", "get", "install_exit_hooks", "reset"]

_SIGTERM_CLEANUP_SECONDS = 20.0


class State:
    """Open runs, per-thread stacks of active runs, and the flusher of this process."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.local = threading.local()
        self.main_ident = threading.main_thread().ident
        self.main_stack: list[ActiveRun] = []
        self.open: dict[str, ActiveRun] = {}
        self.flusher = Flusher()
        self.writing: set[int] = set()

    def own_stack(self) -> list[ActiveRun]:
        """The stack of runs the current thread started."""
        if threading.get_ident() == self.main_ident:
            return self.main_stack
        stack: list[ActiveRun] | None = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack

    def current(self) -> ActiveRun | None:
        """The active run of this thread, else the main thread's, else None."""
        if threading.get_ident() != self.main_ident:
            stack = getattr(self.local, "stack", None)
            if stack:
                return stack[-1]
        stack = self.main_stack
        return stack[-1] if stack else None

    def add(self, run: ActiveRun) -> list[ActiveRun]:
        """Register a new run as open and active in this thread; returns its stack."""
        with self.lock:
            stack = self.own_stack()
            stack.append(run)
            self.open[run.id] = run
        return stack

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


_state = State()
_atexit_installed = False
_mp_finalizer_installed = False
_sigterm_installed: Callable[[int, FrameType | None], Any] | None = None


def get() -> State:
    """The state of this process."""
    return _state


def flush_all() -> int:
    """Write every live run's buffered metrics now; returns the number of rows written."""
    state = _state
    if not state.open:
        return 0
    return state.flusher.flush()


def install_exit_hooks() -> None:
    """Register the exit hooks once, and the SIGTERM handler when it is safe to.

    Besides ``atexit``, a process that uses :mod:`multiprocessing` gets a
    multiprocessing finalizer: a forked worker leaves through ``os._exit``,
    which skips ``atexit`` but runs those.
    """
    global _atexit_installed, _mp_finalizer_installed, _sigterm_installed
    if not _atexit_installed:
        atexit.register(_at_exit)
        _atexit_installed = True
    mp_util = sys.modules.get("multiprocessing.util")
    if not _mp_finalizer_installed and mp_util is not None:
        mp_util.Finalize(None, _at_exit, exitpriority=100)
        _mp_finalizer_installed = True
    if _sigterm_installed is None and threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _on_sigterm)
                _sigterm_installed = _on_sigterm
        except (ValueError, OSError):  # not the main interpreter, or no signals here
            pass


def _end_open_runs(status: str) -> None:
    state = _state
    with state.lock:
        runs = list(state.open.values())
    if not runs:
        return
    try:
        state.flusher.flush()
    finally:
        for run in reversed(runs):
            try:
                run.end(status)
            except Exception as exc:
                print(f"loopml: could not end run {run.id}: {exc}", file=sys.stderr)


def _at_exit() -> None:
    try:
        _end_open_runs("FINISHED")
    except Exception as exc:
        print(f"loopml: could not flush runs at exit: {exc}", file=sys.stderr)
    finally:
        _state.flusher.stop(timeout=1.0)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Flush and mark open runs KILLED, then die of SIGTERM as the default handler would.

    The signal interrupts the main thread between two bytecodes. When that
    thread was inside a metadata write, its transaction can never finish, so
    the runs are left as they are (RUNNING, as after SIGKILL). Otherwise the
    cleanup runs on a helper thread, given at most 20 seconds.
    """
    state = _state
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
    global _state, _sigterm_installed
    old = _state
    _state = State()
    _disown(old, "was forgotten by loopml.tracking._state.reset()")
    old.flusher.stop(timeout=2.0)
    if _sigterm_installed is not None and threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) is _sigterm_installed:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
        except (ValueError, OSError):
            pass
        _sigterm_installed = None


def _disown(old: State, why: str) -> None:
    for run in list(old.open.values()):
        run._disown(why)


def _after_fork_in_child() -> None:
    global _state, _mp_finalizer_installed
    old = _state
    _state = State()
    _mp_finalizer_installed = False
    _disown(old, f"belongs to process {os.getppid()}, this process's parent")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
