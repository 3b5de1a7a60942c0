"""Alembic environment: runs on the connection loopml hands it, or on LOOPML_TRACKING_URI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from loopml.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from loopml.config import load_settings
    from loopml.store.urls import parse_database_url

    engine = create_engine(parse_database_url(load_settings().store.tracking_uri).sqlalchemy)
    with engine.begin() as conn:
        _run(conn)
