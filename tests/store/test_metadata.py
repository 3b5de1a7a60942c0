from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from loopml.errors import InvalidInput, MissingExtra, SchemaTooNew
from loopml.store import schema
from loopml.store.metadata import SCHEMA_HEAD, MetadataStore, get_metadata_store


def test_new_database_is_migrated_to_head_on_first_use(backend: str) -> None:
    store = get_metadata_store(backend)
    assert store.schema_revision() == SCHEMA_HEAD
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(schema.runs)).scalar() == 0


def test_sqlite_runs_in_wal_mode_with_busy_timeout(project: Path) -> None:
    store = get_metadata_store(f"sqlite:///{project / 'm.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_database_newer_than_the_code_is_refused(project: Path) -> None:
    path = project / "m.db"
    MetadataStore(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(SchemaTooNew, match="9999_future.*Upgrade loopml"):
        MetadataStore(f"sqlite:///{path}")


def test_write_is_atomic_when_the_callback_fails(backend: str) -> None:
    store = get_metadata_store(backend)

    def fails(conn) -> None:  # type: ignore[no-untyped-def]
        conn.execute(insert(schema.experiments), [{"name": "x", "created_at": 1.0}])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write(fails)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(schema.experiments)).scalar() == 0


def test_upsert_updates_only_where_condition_holds(backend: str) -> None:
    store = get_metadata_store(backend)
    store.write(lambda c: c.execute(insert(schema.experiments), [{"name": "e", "created_at": 1.0}]))
    store.write(
        lambda c: c.execute(
            insert(schema.runs),
            [
                {
                    "id": "a" * 32,
                    "experiment_id": 1,
                    "name": "r",
                    "status": "RUNNING",
                    "start_time": 1.0,
                }
            ],
        )
    )
    row = {"run_id": "a" * 32, "key": "loss", "value": 1.0, "step": 5, "timestamp": 1.0}

    def newer(table, excluded):  # type: ignore[no-untyped-def]
        return excluded.step >= table.c.step

    for value, step in ((1.0, 5), (2.0, 3), (3.0, 7)):
        store.write(
            lambda c, v=value, s=step: store.upsert(
                c,
                schema.latest_metrics,
                [{**row, "value": v, "step": s}],
                keys=("run_id", "key"),
                update=("value", "step", "timestamp"),
                where=newer,
            )
        )
    with store.read() as conn:
        got = conn.execute(
            select(schema.latest_metrics.c.value, schema.latest_metrics.c.step)
        ).one()
    assert tuple(got) == (3.0, 7)


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

    store = get_metadata_store(backend)
    with store.read() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, schema.metadata)
    assert diff == []


def test_head_constant_matches_the_migration_scripts() -> None:
    from alembic.script import ScriptDirectory

    from loopml.store.migrations import alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_db_upgrade_is_idempotent(backend: str) -> None:
    store = get_metadata_store(backend)
    assert store.upgrade() == SCHEMA_HEAD
    assert store.upgrade() == SCHEMA_HEAD
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
