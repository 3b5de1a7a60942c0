"""Migration 0008_rollouts, down and up again, on every backend: the deployments and
their history keep their rows, and the schema at head matches store/schema.py."""

from __future__ import annotations

from typing import Any

import loopml
from loopml.context import current
from loopml.store import schema
from loopml.store.metadata import SCHEMA_HEAD


def _alembic(uri: str, verb: str, revision: str) -> Any:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine, inspect

    from loopml.store.migrations import alembic_config

    engine = create_engine(current().metadata.url.sqlalchemy)
    try:
        with engine.begin() as conn:
            getattr(command, verb)(alembic_config(conn), revision)
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            columns = {c["name"] for c in inspect(conn).get_columns("deployment_history")}
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": False}), schema.metadata
            )
    finally:
        engine.dispose()
    return tables, columns, diff


def test_rollouts_migrate_down_and_up_keeping_deployments(
    backend: str, versions: list[Any]
) -> None:
    loopml.deploy("churn", "models:/churn@prod")
    loopml.promote("churn/2", to="prod", candidate=True)
    loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    loopml.rollback("churn")
    current().metadata.dispose()

    tables, columns, _ = _alembic(backend, "downgrade", "0007_deployments")
    assert "rollouts" not in tables and "rollout_analyses" not in tables
    assert "weight" not in columns and "rollout_id" not in columns
    with current().metadata.read() as conn:
        assert conn.scalar("SELECT count(*) FROM deployment_history") == 3
        assert conn.scalar("SELECT version FROM deployments WHERE name = 'churn'") == 1

    tables, columns, diff = _alembic(backend, "upgrade", "head")
    assert {"rollouts", "rollout_analyses"} <= tables and {"weight", "rollout_id"} <= columns
    assert diff == []
    assert current().metadata.schema_revision() == SCHEMA_HEAD
    assert [c.action for c in loopml.deployments.deployment_history("churn")][-1] == "CREATE"
    assert loopml.get_deployment("churn").rollout_id is None  # the column came back empty
