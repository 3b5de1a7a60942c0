"""Alembic migrations of the metadata schema.

Applied on first use by :class:`loopml.store.metadata.MetadataStore` and by
``loopml db upgrade``; the only code that imports SQLAlchemy and alembic. To
add a revision: change ``store/schema.py``, run ``alembic -c
src/loopml/store/migrations/alembic.ini revision -m "what"`` (with
``LOOPML_TRACKING_URI`` pointing at a database at the current head), write
its ``upgrade()``, and append its id to ``KNOWN_REVISIONS`` in
``store/metadata.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config

    from loopml.store.urls import DatabaseURL

HERE = Path(__file__).parent
_PG_MIGRATION_LOCK = 7265610
_SQLITE_TIMEOUT = 60.0
_IN_PROCESS = threading.Lock()


def alembic_config(connection: Any = None) -> Config:
    """An alembic ``Config`` pointing at these migrations (and at a SQLAlchemy ``connection``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(url: DatabaseURL, revision: str = "head", connection: Any = None) -> None:
    """Upgrade the database at ``url`` to ``revision`` in one transaction.

    On PostgreSQL the transaction first takes an advisory lock, so two
    processes migrating at once run one after the other (the second finds
    nothing left to do); SQLite callers hold a file lock around this. Within
    a process one migration runs at a time, whatever the database: alembic
    keeps its migration context in module globals. ``connection`` is a
    driver connection to migrate on (an in-memory SQLite database has no
    other).
    """
    from alembic import command
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import StaticPool

    if connection is not None:
        engine = create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)
    elif url.dialect == "sqlite":
        # wait for other processes' writes as the store does, not sqlite3's default 5 s
        engine = create_engine(url.sqlalchemy, connect_args={"timeout": _SQLITE_TIMEOUT})
    else:
        engine = create_engine(url.sqlalchemy)
    try:
        with _IN_PROCESS, engine.begin() as conn:
            if url.dialect == "postgresql":
                conn.execute(text(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})"))
            command.upgrade(alembic_config(conn), revision)
    finally:
        if connection is None:
            engine.dispose()
