"""The context loopml works in: settings, stores and registries, and which one is current.

A :class:`Context` owns the typed :class:`~loopml.config.Settings`, the
metadata and artifact stores they point at (opened on first use), and the
registries users extend (materializers, executors, artifact backends).
:class:`loopml.Client` is a Context with every SDK verb as a method.

Module-level functions (``loopml.start_run``, ``loopml.get_dataset``...) run
in the *current* context: the client whose method is running (a context
variable, so threads and asyncio tasks of a server each see their own), or
else the process's default context. The default follows the working
directory and the environment (``cd`` into another project and it uses that
project's ``loopml.toml``); :func:`configure` sets explicit values on it.

Two things are the process's by nature and live here too, because every
package needs them and tracking, which fills them, sits beside the others
rather than below them: which run each thread has active
(:class:`ActiveRuns`), and nothing else.

Example::

    client = loopml.Client("path/to/project", tracking_uri="postgresql://...")
    client.settings.store.tracking_uri
    with client.start_run(experiment="iris") as run: ...
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loopml import _validate
from loopml.config import (
    CONFIG_FILE,
    ENV,
    STATE_DIR,
    STATE_GITIGNORE,
    Settings,
    is_project,
    load_settings,
    resolve_tracking_uri,
)
from loopml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from loopml.store.artifacts import ArtifactStore
    from loopml.store.copy import MigrationReport
    from loopml.store.metadata import MetadataStore
    from loopml.store.refs import GcReport

__all__ = [
    "ActiveRuns",
    "Context",
    "RunHandle",
    "active_runs",
    "configure",
    "current",
    "default",
    "ensure_state_dir",
    "gc",
    "migrate_metadata",
    "on_reset",
    "reset",
    "schema_revision",
    "upgrade_schema",
    "using",
]

_STORES_KEPT = 8


class Context:
    """Settings, stores and registries for one project (or one set of explicit settings).

    ``project_root`` fixes the project (its ``loopml.toml`` is read); without
    it, the project is found from the working directory at construction.
    Keyword arguments win over the environment and ``loopml.toml``.

    Registries, each a plain dict users may read or add to:
    ``materializers`` (type → :class:`~loopml.pipelines.Materializer`, tried
    before the built-in ones), ``executors`` (name → factory ``(address,
    context) -> Executor``), ``artifact_backends`` (URL scheme → factory
    ``(url) -> ArtifactStore``), ``flavors`` (model flavor name → its
    ``"module:attribute"`` path, tried before the built-in ones).
    """

    def __init__(
        self,
        project_root: str | os.PathLike[str] | None = None,
        *,
        tracking_uri: str | None = None,
        artifact_uri: str | None = None,
        data_remote: str | None = None,
        flush_interval: float | None = None,
        executor: str | None = None,
        _follow_cwd: bool = False,
    ) -> None:
        self._explicit: dict[str, Any] = {}
        self._root: Path | None = None  # None: found from the working directory each time
        self._lock = threading.RLock()
        self._settings: tuple[tuple[Any, ...], Settings, Any] | None = None
        self._metadata: OrderedDict[str, MetadataStore] = OrderedDict()
        self._artifacts: OrderedDict[str, ArtifactStore] = OrderedDict()
        self.materializers: dict[type, Any] = {}
        self.executors: dict[str, Callable[..., Any]] = {}
        self.artifact_backends: dict[str, Callable[[str], ArtifactStore]] = {}
        self.flavors: dict[str, str] = {}
        self.configure(
            project_root=project_root,
            tracking_uri=tracking_uri,
            artifact_uri=artifact_uri,
            data_remote=data_remote,
            flush_interval=flush_interval,
            executor=executor,
        )
        if not _follow_cwd and self._root is None:
            self._root = self.settings.project_root

    def __repr__(self) -> str:
        s = self.settings
        return f"{type(self).__name__}({str(s.project_root)!r}, tracking_uri={_shown(s.tracking_uri)!r})"

    # -- settings ---------------------------------------------------------------------

    def configure(
        self,
        *,
        project_root: str | os.PathLike[str] | None = None,
        tracking_uri: str | None = None,
        artifact_uri: str | None = None,
        data_remote: str | None = None,
        flush_interval: float | None = None,
        executor: str | None = None,
    ) -> Settings:
        """Set explicit settings (they win over the environment and ``loopml.toml``);
        returns the settings now in force. Arguments left as None are unchanged."""
        with self._lock:
            if project_root is not None:
                self._root = _resolved_root(project_root)
            for name, value in (
                ("tracking_uri", tracking_uri),
                ("artifact_uri", artifact_uri),
                ("data_remote", data_remote),
                ("flush_interval", flush_interval),
                ("executor", executor),
            ):
                if value is not None:
                    if name != "flush_interval":
                        _validate.text(value, name)
                    self._explicit[name] = value
            self._settings = None
        return self.settings

    @property
    def settings(self) -> Settings:
        """The settings in force (re-read when the environment or ``loopml.toml`` changes,
        and for the default context when the working directory changes)."""
        key = self._settings_key()
        cached = self._settings
        if cached is not None and cached[0] == key:
            settings = cached[1]
            if cached[2] == _stat(settings.project_root):
                return settings
        settings = load_settings(self._root, self._explicit)
        self._settings = (key, settings, _stat(settings.project_root))
        return settings

    def _settings_key(self) -> tuple[Any, ...]:
        """What the settings depend on besides ``loopml.toml`` itself."""
        env = tuple(os.environ.get(v) for v in ENV.values())
        if self._root is None:
            return (os.getcwd(), os.environ.get("LOOPML_PROJECT_DIR"), env)
        return (None, None, env)

    # -- stores -----------------------------------------------------------------------

    @property
    def metadata(self) -> MetadataStore:
        """The metadata store at ``settings.store.tracking_uri`` (opened on first use)."""
        return self.metadata_at(self.settings.store.tracking_uri)

    @property
    def artifacts(self) -> ArtifactStore:
        """The artifact store at ``settings.store.artifact_uri``."""
        return self.artifacts_at(self.settings.store.artifact_uri)

    def metadata_at(self, uri: str | None) -> MetadataStore:
        """The metadata store at ``uri`` (relative SQLite paths resolve against the
        project root); the configured one for None."""
        if uri is None:
            return self.metadata
        _validate.text(uri, "tracking_uri")
        resolved = resolve_tracking_uri(uri, self.settings.project_root)
        with self._lock:  # opening may migrate: once, whichever thread comes first
            store = self._metadata.get(resolved)
            if store is not None:
                self._metadata.move_to_end(resolved)
                return store
            store = self._metadata[resolved] = self._open_metadata(resolved)
            _trim(self._metadata)
        return store

    def _open_metadata(self, resolved: str, *, migrate: bool = True) -> MetadataStore:
        """The store at ``resolved``: a SQLite file is made by the first write, never by a
        read (see :meth:`check_project`), and a new ``.loopml/`` gets its ``.gitignore``."""
        from loopml.store.metadata import MetadataStore

        def on_missing() -> None:
            self.check_project(resolved)

        def on_create() -> None:
            settings = self.settings
            path = Path(resolved[len("sqlite:///") :])
            if path.parent == settings.state_dir:
                ensure_state_dir(settings.project_root)

        return MetadataStore(
            resolved, migrate=migrate, lazy=True, on_missing=on_missing, on_create=on_create
        )

    def check_project(self, tracking_uri: str | None = None) -> None:
        """Raise :class:`~loopml.errors.NotFound` when there is nothing to read: the
        project root is no loopml project (no ``loopml.toml``, no ``.loopml/``) and the
        metadata database (``tracking_uri``, default: the configured one) is a SQLite file
        that does not exist. Read-only verbs call it (through the store) instead of
        creating state; inside a project a missing database reads as empty."""
        settings = self.settings
        root = settings.project_root
        if is_project(root):
            return
        uri = tracking_uri or settings.store.tracking_uri
        if not uri.startswith("sqlite:///"):
            return
        path = uri[len("sqlite:///") :]
        if path in ("", ":memory:") or os.path.exists(path):
            return
        if Path(path) == root / STATE_DIR / "loopml.db":
            raise NotFound(
                f"{root} is not a loopml project (run `loopml init`, or set LOOPML_TRACKING_URI)."
            )
        raise NotFound(
            f"no metadata database at {path}, and {root} is not a loopml project: nothing "
            "was recorded there. Check the tracking URI, or run `loopml init`."
        )

    def artifacts_at(self, uri: str) -> ArtifactStore:
        """The artifact store at ``uri`` (a folder or any URL a backend is registered for)."""
        with self._lock:
            store = self._artifacts.get(uri)
            if store is not None:
                self._artifacts.move_to_end(uri)
                return store
        from loopml.store.artifacts import open_artifact_store

        store = open_artifact_store(uri, self.artifact_backends)
        with self._lock:
            store = self._artifacts.setdefault(uri, store)
            _trim(self._artifacts)
        return store

    def close(self) -> None:
        """Close idle database connections; the context stays usable (they reopen)."""
        with self._lock:
            stores = list(self._metadata.values())
            self._metadata.clear()
            self._artifacts.clear()
        for store in stores:
            store.dispose()


def ensure_state_dir(root: Path) -> Path:
    """``root/.loopml``, made if missing, with the ``.gitignore`` that keeps it out of git
    (as ``loopml init`` writes it); returns the folder."""
    import tempfile

    state = root / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():  # written whole beside it, then renamed into place
        fd, tmp = tempfile.mkstemp(prefix=".gitignore.", suffix=".tmp", dir=state)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(STATE_GITIGNORE)
            os.replace(tmp, ignore)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return state


def _resolved_root(value: Any) -> Path:
    """A project root given by the caller, as an absolute path."""
    root = _validate.path(value, "project_root")
    try:
        return root.expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # a link loop, a name the OS refuses
        raise InvalidInput(
            f"project_root {str(root)!r} cannot be resolved ({exc}); pass an existing folder."
        ) from None


def _stat(root: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(root / CONFIG_FILE)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _trim(stores: OrderedDict[str, Any]) -> None:
    while len(stores) > _STORES_KEPT:
        stores.popitem(last=False)


def _shown(uri: str) -> str:
    from loopml.uri import redact

    return redact(uri)


# -- which context is current ------------------------------------------------------------

_current: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "loopml_context", default=None
)
_default: Context | None = None
_default_lock = threading.Lock()


def default() -> Context:
    """The process's default context: it follows the working directory and environment."""
    global _default
    found = _default
    if found is None:
        with _default_lock:
            found = _default
            if found is None:
                found = _default = Context(_follow_cwd=True)
    return found


def current() -> Context:
    """The context module-level functions use: the client whose method is running, else
    the default context."""
    found = _current.get()
    return found if found is not None else default()


@contextlib.contextmanager
def using(ctx: Context) -> Iterator[Context]:
    """Make ``ctx`` the current context for the block (in this thread or task)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def configure(
    *,
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
    data_remote: str | None = None,
    project_root: str | os.PathLike[str] | None = None,
    flush_interval: float | None = None,
    executor: str | None = None,
) -> Settings:
    """Set settings of the current context that win over the environment and ``loopml.toml``.

    Example::

        loopml.configure(tracking_uri="postgresql://postgres@127.0.0.1/test")
    """
    return current().configure(
        project_root=project_root,
        tracking_uri=tracking_uri,
        artifact_uri=artifact_uri,
        data_remote=data_remote,
        flush_interval=flush_interval,
        executor=executor,
    )


_reset_hooks: list[Callable[[], None]] = []


def on_reset(hook: Callable[[], None]) -> None:
    """Call ``hook`` from :func:`reset` (tracking forgets its open runs this way)."""
    if hook not in _reset_hooks:
        _reset_hooks.append(hook)


def reset() -> None:
    """Forget the default context (its explicit settings, stores and registrations), every
    thread's active runs, and what packages keep per process (open runs, buffered
    metrics): a process as new, for tests. Nothing is written."""
    global _default, _active_runs
    for hook in list(_reset_hooks):
        hook()
    with _default_lock:
        old, _default = _default, None
    _active_runs = ActiveRuns()
    if old is not None:
        old.close()


# -- store maintenance -----------------------------------------------------------------


def gc(*, dry_run: bool = True, grace_seconds: float = 3600.0) -> GcReport:
    """Remove for good the runs, experiments and datasets users deleted, then the stored
    objects that no dataset version, run, cache entry or (later) model references; with
    ``dry_run`` (the default) only report them. Every object of a
    dataset version, and of each version ``loopml.lock`` pins (a fresh clone's
    pulled data has no version recorded), is kept.

    Safe while other processes write: objects younger than ``grace_seconds`` are
    kept. Example::

        report = loopml.gc(dry_run=False)
        report.removed_bytes
    """
    from loopml._lazy import load
    from loopml.store.refs import collect_garbage

    grace_seconds = _validate.seconds(grace_seconds, "grace_seconds")
    ctx = current()
    # what packages keep beyond references, asked through the URI registry by its path
    # (this row cannot import the packages above it)
    live_objects = load("loopml.lineage._registry:live_objects")
    purged = load("loopml.lineage._registry:purge_deleted")(ctx, dry_run)
    report = collect_garbage(
        ctx.metadata,
        ctx.artifacts,
        dry_run=dry_run,
        grace_seconds=float(grace_seconds),
        live=lambda: live_objects(ctx),
        ignore_owners=purged if dry_run else (),
    )
    report.purged = purged
    return report


def migrate_metadata(to_url: str, *, progress: bool | None = None) -> MigrationReport:
    """Copy this project's metadata (every table) into the empty PostgreSQL database at
    ``to_url``, in one transaction checked by each table's row count; a target that is
    not empty is refused (:class:`~loopml.errors.Conflict`) and a failure leaves it empty.
    Then point ``tracking_uri`` at it. ``progress`` shows a bar on stderr (default: on a
    terminal).

    Example::

        report = loopml.migrate_metadata("postgresql://loopml@db-host/loopml")
        report.rows["runs"]
    """
    from loopml.store.copy import copy_metadata

    _validate.text(to_url, "to_url")
    ctx = current()
    ctx.check_project()
    source = ctx.metadata
    if not source.exists:
        raise NotFound(
            f"there is no metadata to migrate: {_shown(source.uri)} has not been written yet."
        )
    return copy_metadata(source, to_url, progress=progress)


def upgrade_schema(tracking_uri: str | None = None) -> str:
    """Apply pending migrations to the metadata database (they also run on first use);
    returns the schema revision it is at."""
    return _unmigrated(tracking_uri).upgrade()


def schema_revision(tracking_uri: str | None = None) -> str | None:
    """The schema revision of the metadata database, or None for an empty one (nothing is
    migrated)."""
    return _unmigrated(tracking_uri).schema_revision()


def _unmigrated(tracking_uri: str | None) -> MetadataStore:
    """The store at ``tracking_uri`` (default: the current one's), opened without migrating."""
    ctx = current()
    settings = ctx.settings
    if tracking_uri is None:
        return ctx._open_metadata(settings.store.tracking_uri, migrate=False)
    return ctx._open_metadata(
        resolve_tracking_uri(tracking_uri, settings.project_root), migrate=False
    )


# -- the active run of each thread ----------------------------------------------------------


class RunHandle(Protocol):
    """What other packages may know of an active run: its id, URI and tracking store."""

    @property
    def id(self) -> str: ...

    @property
    def uri(self) -> str: ...

    @property
    def tracking_uri(self) -> str: ...


class ActiveRuns:
    """Per thread, the stack of runs it has made active; a thread that has started none
    sees the main thread's (so a helper thread logs to the run of the code that started it).

    Tracking pushes and pops runs; anyone may ask :meth:`current` (adding a dataset
    inside a run records the run that made it)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.main_ident = threading.main_thread().ident
        self.main_stack: list[Any] = []

    def own_stack(self) -> list[Any]:
        """The stack of runs the current thread made active."""
        if threading.get_ident() == self.main_ident:
            return self.main_stack
        stack: list[Any] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def current(self) -> Any | None:
        """The active run of this thread, else of the main thread, else None (an object
        with the :class:`RunHandle` attributes)."""
        if threading.get_ident() != self.main_ident:
            stack = getattr(self._local, "stack", None)
            if stack:
                return stack[-1]
        stack = self.main_stack
        return stack[-1] if stack else None


_active_runs = ActiveRuns()


def active_runs() -> ActiveRuns:
    """This process's :class:`ActiveRuns`."""
    return _active_runs


def _after_fork_in_child() -> None:
    global _active_runs
    _active_runs = ActiveRuns()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
