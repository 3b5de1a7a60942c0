"""Alembic migrations of the metadata schema.

Applied on first use by :class:`loopml.store.metadata.MetadataStore` and by
``loopml db upgrade``. To add a revision: change ``store/schema.py``, run
``alembic -c src/loopml/store/migrations/alembic.ini revision -m "what"``
(with ``LOOPML_TRACKING_URI`` pointing at a database at the current head),
write its ``upgrade()``, and append its id to ``KNOWN_REVISIONS`` in
``store/metadata.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic ``Config`` pointing at these migrations (and at ``connection``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade_connection(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` to ``revision``, in its transaction."""
    from alembic import command

    command.upgrade(alembic_config(connection), revision)
