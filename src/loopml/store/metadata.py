"""The metadata store: transactions on the database's own driver (sqlite3 or psycopg).

Queries are plain SQL written with ``?`` placeholders in each package's
repository module; this module runs them on the DBAPI connection, so a
command that only reads and writes rows never imports SQLAlchemy (about a
third of a cached ``loopml run``). SQLAlchemy and alembic are imported only
to migrate a database that is not at the newest schema (see
``store/schema.py`` and ``store/migrations``).

SQLite (the default) runs with WAL, ``synchronous=NORMAL`` and a busy
timeout; write transactions start with ``BEGIN IMMEDIATE`` so two writers
queue instead of dead-locking on a lock upgrade, and a transaction that still
meets "database is locked" is retried with jittered backoff. Each connection
may cache up to 64 MiB of pages. PostgreSQL (``postgresql://...``, the
``postgres`` extra) is used through psycopg 3; a serialization failure or a
deadlock is retried the same way.

Migrations are applied on first use: a database at the current schema costs
one ``SELECT``; an older one is upgraded by alembic under a lock; a newer one
is refused with :class:`~loopml.errors.SchemaTooNew`.

Example::

    store = MetadataStore("sqlite:///.loopml/loopml.db")
    with store.read() as conn:
        conn.all("SELECT id, name FROM runs WHERE status = ?", ("FINISHED",))
    store.write(lambda conn: conn.execute("UPDATE runs SET name = ? WHERE id = ?", (n, rid)))
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from loopml.errors import (
    Conflict,
    InvalidInput,
    MissingExtra,
    NotFound,
    SchemaTooNew,
    StoreError,
)
from loopml.store.urls import DatabaseURL, parse_database_url
from loopml.uri import scrub

__all__ = [
    "KNOWN_REVISIONS",
    "SCHEMA_HEAD",
    "Connection",
    "MetadataStore",
    "unknown_name",
    "upsert_sql",
]

T = TypeVar("T")

#: Every alembic revision this code knows, oldest first; the last is the head.
KNOWN_REVISIONS = (
    "0001_initial",
    "0002_pipelines",
    "0003_tuning",
    "0004_soft_delete",
    "0005_registry",
    "0006_evaluation",
    "0007_deployments",
    "0008_rollouts",
    "0009_monitoring",
    "0010_automation",
    "0011_automation_leases",
    "0012_automation_rollouts",
)
SCHEMA_HEAD = KNOWN_REVISIONS[-1]

_RETRY_SECONDS = 60.0
_SQLITE_BUSY_MS = 10_000
_SQLITE_CACHE_KIB = 64 * 1024
_MAX_IDLE = 8
_FORK_WAIT_SECONDS = 10.0
_TRANSLATED_MAX = 2048


class Connection:
    """One database connection inside a transaction.

    SQL is written with ``?`` placeholders; on PostgreSQL they become ``%s``
    (and a literal ``%`` becomes ``%%``), once per statement text.
    ``dialect`` is ``"sqlite"`` or ``"postgresql"``; ``raw`` is the driver's
    connection, for the few fast paths that need its cursor options.
    """

    __slots__ = ("_translate", "dialect", "raw")

    def __init__(self, raw: Any, dialect: str, translate: Callable[[str], str]) -> None:
        self.raw = raw
        self.dialect = dialect
        self._translate = translate

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the driver's cursor (``fetchall``, ``rowcount``...)."""
        cur = self.raw.cursor()
        cur.execute(self._translate(sql), params)
        return cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        if rows:
            cur = self.raw.cursor()
            try:
                cur.executemany(self._translate(sql), rows)
            finally:
                cur.close()

    def all(
        self, sql: str, params: Sequence[Any] = (), *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """Every row of a query, as tuples. ``binary`` asks PostgreSQL for its binary
        format, which spares parsing numbers from text on large results."""
        binary = binary and self.dialect == "postgresql"
        cur = self.raw.cursor(binary=True) if binary else self.raw.cursor()
        try:
            cur.execute(self._translate(sql), params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def first(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        cur = self.execute(sql, params)
        try:
            row = cur.fetchone()
            return tuple(row) if row is not None else None
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        row = self.first(sql, params)
        return row[0] if row is not None else None

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self.all(sql, params)]

    def upsert(
        self,
        table: str,
        rows: Sequence[Mapping[str, Any]],
        keys: Sequence[str],
        update: Sequence[str] = (),
        where: str | None = None,
    ) -> None:
        """Insert ``rows``; on a clash of ``keys`` update the ``update`` columns (or do nothing).

        ``where`` limits which clashes update: SQL over ``excluded.<col>`` and
        ``<table>.<col>``. Every row must have the same columns. The statement is the
        same on both databases (``INSERT ... ON CONFLICT``).
        """
        if not rows:
            return
        columns = tuple(rows[0])
        sql = upsert_sql(table, columns, tuple(keys), tuple(update), where)
        self.executemany(sql, [tuple(row[c] for c in columns) for row in rows])

    def in_list(self, values: Sequence[Any]) -> tuple[str, Any]:
        """``("IN (...)", param)``: a membership test against ``values`` with one parameter,
        whatever their number (a JSON array on SQLite, an array on PostgreSQL)."""
        if self.dialect == "postgresql":
            return "= ANY(?)", list(values)
        import orjson

        return "IN (SELECT value FROM json_each(?))", orjson.dumps(list(values)).decode()


class MetadataStore:
    """Connections and transactions on one metadata database."""

    def __init__(
        self,
        uri: str,
        *,
        migrate: bool = True,
        lazy: bool = False,
        on_missing: Callable[[], None] | None = None,
        on_create: Callable[[], None] | None = None,
    ) -> None:
        """``lazy``: a SQLite file that does not exist yet is created by the first write
        (``on_create`` runs just before), not by opening the store or reading it; until
        then a read calls ``on_missing`` (which may raise, e.g. outside a project) and
        then sees an empty database at the newest schema, so reads never leave a file
        or folder behind."""
        self.url: DatabaseURL = parse_database_url(uri)
        self.uri = uri
        self.dialect = self.url.dialect
        self._connect = (
            _sqlite_connector(self.url) if self.dialect == "sqlite" else _pg_connector(self.url)
        )
        self._translate = _identity if self.dialect == "sqlite" else _PgTranslator()
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._memory = self.dialect == "sqlite" and self.url.database is None
        self._file = self.url.database if self.dialect == "sqlite" else None
        self._identity: tuple[int, int] | None = None  # the SQLite file the pool has open
        self._memory_lock = threading.RLock()
        self._migrate = migrate
        self._on_missing = on_missing
        self._on_create = on_create
        self._pending = lazy and self._file is not None and not os.path.exists(self._file)
        self._create_lock = threading.RLock()
        self._creating = False
        if migrate and not self._pending:
            self._ensure_schema()

    def __repr__(self) -> str:
        return f"MetadataStore({self.url.redacted!r})"

    # -- connections ----------------------------------------------------------------

    @property
    def exists(self) -> bool:
        """Whether the database is there (a lazily created SQLite file may not be yet)."""
        return not self._settle(create=False)

    def _settle(self, *, create: bool) -> bool:
        """For a lazy store: whether its SQLite file is still missing (a read then sees
        an empty database). Once the file is there (made by another process, or here
        when ``create``: ``on_create`` first) it is migrated, while other threads wait,
        and the store is an ordinary one from then on."""
        if not self._pending:
            return False
        assert self._file is not None
        with self._create_lock:
            if not self._pending or self._creating:  # done, or this thread is doing it
                return False
            there = os.path.exists(self._file)
            if not there and not create:
                return True
            self._creating = True
            try:
                if not there and self._on_create is not None:
                    self._on_create()
                if self._migrate:
                    self._ensure_schema()
                else:
                    with self._connection(write=True):
                        pass  # makes the file (and its folder)
                self._pending = False
            finally:
                self._creating = False
        return False

    @contextlib.contextmanager
    def _connection(self, *, write: bool = False) -> Iterator[Any]:
        """A connection of this process's pool for the duration of the block (for a read
        of a lazy store whose file is still missing: one to an empty database)."""
        if self._settle(create=write):
            if self._on_missing is not None:
                self._on_missing()
            with _empty_store()._connection() as raw:
                yield raw
            return
        if self._memory:  # one shared connection: each new one would be another database
            with self._memory_lock:
                if not self._idle:
                    self._idle.append(self._connect())
                yield self._idle[0]
            return
        raw, recreated = self._checkout()
        if recreated and self._migrate:
            self._release(raw)
            self._ensure_schema()
            raw, _ = self._checkout()
        try:
            yield raw
        except Exception as exc:
            with contextlib.suppress(Exception):
                raw.rollback()
            self._release(raw)
            if self._file is not None and _classify(exc) == "damaged":
                raise _damaged(self._file, f"is damaged ({_first_line(exc)})") from None
            raise
        except BaseException:  # interrupted mid-statement: the connection's state is unknown
            with contextlib.suppress(Exception):
                raw.close()
            raise
        else:
            self._release(raw)

    def _checkout(self) -> tuple[Any, bool]:
        """An idle connection that is still good, or a new one; and whether the SQLite file
        is not the one the pool had open (removed and made anew while this process ran)."""
        stale: list[Any] = []
        recreated = False
        raw = None
        with self._lock:
            if os.getpid() != self._pid:  # forked: the parent's connections are not ours
                self._idle = []
                self._pid = os.getpid()
            if self._file is not None:
                identity = _file_identity(self._file)
                if identity != self._identity:
                    recreated = self._identity is not None
                    stale, self._idle = self._idle, []
                    self._identity = None
            while self._idle and raw is None:
                candidate = self._idle.pop()
                if _alive(candidate):
                    raw = candidate
                else:
                    stale.append(candidate)
        for old in stale:
            with contextlib.suppress(Exception):
                old.close()
        if raw is None:
            raw = self._connect()
            if self._file is not None:
                with self._lock:
                    self._identity = _file_identity(self._file)
        return raw, recreated

    def _release(self, raw: Any) -> None:
        with self._lock:
            if os.getpid() == self._pid and len(self._idle) < _MAX_IDLE and not _broken(raw):
                self._idle.append(raw)
                return
        with contextlib.suppress(Exception):
            raw.close()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads, in one transaction (a snapshot on SQLite), rolled back after."""
        with self._connection() as raw:
            if self.dialect == "sqlite":
                raw.execute("BEGIN")
            try:
                yield Connection(raw, self.dialect, self._translate)
            finally:
                raw.rollback()

    def write(self, fn: Callable[[Connection], T], *, retries: bool = True) -> T:
        """Run ``fn(conn)`` in one write transaction, retried while the database is busy
        (and once on a fresh connection when the server dropped a pooled one).

        ``fn`` may run more than once, so it must not have side effects
        outside the database. A unique-key clash is raised as
        :class:`~loopml.errors.Conflict`.
        """
        deadline = time.monotonic() + _RETRY_SECONDS
        attempt = 0
        reconnected = False
        while True:
            try:
                with _writes, self._connection(write=True) as raw:
                    if self.dialect == "sqlite":
                        raw.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(Connection(raw, self.dialect, self._translate))
                    except BaseException:
                        raw.rollback()
                        raise
                    raw.commit()
                    return result
            except Exception as exc:
                kind = _classify(exc)
                if kind == "conflict":
                    raise Conflict(
                        f"the write clashed with a row stored meanwhile ({_first_line(exc)}). "
                        "Retry the operation."
                    ) from exc
                if kind == "lost" and not reconnected:
                    reconnected = True
                    self.dispose()
                    continue
                if kind == "lost":
                    raise StoreError(
                        f"lost the connection to the metadata database {self.url.redacted}: "
                        f"{_first_line(exc)}. Check that the server is up, then retry."
                    ) from exc
                if kind != "transient" or not retries:
                    raise
                attempt += 1
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"the metadata database {self.url.redacted} stayed busy for "
                        f"{_RETRY_SECONDS:.0f} s ({attempt} attempts). Another process holds "
                        "a long write; retry later or use PostgreSQL for heavy concurrency."
                    ) from exc
                time.sleep(min(0.5, 0.005 * 2 ** min(attempt, 7)) * (0.5 + random.random()))

    def dispose(self) -> None:
        """Close the idle connections (connections in use close when released)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for raw in idle:
            with contextlib.suppress(Exception):
                raw.close()

    # -- schema -----------------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The alembic revision the database is at, or None for an empty database (or a
        lazy store's file that is not there yet: ``on_missing`` is called)."""
        if self._settle(create=False):
            if self._on_missing is not None:
                self._on_missing()
            return None
        with self._connection() as raw:
            try:
                cur = raw.cursor()
                cur.execute("SELECT version_num FROM alembic_version")
                row = cur.fetchone()
                return str(row[0]) if row else None
            except Exception as exc:
                if _classify(exc) != "missing-table":
                    raise
                return None
            finally:
                raw.rollback()

    def upgrade(self) -> str:
        """Bring the database to the newest schema; returns the revision it is at."""
        from loopml.store.migrations import migrate

        self._settle(create=True)
        with self._migration_lock():
            current = self.schema_revision()
            _check_not_newer(current, self.url.redacted)
            if current != SCHEMA_HEAD:
                if self._memory:  # the migration must run on the one shared connection
                    with self._connection() as raw:
                        migrate(self.url, connection=raw)
                else:
                    migrate(self.url)
        return SCHEMA_HEAD

    def _ensure_schema(self) -> None:
        current = self.schema_revision()
        if current == SCHEMA_HEAD:
            return
        _check_not_newer(current, self.url.redacted)
        self.upgrade()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """One migrating process at a time: a file lock beside a SQLite file; on PostgreSQL
        the migration's own transaction takes an advisory lock (see ``migrations``)."""
        if self._file is None:
            yield
            return
        from filelock import FileLock

        with FileLock(f"{self._file}.migrate.lock"):
            yield


class _WriteGate:
    """Write transactions in flight in this process, and a gate ``fork`` closes.

    A child forked while a SQLite write transaction is open inherits SQLite's
    record of that lock and waits for it forever; so ``os.fork`` first waits
    (up to a few seconds) for the writes in flight to end, and no new one
    starts until it is done.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False
        self._owner: int | None = None

    def __enter__(self) -> None:
        with self._cond:
            while self._closed and self._owner != threading.get_ident():
                self._cond.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._active -= 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._owner = threading.get_ident()
            self._cond.wait_for(lambda: self._active == 0, timeout=_FORK_WAIT_SECONDS)

    def open(self) -> None:
        with self._cond:
            self._closed = False
            self._owner = None
            self._cond.notify_all()

    def reset(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False
        self._owner = None


_writes = _WriteGate()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_writes.close, after_in_parent=_writes.open, after_in_child=_writes.reset
    )


_empty: MetadataStore | None = None
_empty_lock = threading.Lock()


def _empty_store() -> MetadataStore:
    """An in-memory database at the newest schema with nothing in it: what a read of a
    lazy store sees before its file exists (reads roll back, so it stays empty)."""
    global _empty
    with _empty_lock:
        if _empty is None:
            _empty = MetadataStore("sqlite:///:memory:")
        return _empty


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _alive(raw: Any) -> bool:
    """Whether a pooled connection can still be used: not closed, and (PostgreSQL) the
    server has not dropped it (an idle connection's socket has nothing to read unless the
    server closed it or sent an error)."""
    if _broken(raw):
        return False
    fileno = getattr(raw, "fileno", None)
    if fileno is None or not hasattr(raw, "pgconn"):
        return True
    import select

    try:
        readable, _, _ = select.select([fileno()], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


@functools.lru_cache(maxsize=256)
def upsert_sql(
    table: str,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...] = (),
    where: str | None = None,
) -> str:
    """``INSERT ... ON CONFLICT ... DO UPDATE/NOTHING`` for these columns (built once)."""
    marks = ", ".join("?" * len(columns))
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
    conflict = f"ON CONFLICT ({', '.join(keys)}) "
    if update:
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        tail = f"DO UPDATE SET {sets}" + (f" WHERE {where}" if where else "")
    else:
        tail = "DO NOTHING"
    return head + conflict + tail


def unknown_name(conn: Connection, table: str, noun: str, name: str, hint: str) -> NotFound:
    """NotFound for ``name``, which no row of ``table`` (rows named by a ``name`` column)
    holds: "no <noun> 'x'; <table>: a, b" listing up to five names there are (or
    "there are no <table> yet"), then ``hint``, the command that makes one."""
    known = conn.column(f"SELECT name FROM {table} ORDER BY name LIMIT 5")
    return NotFound(
        f"no {noun} {name!r}; "
        + (f"{table}: {', '.join(known)}" if known else f"there are no {table} yet")
        + f". {hint}"
    )


class _PgTranslator:
    """``?`` → ``%s`` (and ``%`` → ``%%``) for psycopg, remembered per statement text."""

    def __init__(self) -> None:
        self._done: dict[str, str] = {}

    def __call__(self, sql: str) -> str:
        out = self._done.get(sql)
        if out is None:
            out = sql.replace("%", "%%").replace("?", "%s")
            if len(self._done) < _TRANSLATED_MAX:
                self._done[sql] = out
        return out


def _identity(sql: str) -> str:
    return sql


def _sqlite_connector(url: DatabaseURL) -> Callable[[], Any]:
    import sqlite3

    target = url.database or ":memory:"

    def connect() -> Any:
        if target != ":memory:":
            _check_sqlite_file(target)
            if not os.path.exists(target):
                try:
                    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                except OSError as exc:
                    raise StoreError(
                        f"cannot create the folder of the metadata database {target}: "
                        f"{exc.strerror}. Check the path, or point LOOPML_TRACKING_URI elsewhere."
                    ) from None
                _create_sqlite_file(target)
        try:
            conn = sqlite3.connect(
                target,
                timeout=_SQLITE_BUSY_MS / 1000,
                isolation_level=None,  # transactions are begun explicitly
                check_same_thread=False,  # a pooled connection serves one thread at a time
            )
            conn.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            if _classify(exc) == "transient":
                raise
            if _classify(exc) == "damaged":
                raise _damaged(target, f"is damaged ({_first_line(exc)})") from None
            raise StoreError(
                f"cannot open the metadata database {target}: {exc}. SQLite needs to read and "
                "write the file and create files beside it (WAL): check the folder exists "
                "and is writable, or point LOOPML_TRACKING_URI elsewhere."
            ) from None
        return conn

    return connect


_SQLITE_MAGIC = b"SQLite format 3\x00"
_GROWING_WAIT = 1.0


def _check_sqlite_file(path: str) -> None:
    """Refuse a file SQLite would misread rather than report: an empty one (it would
    silently become a new, empty database), one that is not SQLite, and one shorter than
    its header says (SQLite may then see a database without its tables, and loopml would
    create them anew) unless a WAL beside it may hold the rest. A file that looks short
    is read again for a while: another process's checkpoint may be growing it."""
    deadline = time.monotonic() + _GROWING_WAIT
    while True:
        try:
            with open(path, "rb") as fh:
                header = fh.read(100)
                size = os.fstat(fh.fileno()).st_size
        except OSError:  # missing (made below), or unreadable (SQLite says why)
            return
        if size == 0:
            raise _damaged(path, "is empty (0 bytes)")
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise _damaged(path, f"is not a SQLite database ({size} bytes of something else)")
        page_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(header[28:32], "big")
        valid = pages > 0 and header[24:28] == header[92:96]  # SQLite's own rule
        if not valid or pages * page_size <= size or _has_wal(path):
            return  # (a WAL may hold the missing pages, after a crash mid-checkpoint)
        if time.monotonic() > deadline:
            raise _damaged(
                path, f"is truncated: {size} bytes where its header announces {pages * page_size}"
            )
        time.sleep(0.05)


def _has_wal(path: str) -> bool:
    try:
        return os.path.getsize(f"{path}-wal") > 0
    except OSError:
        return False


def _create_sqlite_file(path: str) -> None:
    """Make a new, empty database at ``path`` in one step (built beside it, then linked into
    place), so no process ever sees it half made: an empty file is refused as damaged."""
    import sqlite3

    tmp = f"{path}.{os.getpid()}-{threading.get_ident()}.new"
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # writes the header: a database now
        finally:
            conn.close()
        os.link(tmp, path)
    except FileExistsError:  # another process made it first
        pass
    except (OSError, sqlite3.Error):  # no hard links here: SQLite creates it on connect
        pass
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(tmp + suffix)


def _damaged(path: str, what: str) -> StoreError:
    return StoreError(
        f"the metadata database {path} {what}. loopml does not replace it: restore it from a "
        f"backup, or move it aside to start afresh with an empty one (mv '{path}' "
        f"'{path}.damaged')."
    )


def _use_wal(conn: Any) -> None:
    """Put the database in WAL mode (once: the mode is kept in the file). Switching takes
    an exclusive lock the busy timeout does not wait for, so a new database opened by
    several connections at once retries the switch for a while."""
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    attempt = 0
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:
            if _classify(exc) != "transient" or time.monotonic() > deadline:
                raise
            attempt += 1
            time.sleep(min(0.2, 0.002 * 2 ** min(attempt, 7)) * (0.5 + random.random()))


def _pg_connector(url: DatabaseURL) -> Callable[[], Any]:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingExtra("a PostgreSQL metadata store", "postgres", "psycopg") from exc
    conninfo = url.libpq

    def connect() -> Any:
        try:
            return psycopg.connect(conninfo, autocommit=False)
        except psycopg.Error as exc:
            # libpq quotes the URL it could not parse, password included: never shown
            reason = _first_line(exc) if isinstance(exc, psycopg.OperationalError) else ""
            raise StoreError(
                f"cannot connect to the metadata database {url.redacted}"
                + (f": {scrub(reason, url.text)}" if reason else " (a malformed URL)")
                + ". Check that PostgreSQL is running and the URL is right (percent-encode "
                "special characters in the password)."
            ) from None

    return connect


def _broken(raw: Any) -> bool:
    return bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def _classify(exc: BaseException) -> str:
    """``transient`` (retry), ``lost`` (the server dropped the connection), ``conflict`` (a
    unique key clash), ``missing-table``, ``damaged`` (a SQLite file that is not a sound
    database) or ``other``."""
    name = type(exc).__name__
    message = str(exc).lower()
    state = getattr(exc, "sqlstate", None) or ""
    if "database is locked" in message or "database is busy" in message:
        return "transient"
    if state in {"40001", "40P01"}:  # serialization failure, deadlock
        return "transient"
    if (
        state.startswith("08")
        or state in {"57P01", "57P02", "57P03"}
        or (
            name == "OperationalError"
            and any(w in message for w in ("connection is lost", "server closed the connection"))
        )
    ):
        return "lost"
    if name in ("IntegrityError", "UniqueViolation") and ("unique" in message or state == "23505"):
        return "conflict"
    if "no such table" in message or state == "42P01":
        return "missing-table"
    if type(exc).__module__ == "sqlite3" and any(
        w in message for w in ("malformed", "not a database", "disk i/o error")
    ):
        return "damaged"
    return "other"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_not_newer(revision: str | None, where: str) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise SchemaTooNew(
            f"the metadata database {where} is at schema revision {revision!r}, "
            f"newer than this loopml knows (newest: {SCHEMA_HEAD!r}). "
            "Upgrade loopml (pip install -U loopml) to use it."
        )


def open_metadata_store(uri: str) -> MetadataStore:
    """The store at ``uri``; an unsupported URL is :class:`~loopml.errors.InvalidInput`."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput(f"expected a database URL such as 'sqlite:///loopml.db', got {uri!r}.")
    return MetadataStore(uri)
