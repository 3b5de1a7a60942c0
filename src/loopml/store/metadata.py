"""The metadata store: one SQLAlchemy engine per database and process.

SQLite (the default) runs with WAL, ``synchronous=NORMAL`` and a busy
timeout; write transactions start with ``BEGIN IMMEDIATE`` so two writers
queue instead of dead-locking on a lock upgrade, and a transaction that still
meets "database is locked" is retried with jittered backoff. Each connection
may cache up to 64 MiB of pages (SQLite's default is 2 MiB, less than the
runs table of a store with a few thousand runs, so every search would read
it again from the file); the cache only grows as pages are read. PostgreSQL
(``postgresql://...``, the ``postgres`` extra) is used through psycopg 3.

Migrations are applied on first use: a database at the current schema costs
one ``SELECT``; an older one is upgraded by alembic under a lock; a newer one
is refused with :class:`~loopml.errors.SchemaTooNew`.

Example::

    store = get_metadata_store("sqlite:///.loopml/loopml.db")
    with store.read() as conn:
        conn.execute(select(schema.runs.c.id)).all()
    store.write(lambda conn: conn.execute(insert(schema.tags), rows))
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from loopml.errors import InvalidInput, MissingExtra, SchemaTooNew, StoreError

__all__ = [
    "KNOWN_REVISIONS",
    "SCHEMA_HEAD",
    "MetadataStore",
    "get_metadata_store",
]

T = TypeVar("T")

#: Every alembic revision this code knows, oldest first; the last is the head.
KNOWN_REVISIONS = ("0001_initial", "0002_pipelines", "0003_tuning")
SCHEMA_HEAD = KNOWN_REVISIONS[-1]

_RETRY_SECONDS = 60.0
_SQLITE_BUSY_MS = 10_000
_SQLITE_CACHE_KIB = 64 * 1024


class MetadataStore:
    """Connections and transactions on one metadata database."""

    def __init__(self, uri: str, *, migrate: bool = True) -> None:
        self.uri = uri
        self.engine = _create_engine(uri)
        self.dialect = self.engine.dialect.name
        self._upserts: dict[tuple[Table, tuple[str, ...], tuple[str, ...]], Any] = {}
        self._write_engine = (
            self.engine.execution_options(loopml_immediate=True)
            if self.dialect == "sqlite"
            else self.engine
        )
        if migrate:
            self._ensure_schema()

    def __repr__(self) -> str:
        return f"MetadataStore({_redact(self.uri)!r})"

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads (a deferred transaction, rolled back at the end)."""
        with self.engine.connect() as conn:
            yield conn

    def write(self, fn: Callable[[Connection], T], *, retries: bool = True) -> T:
        """Run ``fn(conn)`` in one write transaction, retried while the database is busy.

        ``fn`` may run more than once, so it must not have side effects
        outside the database.
        """
        deadline = time.monotonic() + _RETRY_SECONDS
        attempt = 0
        while True:
            try:
                with self._write_engine.begin() as conn:
                    return fn(conn)
            except (OperationalError, DBAPIError) as exc:
                if not retries or not _is_transient(exc):
                    raise
                attempt += 1
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"the metadata database {_redact(self.uri)} stayed busy for "
                        f"{_RETRY_SECONDS:.0f} s ({attempt} attempts). Another process holds "
                        "a long write; retry later or use PostgreSQL for heavy concurrency."
                    ) from exc
                time.sleep(min(0.5, 0.005 * 2 ** min(attempt, 7)) * (0.5 + random.random()))

    def upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        keys: Sequence[str],
        update: Sequence[str] = (),
        where: Any = None,
    ) -> None:
        """Insert ``rows``; on a clash of ``keys`` update ``update`` columns (or do nothing).

        ``where``, given the inserted row as ``excluded``, limits which clashes update:
        a callable ``where(table, excluded) -> clause``.
        """
        if not rows:
            return
        if where is None:
            # the same statement object each time: SQLAlchemy then finds its compiled
            # form by a cache key it computed once
            cache_key = (table, tuple(keys), tuple(update))
            stmt = self._upserts.get(cache_key)
            if stmt is None:
                stmt = self._upserts[cache_key] = self._upsert_statement(table, keys, update)
        else:
            stmt = self._upsert_statement(table, keys, update, where)
        conn.execute(stmt, list(rows))

    def _upsert_statement(
        self, table: Table, keys: Sequence[str], update: Sequence[str], where: Any = None
    ) -> Any:
        dialect_insert: Any
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        elif self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:  # pragma: no cover - only the two dialects above are supported
            raise StoreError(f"upsert is not supported on {self.dialect}")
        stmt = dialect_insert(table)
        if update:
            return stmt.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: stmt.excluded[c] for c in update},
                where=where(table, stmt.excluded) if where is not None else None,
            )
        return stmt.on_conflict_do_nothing(index_elements=list(keys))

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema -----------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The alembic revision the database is at, or None for an empty database."""
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except (OperationalError, ProgrammingError):
                return None

    def upgrade(self) -> str:
        """Bring the database to the newest schema; returns the revision it is at."""
        with self._migration_lock() as conn:
            current = _revision_on(conn)
            _check_not_newer(current, self.uri)
            if current != SCHEMA_HEAD:
                from loopml.store.migrations import upgrade_connection

                upgrade_connection(conn)
        return SCHEMA_HEAD

    def _ensure_schema(self) -> None:
        current = self.schema_revision()
        if current == SCHEMA_HEAD:
            return
        _check_not_newer(current, self.uri)
        self.upgrade()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self.dialect == "sqlite":
            path = _sqlite_path(self.uri)
            lock_path = Path(f"{path}.migrate.lock") if path else None
            with contextlib.ExitStack() as stack:
                if lock_path is not None:
                    import fcntl

                    fh = stack.enter_context(open(lock_path, "a+b"))
                    fcntl.flock(fh, fcntl.LOCK_EX)
                with self.engine.begin() as conn:
                    yield conn
        else:
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(7265610)"))
                yield conn


def _revision_on(conn: Connection) -> str | None:
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def _check_not_newer(revision: str | None, uri: str) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise SchemaTooNew(
            f"the metadata database {_redact(uri)} is at schema revision {revision!r}, "
            f"newer than this loopml knows (newest: {SCHEMA_HEAD!r}). "
            "Upgrade loopml (pip install -U loopml) to use it."
        )


def _is_transient(exc: BaseException) -> bool:
    message = str(getattr(exc, "orig", exc)).lower()
    if "database is locked" in message or "database is busy" in message:
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in {"40001", "40P01"}  # serialization failure, deadlock


def _redact(uri: str) -> str:
    """The URI without a password."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        return f"{scheme}://{creds}@{host}"
    return uri


def _sqlite_path(uri: str) -> str | None:
    rest = uri.split(":///", 1)[1] if ":///" in uri else ""
    rest = rest.split("?", 1)[0]
    return None if rest in ("", ":memory:") else rest


def _create_engine(uri: str) -> Engine:
    if uri.startswith("sqlite:"):
        path = _sqlite_path(uri)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(uri, connect_args={"timeout": _SQLITE_BUSY_MS / 1000})
        _install_sqlite_hooks(engine)
        return engine
    if uri.startswith(("postgresql:", "postgres:", "postgresql+psycopg:")):
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise MissingExtra("a PostgreSQL metadata store", "postgres", "psycopg") from exc
        rest = uri.split("://", 1)[1]
        return create_engine(f"postgresql+psycopg://{rest}", pool_pre_ping=True)
    raise InvalidInput(
        f"unsupported tracking URI {_redact(uri)!r}: expected 'sqlite:///path/to.db' "
        "or 'postgresql://user@host/db'."
    )


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("loopml_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_stores: dict[str, MetadataStore] = {}
_stores_pid = os.getpid()
_stores_lock = threading.Lock()


def get_metadata_store(uri: str | None = None) -> MetadataStore:
    """The process-wide store for ``uri`` (default: the configured tracking URI)."""
    global _stores_pid
    if uri is None:
        from loopml.config import get_settings

        uri = get_settings().tracking_uri
    with _stores_lock:
        if os.getpid() != _stores_pid:  # forked: connections must not be shared
            for store in _stores.values():
                store.engine.dispose(close=False)
            _stores.clear()
            _stores_pid = os.getpid()
        found = _stores.get(uri)
        if found is None:
            found = _stores[uri] = MetadataStore(uri)
        return found


def reset_stores() -> None:
    """Dispose every cached engine (tests and ``configure`` use this)."""
    with _stores_lock:
        for store in _stores.values():
            store.dispose()
        _stores.clear()
