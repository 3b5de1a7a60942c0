"""Starting, logging to and ending runs.

``start_run`` inserts the run row at once (with git state, command line and
environment, and its params and tags) and returns an :class:`ActiveRun`: a
:class:`~loopml.tracking.Run` you can log to, and a context manager that
ends the run FINISHED, or FAILED with the traceback when the block raises
(KILLED on ``KeyboardInterrupt``). Params and tags are written when they are
logged; metrics go through an in-memory buffer (see ``_buffer``/``_flusher``).

Example::

    with loopml.start_run(experiment="iris", params={"max_depth": 4}) as run:
        for epoch in range(10):
            loopml.log_metric("loss", 1 / (epoch + 1))
        run.set_tag("stage", "baseline")
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loopml.context import Context, current
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.tracking import _artifacts, _params, _repository, _state
from loopml.tracking._buffer import MetricBuffer
from loopml.tracking._capture import GitState, capture
from loopml.tracking._names import random_name
from loopml.tracking._records import END_STATUSES, ArtifactEntry, Run, RunStatus, from_epoch
from loopml.tracking._validate import (
    _good_keys,
    check_experiment_name,
    check_key,
    check_kind,
    check_run_id,
    check_text,
    coerce_step,
    coerce_value,
)
from loopml.uri import redact

if TYPE_CHECKING:
    from loopml.data import DatasetVersion
    from loopml.store.artifacts import ArtifactStore
    from loopml.store.metadata import MetadataStore

__all__ = [
    "ActiveRun",
    "active_run",
    "attach_run",
    "end_run",
    "log_artifact",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_run_tags",
    "set_tag",
    "set_tags",
    "start_run",
]

_MAX_STEP = 2**63 - 1
_FLOATS = frozenset({float})
DEFAULT_EXPERIMENT = "Default"

#: ``on_metric(key, value, step)``: called after a run (or a child run) buffers a value.
MetricObserver = Callable[[str, float, "int | None"], None]


class ActiveRun(Run):
    """A run in progress in this process: log to it, and use it as a context manager.

    ``params``, ``metrics`` (latest values, including those still buffered)
    and ``tags`` show what was logged through this object. Metrics are
    written by a background thread every ``flush_interval`` seconds and when
    the run ends, so a process killed with SIGKILL loses at most the last
    interval's metrics and leaves the run RUNNING with its pid and host.
    """

    def __init__(
        self,
        record: Run,
        *,
        store: MetadataStore,
        artifacts: ArtifactStore,
        flush_interval: float,
        observers: tuple[MetricObserver, ...] = (),
    ) -> None:
        super().__init__(**{f: getattr(record, f) for f in record.__dataclass_fields__})
        self._store = store
        self._artifact_store = artifacts
        self.flush_interval = flush_interval
        self._observers = observers
        self._ended = False
        self._disowned = ""
        self._buffer = MetricBuffer(
            record.id,
            store,
            nan_as_text=store.dialect == "sqlite",
            on_full=self._wake_flusher,
        )
        self.metrics = self._buffer.latest
        self._stack: list[ActiveRun] = []
        self._owner: _state.State = _state.get()

    # a live handle is itself, not its fields: compare and hash by identity
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return (
            f"ActiveRun(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r}, "
            f"status={self.status!r})"
        )

    @property
    def tracking_uri(self) -> str:
        """The URL of the metadata store this run is recorded in."""
        return self._store.uri

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ended:
            return
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error="".join(traceback.format_exception(exc_type, exc, tb)))
        elif isinstance(exc, SystemExit) and exc.code in (0, None):
            self.end(RunStatus.FINISHED)
        else:
            self.end(RunStatus.FAILED, error="".join(traceback.format_exception(exc_type, exc, tb)))

    # -- ending -------------------------------------------------------------------

    def end(
        self, status: RunStatus | str = RunStatus.FINISHED, *, error: str | None = None
    ) -> None:
        """Flush, then record ``status`` (FINISHED, FAILED, KILLED or PRUNED) and the end time.

        Active child runs of this run started in this thread are ended first,
        with the same status. Ending an ended run does nothing.
        """
        status = _end_status(status)
        if self._ended:
            return
        state = self._owner
        stack = self._stack
        if self in stack:
            for child in reversed(stack[stack.index(self) + 1 :]):
                child.end(status)
        self._ended = True  # refuse new values while the last ones are written
        end_time = time.time()
        try:
            state.flusher.flush()
            _repository.finish_run(self._store, self.id, status, end_time, error)
        except BaseException:
            self._ended = False  # still open: ending again (or at exit) retries
            raise
        self.status = status
        self.end_time = from_epoch(end_time)
        self.error = error
        state.flusher.remove(self.id)
        state.discard(self, stack)

    def flush(self) -> None:
        """Write this process's buffered metrics now."""
        self._owner.flusher.flush()

    def _wake_flusher(self) -> None:
        self._owner.flusher.wake()

    def _check_open(self) -> None:
        if self._ended:
            if self._disowned:
                raise Conflict(
                    f"run {self.id} ({self.name}) {self._disowned}, so this process cannot "
                    "log to it; start a run here instead (start_run(parent=...) links them)."
                )
            raise Conflict(
                f"run {self.id} ({self.name}) has ended with status {self.status}; "
                "start a new run to log more."
            )

    def _disown(self, why: str) -> None:
        """Stop this object from logging: its run is owned elsewhere (a forked parent)."""
        self._disowned = why
        self._ended = True

    # -- logging --------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record param ``key`` (it reads back with its JSON type: ``4`` stays an int); a
        different value for a logged key is a Conflict."""
        self.log_params({check_key(key, "param"): value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record several params in one transaction (all or none). Nested mappings become
        dotted keys: ``{"model": {"lr": 0.1}}`` is the param ``model.lr``."""
        self._check_open()
        texts = _params.encode_all(params)
        clashes = [
            (k, self.params[k], _params.decode(t))
            for k, t in texts.items()
            if k in self.params and not _params.same(_params.encode(self.params[k]), t)
        ]
        if clashes:
            raise Conflict(_repository.param_conflict(self.id, clashes))
        _repository.log_params(self._store, self.id, texts)
        self.params.update(_params.decode_all(texts))

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Buffer one metric value (the hot path: a few microseconds, no I/O).

        ``step`` defaults to one more than the highest step this process
        logged for ``key`` (0 for the first). NaN and ±infinity are kept.
        """
        if self._ended:
            self._check_open()
        if type(key) is not str or key not in _good_keys:
            check_key(key, "metric")
        if type(value) is not float:
            value = coerce_value(key, value)
        if step is not None and (type(step) is not int or not -_MAX_STEP <= step <= _MAX_STEP):
            step = coerce_step(step)
        self._buffer.log(key, value, step)
        if self._observers:
            for observe in self._observers:
                observe(key, value, step)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Buffer several metric values at once (all at ``step`` when given)."""
        self._check_open()
        if not isinstance(metrics, Mapping):
            raise InvalidInput(
                f"log_metrics takes a mapping of names to numbers, got {type(metrics).__name__}."
            )
        if step is not None:
            step = coerce_step(step)
        if not _good_keys.issuperset(metrics):
            for key in metrics:
                check_key(key, "metric")
        values: dict[str, float] = metrics if type(metrics) is dict else dict(metrics)
        if not _FLOATS.issuperset(map(type, values.values())):
            values = {k: v if type(v) is float else coerce_value(k, v) for k, v in values.items()}
        self._buffer.log_many(values, step)
        for observe in self._observers:
            for key, value in values.items():
                observe(key, value, step)

    def set_tag(self, key: str, value: Any) -> None:
        """Set tag ``key`` to ``str(value)``, replacing an earlier value."""
        self.set_tags({check_key(key, "tag"): value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags in one transaction."""
        self._check_open()
        values = _stringify(tags, "tag")
        _repository.set_tags(self._store, self.id, values)
        self.tags.update(values)

    def log_artifact(
        self, path: str | Path, artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        """Store a file, or every file under a folder, with the run.

        The file or folder keeps its name and goes under ``artifact_path``:
        ``log_artifact("out/model.pkl", "models")`` stores ``models/model.pkl``,
        ``log_artifact("plots")`` stores ``plots/<each file>``.
        """
        self._check_open()
        return _artifacts.log_path(self._store, self._artifacts(), self.id, path, artifact_path)

    def record_artifacts(
        self,
        entries: list[ArtifactEntry],
        edges: list[tuple[str, str, str]] | None = None,
    ) -> None:
        """Record objects already in the artifact store as artifacts of this run, with
        lineage ``edges`` (``(src, dst, relation)``), in one transaction. Pipelines record
        a step's outputs this way; it may be called on an ended run."""
        for e in entries:
            if e.run_id != self.id:
                raise InvalidInput(f"artifact {e.path!r} belongs to run {e.run_id}, not {self.id}.")
            _artifacts.clean_path(e.path)
        _repository.log_artifacts(self._store, self.id, entries, edges or [])

    def log_dict(self, data: Mapping[str, Any] | list[Any], name: str) -> ArtifactEntry:
        """Store ``data`` as JSON, or as YAML when ``name`` ends in ``.yaml``/``.yml``."""
        self._check_open()
        return _artifacts.log_dict(self._store, self._artifacts(), self.id, data, name)

    def log_figure(self, figure: Any, name: str) -> ArtifactEntry:
        """Store a matplotlib figure as PNG (or as ``name``'s image type), a plotly one as HTML."""
        self._check_open()
        return _artifacts.log_figure(self._store, self._artifacts(), self.id, figure, name)

    def use_dataset(self, uri: str) -> DatasetVersion:
        """Record that this run reads the dataset version ``uri`` and return that version.

        ``data:/name@3`` is version 3, ``data:/name`` the version ``loopml.lock`` pins
        (the newest, with a notice, when the lock pins none) and ``data:/name@latest``
        the newest (see ``loopml.data.resolve_dataset``). The lineage edge
        ``data:/name@N → runs:/<id>`` (relation ``input``) names the version read, so
        ``search_runs("dataset = 'data:/name@N'")`` and ``loopml runs show`` find it.
        """
        self._check_open()
        from loopml.data import get_dataset

        version = get_dataset(uri)
        _repository.add_edge(self._store, version.uri, self.uri, "input")
        return version

    def _artifacts(self) -> ArtifactStore:
        return self._artifact_store


def _stringify(values: Mapping[str, Any], what: str) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise InvalidInput(
            f"{what}s must be given as a mapping of names to values, got {type(values).__name__}."
        )
    return {
        check_key(k, what): check_text(v if isinstance(v, str) else str(v), f"{what} {k!r}")
        for k, v in values.items()
    }


# -- starting -----------------------------------------------------------------------


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    parent: str | Run | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    kind: str = "run",
    tracking_uri: str | None = None,
    activate: bool = True,
    on_metric: MetricObserver | None = None,
) -> ActiveRun:
    """Start a run and make it the active run of this thread.

    Use it as a context manager (the run ends FINISHED, or FAILED with the
    traceback when the block raises) or call :func:`end_run` later; a run
    still open at interpreter exit is ended FINISHED. The experiment is
    created on first use; without one, a child run joins its parent's
    experiment and any other run goes to ``"Default"``. With a run already
    active in this thread, pass ``nested=True`` to start a child run of it,
    or ``parent=`` (a run id or run) to name the parent. ``activate=False``
    opens the run without making it the active run: log through the returned
    object (several such runs can be open side by side, e.g. parallel steps).
    ``on_metric(key, value, step)`` is called after each value this run, or a
    child run started in this process, logs (an exception it raises reaches
    the caller of ``log_metric``; tuning prunes trials this way).

    Example::

        with loopml.start_run("iris", params={"C": 1.0}) as run:
            with loopml.start_run(nested=True, kind="trial") as trial:
                trial.log_metric("f1", 0.91)
    """
    ctx = current()
    state = _state.get()
    if experiment is not None:
        check_experiment_name(experiment)
    check_kind(kind)
    if run_name is not None and (not isinstance(run_name, str) or not 0 < len(run_name) <= 255):
        raise InvalidInput(f"run_name must be a string of 1 to 255 characters, got {run_name!r}.")
    if run_name is not None:
        check_text(run_name, "run_name")
    if on_metric is not None and not callable(on_metric):
        raise InvalidInput(f"on_metric must be a function (key, value, step), got {on_metric!r}.")
    param_texts = _params.encode_all(params or {})
    tag_values = _stringify(tags or {}, "tag")

    store = ctx.metadata_at(tracking_uri)
    found = _parent(state, store, parent, nested)
    parent_id = found[0] if found else None
    if experiment is None:
        experiment = found[1] if found else DEFAULT_EXPERIMENT
    live_parent = found[2] if found else None

    # a child of a run of this process shares its code: reuse its git state
    info = capture(with_git=live_parent is None)
    diff_digest = live_parent.git_diff_digest if live_parent is not None else None
    if live_parent is not None:
        info = replace(
            info,
            git=GitState(live_parent.git_commit, live_parent.git_branch, live_parent.git_dirty),
        )
    elif info.git.diff:
        diff_digest = ctx.artifacts.put_bytes(info.git.diff).digest

    now = time.time()
    record = Run(
        id=uuid.uuid4().hex,
        name=run_name or random_name(),
        experiment=experiment,
        status=RunStatus.RUNNING,
        start_time=from_epoch(now),
        params=_params.decode_all(param_texts),
        tags=dict(tag_values),
        parent_id=parent_id,
        kind=kind,
        user=info.user,
        git_commit=info.git.commit,
        git_branch=info.git.branch,
        git_dirty=info.git.dirty,
        git_diff_digest=diff_digest,
        entry_point=info.entry_point,
        command=info.command,
        environment=dict(info.environment),
        pid=info.pid,
        host=info.host,
    )
    _repository.insert_run(store, record, now, param_texts)
    observers = live_parent._observers if live_parent is not None else ()
    if on_metric is not None:
        observers = (*observers, on_metric)
    run = _open(record, ctx, store, activate=activate, observers=observers)
    _state.install_exit_hooks()
    return run


def _open(
    record: Run,
    ctx: Context,
    store: MetadataStore,
    *,
    activate: bool,
    observers: tuple[MetricObserver, ...] = (),
) -> ActiveRun:
    """A live handle on ``record``, registered with this process's state (and made the
    active run of this thread when ``activate``)."""
    state = _state.get()
    settings = ctx.settings
    run = ActiveRun(
        record,
        store=store,
        artifacts=ctx.artifacts,
        flush_interval=settings.tracking.flush_interval,
        observers=observers,
    )
    run._owner = state
    if activate:
        run._stack = state.activate(run)
    else:
        state.add(run)
    state.flusher.add(run._buffer, settings.tracking.flush_interval)
    return run


@contextmanager
def attach_run(run_id: str, *, tracking_uri: str | None = None) -> Iterator[ActiveRun]:
    """Make an open run, started by another process, the active run of this thread for
    the block; what is logged is flushed when the block ends, and the run stays open
    (its owner ends it). A pipeline step running on a Ray worker logs this way."""
    ctx = current()
    state = _state.get()
    store = ctx.metadata_at(tracking_uri)
    run = _open(_repository.get_run(store, run_id), ctx, store, activate=True)
    try:
        yield run
    finally:
        try:
            state.flusher.flush()
        finally:
            state.flusher.remove(run.id)
            state.discard(run, run._stack)


def _parent(
    state: _state.State, store: MetadataStore, parent: str | Run | None, nested: bool
) -> tuple[str, str, ActiveRun | None] | None:
    """The id and experiment of the parent of a new run (and the parent itself when it
    is open in this process), or None for a top-level run."""
    if parent is not None:
        text = parent.id if isinstance(parent, Run) else check_run_id(parent)
        live = state.open.get(text)
        if live is not None:
            _same_store(live, store)
            return live.id, live.experiment, live
        if isinstance(parent, Run):
            return parent.id, parent.experiment, None
        full, experiment = _repository.experiment_of(store, text)
        live = state.open.get(full)
        return full, experiment, live
    if nested:
        current_run = _state.current_run()
        if current_run is None:
            raise NotFound(
                "nested=True needs an active run to be the parent, and there is none. "
                "Start the parent run first, or pass parent=<run id>."
            )
        _same_store(current_run, store)
        return current_run.id, current_run.experiment, current_run
    own = context_stack()
    if own:
        raise Conflict(
            f"run {own[-1].id} ({own[-1].name}) is already active in this thread. "
            "Pass nested=True to start a child run of it, or end it first with loopml.end_run()."
        )
    return None


def _same_store(parent: ActiveRun, store: MetadataStore) -> None:
    if parent._store.uri != store.uri:
        raise InvalidInput(
            f"run {parent.id} ({parent.name}) is recorded in {redact(parent._store.uri)}, "
            f"and a child run must be recorded in the same store, not in "
            f"{redact(store.uri)}. Start the child with the client (or settings) of its parent."
        )


def context_stack() -> list[ActiveRun]:
    """The runs this thread made active, oldest first."""
    from loopml.context import active_runs

    stack: list[ActiveRun] = active_runs().own_stack()
    return stack


def _end_status(status: RunStatus | str) -> RunStatus:
    try:
        found = RunStatus(status)
    except ValueError:
        found = None
    if found not in END_STATUSES:
        names = ", ".join(s.value for s in END_STATUSES)
        raise InvalidInput(f"a run ends with one of {names}, got {status!r}.")
    assert found is not None
    return found


# -- the active run -----------------------------------------------------------------------


def active_run() -> ActiveRun | None:
    """The active run of this thread (else of the main thread), or None."""
    return _state.current_run()


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the run this thread started last (flushing its metrics); no-op when there is none."""
    stack = context_stack()
    if stack:
        stack[-1].end(status)
    else:
        _end_status(status)


def _require_active(what: str) -> ActiveRun:
    run = _state.current_run()
    if run is None:
        raise NotFound(
            f"no active run to {what}: start one first, e.g. "
            "'with loopml.start_run(experiment=\"my-exp\"):'."
        )
    return run


def log_param(key: str, value: Any) -> None:
    """Record a param of the active run (read back with its JSON type); changing a logged
    value is a Conflict."""
    _require_active(f"log param {key!r} to").log_params({key: value})


def log_params(params: Mapping[str, Any]) -> None:
    """Record several params of the active run."""
    _require_active("log params to").log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Log a metric value to the active run (buffered; see :meth:`ActiveRun.log_metric`)."""
    run = _state.current_run()
    if run is None:
        run = _require_active(f"log metric {key!r} to")
    run.log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Log several metric values to the active run."""
    _require_active("log metrics to").log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run."""
    _require_active(f"set tag {key!r} on").set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags of the active run."""
    _require_active("set tags on").set_tags(tags)


def log_artifact(path: str | Path, artifact_path: str | None = None) -> list[ArtifactEntry]:
    """Store a file or folder with the active run (see :meth:`ActiveRun.log_artifact`)."""
    return _require_active("log an artifact to").log_artifact(path, artifact_path)


def log_dict(data: Mapping[str, Any] | list[Any], name: str) -> ArtifactEntry:
    """Store a dict as a JSON (or YAML) artifact of the active run."""
    return _require_active("log a dict to").log_dict(data, name)


def log_figure(figure: Any, name: str) -> ArtifactEntry:
    """Store a matplotlib or plotly figure as an artifact of the active run."""
    return _require_active("log a figure to").log_figure(figure, name)


def set_run_tags(run_id: str, tags: Mapping[str, Any], *, tracking_uri: str | None = None) -> None:
    """Set tags of any run by id, open or ended (a run of this process that is still open
    shows them too). Example: ``set_run_tags(best.id, {"stage": "candidate"})``."""
    check_run_id(run_id)
    values = _stringify(tags, "tag")
    state = _state.get()
    live = state.open.get(run_id)
    if live is not None:
        live.set_tags(values)
        return
    store = current().metadata_at(tracking_uri)
    full = _repository.get_run(store, run_id).id
    _repository.set_tags(store, full, values)
