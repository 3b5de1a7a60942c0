from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from loopml.context import current
from loopml.errors import Conflict, InvalidInput, MissingExtra, SchemaTooNew
from loopml.store import schema
from loopml.store.metadata import KNOWN_REVISIONS, SCHEMA_HEAD, Connection, MetadataStore


def _store(uri: str) -> MetadataStore:
    """The context's store at ``uri``, made and migrated (a first write does that; a
    read alone leaves a missing SQLite file missing)."""
    store = current().metadata_at(uri)
    store.write(lambda conn: None)
    return store


def test_new_database_is_migrated_to_head_on_first_use(backend: str) -> None:
    store = _store(backend)
    assert store is current().metadata
    assert store.schema_revision() == SCHEMA_HEAD == KNOWN_REVISIONS[-1]
    with store.read() as conn:
        assert conn.scalar("SELECT count(*) FROM runs") == 0


def test_sqlite_runs_in_wal_mode_with_busy_timeout(project: Path) -> None:
    store = _store(f"sqlite:///{project / 'm.db'}")
    with store.read() as conn:
        assert conn.scalar("PRAGMA journal_mode") == "wal"
        assert conn.scalar("PRAGMA busy_timeout") >= 5000
        assert conn.scalar("PRAGMA foreign_keys") == 1
        assert conn.scalar("PRAGMA synchronous") == 1  # NORMAL


def test_database_newer_than_the_code_is_refused(project: Path) -> None:
    path = project / "m.db"
    MetadataStore(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(SchemaTooNew, match="9999_future.*Upgrade loopml"):
        MetadataStore(f"sqlite:///{path}")


def test_write_is_atomic_when_the_callback_fails(backend: str) -> None:
    store = _store(backend)

    def fails(conn: Connection) -> None:
        conn.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("x", 1.0))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(fails)
    with store.read() as conn:
        assert conn.scalar("SELECT count(*) FROM experiments") == 0


def _experiment_and_run(store: MetadataStore) -> None:
    def insert(conn: Connection) -> None:
        conn.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("e", 1.0))
        conn.execute(
            "INSERT INTO runs (id, experiment_id, name, status, start_time) "
            "VALUES (?, (SELECT id FROM experiments WHERE name = ?), ?, ?, ?)",
            ("a" * 32, "e", "r", "RUNNING", 1.0),
        )

    store.write(insert)


def test_upsert_updates_only_where_condition_holds(backend: str) -> None:
    store = _store(backend)
    _experiment_and_run(store)
    row = {"run_id": "a" * 32, "key": "loss", "value": 1.0, "step": 5, "timestamp": 1.0}

    for value, step in ((1.0, 5), (2.0, 3), (3.0, 7)):
        store.write(
            lambda c, v=value, s=step: c.upsert(
                "latest_metrics",
                [{**row, "value": v, "step": s}],
                keys=("run_id", "key"),
                update=("value", "step", "timestamp"),
                where="excluded.step >= latest_metrics.step",
            )
        )
    with store.read() as conn:
        got = conn.all("SELECT value, step FROM latest_metrics")
    assert [tuple(r) for r in got] == [(3.0, 7)]


def test_upsert_without_update_columns_keeps_the_first_row(backend: str) -> None:
    store = _store(backend)
    _experiment_and_run(store)
    for value in ("first", "second"):
        store.write(
            lambda c, v=value: c.upsert(
                "tags", [{"run_id": "a" * 32, "key": "k", "value": v}], keys=("run_id", "key")
            )
        )
    with store.read() as conn:
        assert conn.column("SELECT value FROM tags") == ["first"]


def test_sql_helpers_and_placeholders_work_alike_on_every_backend(backend: str) -> None:
    store = _store(backend)

    def insert(conn: Connection) -> None:
        conn.executemany(
            "INSERT INTO experiments (name, created_at) VALUES (?, ?)",
            [("a%b", 1.0), ("c", 2.0), ("d", 3.0)],
        )

    store.write(insert)
    with store.read() as conn:
        assert conn.dialect == ("sqlite" if backend.startswith("sqlite") else "postgresql")
        assert conn.raw is not None
        assert conn.column("SELECT name FROM experiments WHERE name LIKE 'a%' ORDER BY name") == [
            "a%b"
        ]
        assert conn.all("SELECT name, created_at FROM experiments ORDER BY name") == [
            ("a%b", 1.0),
            ("c", 2.0),
            ("d", 3.0),
        ]
        assert conn.first("SELECT name FROM experiments WHERE created_at > ?", (5.0,)) is None
        assert conn.first("SELECT name FROM experiments WHERE name = ?", ("c",)) == ("c",)
        assert conn.scalar("SELECT name FROM experiments WHERE name = ?", ("nope",)) is None
        test, param = conn.in_list(["a%b", "d", "zz"])
        assert conn.column(
            f"SELECT name FROM experiments WHERE name {test} ORDER BY name", (param,)
        ) == [
            "a%b",
            "d",
        ]
        cur = conn.execute("SELECT count(*) FROM experiments WHERE created_at >= ?", (2.0,))
        assert cur.fetchall()[0][0] == 2


def test_a_unique_key_clash_is_a_conflict(backend: str) -> None:
    store = _store(backend)

    def insert(conn: Connection) -> None:
        conn.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("x", 1.0))

    store.write(insert)
    with pytest.raises(Conflict, match="Retry the operation"):
        store.write(insert)
    with store.read() as conn:
        assert conn.scalar("SELECT count(*) FROM experiments") == 1


def test_a_transaction_that_meets_a_locked_database_is_retried(project: Path) -> None:
    store = _store(f"sqlite:///{project / 'm.db'}")
    calls: list[str] = []

    def flaky(name: str) -> Callable[[Connection], str]:
        def write(conn: Connection) -> str:
            calls.append(name)
            conn.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", (name, 1.0))
            if len(calls) < 3:
                raise sqlite3.OperationalError("database is locked")
            return "done"

        return write

    assert store.write(flaky("x")) == "done"
    assert calls == ["x", "x", "x"]
    with store.read() as conn:
        assert conn.scalar("SELECT count(*) FROM experiments") == 1  # failed tries rolled back

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.write(flaky("y"), retries=False)
    assert calls == ["y"]
    with store.read() as conn:
        assert conn.column("SELECT name FROM experiments") == ["x"]


def test_a_writer_waits_for_another_process_holding_the_write_lock(project: Path) -> None:
    import threading
    import time

    path = project / "m.db"
    store = _store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO experiments (name, created_at) VALUES ('held', 1.0)")
    timer = threading.Timer(0.3, other.execute, ("COMMIT",))
    timer.start()
    started = time.monotonic()
    store.write(
        lambda c: c.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("w", 2.0))
    )
    assert time.monotonic() - started >= 0.2
    timer.join()
    other.close()
    with store.read() as conn:
        assert conn.column("SELECT name FROM experiments ORDER BY name") == ["held", "w"]


def _migrate_concurrently(uri: str) -> str:
    from loopml.store.metadata import MetadataStore

    return MetadataStore(uri).schema_revision() or ""


def test_concurrent_first_use_migrates_once_without_errors(project: Path) -> None:
    uri = f"sqlite:///{project / 'race.db'}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        revisions = pool.map(_migrate_concurrently, [uri] * 4)
    assert revisions == [SCHEMA_HEAD] * 4


def test_unknown_tracking_uri_scheme_is_a_clear_error(project: Path) -> None:
    with pytest.raises(InvalidInput, match="unsupported tracking URI 'mysql://"):
        MetadataStore("mysql://u@h/db")


def test_postgres_uri_without_the_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_psycopg(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "psycopg":
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    with pytest.raises(MissingExtra, match=r"pip install 'loopml\[postgres\]'"):
        MetadataStore("postgresql://postgres@127.0.0.1/test")


def test_password_is_not_shown_in_errors() -> None:
    with pytest.raises(InvalidInput) as info:
        MetadataStore("mysql://user:s3cret@host/db")
    assert "s3cret" not in str(info.value)


def test_migrations_create_exactly_the_tables_in_schema(backend: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    store = _store(backend)  # migrated on first use
    engine = create_engine(store.url.sqlalchemy)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, schema.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    from loopml.store.migrations import alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_db_upgrade_is_idempotent(backend: str) -> None:
    store = _store(backend)
    assert store.upgrade() == SCHEMA_HEAD
    assert store.upgrade() == SCHEMA_HEAD
    with store.read() as conn:
        assert conn.scalar("SELECT count(*) FROM alembic_version") == 1


def test_sdk_reports_and_upgrades_the_schema_revision(backend: str, project: Path) -> None:
    import loopml
    from loopml.context import schema_revision

    fresh = f"sqlite:///{project / 'fresh.db'}"
    assert schema_revision(fresh) is None  # nothing is migrated by asking
    assert schema_revision(fresh) is None
    assert loopml.upgrade_schema(fresh) == SCHEMA_HEAD
    assert schema_revision(fresh) == SCHEMA_HEAD
    assert loopml.upgrade_schema() == SCHEMA_HEAD
    assert schema_revision() == SCHEMA_HEAD


def test_many_threads_and_processes_opening_a_new_database_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from loopml.store.metadata import SCHEMA_HEAD, MetadataStore

    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    code = (
        "import sys\nfrom loopml.store.metadata import MetadataStore\n"
        "s = MetadataStore(sys.argv[1])\nprint(s.schema_revision())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    with ThreadPoolExecutor(max_workers=6) as pool:
        revisions = list(pool.map(lambda _: MetadataStore(uri).schema_revision(), range(6)))
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert revisions == [SCHEMA_HEAD] * 6
    assert outs == [SCHEMA_HEAD] * 3 and all(p.returncode == 0 for p in procs)


def _fork_child_writes(uri: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import time

    started = time.monotonic()
    store = MetadataStore(uri)
    store.write(
        lambda c: c.execute(
            "INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("kid", 1.0)
        )
    )
    out.put(time.monotonic() - started)


def test_a_child_forked_during_a_write_of_the_parent_can_write(project: Path) -> None:
    import threading
    import time

    uri = f"sqlite:///{project / 'fork.db'}"
    store = MetadataStore(uri)
    writing = threading.Event()

    def long_write(conn: Connection) -> None:
        conn.execute("INSERT INTO experiments (name, created_at) VALUES (?, ?)", ("mom", 1.0))
        writing.set()
        time.sleep(1.0)

    holder = threading.Thread(target=lambda: store.write(long_write))
    holder.start()
    writing.wait(5)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_fork_child_writes, args=(uri, out))
    child.start()  # waits for the parent's write to end before forking
    child.join(60)
    holder.join()
    assert child.exitcode == 0
    assert out.get(timeout=1) < 20
    with store.read() as conn:
        assert sorted(conn.column("SELECT name FROM experiments")) == ["kid", "mom"]


def test_a_database_file_removed_while_in_use_is_made_anew(project: Path) -> None:
    path = project / "gone.db"
    store = MetadataStore(f"sqlite:///{path}")
    store.write(lambda c: c.execute("INSERT INTO experiments (name, created_at) VALUES ('a', 1)"))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store.write(lambda c: c.execute("INSERT INTO experiments (name, created_at) VALUES ('b', 1)"))
    with store.read() as conn:
        assert conn.column("SELECT name FROM experiments") == ["b"]
    with sqlite3.connect(path) as other:  # what any other process now sees
        assert [r[0] for r in other.execute("SELECT name FROM experiments")] == ["b"]


def test_an_in_memory_database_works(project: Path) -> None:
    store = MetadataStore("sqlite:///:memory:")
    store.write(lambda c: c.execute("INSERT INTO experiments (name, created_at) VALUES ('m', 1)"))
    with store.read() as conn:
        assert conn.column("SELECT name FROM experiments") == ["m"]
    assert store.schema_revision() == SCHEMA_HEAD


def test_two_new_databases_migrated_from_two_threads_at_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    uris = [f"sqlite:///{tmp_path / f'db{i}.db'}" for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        revisions = list(pool.map(lambda u: MetadataStore(u).schema_revision(), uris))
    assert revisions == [SCHEMA_HEAD] * 6


def test_an_unopenable_database_is_a_clear_store_error(tmp_path: Path) -> None:
    from loopml.errors import StoreError

    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "x.db").mkdir()  # a folder where the file should be
    with pytest.raises(StoreError, match="cannot open the metadata database"):
        MetadataStore(f"sqlite:///{folder / 'x.db'}")


def test_connections_the_server_dropped_are_replaced(project: Path) -> None:
    from tests.conftest import PG_ENV, postgres_schema_url, require_service

    for uri in postgres_schema_url(require_service(PG_ENV, "PostgreSQL")):
        _dropped_connections_are_replaced(uri)


def _dropped_connections_are_replaced(backend: str) -> None:
    import psycopg

    store = _store(backend)
    for _ in range(3):  # several pooled connections
        with store.read() as conn:
            conn.scalar("SELECT 1")
    held = [store._checkout()[0] for _ in range(3)]
    pids = [raw.info.backend_pid for raw in held]
    for raw in held:
        store._release(raw)
    base = backend.split("?")[0]
    with psycopg.connect(base, autocommit=True) as admin:
        for pid in pids:  # as a server restart would
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    import time

    time.sleep(0.2)
    store.write(lambda c: c.execute("INSERT INTO experiments (name, created_at) VALUES ('x', 1)"))
    with store.read() as conn:
        assert conn.column("SELECT name FROM experiments") == ["x"]
