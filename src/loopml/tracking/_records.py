"""The records tracking hands out: :class:`Run`, :class:`Metric`, :class:`ArtifactEntry`,
and the one vocabulary of run statuses, :class:`RunStatus`."""

from __future__ import annotations

import datetime as _dt
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from loopml._enum import StrEnum
from loopml.uri import RunURI

__all__ = [
    "END_STATUSES",
    "ArtifactEntry",
    "Experiment",
    "Metric",
    "Run",
    "RunStatus",
    "from_epoch",
]


class RunStatus(StrEnum):
    """How a run stands. The values are what the database stores and filters match.

    ``RUNNING``; ``FINISHED``; ``FAILED`` (it raised; the traceback is kept);
    ``KILLED`` (interrupted: Ctrl-C, SIGTERM, a cancelled step); ``PRUNED`` (a
    tuning trial the pruner stopped early, which is not a failure). A pipeline
    step never reached because an earlier one failed is ``SKIPPED``; it has no
    run of its own. Compares equal to its value: ``run.status == "FINISHED"``.
    """

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    PRUNED = "PRUNED"
    SKIPPED = "SKIPPED"


#: The statuses a run can end with.
END_STATUSES = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED, RunStatus.PRUNED)

_UTC = _dt.timezone.utc


def from_epoch(seconds: float) -> _dt.datetime:
    """Seconds since the epoch as a timezone-aware UTC datetime."""
    return _dt.datetime.fromtimestamp(seconds, _UTC)


@dataclass(frozen=True)
class Metric:
    """One logged value of a metric: ``key`` at ``step``, logged at ``timestamp`` (UTC)."""

    key: str
    value: float
    step: int
    timestamp: _dt.datetime


@dataclass(frozen=True)
class ArtifactEntry:
    """A file logged with a run: its path inside the run, content hash and size in bytes."""

    run_id: str
    path: str
    digest: str
    size: int

    @property
    def uri(self) -> str:
        """``runs:/<run id>/<path>``."""
        return str(RunURI(self.run_id, self.path))


@dataclass(frozen=True)
class Experiment:
    """An experiment: its name and id, when it was created, how many runs it holds (not
    counting deleted runs), when the newest started, and whether it is deleted."""

    name: str
    id: int
    created: _dt.datetime
    runs: int
    last_run: _dt.datetime | None
    deleted_at: _dt.datetime | None = None

    @property
    def deleted(self) -> bool:
        """Whether the experiment is deleted (restore it with ``restore_experiment``)."""
        return self.deleted_at is not None


@dataclass
class Run:
    """A tracked run as stored: identity, status, times, what was logged and where it ran.

    ``params`` map names to values as logged (JSON types: ``4`` stays an int, nested
    dicts are dotted keys, see ``_params``); ``tags`` map names to strings;
    ``metrics`` holds the latest
    value of each metric (the one with the highest step, then the newest).
    Times are timezone-aware UTC datetimes. ``environment`` maps ``python``,
    ``platform`` and the names of key installed packages to their versions.
    """

    id: str
    name: str
    experiment: str
    status: RunStatus
    start_time: _dt.datetime
    end_time: _dt.datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parent_id: str | None = None
    kind: str = "run"
    user: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: bool | None = None
    git_diff_digest: str | None = field(default=None, repr=False)
    entry_point: str | None = field(default=None, repr=False)
    command: str | None = field(default=None, repr=False)
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    error: str | None = field(default=None, repr=False)
    pid: int | None = field(default=None, repr=False)
    host: str | None = field(default=None, repr=False)
    deleted_at: _dt.datetime | None = field(default=None, repr=False)
    """When the run, or its experiment, was deleted (None while it is not)."""

    @property
    def deleted(self) -> bool:
        """Whether the run is deleted, or belongs to a deleted experiment: hidden from
        ``search_runs`` until it is restored, removed for good by ``loopml gc --force``."""
        return self.deleted_at is not None

    @property
    def uri(self) -> str:
        """``runs:/<id>``, the run's node in the lineage graph."""
        return str(RunURI(self.id))

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while the run has not ended."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    @property
    def is_alive(self) -> bool | None:
        """Whether the process running this run still exists.

        False for an ended run and for a ``RUNNING`` run whose process on this
        host is gone (killed with SIGKILL, a power cut); None when the run
        was started on another host, where this cannot be checked.
        """
        if self.status != RunStatus.RUNNING:
            return False
        if self.pid is None or self.host != socket.gethostname():
            return None
        return _pid_alive(self.pid)

    @property
    def display_status(self) -> str:
        """The status, with ``(process gone)`` added to a RUNNING run whose process died."""
        if self.status == RunStatus.RUNNING and self.is_alive is False:
            return "RUNNING (process gone)"
        return self.status.value


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
