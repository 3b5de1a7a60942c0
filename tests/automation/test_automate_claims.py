"""One event, one retrain: claiming an event is an INSERT only one process wins, on
every backend; and the schema of automation migrates down and up."""

from __future__ import annotations

import threading
import time
from typing import Any

import loopml
from loopml.automation import _repository as repo
from loopml.context import current
from loopml.store import schema
from loopml.store.metadata import SCHEMA_HEAD


def test_of_many_threads_claiming_one_event_exactly_one_wins(backend: str) -> None:
    meta = current().metadata
    meta.upgrade()
    start = threading.Barrier(6)
    won: list[Any] = []

    def claim(n: int) -> None:
        start.wait()
        got = repo.claim(
            meta,
            "fresh",
            "data:/churn@4",
            cause="data:/churn@4",
            dataset=None,
            owner=f"p{n}",
            lease_until=time.time() + 60,
        )
        won.append(got)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [w for w in won if w is not None]
    assert len(won) == 6 and len(winners) == 1
    assert winners[0].status == "RUNNING"
    assert [e.owner for e in repo.events_of(meta, "fresh")] == [winners[0].owner]
    # another trigger may fire on the same dataset version
    other = repo.claim(
        meta, "other", "data:/churn@4", cause=None, dataset=None, owner="p", lease_until=0.0
    )
    assert other is not None


def test_the_first_process_to_see_a_trigger_sets_its_baseline(backend: str) -> None:
    meta = current().metadata
    meta.upgrade()
    assert repo.set_baseline(meta, "fresh", "dataset:churn", 3.0, None) == 3.0
    assert repo.set_baseline(meta, "fresh", "dataset:churn", 5.0, None) == 3.0  # lost the race
    # a changed spec moves it, once
    assert repo.set_baseline(meta, "fresh", "dataset:other", 7.0, "dataset:churn") == 7.0
    assert repo.set_baseline(meta, "fresh", "dataset:other", 9.0, "dataset:churn") == 7.0


def test_automation_migrates_down_and_up_on_every_backend(backend: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, inspect

    from loopml.store.migrations import alembic_config

    meta = current().metadata
    meta.upgrade()
    repo.claim(meta, "fresh", "data:/churn@4", cause=None, dataset=None, owner="p", lease_until=0.0)
    meta.dispose()
    engine = create_engine(meta.url.sqlalchemy)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0010_automation")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("trigger_events")}
        assert "lease_until" not in columns and "attempts" not in columns
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        (kept,) = loopml.automation.list_events()  # an event claimed before leases existed
        assert (kept.attempts, kept.lease_until, kept.taken_from) == (1, None, None)
        current().metadata.dispose()
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0009_monitoring")
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        assert "trigger_events" not in tables and "triggers" not in tables
        assert "alerts" in tables
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": False}), schema.metadata
            )
    finally:
        engine.dispose()
    assert diff == []
    assert current().metadata.schema_revision() == SCHEMA_HEAD == "0012_automation_rollouts"
    assert loopml.automation.list_events() == []
